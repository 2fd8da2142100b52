//! Storage behind the authority, by domain: one trait per domain ([`AppStore`], [`SessionStore`], [`IdentityStore`],
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
mod database;
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

pub use apps::AppStore;
pub use audit::{Actor, AuditAction, AuditEvent, AuditQuery, AuditRecord, AuditTrail};
pub use database::Store;
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
