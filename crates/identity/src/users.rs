//! The credential check: a trait any user store can implement, and the
//! built-in SQLite user store with argon2id passwords.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};
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

/// Users in SQLite, passwords as argon2id hashes.
///
/// At most one argon2id computation per core runs at a time (each takes
/// ~19 MiB and ~15 ms): more would only thrash caches and let a burst of
/// requests claim memory without bound.
#[derive(Debug, Clone)]
pub struct SqliteUserStore {
    pool: SqlitePool,
    passwords: Arc<Passwords>,
    hashing: Arc<tokio::sync::Semaphore>,
}

fn backend(e: sqlx::Error) -> UserStoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => UserStoreError::Conflict,
        _ => UserStoreError::Backend(Box::new(e)),
    }
}

impl SqliteUserStore {
    /// Opens (creating if needed) the database and applies the migrations.
    pub async fn connect(url: &str, passwords: Passwords) -> Result<Self, UserStoreError> {
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
            .map_err(|e| UserStoreError::Backend(Box::new(e)))?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            pool,
            passwords: Arc::new(passwords),
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
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
        sqlx::query(
            "INSERT INTO users (username, user_id, password_hash, first_name, last_name, display_name, avatar_url, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(username)
        .bind(user_id.as_str())
        .bind(hash)
        .bind(&profile.first_name)
        .bind(&profile.last_name)
        .bind(&profile.display_name)
        .bind(&profile.avatar_url)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// Sets a new password.
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), UserStoreError> {
        let hash = self.hash(password).await?;
        let done =
            sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?")
                .bind(hash)
                .bind(now())
                .bind(username)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(UserStoreError::NotFound);
        }
        Ok(())
    }

    /// Removes a user.
    pub async fn remove(&self, username: &str) -> Result<(), UserStoreError> {
        let done = sqlx::query("DELETE FROM users WHERE username = ?")
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(UserStoreError::NotFound);
        }
        Ok(())
    }

    /// Every user, by username.
    pub async fn list(&self) -> Result<Vec<UserRecord>, UserStoreError> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(UserRecord {
                    username: row.get("username"),
                    user_id: user_id(row)?,
                    profile: profile(row),
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

fn user_id(row: &SqliteRow) -> Result<UserId, UserStoreError> {
    UserId::new(row.get::<String, _>("user_id")).map_err(|e| UserStoreError::Corrupt(e.to_string()))
}

fn profile(row: &SqliteRow) -> Profile {
    Profile {
        first_name: row.get("first_name"),
        last_name: row.get("last_name"),
        display_name: row.get("display_name"),
        avatar_url: row.get("avatar_url"),
    }
}

#[async_trait]
impl CredentialVerifier for SqliteUserStore {
    async fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<VerifiedUser>, UserStoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        let stored = row.as_ref().map(|r| r.get::<String, _>("password_hash"));
        let passwords = self.passwords.clone();
        let password = password.to_owned();
        // argon2 is deliberately slow: off the async workers.
        let ok =
            tokio::task::spawn_blocking(move || passwords.verify(stored.as_deref(), &password))
                .await
                .map_err(|e| UserStoreError::Backend(Box::new(e)))?;
        match (ok, row) {
            (true, Some(row)) => Ok(Some(VerifiedUser {
                user_id: user_id(&row)?,
                profile: profile(&row),
            })),
            _ => Ok(None),
        }
    }
}
