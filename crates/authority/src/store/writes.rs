//! The one seam that chooses how sessions are written: [`SessionWrites`],
//! with three ways — the SQLite writer thread (`sqlite/`), PostgreSQL's
//! batched statements (`postgres/`), and a transaction on the pool (`sql/`,
//! for in-memory SQLite). [`SqlStore`](super::SqlStore) picks one when it
//! connects and never asks again.

use std::fmt::Debug;

use async_trait::async_trait;
use tessera_claims::Profile;

use super::{AuditEvent, Opened, Result, SessionRecord, SessionTokenHash, UsedNonce};

/// The writes of one session's opening.
#[derive(Debug, Clone)]
pub(crate) struct Redemption {
    /// The nonce to mark used in the same transaction; `None` when used
    /// nonces are kept elsewhere (the session keeps its nonce's digest).
    pub nonce: Option<UsedNonce>,
    /// The session to open; its `nonce_hash` is stored only when `nonce`
    /// is `None`.
    pub session: SessionRecord,
    /// The token's profile claims, merged into the identity.
    pub profile: Profile,
    /// The event to record.
    pub event: AuditEvent,
}

impl Redemption {
    pub fn new(
        nonce: Option<&UsedNonce>,
        session: &SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
    ) -> Self {
        Self {
            nonce: nonce.copied(),
            session: session.clone(),
            profile: profile.clone(),
            event: event.clone(),
        }
    }

    /// The session's nonce digest as stored: none where the nonce is
    /// marked used in the same transaction.
    pub fn stored_digest(&self) -> Option<crate::store::NonceHash> {
        self.session.nonce_hash.filter(|_| self.nonce.is_none())
    }
}

/// How a store writes what opens and ends sessions, each atomic with its
/// event (see [`SessionStore`](super::SessionStore)'s contract).
#[async_trait]
pub(crate) trait SessionWrites: Debug + Send + Sync {
    /// Marks the nonce used (when given), inserts the session unless the
    /// user is suspended or its nonce digest is taken, upserts the
    /// identity and records the event: all or nothing.
    async fn redeem(&self, redemption: Redemption) -> Result<Opened>;
    /// Deletes a session and records `event`; whether it existed.
    async fn delete(&self, token_hash: &SessionTokenHash, event: &AuditEvent) -> Result<bool>;
}
