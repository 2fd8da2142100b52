//! `POST /nonces`: single-use nonces with a time to live.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use serde_json::{json, Value};
use tessera_claims::{AppId, Nonce};

use super::{created, optional_str};
use crate::error::ApiError;
use crate::secrets::{new_nonce, now, rfc3339, sha256};
use crate::AppState;

/// Issues a nonce, bound to `app_id` when one is given.
pub(crate) async fn issue(
    state: &AppState,
    app_id: Option<&AppId>,
) -> Result<(Nonce, i64), ApiError> {
    let nonce = new_nonce();
    let expires_at = now() + state.config.nonces.ttl_secs as i64;
    state
        .nonces
        .issue(&sha256(nonce.as_str()), app_id, expires_at)
        .await?;
    state.metrics.nonce_issued();
    Ok((nonce, expires_at))
}

/// `POST /nonces`, body optional: `{app_id}` binds the nonce to that app.
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let app_id = match optional_body(&headers, &body)? {
        None => None,
        Some(body) => match optional_str(&body, "app_id")? {
            None => None,
            Some(s) => {
                let app_id: AppId = s.parse().map_err(|_| ApiError::InvalidAppId)?;
                state.app(&app_id).await?.ok_or(ApiError::InvalidAppId)?;
                Some(app_id)
            }
        },
    };
    let (nonce, expires_at) = issue(&state, app_id.as_ref()).await?;
    Ok(created(
        json!({ "nonce": nonce.as_str(), "expires_at": rfc3339(expires_at) }),
    ))
}

/// A body that may be empty; when present it must be a JSON object.
fn optional_body(headers: &HeaderMap, body: &Bytes) -> Result<Option<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return Err(ApiError::InvalidRequest {
            status: axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "the body must be JSON, sent with `Content-Type: application/json`".into(),
        });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(Some(v)),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}
