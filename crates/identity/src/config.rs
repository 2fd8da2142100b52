//! The identity service's settings, as plain types.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use tessera_api::server::{CorsConfig, HttpConfig};
use tessera_claims::{KeyId, ProviderId};
use tessera_signer::SignerConfig;

use crate::password::PasswordParams;
use crate::ratelimit::RateLimitConfig;

/// Settings of `tessera identity serve`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdentityConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The user store: `sqlite://path` (created if missing) or `postgres://…`.
    #[serde(default = "default_database_url")]
    pub database_url: String,
    /// Most connections in the PostgreSQL pool.
    #[serde(default = "default_pool_size")]
    pub database_pool_size: u32,
    /// The provider tokens are issued for (`iss`).
    pub provider_id: ProviderId,
    /// Token lifetime, 30..=600 seconds.
    #[serde(default = "default_ttl")]
    pub token_ttl_secs: u64,
    /// Issue tokens for any user id without credentials, for
    /// `sample_app_id` only.
    #[serde(default)]
    pub sample_mode: bool,
    /// The staging app sample mode serves (required with `sample_mode`; a
    /// production app is refused at start). What a request names is held to
    /// it, so the staging-only rule rests on this setting, not on the client.
    #[serde(default)]
    pub sample_app_id: Option<tessera_claims::AppId>,
    /// The active signing key.
    pub signer: SignerConfig,
    /// Public keys signed with before and still published in the JWKS.
    #[serde(default)]
    pub retiring_keys: Vec<RetiringKey>,
    /// `Cache-Control: max-age` of the JWKS, in seconds.
    #[serde(default = "default_jwks_max_age")]
    pub jwks_max_age_secs: u64,
    /// argon2id costs.
    #[serde(default)]
    pub password: PasswordParams,
    /// Attempt limits.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// Connection limits and timeouts.
    #[serde(default)]
    pub http: HttpConfig,
    /// The web origins whose pages may call the service.
    #[serde(default)]
    pub cors: CorsConfig,
}

/// A key no longer signing but still published.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiringKey {
    /// Its key id.
    pub kid: KeyId,
    /// Its public key (SPKI or PKCS#1 PEM).
    pub public_key_path: PathBuf,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7701))
}

fn default_database_url() -> String {
    "sqlite://./data/identity.db".into()
}

fn default_pool_size() -> u32 {
    8
}

fn default_ttl() -> u64 {
    120
}

fn default_jwks_max_age() -> u64 {
    300
}

fn default_body_limit() -> usize {
    16 * 1024
}
