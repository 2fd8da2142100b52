//! The credential check: a trait any user store can implement, and the
//! built-in user store (SQLite or PostgreSQL) with argon2id passwords.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;
use tessera_claims::{Profile, UserId};

use crate::password::Passwords;

/// A storage engine failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserStoreError {
    /// The username or user id is taken.
    #[error("a user with this username or user id exists")]
    Conflict,
    /// The user does not exist.
    #[error("no such user")]
    NotFound,
    /// A stored row cannot be read back.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The engine cannot be reached or is overloaded; a retry may work.
    #[error("user store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Hashing failed.
    #[error("password hashing failed")]
    Password(#[from] crate::password::PasswordError),
    /// Any other engine failure.
    #[error("user store failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Who the credentials belong to, once they check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    /// The `prn` of their tokens.
    pub user_id: UserId,
    /// Optional profile claims for their tokens.
    pub profile: Profile,
}

/// Checks a username and password. Plug your own user store in here.
///
/// # Contract
/// Return `Ok(None)` both for an unknown user and a wrong password, taking
/// about the same time in both cases; `Err` only when the check itself
/// failed (the store is down).
#[async_trait]
pub trait CredentialVerifier: std::fmt::Debug + Send + Sync + 'static {
    /// The user, if the password is right.
    async fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<VerifiedUser>, UserStoreError>;
}

/// A user as `tessera users list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Login name.
    pub username: String,
    /// The `prn` of their tokens.
    pub user_id: UserId,
    /// Optional profile claims.
    pub profile: Profile,
}

/// The PostgreSQL schema holding the identity service's tables, so that it
/// can share a database with the authority.
pub const POSTGRES_SCHEMA: &str = "tessera_identity";

/// Users with argon2id password hashes, in SQLite (`sqlite://…`, the
/// embedded default) or PostgreSQL (`postgres://…`, for several instances;
/// tables in the [`POSTGRES_SCHEMA`] schema).
///
/// At most one argon2id computation per core runs at a time (each takes
/// ~19 MiB and ~15 ms): more would only thrash caches and let a burst of
/// requests claim memory without bound.
#[derive(Debug, Clone)]
pub struct UserStore {
    rows: Rows,
    passwords: Arc<Passwords>,
    hashing: Arc<tokio::sync::Semaphore>,
}

/// The engine holding the rows. Both take the same SQL (`$n` parameters).
#[derive(Debug, Clone)]
enum Rows {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever engine's pool `$rows` holds.
macro_rules! on_engine {
    ($rows:expr, $pool:ident => $body:expr) => {
        match $rows {
            Rows::Sqlite($pool) => $body,
            Rows::Postgres($pool) => $body,
        }
    };
}

/// A row of `users`.
#[derive(sqlx::FromRow)]
struct StoredUser {
    username: String,
    user_id: String,
    password_hash: String,
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: Option<String>,
    avatar_url: Option<String>,
}

impl StoredUser {
    fn user_id(&self) -> Result<UserId, UserStoreError> {
        UserId::new(self.user_id.clone()).map_err(|e| UserStoreError::Corrupt(e.to_string()))
    }

    fn profile(&self) -> Profile {
        Profile {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            display_name: self.display_name.clone(),
            avatar_url: self.avatar_url.clone(),
        }
    }
}

fn backend(e: sqlx::Error) -> UserStoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => UserStoreError::Conflict,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            UserStoreError::Unavailable(Box::new(e))
        }
        _ => UserStoreError::Backend(Box::new(e)),
    }
}

fn migration(e: sqlx::migrate::MigrateError) -> UserStoreError {
    UserStoreError::Backend(Box::new(e))
}

const INSERT: &str = "INSERT INTO users (username, user_id, password_hash, first_name, last_name, display_name, avatar_url, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const SET_PASSWORD: &str =
    "UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3";
const DELETE: &str = "DELETE FROM users WHERE username = $1";
const LIST: &str = "SELECT * FROM users ORDER BY username";
const BY_USERNAME: &str = "SELECT * FROM users WHERE username = $1";

impl UserStore {
    /// Opens the user store at `url`, `sqlite://path` (created if missing)
    /// or `postgres://…` (a pool of at most `pool_size` connections), and
    /// applies the embedded migrations.
    pub async fn connect(
        url: &str,
        pool_size: u32,
        passwords: Passwords,
    ) -> Result<Self, UserStoreError> {
        let rows = if url.starts_with("sqlite:") {
            Rows::Sqlite(Self::connect_sqlite(url).await?)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Rows::Postgres(Self::connect_postgres(url, pool_size).await?)
        } else {
            return Err(UserStoreError::Backend(
                "the user store URL must start with sqlite:// or postgres://".into(),
            ));
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            rows,
            passwords: Arc::new(passwords),
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }

    async fn connect_sqlite(url: &str) -> Result<SqlitePool, UserStoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        if let Some(parent) = std::path::Path::new(options.get_filename()).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| UserStoreError::Backend(e.into()))?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(if url.contains(":memory:") { 1 } else { 4 })
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(backend)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(migration)?;
        Ok(pool)
    }

    async fn connect_postgres(url: &str, pool_size: u32) -> Result<PgPool, UserStoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(backend)?
            .options([("search_path", POSTGRES_SCHEMA)]);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(backend)?;
        let create = format!("CREATE SCHEMA IF NOT EXISTS {POSTGRES_SCHEMA}");
        match sqlx::query(&create).execute(&pool).await {
            // Two instances starting at once may race on the catalog.
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {}
            other => {
                other.map_err(backend)?;
            }
        }
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(migration)?;
        Ok(pool)
    }

    /// Runs one argon2id computation on a blocking thread, one per core at most.
    async fn argon2<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Passwords) -> T + Send + 'static,
    ) -> Result<T, UserStoreError> {
        let permit = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| UserStoreError::Backend(Box::new(e)))?;
        let passwords = self.passwords.clone();
        tokio::task::spawn_blocking(move || {
            let out = work(&passwords);
            drop(permit);
            out
        })
        .await
        .map_err(|e| UserStoreError::Backend(Box::new(e)))
    }

    async fn hash(&self, password: &str) -> Result<String, UserStoreError> {
        let password = password.to_owned();
        Ok(self.argon2(move |p| p.hash(&password)).await??)
    }

    /// Adds a user.
    pub async fn add(
        &self,
        username: &str,
        user_id: &UserId,
        password: &str,
        profile: &Profile,
    ) -> Result<(), UserStoreError> {
        let hash = self.hash(password).await?;
        let now = now();
        on_engine!(&self.rows, pool => {
            sqlx::query(INSERT)
                .bind(username)
                .bind(user_id.as_str())
                .bind(&hash)
                .bind(&profile.first_name)
                .bind(&profile.last_name)
                .bind(&profile.display_name)
                .bind(&profile.avatar_url)
                .bind(now)
                .bind(now)
                .execute(pool)
                .await
                .map_err(backend)?;
        });
        Ok(())
    }

    /// Sets a new password.
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), UserStoreError> {
        let hash = self.hash(password).await?;
        let changed = on_engine!(&self.rows, pool => {
            sqlx::query(SET_PASSWORD)
                .bind(&hash)
                .bind(now())
                .bind(username)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        if changed == 0 {
            return Err(UserStoreError::NotFound);
        }
        Ok(())
    }

    /// Removes a user.
    pub async fn remove(&self, username: &str) -> Result<(), UserStoreError> {
        let removed = on_engine!(&self.rows, pool => {
            sqlx::query(DELETE)
                .bind(username)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        if removed == 0 {
            return Err(UserStoreError::NotFound);
        }
        Ok(())
    }

    /// Every user, by username.
    pub async fn list(&self) -> Result<Vec<UserRecord>, UserStoreError> {
        let rows: Vec<StoredUser> = on_engine!(&self.rows, pool => {
            sqlx::query_as(LIST).fetch_all(pool).await.map_err(backend)?
        });
        rows.iter()
            .map(|row| {
                Ok(UserRecord {
                    username: row.username.clone(),
                    user_id: row.user_id()?,
                    profile: row.profile(),
                })
            })
            .collect()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[async_trait]
impl CredentialVerifier for UserStore {
    async fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<VerifiedUser>, UserStoreError> {
        let row: Option<StoredUser> = on_engine!(&self.rows, pool => {
            sqlx::query_as(BY_USERNAME)
                .bind(username)
                .fetch_optional(pool)
                .await
                .map_err(backend)?
        });
        let stored = row.as_ref().map(|r| r.password_hash.clone());
        let password = password.to_owned();
        // argon2 is deliberately slow: off the async workers, one per core.
        let ok = self
            .argon2(move |p| p.verify(stored.as_deref(), &password))
            .await?;
        match (ok, row) {
            (true, Some(row)) => Ok(Some(VerifiedUser {
                user_id: row.user_id()?,
                profile: row.profile(),
            })),
            _ => Ok(None),
        }
    }
}
