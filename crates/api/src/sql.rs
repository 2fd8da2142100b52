//! What both services' SQL stores share (feature `sql`): one pool type for
//! SQLite and PostgreSQL (sqlx's `Any` driver, so that each store is one
//! plain implementation whose statements both engines take), the engines'
//! settings, migrations that refuse a newer schema, and one classification
//! of engine errors.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Executor};

/// The file of a SQLite URL (`None` for an in-memory database or another
/// engine).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if Engine::of_url(url) != Some(Engine::Sqlite)
        || url.contains(":memory:")
        || url.contains("mode=memory")
    {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// The engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `sqlite://path` or `sqlite::memory:`: embedded, one writer at a time.
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl Engine {
    /// The engine of a database URL, if it is one of these.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }
}

/// How SQLite makes a commit durable (`PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// A commit survives a crash of the process at once; a power loss or an
    /// operating-system crash may lose the last commits (`NORMAL`).
    #[default]
    Normal,
    /// A commit is on disk before it is acknowledged (`FULL`): it survives
    /// a power loss too, at the cost of an fsync per commit.
    Full,
}

impl Synchronous {
    /// The pragma's value.
    pub const fn as_sql(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// How to open a database.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// PostgreSQL: at most this many connections. SQLite: this many readers
    /// beside the one writer.
    pub max_connections: u32,
    /// PostgreSQL: the schema the tables live in (created if missing);
    /// `None` for the server's default.
    pub postgres_schema: Option<&'static str>,
    /// SQLite: how commits are made durable.
    pub sqlite_synchronous: Synchronous,
}

/// The pools of one database. SQLite allows one writer at a time, so writes
/// go through a single connection (queued in the pool, not spinning on
/// `SQLITE_BUSY`) while reads use several; on PostgreSQL both are one pool.
#[derive(Debug, Clone)]
pub struct Pools {
    /// The engine.
    pub engine: Engine,
    /// For reads.
    pub reader: AnyPool,
    /// For writes and transactions.
    pub writer: AnyPool,
}

/// Opens the database at `url` (SQLite created if missing, in WAL mode with
/// `settings.sqlite_synchronous`; with `NORMAL` committed transactions
/// survive a crash of the process).
pub async fn connect(url: &str, settings: PoolSettings) -> Result<Pools, sqlx::Error> {
    sqlx::any::install_default_drivers();
    match Engine::of_url(url) {
        Some(Engine::Sqlite) => connect_sqlite(url, settings).await,
        Some(Engine::Postgres) => connect_postgres(url, settings).await,
        None => Err(sqlx::Error::Configuration(
            "the database URL must start with sqlite:// or postgres://".into(),
        )),
    }
}

async fn connect_sqlite(url: &str, settings: PoolSettings) -> Result<Pools, sqlx::Error> {
    let parsed = SqliteConnectOptions::from_str(url)?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if !in_memory {
        create_private(parsed.get_filename())?;
    }
    let url = if in_memory || url.contains("mode=") {
        url.to_owned()
    } else {
        // Created if missing.
        format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
    };
    let options = AnyConnectOptions::from_str(&url)?;
    let sync = settings.sqlite_synchronous;
    let pool = |size: u32| {
        AnyPoolOptions::new()
            .max_connections(size)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    let synchronous = format!("PRAGMA synchronous = {}", sync.as_sql());
                    conn.execute(synchronous.as_str()).await?;
                    Ok(())
                })
            })
    };
    let writer = pool(1).connect_with(options.clone()).await?;
    // An in-memory database lives in its one connection.
    let reader = if in_memory {
        writer.clone()
    } else {
        pool(settings.max_connections.max(1))
            .connect_with(options)
            .await?
    };
    Ok(Pools {
        engine: Engine::Sqlite,
        reader,
        writer,
    })
}

/// Creates a SQLite database file, if missing, readable by its owner only
/// (0600; SQLite gives its `-wal` and `-shm` files the same mode), and any
/// missing directories above it 0700. Existing files and directories are
/// left as they are.
fn create_private(file: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = file.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(file)
        .map(drop)
}

async fn connect_postgres(url: &str, settings: PoolSettings) -> Result<Pools, sqlx::Error> {
    let options = AnyConnectOptions::from_str(url)?;
    let schema = settings.postgres_schema;
    let pool = AnyPoolOptions::new()
        .max_connections(settings.max_connections.max(1))
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if let Some(schema) = schema {
                    conn.execute(format!("SET search_path TO {schema}").as_str())
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    if let Some(schema) = schema {
        let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
        match pool.execute(create.as_str()).await {
            // Two instances starting at once may race on the catalog.
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {}
            other => {
                other?;
            }
        }
    }
    Ok(Pools {
        engine: Engine::Postgres,
        reader: pool.clone(),
        writer: pool,
    })
}

/// The database was migrated by a newer build: this one must not touch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database schema is at version {found}, newer than this tessera knows (up to {known}); run a tessera at least as new as the one that migrated it")]
pub struct SchemaTooNew {
    /// The newest migration applied to the database.
    pub found: i64,
    /// The newest migration this build carries.
    pub known: i64,
}

/// A migration run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The database was migrated by a newer build.
    #[error(transparent)]
    SchemaTooNew(SchemaTooNew),
    /// Applying a migration failed.
    #[error("applying the database migrations failed")]
    Failed(#[source] MigrateError),
}

/// Applies a store's embedded migrations, refusing a database that a newer
/// build migrated further (an applied migration this build lacks).
pub async fn migrate(migrator: &Migrator, pool: &AnyPool) -> Result<(), MigrationError> {
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    migrator.run(pool).await.map_err(|e| match e {
        MigrateError::VersionMissing(found) if found > known => {
            MigrationError::SchemaTooNew(SchemaTooNew { found, known })
        }
        other => MigrationError::Failed(other),
    })
}

/// The newest migration applied, from sqlx's migration table.
pub const SCHEMA_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";

/// What an engine error means to a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A unique key is taken (the engine's message).
    Conflict(String),
    /// The engine cannot be reached or is busy; a retry may work.
    Unavailable,
    /// A value the engine cannot store (PostgreSQL's text holds no NUL
    /// and only valid UTF-8: SQLSTATE 22P05, 22021): the request's fault.
    Invalid(String),
    /// A statement was sent and no answer came (the connection broke, the
    /// server ended the session): it may or may not have been applied.
    /// Only [`classify_sent`] says so.
    Unanswered,
    /// Anything else.
    Other,
}

/// Classifies an engine error, for both engines.
pub fn classify(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Failure::Conflict(db.message().to_owned())
        }
        sqlx::Error::Database(db) if is_busy(db.code().as_deref()) => Failure::Unavailable,
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22P05" | "22021")) => {
            Failure::Invalid(db.message().to_owned())
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Failure::Unavailable
        }
        _ => Failure::Other,
    }
}

/// Classifies the error of a statement that was sent, where it matters
/// whether it may have been applied: the pool giving no connection means
/// nothing was sent, and an error the server answered the statement with
/// means it was rolled back, but a connection that broke, a server that
/// ended the session (classes 08 and 57, which can follow a commit before
/// its answer is read) or an answer that cannot be read leave the outcome
/// unknown.
pub fn classify_sent(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Failure::Unavailable,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some(code)
                if code.len() == 5
                    && (code.starts_with("08")
                        || code.starts_with("57")
                        || code.starts_with("XX")) =>
            {
                Failure::Unanswered
            }
            _ => classify(e),
        },
        _ => Failure::Unanswered,
    }
}

/// SQLite's `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6) and their extended
/// codes; PostgreSQL's connection and resource classes (08, 53, 57P0x)
/// and serialization failures (40001, 40P01).
fn is_busy(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    if let Ok(n) = code.parse::<u32>() {
        // A numeric code is SQLite's (PostgreSQL's are five characters
        // that may be digits, but none of its busy ones parse this small).
        if code.len() < 5 {
            return matches!(n & 0xff, 5 | 6);
        }
    }
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_codes_of_both_engines() {
        for busy in ["5", "6", "261", "517", "08006", "53300", "57P01", "40001"] {
            assert!(is_busy(Some(busy)), "{busy}");
        }
        for other in ["1", "19", "2067", "23505", "42P01", "00000"] {
            assert!(!is_busy(Some(other)), "{other}");
        }
        assert!(!is_busy(None));
    }

    #[tokio::test]
    async fn sqlite_busy_is_unavailable_and_unique_is_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/t.db", dir.path().display());
        let pools = connect(
            &url,
            PoolSettings {
                max_connections: 2,
                postgres_schema: None,
                sqlite_synchronous: Synchronous::Normal,
            },
        )
        .await
        .unwrap();
        assert_eq!(pools.engine, Engine::Sqlite);
        pools
            .writer
            .execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .await
            .unwrap();
        pools
            .writer
            .execute("INSERT INTO t VALUES ('a')")
            .await
            .unwrap();
        let dup = pools
            .writer
            .execute("INSERT INTO t VALUES ('a')")
            .await
            .unwrap_err();
        assert!(matches!(classify(&dup), Failure::Conflict(_)), "{dup}");

        // A second writer while the first holds the write lock: SQLITE_BUSY.
        let mut holder = pools.reader.acquire().await.unwrap();
        holder.execute("BEGIN IMMEDIATE").await.unwrap();
        let other = format!("{url}?mode=rw");
        let blocked = sqlx::AnyConnection::connect(&other).await.unwrap();
        let mut blocked = blocked;
        blocked.execute("PRAGMA busy_timeout = 0").await.unwrap();
        let busy = blocked
            .execute("INSERT INTO t VALUES ('b')")
            .await
            .unwrap_err();
        assert_eq!(classify(&busy), Failure::Unavailable, "{busy}");
        holder.execute("ROLLBACK").await.unwrap();
    }

    #[tokio::test]
    async fn sqlite_files_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/data/nested/t.db", dir.path().display());
        let settings = PoolSettings {
            max_connections: 1,
            postgres_schema: None,
            sqlite_synchronous: Synchronous::Normal,
        };
        let pools = connect(&url, settings).await.unwrap();
        pools
            .writer
            .execute("CREATE TABLE t (k TEXT)")
            .await
            .unwrap();
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("data"), 0o700);
        assert_eq!(mode("data/nested"), 0o700);
        for file in ["t.db", "t.db-wal", "t.db-shm"] {
            assert_eq!(mode(&format!("data/nested/{file}")), 0o600, "{file}");
        }
    }

    use sqlx::Connection as _;
}
