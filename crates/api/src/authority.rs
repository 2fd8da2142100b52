//! The authority's request and response bodies (SPEC §3).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::request::RequestBody;

/// `POST /nonces`, body optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NonceRequest {
    /// Binds the nonce to this app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

impl RequestBody for NonceRequest {
    const OPTIONAL: &'static [&'static str] = &["app_id"];
}

/// 201 of `POST /nonces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NonceResponse {
    /// The nonce, to be passed on untouched.
    pub nonce: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
}

/// `POST /sessions`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionRequest {
    /// The app.
    pub app_id: String,
    /// The identity token answering one of the authority's nonces.
    pub identity_token: String,
}

impl RequestBody for SessionRequest {
    const REQUIRED: &'static [&'static str] = &["app_id", "identity_token"];
}

impl std::fmt::Debug for SessionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRequest")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// 201 of `POST /sessions`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionResponse {
    /// The session token, for `Authorization: Bearer …`.
    pub session_token: String,
    /// The app's user id.
    pub user_id: String,
    /// The user's identity.
    pub identity: Identity,
    /// RFC 3339 UTC.
    pub expires_at: String,
}

/// What became of the nonce when `POST /sessions` was answered with a
/// 5xx: `data.nonce_state` of the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum NonceState {
    /// Nothing was written: the same identity token may be sent again.
    Unused,
    /// The session may have been stored (an answer was lost): get a new
    /// nonce and a new identity token.
    Unknown,
}

impl NonceState {
    /// The key of the error's `data` member.
    pub const DATA_KEY: &'static str = "nonce_state";

    /// As in `data.nonce_state`.
    pub const fn as_str(self) -> &'static str {
        match self {
            NonceState::Unused => "unused",
            NonceState::Unknown => "unknown",
        }
    }

    /// From `data.nonce_state`; anything else is `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "unused" => Some(NonceState::Unused),
            "unknown" => Some(NonceState::Unknown),
            _ => None,
        }
    }
}

impl std::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionResponse")
            .field("user_id", &self.user_id)
            .field("identity", &self.identity)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A user's identity within an app (`GET /identities/me`).
///
/// The display fields come from the identity token's optional claims at
/// each authentication and from edits: a claim present in a token replaces
/// the stored value, an edit lasts until a later token carries that claim.
/// The phone number, email address and metadata come from edits only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identity {
    /// `layer:///identities/<url-encoded user id>`.
    pub id: String,
    /// This identity at the authority: `{authority}/identities/<url-encoded user id>`.
    #[serde(default)]
    pub url: String,
    /// The app's user id.
    pub user_id: String,
    /// The app.
    pub app_id: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Name to show.
    pub display_name: Option<String>,
    /// An `http` or `https` URL.
    pub avatar_url: Option<String>,
    /// Set by edits only.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// Set by edits only.
    #[serde(default)]
    pub email_address: Option<String>,
    /// Set by edits only: at most 16 string members.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// `POST /validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidateRequest {
    /// The token to check.
    pub identity_token: String,
    /// Check against this app's provider (otherwise against the key `kid` names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

impl RequestBody for ValidateRequest {
    const REQUIRED: &'static [&'static str] = &["identity_token"];
    const OPTIONAL: &'static [&'static str] = &["app_id"];
}

/// `POST /admin/apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateAppRequest {
    /// A name for people, 1 to 200 characters.
    pub name: String,
    /// `staging` or `production`.
    pub environment: String,
    /// Generated unless given (migrating an existing deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// Generated unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
}

impl RequestBody for CreateAppRequest {
    const REQUIRED: &'static [&'static str] = &["name", "environment"];
    const OPTIONAL: &'static [&'static str] = &["app_id", "provider_id"];
}

/// An app and its provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct App {
    /// The app id.
    pub app_id: String,
    /// The provider id: `iss` of its users' tokens.
    pub provider_id: String,
    /// `staging` or `production`.
    pub environment: String,
    /// A name for people.
    pub name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The lifetime of sessions opened from now on, in seconds: the app's
    /// own, or the authority's `sessions.ttl_secs`.
    pub session_ttl_secs: u64,
    /// Whether `session_ttl_secs` is the authority's default.
    pub session_ttl_is_default: bool,
    /// RFC 3339 UTC: the app's sessions opened at or before it no longer work.
    #[serde(default)]
    pub sessions_revoked_before: Option<String>,
    /// The web origins of the app's pages, allowed to call the authority
    /// from a browser (CORS) besides the authority's configured ones.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// `GET /admin/apps?limit=&after=`: one page of apps, by app id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppPage {
    /// The apps of this page.
    pub apps: Vec<App>,
    /// The `after` of the next page; `None` on the last.
    pub next: Option<String>,
}

/// The query of `GET /admin/apps`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct AppPageQuery {
    /// At most this many apps (1..=200, default 50).
    pub limit: Option<u32>,
    /// Apps after this app id.
    pub after: Option<String>,
}

/// `PATCH /admin/apps/{app_id}`, as clients send it: absent members are
/// kept; `"session_ttl_secs": null` returns to the authority's default. (The
/// authority reads the body member by member, to answer each wrong one with
/// its own `invalid_property`.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateAppRequest {
    /// A new name (1 to 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new session lifetime in seconds (30..=31536000), or null.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "present_or_null"
    )]
    pub session_ttl_secs: Option<Option<u64>>,
    /// The web origins of the app's pages (`https://app.example.com`; at
    /// most 100), replacing the list; `[]` empties it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
}

/// A member that may be absent (`None`), null (`Some(None)`) or a value.
mod present_or_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value
            .as_ref()
            .and_then(Option::as_ref)
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// `GET /admin/apps/{app_id}`: an app with its provider's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppWithKeys {
    /// The app.
    #[serde(flatten)]
    pub app: App,
    /// Every key of its provider, revoked ones included.
    pub keys: Vec<Key>,
}

/// Whether a key verifies tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyStatus {
    /// Tokens it signed are accepted.
    Active,
    /// Tokens it signed are refused with `revoked_key`.
    Revoked,
}

/// A registered key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Key {
    /// The key id.
    pub kid: String,
    /// Active or revoked.
    pub status: KeyStatus,
    /// `SHA256:…` of the SPKI DER.
    pub fingerprint: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC, if revoked.
    pub revoked_at: Option<String>,
}

/// `POST /admin/apps/{app_id}/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddKeyRequest {
    /// SPKI or PKCS#1 PEM of an RSA key of 2048 bits or more.
    pub public_key_pem: String,
    /// Generated unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

impl RequestBody for AddKeyRequest {
    const REQUIRED: &'static [&'static str] = &["public_key_pem"];
    const OPTIONAL: &'static [&'static str] = &["kid"];
}

/// 201 of `POST /admin/apps/{app_id}/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewKey {
    /// The key id.
    pub kid: String,
    /// Always active.
    pub status: KeyStatus,
    /// `SHA256:…` of the SPKI DER.
    pub fingerprint: String,
}

/// `PATCH /admin/apps/{app_id}/identities/{user_id}` and `PATCH
/// /identities/me`, as clients send them: absent members are kept, null
/// clears. (The authority reads the body member by member.) A user may
/// change the display fields only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateIdentityRequest {
    /// At most 128 characters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "present_or_null"
    )]
    pub display_name: Option<Option<String>>,
    /// At most 128 characters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "present_or_null"
    )]
    pub first_name: Option<Option<String>>,
    /// At most 128 characters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "present_or_null"
    )]
    pub last_name: Option<Option<String>>,
    /// An `http` or `https` URL of at most 1024 characters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "present_or_null"
    )]
    pub avatar_url: Option<Option<String>>,
    /// At most 32 characters (operators only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "present_or_null"
    )]
    pub phone_number: Option<Option<String>>,
    /// At most 255 characters (operators only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "present_or_null"
    )]
    pub email_address: Option<Option<String>>,
    /// Replaces the metadata: at most 16 members, string values (operators only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A session as operators see it: never its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// An opaque id.
    pub session_id: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
    /// RFC 3339 UTC, to the minute.
    pub last_seen_at: String,
    /// The address it was opened from.
    pub client_address: Option<String>,
    /// The `User-Agent` it was opened with.
    pub user_agent: Option<String>,
}

/// `GET /admin/apps/{app_id}/users/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// The app.
    pub app_id: String,
    /// The app's user id.
    pub user_id: String,
    /// The identity, once the user has opened a session.
    pub identity: Option<Identity>,
    /// Whether the user is suspended.
    pub suspended: bool,
    /// RFC 3339 UTC, since when.
    pub suspended_at: Option<String>,
    /// RFC 3339 UTC: the user's sessions opened at or before it no longer work.
    pub sessions_revoked_before: Option<String>,
    /// The user's live sessions, newest first (at most 100).
    pub sessions: Vec<SessionInfo>,
    /// Whether the user has more live sessions than listed.
    pub more_sessions: bool,
}

/// `PUT …/revoke-before`: sessions opened at or before `before` (RFC 3339;
/// now when absent) stop working.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeBeforeRequest {
    /// RFC 3339; now when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

impl RequestBody for RevokeBeforeRequest {
    const OPTIONAL: &'static [&'static str] = &["before"];
}

/// 200 of `PUT …/revoke-before`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeBefore {
    /// RFC 3339 UTC.
    pub sessions_revoked_before: String,
}

/// One event of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// The event's place in the trail (the `after` of a later page).
    pub seq: i64,
    /// RFC 3339 UTC.
    pub at: String,
    /// `session_opened`, `user_suspended`, …
    pub action: String,
    /// `admin`, `user` (the user the event names) or `anonymous`.
    pub actor: String,
    /// The app concerned.
    pub app_id: Option<String>,
    /// The user concerned.
    pub user_id: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// Further facts (a key id, a reason, an instant).
    pub detail: serde_json::Value,
}

/// `GET /admin/audit`: events oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// The events of this page.
    pub events: Vec<AuditEntry>,
    /// The `after` of the next page; `None` when this page is the last for now.
    pub next: Option<i64>,
}

/// The query of `GET /admin/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct AuditQuery {
    /// Only this app's events.
    pub app_id: Option<String>,
    /// Only this user's events.
    pub user_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    pub until: Option<String>,
    /// Only events after this `seq`.
    pub after: Option<i64>,
    /// At most this many (1..=500, default 100).
    pub limit: Option<u32>,
}

/// The path of the routes about one app (`/admin/apps/{app_id}…`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Path)
)]
pub struct AppPath {
    /// The app id, URL-encoded.
    #[cfg_attr(
        feature = "openapi",
        param(example = "layer:///apps/staging/9c1b2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e")
    )]
    pub app_id: String,
}

/// The path of `DELETE /sessions/{session_token}` (Layer's logout).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Path)
)]
pub struct SessionTokenPath {
    /// The session token, URL-encoded.
    pub session_token: String,
}

/// The path of `GET /identities/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Path)
)]
pub struct UserPath {
    /// A user id of the session's app, URL-encoded.
    #[cfg_attr(feature = "openapi", param(example = "alice"))]
    pub user_id: String,
}

/// The path of the routes about one user of an app
/// (`/admin/apps/{app_id}/users/{user_id}…`, `…/identities/{user_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Path)
)]
pub struct AppUserPath {
    /// The app id, URL-encoded.
    #[cfg_attr(
        feature = "openapi",
        param(example = "layer:///apps/staging/9c1b2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e")
    )]
    pub app_id: String,
    /// The app's user id, URL-encoded.
    #[cfg_attr(feature = "openapi", param(example = "alice"))]
    pub user_id: String,
}

/// The path of `DELETE /admin/keys/{kid}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Path)
)]
pub struct KeyPath {
    /// The key id, URL-encoded.
    #[cfg_attr(
        feature = "openapi",
        param(example = "layer:///keys/5e0c7a1b-2d3f-4a5b-9c6d-7e8f9a0b1c2d")
    )]
    pub kid: String,
}

/// `GET /healthz` of the authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// `POST /dashboard/sign-in`: the admin token or the dashboard password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardSignIn {
    /// The admin token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// The dashboard password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl RequestBody for DashboardSignIn {
    const OPTIONAL: &'static [&'static str] = &["admin_token", "password"];
}

impl std::fmt::Debug for DashboardSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DashboardSignIn(..)")
    }
}

/// 200 of `POST /dashboard/sign-in`; the sign-in itself is in an HttpOnly
/// cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardSession {
    /// Sent back in `X-CSRF-Token` with every change.
    pub csrf_token: String,
    /// RFC 3339 UTC: the sign-in ends then at the latest.
    pub expires_at: String,
}
