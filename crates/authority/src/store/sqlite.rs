//! The embedded default: SQLite through sqlx, WAL journal, migrations embedded.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tessera_claims::{AppId, KeyId, Profile, ProviderId, UserId};

use super::sql::{self, sql_store};
use super::{
    App, IdentityRecord, KeyRecord, NonceRefusal, Purged, Result, SessionRecord, StoreError,
};

/// The SQLite store: apps, keys, sessions, identities and nonces in one file.
///
/// SQLite allows one writer at a time; writes go through a single
/// connection (queued in the pool, not spinning on `SQLITE_BUSY`) while
/// reads use several.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
}

fn backend(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(Box::new(e))
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("5") => {
            StoreError::Unavailable(Box::new(e)) // SQLITE_BUSY
        }
        _ => StoreError::Backend(Box::new(e)),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or
    /// `sqlite::memory:`) and applies the embedded migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL keeps every committed transaction across a
            // crash of the process; only an OS crash may lose the last ones.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(parent) = Path::new(options.get_filename()).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Unavailable(e.into()))?;
            }
        }
        let pool = |size: u32| {
            SqlitePoolOptions::new()
                .max_connections(size)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .idle_timeout(None)
                .max_lifetime(None)
        };
        let writer = pool(1)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        super::migrate(&sqlx::migrate!("./migrations/sqlite"), &writer).await?;
        // An in-memory database lives in its one connection.
        let reader = if url.contains(":memory:") {
            writer.clone()
        } else {
            pool(8).connect_with(options).await.map_err(backend)?
        };
        Ok(Self { reader, writer })
    }
}

sql_store!(SqliteStore, reader: reader, writer: writer, errors: backend);
