//! The SQL store: apps, keys, sessions, identities, the audit trail and
//! nonce keys in SQLite (embedded, the default) or PostgreSQL (several
//! instances sharing one database). One implementation: the statements
//! take `$n` parameters, which both engines accept, through sqlx's `Any`
//! pools; one file per domain. How sessions are written is chosen once, at
//! [`SqlStore::connect`]: SQLite's writer thread (`sqlite/`), PostgreSQL's
//! batches (`postgres/`), or a transaction on the pool ([`pooled`]).
//!
//! Imported by the store's `mod.rs` only (which exports [`SqlStore`]).

mod apps;
mod audit;
mod identities;
mod nonce_keys;
mod pooled;
mod sessions;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AnyPool;
use tessera_api::sql::{self, Engine, PoolSettings, Pools, Synchronous};

use super::postgres::Postgres;
use super::sqlite::Writer;
use super::writes::SessionWrites;
use super::{Purged, Result, Store};
use pooled::Pooled;

const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at <= $1";
const PURGE_USED_NONCES: &str = "DELETE FROM used_nonces WHERE expires_at <= $1";

/// A transaction on either engine.
type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// The SQL store over one database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    engine: Engine,
    reader: AnyPool,
    writer: AnyPool,
    /// How sessions are written: the seam chosen at connection.
    sessions: Arc<dyn SessionWrites>,
}

impl SqlStore {
    /// Opens the database at `url` (`sqlite://path`, `sqlite::memory:` or
    /// `postgres://…`; on PostgreSQL a pool of at most `pool_size`
    /// connections) and applies the embedded migrations, refusing a
    /// database a newer build migrated.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        Self::connect_with(url, pool_size, Synchronous::Normal).await
    }

    /// Like [`SqlStore::connect`], SQLite commits made durable as
    /// `synchronous` says. On a SQLite file, sessions are written by a
    /// thread of their own that commits concurrent ones together; on
    /// PostgreSQL, redemptions waiting together go as one statement.
    pub async fn connect_with(url: &str, pool_size: u32, synchronous: Synchronous) -> Result<Self> {
        let settings = PoolSettings {
            max_connections: pool_size,
            postgres_schema: None,
            sqlite_synchronous: synchronous,
        };
        let Pools {
            engine,
            reader,
            writer,
        } = sql::connect(url, settings).await?;
        let migrator = match engine {
            Engine::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Engine::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        sql::migrate(&migrator, &writer).await?;
        let sessions: Arc<dyn SessionWrites> = match (engine, sql::sqlite_file(url)) {
            (Engine::Postgres, _) => Arc::new(Postgres::start(writer.clone())),
            (Engine::Sqlite, Some(path)) => Arc::new(Writer::open(&path, synchronous)?),
            (Engine::Sqlite, None) => Arc::new(Pooled {
                pool: writer.clone(),
            }),
        };
        Ok(Self {
            engine,
            reader,
            writer,
            sessions,
        })
    }

    /// The engine behind the store.
    pub fn engine(&self) -> Engine {
        self.engine
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(sql::SCHEMA_VERSION)
            .fetch_one(&self.reader)
            .await?)
    }

    async fn purge_expired(&self, now: i64, audit_before: i64) -> Result<Purged> {
        let mut purged = Purged::default();
        for (statement, cutoff, count) in [
            (PURGE_SESSIONS, now, &mut purged.sessions),
            (PURGE_USED_NONCES, now, &mut purged.used_nonces),
            (audit::PURGE_AUDIT, audit_before, &mut purged.audit_events),
        ] {
            *count = sqlx::query(statement)
                .bind(cutoff)
                .execute(&self.writer)
                .await?
                .rows_affected();
        }
        Ok(purged)
    }
}
