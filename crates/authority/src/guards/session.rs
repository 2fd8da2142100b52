//! [`CurrentSession`]: an authenticated request, the live session its
//! `Authorization` header names; else a re-challenge.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tessera_api::ApiError;

use super::authorization::Credentials;
use super::Caller;
use crate::bearer::SessionTokenHash;
use crate::error::authentication_required;
use crate::limits::count;
use crate::state::AppState;
use crate::store::SessionRecord;

/// How stale a session's `last_seen_at` may get before a request updates it.
const LAST_SEEN_GRANULARITY_SECS: i64 = 60;

/// An authenticated request: the live session named by the `Authorization` header.
pub(crate) struct CurrentSession(pub SessionRecord);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = Credentials::of(&parts.headers)
            .map(Credentials::session_token)
            .map(str::to_owned);
        let caller = Caller::of(parts, state).await;
        live_session(state, token.as_deref(), &caller)
            .await
            .map(CurrentSession)
    }
}

/// The live session of `token`, when the request's origin may call for its
/// app; otherwise a re-challenge: 401 `authentication_required` with a fresh
/// nonce to answer with an identity token.
pub(crate) async fn live_session(
    state: &AppState,
    token: Option<&str>,
    caller: &Caller,
) -> Result<SessionRecord, ApiError> {
    let origin = &caller.origin;
    if let Some(token) = token {
        let hash = SessionTokenHash::of(token);
        let now = state.now();
        if let Some(session) = state.store.session(&hash, now).await? {
            if origin.0.is_some() {
                let app = state
                    .app(&session.app_id)
                    .await?
                    .ok_or_else(ApiError::invalid_app_id)?;
                state.check_origin(&app, origin)?;
            }
            if now - session.last_seen_at >= LAST_SEEN_GRANULARITY_SECS {
                // Off the request's path: a failure only loses precision.
                let store = state.store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.touch_session(&hash, now).await {
                        tracing::warn!(error = %e, "recording a session's last use failed");
                    }
                });
            }
            return Ok(session);
        }
    }
    count(&state.limits.challenges, caller.address)?;
    let (nonce, _) = state.issue_nonce(None).await?;
    Err(authentication_required(&nonce))
}
