//! Sessions: opened (with their identity), found, touched, ended.

use async_trait::async_trait;
use tessera_claims::{AppId, Profile, UserId};

use super::{
    AuditEvent, IdentityRecord, Result, SessionRecord, SessionRefusal, SessionTokenHash, UsedNonce,
};

/// What opening a session came to: the user's identity, or why no session
/// was opened (nothing was written).
pub type Opened = std::result::Result<IdentityRecord, SessionRefusal>;

/// Sessions and the identities their opening creates or updates.
///
/// # Contract
/// Every method is atomic; a method taking an [`AuditEvent`] writes it in
/// the same transaction as its change, and only when something changed.
/// `open_session` and `redeem` write the identity and the session together
/// or not at all, and nothing for a suspended user. No two sessions have
/// the same `nonce_hash`: opening a second one with a nonce digest that a
/// stored session has is refused as [`SessionRefusal::NonceUsed`] with
/// nothing written. A session stops being returned by `session` once
/// expired, deleted, opened at or before its app's or its user's
/// revoke-before instant, or while its user is suspended. Written data
/// survives a crash of the process once the call has returned. `redeem`
/// and `open_session` fail with
/// [`StoreError::OutcomeUnknown`](super::StoreError::OutcomeUnknown) (or
/// [`StoreError::Corrupt`](super::StoreError::Corrupt)) when their write
/// may have been applied
/// ([`StoreError::wrote_nothing`](super::StoreError::wrote_nothing) is
/// false), and with any other error only when nothing was written. Checked
/// by [`conformance::sessions`](super::conformance::sessions).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates or updates the identity (claims present in `profile` replace
    /// stored ones, absent ones are kept) and stores the session, unless
    /// the user is suspended or a session has its nonce digest.
    async fn open_session(
        &self,
        session: &SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
    ) -> Result<Opened>;
    /// Marks the nonce used and opens the session (as `open_session`, its
    /// `nonce_hash` not stored) in one transaction: both happen or neither,
    /// so the used-nonce record, under its own key, keeps the nonce to one
    /// session. Refused, with nothing written, when the nonce had been used
    /// or the user is suspended.
    async fn redeem(
        &self,
        nonce: &UsedNonce,
        session: &SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
    ) -> Result<Opened>;
    /// The live session with this token hash.
    async fn session(
        &self,
        token_hash: &SessionTokenHash,
        now: i64,
    ) -> Result<Option<SessionRecord>>;
    /// Records that the session was used at `now`.
    async fn touch_session(&self, token_hash: &SessionTokenHash, now: i64) -> Result<()>;
    /// Deletes a session; whether it existed.
    async fn delete_session(
        &self,
        token_hash: &SessionTokenHash,
        event: &AuditEvent,
    ) -> Result<bool>;
    /// The user's live sessions (as `session` would return them), newest
    /// first, at most `limit`.
    async fn sessions_of_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        now: i64,
        limit: u32,
    ) -> Result<Vec<SessionRecord>>;
    /// Deletes every session of the user; how many there were.
    async fn end_sessions_of_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        event: &AuditEvent,
    ) -> Result<u64>;
}
