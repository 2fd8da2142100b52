//! Redeeming a nonce for a session: the one store operation of
//! `POST /sessions`. Where used nonces are kept decides how the nonce is
//! marked; the caller never knows.

use std::sync::Arc;

use tessera_claims::Profile;

use super::{
    AuditEvent, NonceStore, Opened, Result, SessionRecord, SessionRefusal, StoreError, UsedNonce,
};

/// Marks a nonce used and opens its session, both or neither: in one
/// transaction when the [`Store`](super::Store) keeps used nonces (SQLite,
/// PostgreSQL), else by marking it in the [`NonceStore`] (Redis), opening
/// the session with the nonce's digest (unique in the store), and taking
/// the mark back when nothing was written.
#[derive(Debug, Clone)]
pub struct Redemptions {
    store: Arc<dyn super::Store>,
    marks: Option<Arc<dyn NonceStore>>,
}

impl Redemptions {
    /// Redemptions in `store`, used nonces marked in `marks` when given.
    pub fn new(store: Arc<dyn super::Store>, marks: Option<Arc<dyn NonceStore>>) -> Self {
        Self { store, marks }
    }

    /// Redeems `nonce` for `session` at `now`; where used nonces are kept
    /// apart, the session keeps the nonce's digest (set here). After a failure that may have written (an answer lost; a
    /// mark that could not be taken back), the error is one that
    /// [`StoreError::wrote_nothing`] says so of: the nonce's state is
    /// unknown. The session's nonce digest, unique in the store, keeps a
    /// second session from opening whatever became of a mark.
    pub async fn redeem(
        &self,
        nonce: &UsedNonce,
        mut session: SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
        now: i64,
    ) -> Result<Opened> {
        let Some(marks) = &self.marks else {
            // The used-nonce record, in the session's transaction.
            return self.store.redeem(nonce, &session, profile, event).await;
        };
        let Some(marker) = marks.mark_used(nonce, now).await? else {
            return Ok(Err(SessionRefusal::NonceUsed));
        };
        session.nonce_hash = Some(nonce.hash);
        match self.store.open_session(&session, profile, event).await {
            // A session has this nonce: the mark is right where it is.
            Ok(Err(SessionRefusal::NonceUsed)) => Ok(Err(SessionRefusal::NonceUsed)),
            Ok(Err(refusal)) => {
                // Nothing was written: the nonce stays usable once the
                // suspension is lifted.
                marks
                    .unmark(nonce, &marker)
                    .await
                    .map_err(|e| StoreError::OutcomeUnknown(Box::new(e)))?;
                Ok(Err(refusal))
            }
            Err(e) if e.wrote_nothing() => match marks.unmark(nonce, &marker).await {
                Ok(()) => Err(e),
                Err(unmark) => {
                    tracing::error!(error = %unmark, "taking back a nonce mark failed");
                    Err(StoreError::OutcomeUnknown(Box::new(e)))
                }
            },
            other => other,
        }
    }
}
