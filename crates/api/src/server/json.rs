//! JSON request bodies whose every rejection is answered in the error
//! envelope, with the same status and message from both services.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use crate::error::ApiError;
use crate::request::{JsonObject, RequestBody};

/// A required JSON object body, its properties checked as `T` names them.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

/// A body that may be empty (then `None`, with or without a content type);
/// when present it is a JSON object checked as `T` names.
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: RequestBody, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(wrong_content_type());
        }
        let bytes = read(req, state).await?;
        Ok(ApiJson(object(&bytes)?.into_request()?))
    }
}

impl<T: RequestBody, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(req.headers());
        let bytes = read(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !json {
            return Err(wrong_content_type());
        }
        Ok(OptionalJson(Some(object(&bytes)?.into_request()?)))
    }
}

/// `application/json`, or any `application/…+json`, parameters ignored.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn wrong_content_type() -> ApiError {
    ApiError::invalid_request("the body must be JSON, sent with `Content-Type: application/json`")
        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE.as_u16())
}

/// A 413: the body is over the limit, declared or as read.
pub(crate) fn body_too_large() -> ApiError {
    ApiError::invalid_request("the body is too large")
        .with_status(StatusCode::PAYLOAD_TOO_LARGE.as_u16())
}

/// The whole body, within the body limit of the layer stack.
async fn read<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        let status = rejection.status();
        let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
            body_too_large()
        } else {
            ApiError::invalid_request("the body could not be read").with_status(status.as_u16())
        };
        error.caused_by(rejection.body_text())
    })
}

fn object(bytes: &[u8]) -> Result<JsonObject, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(JsonObject(map)),
        Ok(_) => Err(ApiError::invalid_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::invalid_request(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/vnd.layer+json; version=3.0"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
