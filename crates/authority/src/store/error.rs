//! How storage fails: [`StoreError`], and a `From` for each engine's own
//! error, so that `?` turns any of them into the right case.

use tessera_api::sql::{self, Failure};

/// A boxed error from a storage engine's client.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Storage failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique id is already taken.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The engine cannot be reached or is overloaded; a retry may work.
    /// A write that fails so wrote nothing.
    #[error("storage unavailable")]
    Unavailable(#[source] BoxError),
    /// A write was sent but its answer never came (the connection broke,
    /// the server ended the session): it may or may not have been applied.
    #[error("storage failed before answering; the write may have been applied")]
    OutcomeUnknown(#[source] BoxError),
    /// A value the engine cannot store (a NUL in PostgreSQL's text): the
    /// request's fault; nothing was written.
    #[error("the database cannot store a value: {0}")]
    Invalid(String),
    /// Stored data that cannot be read back (a corrupt row, an unknown schema).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database was migrated by a newer Tessera: this one must not touch it.
    #[error(transparent)]
    SchemaTooNew(#[from] tessera_api::sql::SchemaTooNew),
    /// Any other engine failure.
    #[error("storage failed")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Whether the same call may succeed later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_)
        )
    }

    /// Whether a redemption or a session write that failed so certainly
    /// wrote nothing: the engine was not reached, or it refused the
    /// statement. Not so after [`StoreError::OutcomeUnknown`], nor after
    /// [`StoreError::Corrupt`] (an answer that came back after the commit
    /// but could not be read).
    pub fn wrote_nothing(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::Conflict(_)
                | StoreError::Invalid(_)
                | StoreError::Backend(_)
        )
    }

    /// The error of a write that was sent: a statement the server refused
    /// wrote nothing, but a connection that broke (or a server that ended
    /// the session) before the answer came may have left it applied.
    pub(crate) fn sent(e: sqlx::Error) -> Self {
        match sql::classify_sent(&e) {
            Failure::Conflict(message) => StoreError::Conflict(message),
            Failure::Unavailable => StoreError::Unavailable(Box::new(e)),
            Failure::Unanswered => StoreError::OutcomeUnknown(Box::new(e)),
            Failure::Invalid(message) => StoreError::Invalid(message),
            Failure::Other => StoreError::Backend(Box::new(e)),
        }
    }
}

/// An engine's error where nothing was written, or a read failed.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match sql::classify(&e) {
            Failure::Conflict(message) => StoreError::Conflict(message),
            Failure::Unavailable | Failure::Unanswered => StoreError::Unavailable(Box::new(e)),
            Failure::Invalid(message) => StoreError::Invalid(message),
            Failure::Other => StoreError::Backend(Box::new(e)),
        }
    }
}

/// The session writer's SQLite errors: a taken unique key is a conflict,
/// a busy or locked database is unavailable.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(Box::new(e))
            }
            _ => StoreError::Backend(Box::new(e)),
        }
    }
}

impl From<sql::MigrationError> for StoreError {
    fn from(e: sql::MigrationError) -> Self {
        match e {
            sql::MigrationError::SchemaTooNew(too_new) => too_new.into(),
            other => StoreError::Backend(Box::new(other)),
        }
    }
}

/// A stored id that no longer parses.
pub(crate) fn corrupt(what: &str) -> impl Fn(tessera_claims::IdError) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}
