//! `POST /sessions`, `DELETE /sessions/current`, `GET /identities/me`.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tessera_claims::{verify, AppId, Clock, Reason, Rejection, URL_DECODED_NONCE_HINT};

use super::{created, object, required_str, ApiJson};
use crate::error::ApiError;
use crate::secrets::{new_session_token, now, rfc3339, sha256};
use crate::store::{IdentityRecord, NonceRefusal, SessionRecord};
use crate::AppState;

/// The identity as the API shows it.
pub(crate) fn identity_json(identity: &IdentityRecord) -> Value {
    let p = &identity.profile;
    json!({
        "id": identity.user_id.identity_id().as_str(),
        "user_id": identity.user_id.as_str(),
        "app_id": identity.app_id.to_string(),
        "first_name": p.first_name,
        "last_name": p.last_name,
        "display_name": p.display_name,
        "avatar_url": p.avatar_url,
        "created_at": rfc3339(identity.created_at),
        "updated_at": rfc3339(identity.updated_at),
    })
}

fn nonce_rejection(refusal: NonceRefusal, nonce: &str) -> Rejection {
    let (reason, message) = match refusal {
        NonceRefusal::Unknown => (
            Reason::NonceUnknown,
            "the nonce was not issued by this authority for this app",
        ),
        NonceRefusal::Expired => (
            Reason::NonceExpired,
            "the nonce has expired; request a new one",
        ),
        NonceRefusal::Used => (Reason::NonceUsed, "the nonce has already been used"),
    };
    let rejection = Rejection::new(reason, message);
    if nonce.contains([' ', '+']) {
        rejection.with_hint(URL_DECODED_NONCE_HINT)
    } else {
        rejection
    }
}

/// `POST /sessions {app_id, identity_token}`: verify in SPEC order, consume
/// the nonce last, open the session.
pub(crate) async fn create(
    State(state): State<AppState>,
    body: ApiJson<Value>,
) -> Result<Response, ApiError> {
    let body = object(body)?;
    let app_id: AppId = required_str(&body, "app_id")?
        .parse()
        .map_err(|_| ApiError::InvalidAppId)?;
    let token = required_str(&body, "identity_token")?;
    let app = state.app(&app_id).await?.ok_or(ApiError::InvalidAppId)?;
    let keys = state.provider_keys(&app.provider_id).await?;
    let now = now();
    let clock = Clock {
        now,
        skew_secs: state.config.tokens.clock_skew_secs as i64,
    };
    let reject = |rejection: Rejection| {
        state.metrics.rejected(rejection.reason.as_str());
        ApiError::InvalidIdentityToken(rejection)
    };
    let verified = verify(token, keys.as_slice(), clock).map_err(reject)?;
    let claims = verified.claims;
    if let Err(refusal) = state
        .nonces
        .consume(&sha256(&claims.nce), &app_id, now)
        .await?
    {
        return Err(reject(nonce_rejection(refusal, &claims.nce)));
    }
    state.metrics.nonce_consumed();
    let session_token = new_session_token();
    let session = SessionRecord {
        token_hash: sha256(&session_token),
        app_id,
        user_id: claims.prn.clone(),
        created_at: now,
        expires_at: now.saturating_add(state.config.sessions.ttl_secs as i64),
    };
    let identity = state.store.open_session(&session, &claims.profile).await?;
    state.metrics.session_opened();
    tracing::info!(app_id = %app_id, kid = %verified.key.kid, "session opened");
    Ok(created(json!({
        "session_token": session_token,
        "user_id": claims.prn.as_str(),
        "identity": identity_json(&identity),
        "expires_at": rfc3339(session.expires_at),
    })))
}

/// An authenticated request: the live session named by the `Authorization` header.
pub(crate) struct CurrentSession(pub SessionRecord);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(session_token);
        if let Some(token) = token {
            if let Some(session) = state.store.session(&sha256(token), now()).await? {
                return Ok(CurrentSession(session));
            }
        }
        // Re-challenge: a fresh nonce to answer with an identity token.
        let (nonce, _) = super::nonces::issue(state, None).await?;
        Err(ApiError::AuthenticationRequired { nonce })
    }
}

/// The token of `Layer session-token="…"` or `Bearer …`.
fn session_token(value: &str) -> Option<&str> {
    let value = value.trim();
    let token = if let Some(rest) = strip_prefix_ignore_case(value, "Layer ") {
        let rest = rest.trim_start();
        strip_prefix_ignore_case(rest, "session-token=")?
            .strip_prefix('"')?
            .strip_suffix('"')?
    } else {
        strip_prefix_ignore_case(value, "Bearer ")?.trim()
    };
    (!token.is_empty()).then_some(token)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `DELETE /sessions/current`: deauthentication, effective at once.
pub(crate) async fn delete_current(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_session(&session.token_hash).await? {
        state.metrics.session_ended();
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /identities/me`.
pub(crate) async fn me(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<Response, ApiError> {
    let identity = state
        .store
        .identity(&session.app_id, &session.user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no identity for this session".into()))?;
    Ok(Json(identity_json(&identity)).into_response())
}

#[cfg(test)]
mod tests {
    use super::session_token;

    #[test]
    fn reads_both_authorization_forms() {
        assert_eq!(session_token("Layer session-token=\"abc\""), Some("abc"));
        assert_eq!(session_token("layer  session-token=\"abc\""), Some("abc"));
        assert_eq!(session_token("Bearer abc"), Some("abc"));
        assert_eq!(session_token("bearer   abc "), Some("abc"));
        assert_eq!(session_token("Layer session-token=abc"), None);
        assert_eq!(session_token("Basic abc"), None);
        assert_eq!(session_token("Bearer "), None);
        assert_eq!(session_token("Layer session-token=\"\""), None);
        assert_eq!(session_token("é"), None);
    }
}
