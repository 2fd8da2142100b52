//! PostgreSQL: the store for several authority instances sharing one
//! database. Migrations embedded; a pool with sizes in config.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use tessera_claims::{AppId, KeyId, Profile, ProviderId, UserId};

use super::sql::{self, sql_store};
use super::{
    App, IdentityRecord, KeyRecord, NonceRefusal, Purged, Result, SessionRecord, StoreError,
};

/// The PostgreSQL store: apps, keys, sessions, identities and (without Redis) nonces.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

fn backend(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(Box::new(e))
        }
        _ => StoreError::Backend(Box::new(e)),
    }
}

impl PostgresStore {
    /// Connects (`postgres://…`) with a pool of `min..=max` connections and
    /// applies the embedded migrations.
    pub async fn connect(url: &str, min: u32, max: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .min_connections(min)
            .max_connections(max.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(backend)?;
        super::migrate(&sqlx::migrate!("./migrations/postgres"), &pool).await?;
        Ok(Self { pool })
    }
}

sql_store!(PostgresStore, reader: pool, writer: pool, errors: backend);
