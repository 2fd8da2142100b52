//! `POST /sessions`, `DELETE /sessions/current` and
//! `/sessions/{session_token}`, `GET /identities/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use tessera_api::authority::{
    Identity, NonceState, SessionRequest, SessionResponse, SessionTokenPath,
};
use tessera_api::openapi::{NoApp, RateLimited};
use tessera_api::server::{created, ApiJson, ApiPath};
use tessera_api::ErrorBody;
use tessera_api::{rfc3339, ApiError, ErrorId};
use tessera_claims::{verify, AppId, Clock, Reason, Rejection, UserId, URL_DECODED_NONCE_HINT};

use super::find_app_from;
use crate::bearer::{NonceHash, SessionToken};
use crate::error::token_rejected;
use crate::guards::{live_session, BaseUrl, Caller, CurrentSession};
use crate::limits::check;
use crate::state::AppState;
use crate::store::{
    Actor, AuditAction, IdentityRecord, NonceRefusal, SessionRecord, SessionRefusal, StoreError,
    UsedNonce,
};

/// The identity as the API shows it (Layer's identity, with its app and
/// times); `base_url` is the authority's, for `url`.
pub(crate) fn identity_body(identity: &IdentityRecord, base_url: &str) -> Identity {
    let p = &identity.profile;
    Identity {
        id: identity.user_id.identity_id().as_str().to_owned(),
        url: format!(
            "{base_url}/identities/{}",
            tessera_api::path_segment(identity.user_id.as_str())
        ),
        user_id: identity.user_id.as_str().to_owned(),
        app_id: identity.app_id.to_string(),
        first_name: p.first_name.clone(),
        last_name: p.last_name.clone(),
        display_name: p.display_name.clone(),
        avatar_url: p.avatar_url.clone(),
        phone_number: identity.phone_number.clone(),
        email_address: identity.email_address.clone(),
        metadata: identity.metadata.clone(),
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

#[utoipa::path(
    post,
    path = "/sessions",
    tag = "sessions",
    operation_id = "create_session",
    request_body(content = SessionRequest, content_type = "application/json"),
    responses((status = 201, description = "A session for the token's user.", body = SessionResponse), (status = 403, description = "The user is suspended by the app's operator (`user_suspended`, code 101), or a browser sent the request from a web origin the app does not list (`origin_not_allowed`, code 101); nothing was consumed.", body = ErrorBody), NoApp, (status = 422, description = "A property is absent or bad (`missing_property` 104, `invalid_property` 105), or the identity token is refused (`invalid_identity_token` 105, `data.reason` says why).", body = ErrorBody), RateLimited, (status = 503, description = "The session could not be opened now (`service_unavailable`, with `Retry-After`). `data.nonce_state` says what became of the nonce: `unused` (nothing was written: send the same identity token again) or `unknown` (an answer was lost and the session may have been stored: get a new nonce and a new identity token). One identity token never opens two sessions, whatever failed.", body = ErrorBody))
)]
/// `POST /sessions {app_id, identity_token}`: verify in SPEC order, consume
/// the nonce last, open the session. A client whose requests were refused
/// too often in the window gets 429 before anything is checked.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    BaseUrl(base_url): BaseUrl,
    body: Result<ApiJson<SessionRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let client = caller.address;
    check(&state.limits.failed_sessions, client)?;
    let result = match body {
        Ok(ApiJson(body)) => open(&state, &caller, &base_url, body).await,
        Err(e) => Err(e),
    };
    match result {
        Err(e) if (400..500).contains(&e.status()) => {
            // Counted after the fact: the limit applies to the next request.
            let _ = state.limits.failed_sessions.hit_client(client);
            Err(e)
        }
        // Failures before the redemption wrote nothing; the redemption's
        // own say which case they are.
        Err(e) if e.status() >= 500 && e.data(NonceState::DATA_KEY).is_none() => {
            Err(with_nonce_state(e, NonceState::Unused))
        }
        other => other,
    }
}

fn with_nonce_state(e: ApiError, state: NonceState) -> ApiError {
    e.with_data(NonceState::DATA_KEY, state.as_str())
}

/// A 403 `user_suspended`.
fn suspended() -> ApiError {
    ApiError::new(
        ErrorId::UserSuspended,
        "this user is suspended by the app's operator; no session can be opened until the suspension is lifted",
    )
}

async fn open(
    state: &AppState,
    caller: &Caller,
    base_url: &str,
    body: SessionRequest,
) -> Result<Response, ApiError> {
    let app = find_app_from(state, &body.app_id, &caller.origin).await?;
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
    // From here the token is signed by the app's provider: refusals are
    // the user's, and recorded.
    let event = |action| {
        caller
            .event(now, action, Actor::User)
            .app(app_id)
            .user(claims.prn.clone())
    };
    let kid = verified.key.kid.to_string();
    // A refusal is recorded, and stands if recording fails.
    let refuse = |reason: &'static str, error: ApiError| {
        let event = event(AuditAction::SessionRefused)
            .detail(serde_json::json!({ "reason": reason, "kid": kid }));
        async move {
            if let Err(e) = state.store.record(&event).await {
                tracing::error!(error = %e, "recording a refused session failed");
            }
            error
        }
    };
    let refuse_nonce = |refusal| {
        let rejection = nonce_rejection(refusal, &claims.nce);
        refuse(rejection.reason.as_str(), reject(rejection))
    };
    let opened = match state.open_nonce(&claims.nce, &app_id).await? {
        Ok(opened) => opened,
        Err(refusal) => return Err(refuse_nonce(refusal).await),
    };
    let nonce = UsedNonce {
        hash: NonceHash::of(&claims.nce),
        expires_at: opened.expires_at,
    };
    let session_token = SessionToken::generate();
    let session = SessionRecord {
        token_hash: session_token.hash(),
        session_id: crate::bearer::session_id(),
        app_id,
        user_id: claims.prn.clone(),
        created_at: now,
        expires_at: now.saturating_add(state.session_ttl_secs(&app) as i64),
        last_seen_at: now,
        client_address: Some(caller.address.to_string()),
        user_agent: caller.user_agent.clone(),
        // Set by the redemption where used nonces are kept apart.
        nonce_hash: None,
    };
    let opened_event = event(AuditAction::SessionOpened).detail(serde_json::json!({
        "session_id": session.session_id,
        "kid": kid,
    }));
    let expires_at = session.expires_at;
    let redeemed = state
        .redemptions
        .redeem(&nonce, session, &claims.profile, &opened_event, now)
        .await
        .map_err(session_not_stored)?;
    let identity = match redeemed {
        Ok(identity) => identity,
        Err(SessionRefusal::NonceUsed) => return Err(refuse_nonce(NonceRefusal::Used).await),
        Err(SessionRefusal::Suspended) => {
            return Err(refuse(ErrorId::UserSuspended.as_str(), suspended()).await)
        }
    };
    state.metrics.nonce_consumed();
    state.metrics.session_opened();
    tracing::info!(app_id = %app_id, kid = %verified.key.kid, "session opened");
    Ok(created(SessionResponse {
        session_token: session_token.as_str().to_owned(),
        user_id: claims.prn.as_str().to_owned(),
        identity: identity_body(&identity, base_url),
        expires_at: rfc3339(expires_at),
    }))
}

/// The session was not stored (`nonce_state` unused) or may have been
/// (unknown), as the failure says; a value the database cannot store is
/// the request's fault (422).
fn session_not_stored(e: StoreError) -> ApiError {
    if let StoreError::Invalid(_) = e {
        // The request's own value: a 4xx, counted toward its client's limit.
        return e.into();
    }
    let (state, message) = if e.wrote_nothing() {
        (NonceState::Unused, "the session could not be stored; the nonce was not used, so the same identity token may be sent again")
    } else {
        (NonceState::Unknown, "the session may or may not have been stored, so the nonce may count as used; request a new nonce and identity token")
    };
    with_nonce_state(ApiError::unavailable(message, e), state).with_retry_after(1)
}

#[utoipa::path(
    delete,
    path = "/sessions/current",
    tag = "sessions",
    operation_id = "delete_current_session",
    responses((status = 204, description = "The session has ended, everywhere at once.")),
    security(("session" = []))
)]
/// `DELETE /sessions/current`: deauthentication, effective at once.
pub(crate) async fn delete_current(
    State(state): State<AppState>,
    caller: Caller,
    CurrentSession(session): CurrentSession,
) -> Result<StatusCode, ApiError> {
    end(&state, &caller, &session).await
}

#[utoipa::path(
    delete,
    path = "/sessions/{session_token}",
    tag = "sessions",
    operation_id = "delete_session",
    params(SessionTokenPath),
    responses((status = 204, description = "The session has ended, everywhere at once (Layer's logout: the token in the path is the credential; `DELETE /sessions/current` keeps it out of the URL)."), (status = 401, description = "No live session has this token: a re-challenge. Error id: `authentication_required` (code 4), `data.nonce` a fresh nonce.", body = ErrorBody), RateLimited)
)]
/// `DELETE /sessions/{session_token}`: Layer's logout, the same
/// deauthentication as `DELETE /sessions/current`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(SessionTokenPath { session_token }): ApiPath<SessionTokenPath>,
) -> Result<StatusCode, ApiError> {
    let token = Some(session_token.as_str()).filter(|t| !t.is_empty());
    let session = live_session(&state, token, &caller).await?;
    end(&state, &caller, &session).await
}

/// Ends `session` at once, recording who did.
async fn end(
    state: &AppState,
    caller: &Caller,
    session: &SessionRecord,
) -> Result<StatusCode, ApiError> {
    let event = caller
        .event(state.now(), AuditAction::SessionEnded, Actor::User)
        .app(session.app_id)
        .user(session.user_id.clone())
        .detail(serde_json::json!({ "session_id": session.session_id }));
    if state
        .store
        .delete_session(&session.token_hash, &event)
        .await?
    {
        state.metrics.sessions_ended(1);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/identities/me",
    tag = "identities",
    operation_id = "get_my_identity",
    responses((status = 200, description = "The session's user's identity.", body = Identity), (status = 404, description = "No identity for this session. Error id: `not_found` (code 102).", body = ErrorBody)),
    security(("session" = []))
)]
/// `GET /identities/me`.
pub(crate) async fn me(
    State(state): State<AppState>,
    BaseUrl(base_url): BaseUrl,
    CurrentSession(session): CurrentSession,
) -> Result<Json<Identity>, ApiError> {
    let (app_id, user_id) = (&session.app_id, &session.user_id);
    let missing = "no identity for this session";
    shown_identity(&state, app_id, user_id, &base_url, missing).await
}

/// The identity of `user_id` in `app_id` as the API shows it; 404
/// `not_found` saying `missing` when the app has none.
pub(crate) async fn shown_identity(
    state: &AppState,
    app_id: &AppId,
    user_id: &UserId,
    base_url: &str,
    missing: &str,
) -> Result<Json<Identity>, ApiError> {
    let identity = state
        .store
        .identity(app_id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found(missing))?;
    Ok(Json(identity_body(&identity, base_url)))
}
