//! The audit trail's records: who did what to which app or user, from
//! where, in which request. Never a secret: no token, nonce or key material.

use async_trait::async_trait;
use serde_json::Value;
use tessera_claims::{AppId, UserId};

use super::Result;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditAction {
    /// An app was created.
    AppCreated,
    /// An app's name or session lifetime changed.
    AppChanged,
    /// A public key was registered.
    KeyRegistered,
    /// A key was revoked.
    KeyRevoked,
    /// A session was opened.
    SessionOpened,
    /// A signed identity token was refused a session (`detail.reason`).
    SessionRefused,
    /// The session's user deauthenticated.
    SessionEnded,
    /// An operator ended every session of a user.
    SessionsRevoked,
    /// A user was suspended.
    UserSuspended,
    /// A user's suspension was lifted.
    SuspensionLifted,
    /// Sessions opened at or before an instant stop working (app or user).
    RevokeBeforeSet,
    /// The revoke-before instant was cleared.
    RevokeBeforeCleared,
    /// An identity was edited (by an operator or its user).
    IdentityChanged,
    /// Someone signed in to the dashboard (`detail.with`: `admin_token` or
    /// `password`).
    DashboardSignedIn,
    /// A dashboard sign-in was ended by its browser.
    DashboardSignedOut,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 15] = [
        AuditAction::AppCreated,
        AuditAction::AppChanged,
        AuditAction::KeyRegistered,
        AuditAction::KeyRevoked,
        AuditAction::SessionOpened,
        AuditAction::SessionRefused,
        AuditAction::SessionEnded,
        AuditAction::SessionsRevoked,
        AuditAction::UserSuspended,
        AuditAction::SuspensionLifted,
        AuditAction::RevokeBeforeSet,
        AuditAction::RevokeBeforeCleared,
        AuditAction::IdentityChanged,
        AuditAction::DashboardSignedIn,
        AuditAction::DashboardSignedOut,
    ];

    /// The action as stored and sent (`session_opened`).
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::AppCreated => "app_created",
            AuditAction::AppChanged => "app_changed",
            AuditAction::KeyRegistered => "key_registered",
            AuditAction::KeyRevoked => "key_revoked",
            AuditAction::SessionOpened => "session_opened",
            AuditAction::SessionRefused => "session_refused",
            AuditAction::SessionEnded => "session_ended",
            AuditAction::SessionsRevoked => "sessions_revoked",
            AuditAction::UserSuspended => "user_suspended",
            AuditAction::SuspensionLifted => "suspension_lifted",
            AuditAction::RevokeBeforeSet => "revoke_before_set",
            AuditAction::RevokeBeforeCleared => "revoke_before_cleared",
            AuditAction::IdentityChanged => "identity_changed",
            AuditAction::DashboardSignedIn => "dashboard_signed_in",
            AuditAction::DashboardSignedOut => "dashboard_signed_out",
        }
    }

    /// The action with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A holder of the admin token (the admin API, or an operator's command).
    Admin,
    /// The user the event names, through their session or identity token.
    User,
    /// Nobody known.
    Anonymous,
}

impl Actor {
    /// The actor as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            Actor::Admin => "admin",
            Actor::User => "user",
            Actor::Anonymous => "anonymous",
        }
    }

    /// The actor with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Actor::Admin, Actor::User, Actor::Anonymous]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// An event to record, written in the same transaction as what it records.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Seconds since the epoch.
    pub at: i64,
    /// What happened.
    pub action: AuditAction,
    /// Who did it.
    pub actor: Actor,
    /// The app concerned.
    pub app_id: Option<AppId>,
    /// The user concerned.
    pub user_id: Option<UserId>,
    /// The client's address, when the event came through the API.
    pub client_address: Option<String>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// Further facts (a key id, a reason, an instant), never a secret.
    pub detail: Value,
}

impl AuditEvent {
    /// An event with no app, user, address, request or detail.
    pub fn new(at: i64, action: AuditAction, actor: Actor) -> Self {
        Self {
            at,
            action,
            actor,
            app_id: None,
            user_id: None,
            client_address: None,
            request_id: None,
            detail: Value::Null,
        }
    }

    /// The same event about `app_id`.
    #[must_use]
    pub fn app(mut self, app_id: AppId) -> Self {
        self.app_id = Some(app_id);
        self
    }

    /// The same event about `user_id` (of its app).
    #[must_use]
    pub fn user(mut self, user_id: UserId) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// The same event with `detail`.
    #[must_use]
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A recorded event and its place in the trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Increasing with each event; the cursor of [`AuditQuery::after`].
    pub seq: i64,
    /// The event.
    pub event: AuditEvent,
}

/// Which events [`super::Store::audit_events`] returns, by `seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this app's events.
    pub app_id: Option<AppId>,
    /// Only this user's events (of `app_id` when given).
    pub user_id: Option<UserId>,
    /// Only events at or after this time.
    pub since: Option<i64>,
    /// Only events before this time.
    pub until: Option<i64>,
    /// Only events after this `seq`.
    pub after: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// The audit trail.
///
/// # Contract
/// Events come back in the order they were recorded (by `seq`), filtered
/// and paged as the [`AuditQuery`] says; `since` is inclusive, `until` not.
/// The other stores write their events through their own methods, in the
/// transaction of the change. Checked by
/// [`conformance::audit`](super::conformance::audit).
#[async_trait]
pub trait AuditTrail: Send + Sync {
    /// Records an event that changes nothing else (a refused session).
    async fn record(&self, event: &AuditEvent) -> Result<()>;
    /// Recorded events, oldest first.
    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
}
