//! The admin API's users: a user's state and sessions, ending them,
//! suspension, and the user's revoke-before instant.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tessera_api::authority::{AppUserPath, RevokeBefore, RevokeBeforeRequest, SessionInfo, User};
use tessera_api::openapi::NoAppOrUser;
use tessera_api::server::{ApiPath, OptionalJson};
use tessera_api::{rfc3339, ApiError};
use tessera_claims::UserId;

use super::admin::{clear_revoke_before, set_revoke_before};
use super::find_app;
use super::sessions::identity_body;
use crate::guards::Admin;
use crate::guards::BaseUrl;
use crate::state::AppState;
use crate::store::{App, AuditAction, RevocationScope, SessionRecord};

/// Live sessions listed per user.
const SESSIONS_LISTED: u32 = 100;

/// The app and user a `/admin/apps/{app_id}/users/{user_id}` path names.
pub(crate) async fn app_and_user(
    state: &AppState,
    AppUserPath { app_id, user_id }: AppUserPath,
) -> Result<(App, UserId), ApiError> {
    let app = find_app(state, &app_id).await?;
    let user_id = UserId::new(user_id).map_err(|e| {
        ApiError::not_found(format!("the path's user id is not a valid user id: {e}"))
    })?;
    Ok((app, user_id))
}

fn session_info(session: &SessionRecord) -> SessionInfo {
    SessionInfo {
        session_id: session.session_id.clone(),
        created_at: rfc3339(session.created_at),
        expires_at: rfc3339(session.expires_at),
        last_seen_at: rfc3339(session.last_seen_at),
        client_address: session.client_address.clone(),
        user_agent: session.user_agent.clone(),
    }
}

#[utoipa::path(
    get,
    path = "/admin/apps/{app_id}/users/{user_id}",
    tag = "admin: users",
    operation_id = "get_user",
    params(AppUserPath),
    responses((status = 200, description = "The user's identity, suspension, revoke-before and live sessions (never a token).", body = User), NoAppOrUser),
    security(("admin_token" = []))
)]
/// `GET /admin/apps/{app_id}/users/{user_id}`: identity, suspension,
/// revoke-before and live sessions. A user the authority never saw is
/// answered too (no identity, no sessions): a suspension may come first.
pub(crate) async fn get_user(
    _: Admin,
    State(state): State<AppState>,
    BaseUrl(base_url): BaseUrl,
    ApiPath(path): ApiPath<AppUserPath>,
) -> Result<Json<User>, ApiError> {
    let (app, user_id) = app_and_user(&state, path).await?;
    let identity = state.store.identity(&app.app_id, &user_id).await?;
    let controls = state.store.user_controls(&app.app_id, &user_id).await?;
    let mut sessions = state
        .store
        .sessions_of_user(&app.app_id, &user_id, state.now(), SESSIONS_LISTED + 1)
        .await?;
    let more_sessions = sessions.len() > SESSIONS_LISTED as usize;
    sessions.truncate(SESSIONS_LISTED as usize);
    Ok(Json(User {
        app_id: app.app_id.to_string(),
        user_id: user_id.as_str().to_owned(),
        identity: identity.as_ref().map(|i| identity_body(i, &base_url)),
        suspended: controls.suspended_at.is_some(),
        suspended_at: controls.suspended_at.map(rfc3339),
        sessions_revoked_before: controls.sessions_revoked_before.map(rfc3339),
        sessions: sessions.iter().map(session_info).collect(),
        more_sessions,
    }))
}

#[utoipa::path(
    delete,
    path = "/admin/apps/{app_id}/users/{user_id}/sessions",
    tag = "admin: users",
    operation_id = "end_user_sessions",
    params(AppUserPath),
    responses((status = 204, description = "Every session of the user has ended, on every instance."), NoAppOrUser),
    security(("admin_token" = []))
)]
/// `DELETE /admin/apps/{app_id}/users/{user_id}/sessions`: every session
/// of the user ends, on every instance (sessions are read from the store on
/// each request).
pub(crate) async fn end_sessions(
    admin: Admin,
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AppUserPath>,
) -> Result<StatusCode, ApiError> {
    let (app, user_id) = app_and_user(&state, path).await?;
    let event = admin.user_event(&state, AuditAction::SessionsRevoked, app.app_id, &user_id);
    let ended = state
        .store
        .end_sessions_of_user(&app.app_id, &user_id, &event)
        .await?;
    state.metrics.sessions_ended(ended);
    tracing::info!(app_id = %app.app_id, ended, "a user's sessions ended");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/admin/apps/{app_id}/users/{user_id}/suspension",
    tag = "admin: users",
    operation_id = "suspend_user",
    params(AppUserPath),
    responses((status = 204, description = "The user is suspended: their sessions have ended and new ones are refused with `user_suspended`."), NoAppOrUser),
    security(("admin_token" = []))
)]
/// `PUT /admin/apps/{app_id}/users/{user_id}/suspension`: the user's
/// sessions end and new ones are refused with `user_suspended`.
pub(crate) async fn suspend(
    admin: Admin,
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AppUserPath>,
) -> Result<StatusCode, ApiError> {
    set_suspension(admin, state, path, true).await
}

#[utoipa::path(
    delete,
    path = "/admin/apps/{app_id}/users/{user_id}/suspension",
    tag = "admin: users",
    operation_id = "lift_user_suspension",
    params(AppUserPath),
    responses((status = 204, description = "The user may authenticate again."), NoAppOrUser),
    security(("admin_token" = []))
)]
/// `DELETE /admin/apps/{app_id}/users/{user_id}/suspension`: the user may
/// authenticate again.
pub(crate) async fn lift_suspension(
    admin: Admin,
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AppUserPath>,
) -> Result<StatusCode, ApiError> {
    set_suspension(admin, state, path, false).await
}

async fn set_suspension(
    admin: Admin,
    state: AppState,
    path: AppUserPath,
    suspend: bool,
) -> Result<StatusCode, ApiError> {
    let (app, user_id) = app_and_user(&state, path).await?;
    let action = if suspend {
        AuditAction::UserSuspended
    } else {
        AuditAction::SuspensionLifted
    };
    let event = admin.user_event(&state, action, app.app_id, &user_id);
    let changed = state
        .store
        .set_suspension(&app.app_id, &user_id, suspend, &event)
        .await?;
    tracing::info!(app_id = %app.app_id, suspend, changed, "suspension");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/admin/apps/{app_id}/users/{user_id}/revoke-before",
    tag = "admin: users",
    operation_id = "set_user_revoke_before",
    params(AppUserPath),
    request_body(content = Option<RevokeBeforeRequest>, content_type = "application/json"),
    responses((status = 200, description = "The user's sessions opened at or before this instant no longer work.", body = RevokeBefore), NoAppOrUser),
    security(("admin_token" = []))
)]
/// `PUT /admin/apps/{app_id}/users/{user_id}/revoke-before {before?}`.
pub(crate) async fn set_user_revoke_before(
    admin: Admin,
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AppUserPath>,
    OptionalJson(body): OptionalJson<RevokeBeforeRequest>,
) -> Result<Json<RevokeBefore>, ApiError> {
    let (app, user_id) = app_and_user(&state, path).await?;
    let scope = RevocationScope::User(app.app_id, user_id);
    set_revoke_before(&admin, &state, scope, body).await
}

#[utoipa::path(
    delete,
    path = "/admin/apps/{app_id}/users/{user_id}/revoke-before",
    tag = "admin: users",
    operation_id = "clear_user_revoke_before",
    params(AppUserPath),
    responses((status = 204, description = "Cleared: sessions that have not otherwise ended work again."), NoAppOrUser),
    security(("admin_token" = []))
)]
/// `DELETE /admin/apps/{app_id}/users/{user_id}/revoke-before`.
pub(crate) async fn clear_user_revoke_before(
    admin: Admin,
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AppUserPath>,
) -> Result<StatusCode, ApiError> {
    let (app, user_id) = app_and_user(&state, path).await?;
    let scope = RevocationScope::User(app.app_id, user_id);
    clear_revoke_before(&admin, &state, scope).await
}
