//! The authority's request and response bodies (SPEC §3).

use serde::{Deserialize, Serialize};

use crate::request::RequestBody;

/// `POST /nonces`, body optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct NonceResponse {
    /// The nonce, to be passed on untouched.
    pub nonce: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
}

/// `POST /sessions`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `layer:///identities/<url-encoded user id>`.
    pub id: String,
    /// The app's user id.
    pub user_id: String,
    /// The app.
    pub app_id: String,
    /// From the identity token's optional claims.
    pub first_name: Option<String>,
    /// From the identity token's optional claims.
    pub last_name: Option<String>,
    /// From the identity token's optional claims.
    pub display_name: Option<String>,
    /// From the identity token's optional claims.
    pub avatar_url: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// `POST /validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// `GET /admin/apps/{app_id}`: an app with its provider's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
pub enum KeyStatus {
    /// Tokens it signed are accepted.
    Active,
    /// Tokens it signed are refused with `revoked_key`.
    Revoked,
}

/// A registered key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct NewKey {
    /// The key id.
    pub kid: String,
    /// Always active.
    pub status: KeyStatus,
    /// `SHA256:…` of the SPKI DER.
    pub fingerprint: String,
}

/// `GET /healthz` of the authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
}
