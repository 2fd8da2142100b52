//! The credential check: a trait any user store can implement, and the
//! built-in user store (SQLite or PostgreSQL) with argon2id passwords.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AnyPool;
use tessera_api::sql::{self, Engine, Failure, PoolSettings};
use tessera_claims::{unix_now, Profile, UserId};

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
    /// The database was migrated by a newer Tessera: this one must not touch it.
    #[error(transparent)]
    SchemaTooNew(#[from] tessera_api::sql::SchemaTooNew),
    /// Hashing failed.
    #[error("password hashing failed")]
    Password(#[from] crate::password::PasswordError),
    /// Too many password checks are waiting: retry shortly.
    #[error(transparent)]
    Busy(#[from] crate::password::Busy),
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
/// Password checks run on a fixed pool of workers (one per core unless
/// `password.workers` says otherwise), each reusing its ~19 MiB of argon2id
/// memory; more would only thrash caches and let a burst of requests claim
/// memory without bound. Past `password.queue` waiting checks, `verify`
/// answers [`UserStoreError::Busy`] at once.
#[derive(Debug, Clone)]
pub struct UserStore {
    reader: AnyPool,
    writer: AnyPool,
    passwords: Arc<Passwords>,
    hashing: Arc<tokio::sync::Semaphore>,
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
    match sql::classify(&e) {
        Failure::Conflict(_) => UserStoreError::Conflict,
        Failure::Unavailable | Failure::Unanswered => UserStoreError::Unavailable(Box::new(e)),
        Failure::Invalid(_) => UserStoreError::Backend(Box::new(e)),
        Failure::Other => UserStoreError::Backend(Box::new(e)),
    }
}

impl From<sql::MigrationError> for UserStoreError {
    fn from(e: sql::MigrationError) -> Self {
        match e {
            sql::MigrationError::SchemaTooNew(too_new) => too_new.into(),
            other => UserStoreError::Backend(Box::new(other)),
        }
    }
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
        let settings = PoolSettings {
            max_connections: pool_size,
            postgres_schema: Some(POSTGRES_SCHEMA),
            sqlite_synchronous: tessera_api::sql::Synchronous::Normal,
        };
        let pools = sql::connect(url, settings).await.map_err(backend)?;
        let migrator = match pools.engine {
            Engine::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Engine::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        sql::migrate(&migrator, &pools.writer).await?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            reader: pools.reader,
            writer: pools.writer,
            passwords: Arc::new(passwords),
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }

    /// The newest schema migration applied to the database.
    pub async fn schema_version(&self) -> Result<i64, UserStoreError> {
        sqlx::query_scalar(sql::SCHEMA_VERSION)
            .fetch_one(&self.reader)
            .await
            .map_err(backend)
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
        let now = unix_now();
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
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Sets a new password.
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), UserStoreError> {
        let hash = self.hash(password).await?;
        let changed = sqlx::query(SET_PASSWORD)
            .bind(&hash)
            .bind(unix_now())
            .bind(username)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        if changed == 0 {
            return Err(UserStoreError::NotFound);
        }
        Ok(())
    }

    /// Removes a user.
    pub async fn remove(&self, username: &str) -> Result<(), UserStoreError> {
        let removed = sqlx::query(DELETE)
            .bind(username)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        if removed == 0 {
            return Err(UserStoreError::NotFound);
        }
        Ok(())
    }

    /// Every user, by username.
    pub async fn list(&self) -> Result<Vec<UserRecord>, UserStoreError> {
        let rows: Vec<StoredUser> = sqlx::query_as(LIST)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
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

#[async_trait]
impl CredentialVerifier for UserStore {
    async fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<VerifiedUser>, UserStoreError> {
        let row: Option<StoredUser> = sqlx::query_as(BY_USERNAME)
            .bind(username)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        let stored = row.as_ref().map(|r| r.password_hash.clone());
        let password = password.to_owned();
        // argon2 is deliberately slow: on the password workers, or refused
        // at once when their queue is full.
        let ok = self.passwords.verify_pooled(stored, password).await?;
        match (ok, row) {
            (true, Some(row)) => Ok(Some(VerifiedUser {
                user_id: row.user_id()?,
                profile: row.profile(),
            })),
            _ => Ok(None),
        }
    }
}
