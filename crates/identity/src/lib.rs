//! The Tessera identity service, "your backend": it checks a user's
//! credentials and signs an EIT v1 identity token over the authority's nonce.
//!
//! - [`Issuer`]: token issuing alone, for backends with their own login.
//! - [`CredentialVerifier`]: plug your own user store into the server;
//!   [`UserStore`] is the built-in one (argon2id passwords, in SQLite or
//!   PostgreSQL).
//! - [`router`] and [`serve`]: `POST /identity_tokens`, the JWKS, health and
//!   metrics.
//!
//! ```no_run
//! # async fn run(config: tessera_identity::IdentityConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let state = tessera_identity::open(config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7701").await?;
//! tessera_identity::serve(listener, state, std::future::pending()).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod config;
mod issuer;
mod metrics;
mod password;
mod ratelimit;
mod routes;
mod state;
mod users;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use config::{IdentityConfig, RetiringKey};
pub use issuer::{IssueError, Issuer, TOKEN_TTL_RANGE};
pub use metrics::Metrics;
pub use password::{PasswordError, PasswordParams, Passwords};
pub use ratelimit::{RateLimitConfig, RateLimiter};
pub use routes::{openapi, router};
pub use state::IdentityState;
pub use users::{
    CredentialVerifier, UserRecord, UserStore, UserStoreError, VerifiedUser, POSTGRES_SCHEMA,
};

use tessera_claims::PublicKey;

/// The identity service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A setting is out of range or a file is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The signer failed to start or its self-check failed.
    #[error("the signer failed to start")]
    Signer(#[from] tessera_signer::SignerError),
    /// The user store could not be opened.
    #[error("cannot open the user store")]
    Users(#[from] UserStoreError),
}

/// Opens the user store named by `database_url`.
pub async fn open_users(config: &IdentityConfig) -> Result<UserStore, OpenError> {
    let passwords =
        Passwords::new(config.password).map_err(|e| OpenError::Config(e.to_string()))?;
    Ok(UserStore::connect(&config.database_url, config.database_pool_size, passwords).await?)
}

/// Builds the signer (with its self-check), reads the retiring keys, opens
/// the user store: everything `serve` needs.
pub async fn open(config: IdentityConfig) -> Result<IdentityState, OpenError> {
    let users = open_users(&config).await?;
    open_with(config, Arc::new(users)).await
}

/// Like [`open`], with your own credential check.
pub async fn open_with(
    config: IdentityConfig,
    verifier: Arc<dyn CredentialVerifier>,
) -> Result<IdentityState, OpenError> {
    if let Err((key, message)) = config.http.check() {
        return Err(OpenError::Config(format!("`{key}` {message}")));
    }
    config.rate_limit.check().map_err(OpenError::Config)?;
    if config.sample_mode {
        match config.sample_app_id {
            None => {
                return Err(OpenError::Config(
                    "`sample_app_id` is required with `sample_mode`: the staging app sample tokens are for".into(),
                ))
            }
            Some(app) if app.environment() == tessera_claims::Environment::Production => {
                return Err(OpenError::Config(format!(
                    "`sample_app_id` {app} is a production app; sample mode serves staging apps only"
                )))
            }
            Some(_) => {}
        }
    }
    let signer = tessera_signer::build_signer(&config.signer).await?;
    let issuer = Issuer::new(
        signer,
        config.provider_id,
        Duration::from_secs(config.token_ttl_secs),
    )
    .map_err(|e| OpenError::Config(format!("token_ttl_secs: {e}")))?;
    let mut retiring = Vec::new();
    for key in &config.retiring_keys {
        let pem = std::fs::read_to_string(&key.public_key_path).map_err(|e| {
            OpenError::Config(format!(
                "retiring key {}: cannot read {}: {e}",
                key.kid,
                key.public_key_path.display()
            ))
        })?;
        let public = PublicKey::from_pem(&pem)
            .map_err(|e| OpenError::Config(format!("retiring key {}: {e}", key.kid)))?;
        retiring.push((key.kid, public));
    }
    if config.sample_mode {
        tracing::warn!(
            app_id = ?config.sample_app_id.map(|a| a.to_string()),
            "SAMPLE MODE IS ON: tokens are issued for any user id without credentials (for this staging app only). Never run this in production."
        );
    }
    Ok(IdentityState::new(config, issuer, verifier, &retiring))
}

/// Serves the API until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: IdentityState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let http = state.config.http.clone();
    let body_limit = state.config.body_limit_bytes;
    tessera_api::server::serve(listener, router(state), &http, body_limit, shutdown).await
}
