//! `POST /sessions`, `DELETE /sessions/current`, `GET /identities/me`.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use tessera_api::authority::{Identity, SessionRequest, SessionResponse};
use tessera_api::server::limit::client_key;
use tessera_api::server::{created, ApiJson, ClientAddr};
use tessera_api::{rfc3339, ApiError};
use tessera_claims::{verify, Clock, Profile, Reason, Rejection, URL_DECODED_NONCE_HINT};

use super::find_app;
use crate::bearer::{NonceHash, SessionToken, SessionTokenHash};
use crate::error::{authentication_required, token_rejected};
use crate::state::count;
use crate::store::{
    AlreadyUsed, IdentityRecord, NonceRefusal, SessionRecord, StoreError, UsedNonce,
};
use crate::AppState;

/// The identity as the API shows it.
pub(crate) fn identity_body(identity: &IdentityRecord) -> Identity {
    let p = &identity.profile;
    Identity {
        id: identity.user_id.identity_id().as_str().to_owned(),
        user_id: identity.user_id.as_str().to_owned(),
        app_id: identity.app_id.to_string(),
        first_name: p.first_name.clone(),
        last_name: p.last_name.clone(),
        display_name: p.display_name.clone(),
        avatar_url: p.avatar_url.clone(),
        created_at: rfc3339(identity.created_at),
        updated_at: rfc3339(identity.updated_at),
    }
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
/// the nonce last, open the session. A client whose requests were refused
/// too often in the window gets 429 before anything is checked.
pub(crate) async fn create(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: Result<ApiJson<SessionRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let key = client_key(client);
    state
        .limits
        .failed_sessions
        .check(&key)
        .map_err(|wait| ApiError::rate_limited(wait.as_secs()))?;
    let result = match body {
        Ok(ApiJson(body)) => open(&state, body).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        if (400..500).contains(&e.status()) {
            // Counted after the fact: the limit applies to the next request.
            let _ = state.limits.failed_sessions.hit(&key);
        }
    }
    result
}

async fn open(state: &AppState, body: SessionRequest) -> Result<Response, ApiError> {
    let app = find_app(state, &body.app_id).await?;
    let app_id = app.app_id;
    let token = body.identity_token.as_str();
    let keys = state.provider_keys(&app.provider_id).await?;
    let now = state.now();
    let clock = Clock {
        now,
        skew_secs: state.config.tokens.clock_skew_secs as i64,
    };
    let reject = |rejection: Rejection| {
        state.metrics.rejected(rejection.reason.as_str());
        token_rejected(&rejection)
    };
    let verified = verify(token, keys.as_slice(), clock).map_err(reject)?;
    let claims = verified.claims;
    let opened = state
        .open_nonce(&claims.nce, &app_id)
        .await?
        .map_err(|refusal| reject(nonce_rejection(refusal, &claims.nce)))?;
    let nonce = UsedNonce {
        hash: NonceHash::of(&claims.nce),
        expires_at: opened.expires_at,
    };
    let session_token = SessionToken::generate();
    let session = SessionRecord {
        token_hash: session_token.hash(),
        app_id,
        user_id: claims.prn.clone(),
        created_at: now,
        expires_at: now.saturating_add(state.session_ttl_secs(&app) as i64),
    };
    let identity = redeem(state, &nonce, &session, &claims.profile)
        .await?
        .map_err(|AlreadyUsed| reject(nonce_rejection(NonceRefusal::Used, &claims.nce)))?;
    state.metrics.nonce_consumed();
    state.metrics.session_opened();
    tracing::info!(app_id = %app_id, kid = %verified.key.kid, "session opened");
    Ok(created(SessionResponse {
        session_token: session_token.as_str().to_owned(),
        user_id: claims.prn.as_str().to_owned(),
        identity: identity_body(&identity),
        expires_at: rfc3339(session.expires_at),
    }))
}

/// Marks the nonce used and opens the session, both or neither: in one
/// transaction when the store keeps used nonces, else by taking the mark
/// back when the session cannot be written.
async fn redeem(
    state: &AppState,
    nonce: &UsedNonce,
    session: &SessionRecord,
    profile: &Profile,
) -> Result<Result<IdentityRecord, AlreadyUsed>, ApiError> {
    let Some(marks) = &state.nonces else {
        return state
            .store
            .redeem(nonce, session, profile)
            .await
            .map_err(session_not_stored);
    };
    let Some(marker) = marks.mark_used(nonce, state.now()).await? else {
        return Ok(Err(AlreadyUsed));
    };
    match state.store.open_session(session, profile).await {
        Ok(identity) => Ok(Ok(identity)),
        Err(e) => match marks.unmark(nonce, &marker).await {
            Ok(()) => Err(session_not_stored(e)),
            Err(unmark) => {
                tracing::error!(error = %unmark, "taking back a nonce mark failed");
                Err(ApiError::unavailable(
                    "the session could not be stored and the nonce may count as used; request a new nonce and identity token",
                    e,
                ))
            }
        },
    }
}

/// The session write failed and the nonce was left unused.
fn session_not_stored(e: StoreError) -> ApiError {
    ApiError::unavailable(
        "the session could not be stored; the nonce was not used, so the same identity token may be sent again",
        e,
    )
    .with_retry_after(1)
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
            let hash = SessionTokenHash::of(token);
            if let Some(session) = state.store.session(&hash, state.now()).await? {
                return Ok(CurrentSession(session));
            }
        }
        // Re-challenge: a fresh nonce to answer with an identity token.
        let ClientAddr(client) = ClientAddr::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        count(&state.limits.challenges, client)?;
        let (nonce, _) = super::nonces::issue(state, None).await?;
        Err(authentication_required(&nonce))
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
) -> Result<Json<Identity>, ApiError> {
    let identity = state
        .store
        .identity(&session.app_id, &session.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no identity for this session"))?;
    Ok(Json(identity_body(&identity)))
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
