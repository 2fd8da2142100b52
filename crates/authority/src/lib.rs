//! The Tessera authority: it issues nonces, verifies identity tokens in
//! SPEC order, opens and ends sessions, keeps identities, apps and their
//! keys, and serves the validation report.
//!
//! [`router`] builds the HTTP API over an [`AppState`]; [`serve`] runs it on
//! a listener with a background purge of expired nonces and sessions and
//! graceful shutdown. Storage sits behind the [`store::Store`] and
//! [`store::NonceStore`] traits; [`store::SqlStore`] keeps both in SQLite
//! (the embedded default) or PostgreSQL.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tessera_authority::{serve, store::SqlStore, AppState, AuthorityConfig};
//!
//! let config = AuthorityConfig::default();
//! let store = Arc::new(SqlStore::connect(&config.database_url, config.database_pool_size).await?);
//! let state = AppState::new(store, None, config, Some("an admin token of 16+ chars"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7700").await?;
//! serve(listener, state, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod bearer;
mod cache;
mod config;
mod dashboard;
mod error;
mod guards;
mod limits;
mod metrics;
pub mod nonce;
mod routes;
mod sign_in;
mod state;
pub mod store;
mod transfer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use bearer::{NonceHash, SessionToken, SessionTokenHash};
pub use config::{
    AuditConfig, AuthorityConfig, ConfigError, DashboardConfig, NonceBackend, NonceConfig,
    RateLimitConfig, SessionConfig, TokenConfig,
};
pub use metrics::Metrics;
pub use routes::{openapi, router};
pub use sign_in::{Password as DashboardPassword, PasswordError as DashboardPasswordError};
pub use state::{AppState, KEY_CACHE_TTL};
pub use transfer::{
    export, import, Export, ExportedApp, ExportedKey, ImportError, ImportSummary, EXPORT_FORMAT,
};

use crate::store::prelude::*;
use crate::store::{NonceStore, RedisNonceStore, SqlStore};

/// Opens the configured stores (SQLite or PostgreSQL by the URL's scheme;
/// nonces there or in Redis) and builds the state.
pub async fn open(
    config: AuthorityConfig,
    admin_token: Option<&str>,
) -> Result<AppState, OpenError> {
    open_with_time(config, admin_token, Arc::new(tessera_claims::SystemTime)).await
}

/// Like [`open`], the handlers reading the time from `time`.
pub async fn open_with_time(
    config: AuthorityConfig,
    admin_token: Option<&str>,
    time: Arc<dyn tessera_claims::TimeSource>,
) -> Result<AppState, OpenError> {
    config.check()?;
    let store = open_sql(&config).await?;
    let nonces: Option<Arc<dyn NonceStore>> = match config.nonces.backend {
        NonceBackend::Database => None,
        NonceBackend::Redis => {
            let url = config.nonces.redis_url.as_deref().unwrap_or_default();
            let redis = RedisNonceStore::connect(url, &config.nonces.redis_prefix).await?;
            let settings = redis.settings().await?;
            settings.check()?;
            match settings.persistent {
                Some(true) => {}
                Some(false) => tracing::warn!(
                    "Redis keeps nothing on disk (no `save`, no `appendonly`): a restart forgets which nonces were used; each still opens at most one session, but a nonce whose session has ended could open another until it expires"
                ),
                None => tracing::warn!(
                    "Redis refused CONFIG GET: its eviction policy and persistence could not be checked; used-nonce marks need `maxmemory-policy noeviction`"
                ),
            }
            Some(Arc::new(redis))
        }
    };
    let state = AppState::with_time(store, nonces, config, admin_token, time);
    // The first start of a deployment adds its first nonce key here.
    state.keyring().await?;
    Ok(state)
}

/// Opens the configured database alone (applying missing migrations and
/// refusing a newer schema): for `migrate`, `export` and `import`.
pub async fn open_store(config: &AuthorityConfig) -> Result<Arc<dyn Store>, OpenError> {
    config.check()?;
    open_sql(config).await
}

async fn open_sql(config: &AuthorityConfig) -> Result<Arc<dyn Store>, OpenError> {
    Ok(Arc::new(
        SqlStore::connect_with(
            &config.database_url,
            config.database_pool_size,
            config.database_synchronous,
        )
        .await?,
    ))
}

/// The authority could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A setting is out of range.
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated.
    #[error("cannot open the database")]
    Store(#[from] store::StoreError),
    /// Redis may evict used-nonce marks.
    #[error("the Redis of `nonces.redis_url` cannot keep used nonces")]
    Redis(#[from] store::EvictingRedis),
}

/// Serves the API on `listener` until `shutdown` completes, then lets
/// in-flight requests finish. Expired nonces and sessions, and audit events
/// past their retention, are purged in the background meanwhile.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let purge = tokio::spawn(purge_loop(state.clone()));
    let http = state.config.http.clone();
    let body_limit = state.config.body_limit_bytes;
    let result =
        tessera_api::server::serve(listener, router(state), &http, body_limit, shutdown).await;
    purge.abort();
    result
}

/// Removes expired nonces and sessions, and audit events past their
/// retention, every `purge_interval_secs`.
async fn purge_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(state.config.purge_interval_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let retention = state.config.audit.retention_days.saturating_mul(86_400) as i64;
    loop {
        tick.tick().await;
        let now = state.now();
        // Expired rows go once past expiry by the clock skew allowed: an
        // instance whose clock is behind still takes a nonce that long,
        // and its used-nonce record must still be there.
        let skew = state.config.tokens.clock_skew_secs as i64;
        match state.store.purge_expired(now - skew, now - retention).await {
            Ok(p) => state.metrics.purged(&p),
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
        }
        if let Err(e) = state.keyring().await {
            tracing::warn!(error = %e, "reading the nonce keys failed");
        }
    }
}
