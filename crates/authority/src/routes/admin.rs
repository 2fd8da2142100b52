//! The admin API: apps, their provider, and its keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde_json::Value;
use tessera_api::authority::{
    self as wire, AddKeyRequest, AppPage, AppPageQuery, AppPath, AppWithKeys, CreateAppRequest,
    KeyPath, KeyStatus, NewKey, RevokeBefore, RevokeBeforeRequest, UpdateAppRequest,
};
use tessera_api::openapi::NoApp;
use tessera_api::server::{created, ApiJson, ApiPath, ApiQuery, OptionalJson};
use tessera_api::ErrorBody;
use tessera_api::JsonObject;
use tessera_api::{parse_rfc3339, rfc3339, ApiError, Origin};
use tessera_claims::{AppId, Environment, KeyId, ProviderId, PublicKey};

use super::find_app;
use crate::error::conflict;
use crate::guards::Admin;
use crate::state::AppState;
use crate::store::{Actor, App, AppChange, AuditAction, AuditEvent, KeyRecord, RevocationScope};

fn invalid(property: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid_property(property, message)
}

fn app_body(state: &AppState, app: &App) -> wire::App {
    wire::App {
        app_id: app.app_id.to_string(),
        provider_id: app.provider_id.to_string(),
        environment: app.environment.as_str().to_owned(),
        name: app.name.clone(),
        created_at: rfc3339(app.created_at),
        session_ttl_secs: state.session_ttl_secs(app),
        session_ttl_is_default: app.session_ttl_secs.is_none(),
        sessions_revoked_before: app.sessions_revoked_before.map(rfc3339),
        allowed_origins: app.allowed_origins.iter().map(Origin::to_string).collect(),
    }
}

/// The most origins an app lists.
pub const MAX_ORIGINS: usize = 100;

/// `allowed_origins`: an array of web origins, each checked and normalized.
fn allowed_origins(value: &Value) -> Result<Vec<Origin>, ApiError> {
    let shape = || {
        invalid(
            "allowed_origins",
            format!("`allowed_origins` must be an array of at most {MAX_ORIGINS} web origins such as \"https://app.example.com\""),
        )
    };
    let items = value.as_array().ok_or_else(shape)?;
    if items.len() > MAX_ORIGINS {
        return Err(shape());
    }
    let mut origins = items
        .iter()
        .map(|item| {
            item.as_str()
                .ok_or_else(shape)?
                .parse::<Origin>()
                .map_err(|e| invalid("allowed_origins", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    origins.sort();
    origins.dedup();
    Ok(origins)
}

/// An app name: 1 to 200 characters once trimmed.
fn app_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "`name` must be 1 to 200 characters"));
    }
    Ok(name)
}

/// Sessions may be set to live from 30 seconds to a year.
pub const SESSION_TTL_RANGE: std::ops::RangeInclusive<u64> = 30..=31_536_000;

/// Apps listed per page unless `limit` says otherwise, and at most.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

#[utoipa::path(
    get,
    path = "/admin/apps",
    tag = "admin: apps",
    operation_id = "list_apps",
    params(AppPageQuery),
    responses((status = 200, description = "A page of apps, by app id.", body = AppPage)),
    security(("admin_token" = []))
)]
/// `GET /admin/apps?limit=&after=`: apps by app id, a page at a time.
pub(crate) async fn list_apps(
    _: Admin,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AppPageQuery>,
) -> Result<Json<AppPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_request(format!(
            "`limit` must be 1 to {MAX_PAGE}"
        )));
    }
    let after: Option<AppId> = match query.after.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|e| ApiError::invalid_request(format!("`after` is not an app id: {e}")))?,
        ),
    };
    let apps = state.store.apps_page(after.as_ref(), limit).await?;
    let next = (apps.len() == limit as usize)
        .then(|| apps.last().map(|a| a.app_id.to_string()))
        .flatten();
    Ok(Json(AppPage {
        apps: apps.iter().map(|a| app_body(&state, a)).collect(),
        next,
    }))
}

#[utoipa::path(
    patch,
    path = "/admin/apps/{app_id}",
    tag = "admin: apps",
    operation_id = "update_app",
    params(AppPath),
    request_body(content = UpdateAppRequest, content_type = "application/json"),
    responses((status = 200, description = "The app after the change.", body = wire::App), NoApp),
    security(("admin_token" = []))
)]
/// `PATCH /admin/apps/{app_id} {name?, session_ttl_secs?, allowed_origins?}`.
pub(crate) async fn update_app(
    admin: Admin,
    State(state): State<AppState>,
    ApiPath(AppPath { app_id }): ApiPath<AppPath>,
    ApiJson(body): ApiJson<JsonObject>,
) -> Result<Json<wire::App>, ApiError> {
    let app = find_app(&state, &app_id).await?;
    let mut change = AppChange::default();
    for (member, value) in &body.0 {
        match (member.as_str(), value) {
            ("name", Value::String(name)) => change.name = Some(app_name(name)?.to_owned()),
            ("name", _) => return Err(invalid("name", "`name` must be a string")),
            ("session_ttl_secs", Value::Null) => change.session_ttl_secs = Some(None),
            ("session_ttl_secs", value) => match value.as_u64() {
                Some(secs) if SESSION_TTL_RANGE.contains(&secs) => {
                    change.session_ttl_secs = Some(Some(secs));
                }
                _ => {
                    return Err(invalid(
                        "session_ttl_secs",
                        format!(
                            "`session_ttl_secs` must be an integer from {} to {} (seconds), or null for the authority's default",
                            SESSION_TTL_RANGE.start(),
                            SESSION_TTL_RANGE.end()
                        ),
                    ))
                }
            },
            ("allowed_origins", value) => change.allowed_origins = Some(allowed_origins(value)?),
            (other, _) => {
                return Err(ApiError::invalid_request(format!(
                    "`{other}` cannot be changed; `name`, `session_ttl_secs` and `allowed_origins` can"
                )))
            }
        }
    }
    let event = admin
        .event(&state, AuditAction::AppChanged, app.app_id)
        .detail(serde_json::json!({
            "name": change.name,
            "session_ttl_secs": change.session_ttl_secs,
            "allowed_origins": change.allowed_origins,
        }));
    let app = state
        .store
        .update_app(&app.app_id, &change, &event)
        .await?
        .ok_or_else(ApiError::invalid_app_id)?;
    state.app_changed(&app.app_id);
    tracing::info!(app_id = %app.app_id, ttl = ?app.session_ttl_secs, "app changed");
    Ok(Json(app_body(&state, &app)))
}

#[utoipa::path(
    post,
    path = "/admin/apps",
    tag = "admin: apps",
    operation_id = "create_app",
    request_body(content = CreateAppRequest, content_type = "application/json"),
    responses((status = 201, description = "The new app and its provider.", body = wire::App), (status = 409, description = "The app id or provider id is taken. Error id: `id_in_use` (code 106).", body = ErrorBody)),
    security(("admin_token" = []))
)]
/// `POST /admin/apps {name, environment, app_id?, provider_id?}`.
pub(crate) async fn create_app(
    admin: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateAppRequest>,
) -> Result<Response, ApiError> {
    let name = app_name(&body.name)?;
    let environment: Environment = body.environment.parse().map_err(|_| {
        invalid(
            "environment",
            "`environment` must be `staging` or `production`",
        )
    })?;
    let app_id = match body.app_id.as_deref() {
        None => AppId::generate(environment),
        Some(s) => {
            let id: AppId = s.parse().map_err(|e| invalid("app_id", format!("{e}")))?;
            if id.environment() != environment {
                return Err(invalid(
                    "app_id",
                    format!(
                        "the app id is a {} id but `environment` is {environment}",
                        id.environment()
                    ),
                ));
            }
            id
        }
    };
    let provider_id = match body.provider_id.as_deref() {
        None => ProviderId::generate(),
        Some(s) => s
            .parse()
            .map_err(|e| invalid("provider_id", format!("{e}")))?,
    };
    let app = App {
        app_id,
        provider_id,
        environment,
        name: name.to_owned(),
        created_at: state.now(),
        session_ttl_secs: None,
        sessions_revoked_before: None,
        allowed_origins: Vec::new(),
    };
    let event = admin
        .event(&state, AuditAction::AppCreated, app_id)
        .detail(serde_json::json!({ "name": app.name, "provider_id": provider_id.to_string() }));
    state
        .store
        .create_app(&app, &event)
        .await
        .map_err(|e| conflict(e, "the app id or provider id is taken".into()))?;
    tracing::info!(app_id = %app_id, "app created");
    Ok(created(app_body(&state, &app)))
}

fn key_body(key: &KeyRecord) -> wire::Key {
    wire::Key {
        kid: key.kid.to_string(),
        status: if key.revoked_at.is_some() {
            KeyStatus::Revoked
        } else {
            KeyStatus::Active
        },
        fingerprint: key.fingerprint.clone(),
        created_at: rfc3339(key.created_at),
        revoked_at: key.revoked_at.map(rfc3339),
    }
}

#[utoipa::path(
    get,
    path = "/admin/apps/{app_id}",
    tag = "admin: apps",
    operation_id = "get_app",
    params(AppPath),
    responses((status = 200, description = "The app with its provider's keys.", body = AppWithKeys), NoApp),
    security(("admin_token" = []))
)]
/// `GET /admin/apps/{app_id}`: the app with its keys.
pub(crate) async fn get_app(
    _: Admin,
    State(state): State<AppState>,
    ApiPath(AppPath { app_id }): ApiPath<AppPath>,
) -> Result<Json<AppWithKeys>, ApiError> {
    let app = find_app(&state, &app_id).await?;
    let keys = state.store.keys_of_provider(&app.provider_id).await?;
    Ok(Json(AppWithKeys {
        app: app_body(&state, &app),
        keys: keys.iter().map(key_body).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/admin/apps/{app_id}/keys",
    tag = "admin: apps",
    operation_id = "add_key",
    params(AppPath),
    request_body(content = AddKeyRequest, content_type = "application/json"),
    responses((status = 201, description = "The key, active.", body = NewKey), NoApp, (status = 409, description = "The key id is taken. Error id: `id_in_use` (code 106).", body = ErrorBody)),
    security(("admin_token" = []))
)]
/// `POST /admin/apps/{app_id}/keys {public_key_pem, kid?}`.
pub(crate) async fn add_key(
    admin: Admin,
    State(state): State<AppState>,
    ApiPath(AppPath { app_id }): ApiPath<AppPath>,
    ApiJson(body): ApiJson<AddKeyRequest>,
) -> Result<Response, ApiError> {
    let app = find_app(&state, &app_id).await?;
    let public_key = PublicKey::from_pem(&body.public_key_pem)
        .map_err(|e| invalid("public_key_pem", e.to_string()))?;
    let kid = match body.kid.as_deref() {
        None => KeyId::generate(),
        Some(s) => s.parse().map_err(|e| invalid("kid", format!("{e}")))?,
    };
    let record = KeyRecord {
        kid,
        provider_id: app.provider_id,
        spki_der: public_key.spki_der().to_vec(),
        fingerprint: public_key.fingerprint(),
        created_at: state.now(),
        revoked_at: None,
    };
    let event = admin
        .event(&state, AuditAction::KeyRegistered, app.app_id)
        .detail(serde_json::json!({ "kid": kid.to_string(), "fingerprint": record.fingerprint }));
    state
        .store
        .add_key(&record, &event)
        .await
        .map_err(|e| conflict(e, format!("key id {kid} is taken")))?;
    state.keys_changed(&app.provider_id);
    tracing::info!(app_id = %app.app_id, kid = %kid, "key registered");
    Ok(created(NewKey {
        kid: kid.to_string(),
        status: KeyStatus::Active,
        fingerprint: record.fingerprint,
    }))
}

#[utoipa::path(
    delete,
    path = "/admin/keys/{kid}",
    tag = "admin: apps",
    operation_id = "revoke_key",
    params(KeyPath),
    responses((status = 204, description = "The key is revoked: tokens it signed are refused with `revoked_key`."), (status = 404, description = "No such key. Error id: `not_found` (code 102).", body = ErrorBody)),
    security(("admin_token" = []))
)]
/// `DELETE /admin/keys/{kid}`: revoke.
pub(crate) async fn revoke_key(
    admin: Admin,
    State(state): State<AppState>,
    ApiPath(KeyPath { kid }): ApiPath<KeyPath>,
) -> Result<StatusCode, ApiError> {
    let kid: KeyId = kid
        .parse()
        .map_err(|_| ApiError::not_found(format!("no key {kid:?}")))?;
    let event = admin
        .0
        .event(state.now(), AuditAction::KeyRevoked, Actor::Admin)
        .detail(serde_json::json!({ "kid": kid.to_string() }));
    let provider = state
        .store
        .revoke_key(&kid, event.at, &event)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no key {kid}")))?;
    state.keys_changed(&provider);
    tracing::info!(kid = %kid, "key revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/admin/apps/{app_id}/revoke-before",
    tag = "admin: users",
    operation_id = "set_app_revoke_before",
    params(AppPath),
    request_body(content = Option<RevokeBeforeRequest>, content_type = "application/json"),
    responses((status = 200, description = "The app's sessions opened at or before this instant no longer work.", body = RevokeBefore), NoApp),
    security(("admin_token" = []))
)]
/// `PUT /admin/apps/{app_id}/revoke-before {before?}`: the app's sessions
/// opened at or before `before` (now when absent) stop working.
pub(crate) async fn set_app_revoke_before(
    admin: Admin,
    State(state): State<AppState>,
    ApiPath(AppPath { app_id }): ApiPath<AppPath>,
    OptionalJson(body): OptionalJson<RevokeBeforeRequest>,
) -> Result<Json<RevokeBefore>, ApiError> {
    let app = find_app(&state, &app_id).await?;
    set_revoke_before(&admin, &state, RevocationScope::App(app.app_id), body).await
}

#[utoipa::path(
    delete,
    path = "/admin/apps/{app_id}/revoke-before",
    tag = "admin: users",
    operation_id = "clear_app_revoke_before",
    params(AppPath),
    responses((status = 204, description = "Cleared: sessions that have not otherwise ended work again."), NoApp),
    security(("admin_token" = []))
)]
/// `DELETE /admin/apps/{app_id}/revoke-before`: undoes it for sessions
/// that have not otherwise ended.
pub(crate) async fn clear_app_revoke_before(
    admin: Admin,
    State(state): State<AppState>,
    ApiPath(AppPath { app_id }): ApiPath<AppPath>,
) -> Result<StatusCode, ApiError> {
    let app = find_app(&state, &app_id).await?;
    clear_revoke_before(&admin, &state, RevocationScope::App(app.app_id)).await
}

/// The instant of a `PUT …/revoke-before` body: `before`, or now.
fn revoke_before_instant(
    state: &AppState,
    body: Option<RevokeBeforeRequest>,
) -> Result<i64, ApiError> {
    match body.and_then(|b| b.before) {
        None => Ok(state.now()),
        Some(before) => parse_rfc3339(&before).ok_or_else(|| {
            invalid(
                "before",
                "`before` must be an RFC 3339 time such as 2026-11-23T10:00:00Z",
            )
        }),
    }
}

/// `PUT …/revoke-before {before?}`: the sessions of `scope` opened at or
/// before `before` (now when absent) stop working.
pub(crate) async fn set_revoke_before(
    admin: &Admin,
    state: &AppState,
    scope: RevocationScope,
    body: Option<RevokeBeforeRequest>,
) -> Result<Json<RevokeBefore>, ApiError> {
    let before = revoke_before_instant(state, body)?;
    let sessions_revoked_before = rfc3339(before);
    let event = admin
        .scope_event(state, AuditAction::RevokeBeforeSet, &scope)
        .detail(serde_json::json!({ "sessions_revoked_before": sessions_revoked_before }));
    revoke_before(state, &scope, Some(before), &event).await?;
    Ok(Json(RevokeBefore {
        sessions_revoked_before,
    }))
}

/// `DELETE …/revoke-before`: undoes it for the sessions of `scope` that
/// have not otherwise ended.
pub(crate) async fn clear_revoke_before(
    admin: &Admin,
    state: &AppState,
    scope: RevocationScope,
) -> Result<StatusCode, ApiError> {
    let event = admin.scope_event(state, AuditAction::RevokeBeforeCleared, &scope);
    revoke_before(state, &scope, None, &event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets or clears a revoke-before instant.
async fn revoke_before(
    state: &AppState,
    scope: &RevocationScope,
    before: Option<i64>,
    event: &AuditEvent,
) -> Result<(), ApiError> {
    if !state
        .store
        .set_sessions_revoked_before(scope, before, event)
        .await?
    {
        return Err(ApiError::invalid_app_id());
    }
    if let RevocationScope::App(app_id) = scope {
        state.app_changed(app_id);
    }
    tracing::info!(scope = ?scope, before = ?before, "revoke-before changed");
    Ok(())
}
