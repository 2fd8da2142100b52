//! Identities and the controls an operator sets on their users.

use async_trait::async_trait;
use tessera_claims::{AppId, UserId};

use super::{AuditEvent, IdentityChange, IdentityRecord, Result, RevocationScope, UserControls};

/// Identities (created by a user's first session, see
/// [`SessionStore`](super::SessionStore)), their edits, and the users'
/// suspensions and revoke-before instants.
///
/// # Contract
/// Every method is atomic and writes its [`AuditEvent`] in the same
/// transaction as its change, only when something changed. Suspending a
/// user deletes their sessions. Checked by
/// [`conformance::identities`](super::conformance::identities).
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// A user's identity in an app.
    async fn identity(&self, app_id: &AppId, user_id: &UserId) -> Result<Option<IdentityRecord>>;
    /// Edits an identity at the event's time; the identity as it is now,
    /// `None` if the user has none (identities are created by the first
    /// session).
    async fn update_identity(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        change: &IdentityChange,
        event: &AuditEvent,
    ) -> Result<Option<IdentityRecord>>;
    /// A user's controls (the default when none were set).
    async fn user_controls(&self, app_id: &AppId, user_id: &UserId) -> Result<UserControls>;
    /// Suspends the user at the event's time (deleting their sessions), or
    /// lifts the suspension; whether the state changed.
    async fn set_suspension(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        suspend: bool,
        event: &AuditEvent,
    ) -> Result<bool>;
    /// Sets (or with `None` clears) the revoke-before instant of an app or
    /// a user; `false` if the app does not exist.
    async fn set_sessions_revoked_before(
        &self,
        scope: &RevocationScope,
        before: Option<i64>,
        event: &AuditEvent,
    ) -> Result<bool>;
}
