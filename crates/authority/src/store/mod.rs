//! Storage behind the authority, by domain, after kratos's persister: one
//! trait per domain ([`AppStore`], [`SessionStore`], [`IdentityStore`],
//! [`AuditTrail`], [`NonceKeyStore`]), composed into [`Store`] for the
//! callers that need all of them, and [`NonceStore`] for used-nonce marks
//! kept apart (Redis). [`Redemptions`] is the one way a nonce is redeemed:
//! it marks the nonce where used nonces are kept and opens the session.
//!
//! What lives here, and who may import it:
//! - the traits and their records ([`records`]), [`StoreError`]: anyone in
//!   the crate, and users of the crate;
//! - [`SqlStore`] (`sql/`): the store over SQLite or PostgreSQL; its
//!   statements and rows shared by both engines (`tables/`); how each
//!   engine writes sessions (`sqlite/`: the writer thread, `postgres/`:
//!   batched redemptions, behind `writes`' one seam). These import the
//!   traits and records, never the rest of the authority;
//! - [`RedisNonceStore`] (`redis`): used-nonce marks in Redis;
//! - `conformance/` (feature `test-util`): every trait's contract, as tests
//!   any store can run.
//!
//! Nothing here imports the HTTP side (routes, state, guards).

mod apps;
mod audit;
#[cfg(feature = "test-util")]
pub mod conformance;
mod error;
#[cfg(test)]
mod fixtures;
mod identities;
mod nonces;
mod postgres;
mod records;
mod redemption;
mod redis;
mod sessions;
mod sql;
mod sqlite;
mod tables;
mod writes;

use async_trait::async_trait;

pub use apps::AppStore;
pub use audit::{Actor, AuditAction, AuditEvent, AuditQuery, AuditRecord, AuditTrail};
pub(crate) use error::corrupt;
pub use error::{BoxError, Result, StoreError};
pub use identities::IdentityStore;
pub use nonces::{NonceKeyStore, NonceStore};
pub use records::{
    App, AppChange, IdentityChange, IdentityRecord, KeyRecord, Marker, NonceKeyRecord,
    NonceRefusal, Purged, RevocationScope, SessionRecord, SessionRefusal, UsedNonce, UserControls,
};
pub use redemption::Redemptions;
pub use redis::{EvictingRedis, RedisNonceStore, RedisSettings};
pub use sessions::{Opened, SessionStore};
pub use sql::SqlStore;
pub use tessera_api::sql::Engine;

pub use crate::bearer::{NonceHash, SessionTokenHash};

/// Every domain trait, to call the methods of a [`Store`]:
/// `use tessera_authority::store::prelude::*;`.
pub mod prelude {
    pub use super::{AppStore, AuditTrail, IdentityStore, NonceKeyStore, SessionStore, Store};
}

/// Apps, keys, sessions and identities, the users' controls, the audit
/// trail and the nonce keys: every domain of one database, and what spans
/// them.
///
/// # Contract
/// Each domain's trait's, and: `purge_expired` removes only rows past
/// their time.
#[async_trait]
pub trait Store:
    AppStore + SessionStore + IdentityStore + AuditTrail + NonceKeyStore + std::fmt::Debug + 'static
{
    /// Checks that the store answers.
    async fn health(&self) -> Result<()>;
    /// The newest schema migration applied to the database.
    async fn schema_version(&self) -> Result<i64>;
    /// Removes sessions past their expiry, records of expired used nonces,
    /// and audit events from before `audit_before`.
    async fn purge_expired(&self, now: i64, audit_before: i64) -> Result<Purged>;
}
