//! [`Store`]: every domain of one database composed, and what spans the
//! domains (health, schema, purging).

use async_trait::async_trait;

use super::{AppStore, AuditTrail, IdentityStore, NonceKeyStore, Purged, Result, SessionStore};

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
