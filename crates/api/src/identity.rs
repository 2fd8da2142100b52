//! The identity service's request and response bodies (SPEC §4).

use serde::{Deserialize, Serialize};

use crate::request::RequestBody;

/// `POST /identity_tokens` with credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialsRequest {
    /// The authority's nonce, untouched.
    pub nonce: String,
    /// The user's login name.
    pub username: String,
    /// The user's password.
    pub password: String,
}

impl RequestBody for CredentialsRequest {
    const REQUIRED: &'static [&'static str] = &["username", "password", "nonce"];
}

impl std::fmt::Debug for CredentialsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `POST /identity_tokens` in sample mode (staging apps only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SampleRequest {
    /// A staging app id.
    pub app_id: String,
    /// Any user id.
    pub user_id: String,
    /// The authority's nonce, untouched.
    pub nonce: String,
}

impl RequestBody for SampleRequest {
    const REQUIRED: &'static [&'static str] = &["app_id", "user_id", "nonce"];
}

/// The body of `POST /identity_tokens`: credentials, or in sample mode
/// (staging apps only) an app and user id. The service tells them apart
/// by `username`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum IdentityTokenRequest {
    /// A user's credentials.
    Credentials(CredentialsRequest),
    /// Sample mode.
    Sample(SampleRequest),
}

/// 200 of `POST /identity_tokens`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityTokenResponse {
    /// The signed EIT.
    pub identity_token: String,
}

impl std::fmt::Debug for IdentityTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityTokenResponse")
            .finish_non_exhaustive()
    }
}

/// `GET /healthz` of the identity service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityHealth {
    /// `ok` or `unavailable`.
    pub status: String,
    /// The signer and its last self-check.
    pub signer: SignerHealth,
}

/// The signer part of [`IdentityHealth`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignerHealth {
    /// `pem`, `aws-kms` or `pkcs11`.
    pub backend: String,
    /// The key id tokens carry.
    pub kid: String,
    /// `ok`, or what failed.
    pub self_check: String,
}
