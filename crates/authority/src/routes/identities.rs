//! Editing identities: operators (`/admin/apps/{app_id}/identities/{user_id}`)
//! every field, a user (`PATCH /identities/me`) the display fields.
//!
//! Which wins: a display field present in an identity token's claims
//! replaces the stored value at that authentication; an edit lasts until a
//! later token carries that claim. Phone number, email address and metadata
//! are never in tokens, so edits alone set them.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde_json::Value;
use tessera_api::authority::Identity;
use tessera_api::authority::{AppUserPath, UpdateIdentityRequest, UserPath};
use tessera_api::server::{ApiJson, ApiPath};
use tessera_api::ErrorBody;
use tessera_api::{ApiError, JsonObject};
use tessera_claims::{AppId, Profile, UserId, MAX_AVATAR_URL_CHARS, MAX_NAME_CHARS};

use super::sessions::{identity_body, shown_identity};
use super::users::app_and_user;
use crate::guards::Admin;
use crate::guards::CurrentSession;
use crate::guards::{BaseUrl, Caller};
use crate::state::AppState;
use crate::store::{Actor, AuditAction, AuditEvent, IdentityChange};

/// Layer's limits, in characters.
const MAX_PHONE_NUMBER: usize = 32;
const MAX_EMAIL_ADDRESS: usize = 255;
/// Metadata: members, and the characters of a key and of a value.
pub const MAX_METADATA_MEMBERS: usize = 16;
const MAX_METADATA_KEY: usize = 128;
const MAX_METADATA_VALUE: usize = 1024;

/// The fields a user may change about themselves.
const DISPLAY_FIELDS: [&str; 4] = ["display_name", "first_name", "last_name", "avatar_url"];

fn invalid(property: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid_property(property, message)
}

/// A string member, or null (cleared; an empty string clears too).
fn text(property: &str, value: &Value, max_chars: usize) -> Result<Option<String>, ApiError> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.trim(),
        _ => {
            return Err(invalid(
                property,
                format!("`{property}` must be a string or null"),
            ))
        }
    };
    if text.chars().any(char::is_control) {
        return Err(invalid(
            property,
            format!("`{property}` must not contain control characters"),
        ));
    }
    let n = text.chars().count();
    if n > max_chars {
        return Err(invalid(
            property,
            format!("`{property}` has {n} characters; at most {max_chars} allowed"),
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

fn metadata(value: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let members = match value {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(members) => members,
        _ => {
            return Err(invalid(
                "metadata",
                "`metadata` must be an object of strings, or null",
            ))
        }
    };
    if members.len() > MAX_METADATA_MEMBERS {
        return Err(invalid(
            "metadata",
            format!(
                "`metadata` has {} members; at most {MAX_METADATA_MEMBERS} allowed",
                members.len()
            ),
        ));
    }
    let mut out = BTreeMap::new();
    for (key, value) in members {
        let n = key.chars().count();
        if n == 0 || n > MAX_METADATA_KEY || key.chars().any(char::is_control) {
            return Err(invalid(
                "metadata",
                format!("a `metadata` key must be 1 to {MAX_METADATA_KEY} characters without control characters"),
            ));
        }
        let Value::String(value) = value else {
            return Err(invalid(
                "metadata",
                format!("`metadata.{key}` must be a string"),
            ));
        };
        if value.chars().count() > MAX_METADATA_VALUE {
            return Err(invalid(
                "metadata",
                format!("`metadata.{key}` is longer than {MAX_METADATA_VALUE} characters"),
            ));
        }
        out.insert(key.clone(), value.clone());
    }
    Ok(out)
}

/// Reads a PATCH body member by member; a user may send `allowed` only.
fn identity_change(body: &JsonObject, allowed: &[&str]) -> Result<IdentityChange, ApiError> {
    let mut change = IdentityChange::default();
    for (member, value) in &body.0 {
        let member = member.as_str();
        if !allowed.contains(&member) {
            return Err(ApiError::invalid_request(format!(
                "`{member}` cannot be changed here; these can: {}",
                allowed.join(", ")
            )));
        }
        match member {
            "display_name" => change.display_name = Some(text(member, value, MAX_NAME_CHARS)?),
            "first_name" => change.first_name = Some(text(member, value, MAX_NAME_CHARS)?),
            "last_name" => change.last_name = Some(text(member, value, MAX_NAME_CHARS)?),
            "avatar_url" => {
                change.avatar_url = Some(text(member, value, MAX_AVATAR_URL_CHARS)?);
            }
            "phone_number" => change.phone_number = Some(text(member, value, MAX_PHONE_NUMBER)?),
            "email_address" => {
                let email = text(member, value, MAX_EMAIL_ADDRESS)?;
                if let Some(e) = &email {
                    let (local, domain) = e.split_once('@').unwrap_or_default();
                    if local.is_empty() || domain.is_empty() || e.contains(char::is_whitespace) {
                        return Err(invalid(
                            member,
                            "`email_address` must look like name@domain",
                        ));
                    }
                }
                change.email_address = Some(email);
            }
            _ => change.metadata = Some(metadata(value)?),
        }
    }
    // The token rules for the display fields (caps, an http(s) avatar URL).
    let profile = Profile {
        display_name: change.display_name.clone().flatten(),
        first_name: change.first_name.clone().flatten(),
        last_name: change.last_name.clone().flatten(),
        avatar_url: change.avatar_url.clone().flatten(),
    };
    profile
        .check()
        .map_err(|e| invalid(e.claim, format!("`{}`: {}", e.claim, e.why)))?;
    Ok(change)
}

/// Reads the PATCH body (members of `allowed` only) and edits the
/// identity, recording `event` with the fields sent.
async fn apply(
    state: &AppState,
    app_id: &AppId,
    user_id: &UserId,
    body: &JsonObject,
    allowed: &[&str],
    event: AuditEvent,
    base_url: &str,
) -> Result<Identity, ApiError> {
    let change = identity_change(body, allowed)?;
    let fields: Vec<&str> = allowed
        .iter()
        .copied()
        .filter(|f| body.0.contains_key(*f))
        .collect();
    let event = event
        .user(user_id.clone())
        .detail(serde_json::json!({ "fields": fields }));
    let identity = state
        .store
        .update_identity(app_id, user_id, &change, &event)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "no identity for this user; it is created by the user's first session",
            )
        })?;
    Ok(identity_body(&identity, base_url))
}

#[utoipa::path(
    get,
    path = "/admin/apps/{app_id}/identities/{user_id}",
    tag = "admin: users",
    operation_id = "get_identity",
    params(AppUserPath),
    responses((status = 200, description = "The user's identity.", body = Identity), (status = 404, description = "No app with this id (`invalid_app_id`, code 2), or no identity for this user (`not_found`, code 102).", body = ErrorBody)),
    security(("admin_token" = []))
)]
/// `GET /admin/apps/{app_id}/identities/{user_id}`.
pub(crate) async fn get(
    _: Admin,
    State(state): State<AppState>,
    BaseUrl(base_url): BaseUrl,
    ApiPath(path): ApiPath<AppUserPath>,
) -> Result<Json<Identity>, ApiError> {
    let (app, user_id) = app_and_user(&state, path).await?;
    let missing = "no identity for this user";
    shown_identity(&state, &app.app_id, &user_id, &base_url, missing).await
}

#[utoipa::path(
    get,
    path = "/identities/{user_id}",
    tag = "identities",
    operation_id = "get_identity_of_app",
    params(UserPath),
    responses((status = 200, description = "The identity of a user of the session's app (Layer's identity: `id`, `url`, `user_id`, `display_name`, `avatar_url`, names, `phone_number`, `email_address`, `metadata`). `GET /identities/me` is the session's own user.", body = Identity), (status = 404, description = "The session's app has no identity for this user id. Error id: `not_found` (code 102).", body = ErrorBody)),
    security(("session" = []))
)]
/// `GET /identities/{user_id}`: a user of the session's own app (users of
/// other apps are not found).
pub(crate) async fn get_of_app(
    State(state): State<AppState>,
    BaseUrl(base_url): BaseUrl,
    CurrentSession(session): CurrentSession,
    ApiPath(UserPath { user_id }): ApiPath<UserPath>,
) -> Result<Json<Identity>, ApiError> {
    let missing = "the app has no identity for this user id";
    let user_id = UserId::new(user_id).map_err(|_| ApiError::not_found(missing))?;
    shown_identity(&state, &session.app_id, &user_id, &base_url, missing).await
}

/// Every member an operator may change.
const ALL_FIELDS: [&str; 7] = [
    "display_name",
    "first_name",
    "last_name",
    "avatar_url",
    "phone_number",
    "email_address",
    "metadata",
];

#[utoipa::path(
    patch,
    path = "/admin/apps/{app_id}/identities/{user_id}",
    tag = "admin: users",
    operation_id = "update_identity",
    params(AppUserPath),
    request_body(content = UpdateIdentityRequest, content_type = "application/json"),
    responses((status = 200, description = "The identity after the edit.", body = Identity), (status = 404, description = "No app with this id (`invalid_app_id`, code 2), or no identity for this user (`not_found`, code 102).", body = ErrorBody)),
    security(("admin_token" = []))
)]
/// `PATCH /admin/apps/{app_id}/identities/{user_id}`.
pub(crate) async fn update(
    admin: Admin,
    State(state): State<AppState>,
    BaseUrl(base_url): BaseUrl,
    ApiPath(path): ApiPath<AppUserPath>,
    ApiJson(body): ApiJson<JsonObject>,
) -> Result<Json<Identity>, ApiError> {
    let (app, user_id) = app_and_user(&state, path).await?;
    let event = admin.event(&state, AuditAction::IdentityChanged, app.app_id);
    let identity = apply(
        &state,
        &app.app_id,
        &user_id,
        &body,
        &ALL_FIELDS,
        event,
        &base_url,
    )
    .await?;
    Ok(Json(identity))
}

#[utoipa::path(
    patch,
    path = "/identities/me",
    tag = "identities",
    operation_id = "update_my_identity",
    request_body(content = UpdateIdentityRequest, content_type = "application/json"),
    responses((status = 200, description = "The identity after the edit. A user may change the display fields only.", body = Identity), (status = 404, description = "No identity for this session. Error id: `not_found` (code 102).", body = ErrorBody)),
    security(("session" = []))
)]
/// `PATCH /identities/me`: the user's own display fields.
pub(crate) async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    BaseUrl(base_url): BaseUrl,
    CurrentSession(session): CurrentSession,
    ApiJson(body): ApiJson<JsonObject>,
) -> Result<Json<Identity>, ApiError> {
    let event = caller
        .event(state.now(), AuditAction::IdentityChanged, Actor::User)
        .app(session.app_id);
    let (app_id, user_id) = (&session.app_id, &session.user_id);
    let identity = apply(
        &state,
        app_id,
        user_id,
        &body,
        &DISPLAY_FIELDS,
        event,
        &base_url,
    )
    .await?;
    Ok(Json(identity))
}
