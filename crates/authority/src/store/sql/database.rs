//! [`SqlStore`]: connecting (migrations applied), the way of writing
//! sessions chosen once, and what spans the domains.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AnyPool;
use tessera_api::sql::{self, Engine, PoolSettings, Pools, Synchronous};

use super::pooled::Pooled;
use crate::store::postgres::Postgres;
use crate::store::sqlite::Writer;
use crate::store::writes::SessionWrites;
use crate::store::{Purged, Result, Store};

const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at <= $1";
pub(super) const PURGE_USED_NONCES: &str = "DELETE FROM used_nonces WHERE expires_at <= $1";

/// The SQL store over one database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    engine: Engine,
    pub(super) reader: AnyPool,
    pub(super) writer: AnyPool,
    /// How sessions are written: the seam chosen at connection.
    pub(super) sessions: Arc<dyn SessionWrites>,
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
            (
                super::audit::PURGE_AUDIT,
                audit_before,
                &mut purged.audit_events,
            ),
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
