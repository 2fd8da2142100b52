//! Nonce keys (the MAC keys of the stateless nonces, in the database) and
//! used-nonce marks kept apart from it (in Redis).

use std::fmt::Debug;

use async_trait::async_trait;

use super::{Marker, NonceKeyRecord, Result, UsedNonce};

/// The nonce MAC keys of a deployment.
///
/// # Contract
/// Adding the first key happens once, however many instances start at
/// once; rotation is atomic. Checked by
/// [`conformance::nonces`](super::conformance::nonces).
#[async_trait]
pub trait NonceKeyStore: Send + Sync {
    /// Every nonce MAC key, after adding `candidate` if no key is active
    /// (the first start of a deployment).
    async fn nonce_keys(&self, candidate: &NonceKeyRecord) -> Result<Vec<NonceKeyRecord>>;
    /// Retires the active keys at `new.created_at`, adds `new`, and deletes
    /// keys retired before `forget_before`.
    async fn rotate_nonce_key(&self, new: &NonceKeyRecord, forget_before: i64) -> Result<()>;
}

/// Used-nonce records kept apart from the [`Store`](super::Store) (in
/// Redis, shared by several instances), when the store does not keep them
/// itself. Only [`Redemptions`](super::Redemptions) marks nonces.
///
/// # Contract
/// `mark_used` is atomic: of any number of concurrent calls for one nonce,
/// at most one returns a marker. A mark lasts at least until the nonce
/// expires. `unmark` removes the mark only if it is still the given one.
/// Checked by [`conformance::nonces`](super::conformance::nonces).
#[async_trait]
pub trait NonceStore: Debug + Send + Sync + 'static {
    /// Marks the nonce used; `None` if it already was.
    async fn mark_used(&self, nonce: &UsedNonce, now: i64) -> Result<Option<Marker>>;
    /// Takes back a mark set by `mark_used` (the session could not be opened).
    async fn unmark(&self, nonce: &UsedNonce, marker: &Marker) -> Result<()>;
}
