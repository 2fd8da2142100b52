//! The Tessera authority: it issues nonces, verifies identity tokens in
//! SPEC order, opens and ends sessions, keeps identities, apps and their
//! keys, and serves the validation report.
//!
//! [`router`] builds the HTTP API over an [`AppState`]; [`serve`] runs it on
//! a listener with a background purge of expired nonces and sessions and
//! graceful shutdown. Storage sits behind the [`store::Store`] and
//! [`store::NonceStore`] traits; [`store::SqliteStore`] is the embedded
//! default.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tessera_authority::{router, store::SqliteStore, AppState, AuthorityConfig};
//!
//! let config = AuthorityConfig::default();
//! let store = Arc::new(SqliteStore::connect(&config.database_url).await?);
//! let state = AppState::new(store.clone(), store, config, Some("an admin token of 16+ chars"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7700").await?;
//! axum::serve(listener, router(state)).await?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod config;
mod error;
mod metrics;
mod routes;
mod secrets;
mod state;
pub mod store;
mod transfer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use config::{
    AuthorityConfig, ConfigError, NonceBackend, NonceConfig, SessionConfig, TokenConfig,
};
pub use error::ApiError;
pub use metrics::Metrics;
pub use routes::router;
pub use state::{AppState, KEY_CACHE_TTL};
pub use transfer::{
    export, import, Export, ExportedApp, ExportedKey, ImportError, ImportSummary, EXPORT_FORMAT,
};

use crate::store::{NonceStore, PostgresStore, RedisNonceStore, SqliteStore, Store};

/// Opens the configured stores (SQLite or PostgreSQL by the URL's scheme;
/// nonces there or in Redis) and builds the state.
pub async fn open(
    config: AuthorityConfig,
    admin_token: Option<&str>,
) -> Result<AppState, OpenError> {
    config.check()?;
    let (store, mut nonces) = open_sql(&config).await?;
    if config.nonces.backend == NonceBackend::Redis {
        let url = config.nonces.redis_url.as_deref().unwrap_or_default();
        nonces = Arc::new(RedisNonceStore::connect(url, &config.nonces.redis_prefix).await?);
    }
    Ok(AppState::new(store, nonces, config, admin_token))
}

/// Opens the configured database alone (applying missing migrations and
/// refusing a newer schema): for `migrate`, `export` and `import`.
pub async fn open_store(config: &AuthorityConfig) -> Result<Arc<dyn Store>, OpenError> {
    config.check()?;
    Ok(open_sql(config).await?.0)
}

async fn open_sql(
    config: &AuthorityConfig,
) -> Result<(Arc<dyn Store>, Arc<dyn NonceStore>), OpenError> {
    Ok(if config.database_url.starts_with("sqlite:") {
        let s = Arc::new(SqliteStore::connect(&config.database_url).await?);
        (s.clone(), s)
    } else {
        let p = Arc::new(
            PostgresStore::connect(&config.database_url, 1, config.database_pool_size).await?,
        );
        (p.clone(), p)
    })
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
}

/// Serves the API on `listener` until `shutdown` completes, then lets
/// in-flight requests finish. Expired nonces and sessions are purged in the
/// background meanwhile.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let purge = tokio::spawn(purge_loop(state.clone()));
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    purge.abort();
    result
}

/// Removes expired nonces and sessions every `purge_interval_secs`.
async fn purge_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(state.config.purge_interval_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = secrets::now();
        match state.nonces.purge_expired_nonces(now).await {
            Ok(p) => state.metrics.nonces_purged(p.unused_nonces, p.used_nonces),
            Err(e) => tracing::warn!(error = %e, "purging expired nonces failed"),
        }
        if let Err(e) = state.store.purge_expired_sessions(now).await {
            tracing::warn!(error = %e, "purging expired sessions failed");
        }
    }
}
