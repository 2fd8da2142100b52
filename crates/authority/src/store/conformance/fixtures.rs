//! What the parts of the suite share: an app, events, random digests and
//! ids, sessions, and [`Users`], a user's life in one app.

use tessera_claims::{AppId, Environment, Profile, ProviderId, UserId};

use crate::store::{
    Actor, App, AuditAction, AuditEvent, NonceHash, SessionRecord, SessionTokenHash, Store,
    UsedNonce,
};

pub(super) fn app() -> App {
    App {
        app_id: AppId::generate(Environment::Staging),
        provider_id: ProviderId::generate(),
        environment: Environment::Staging,
        name: "conformance".into(),
        created_at: 1_000,
        session_ttl_secs: None,
        sessions_revoked_before: None,
        allowed_origins: vec!["https://conformance.example".parse().unwrap()],
    }
}

/// An event for calls whose trail is not under test.
pub(super) fn ev() -> AuditEvent {
    AuditEvent::new(1_000, AuditAction::AppChanged, Actor::Admin)
}

/// A random 32-byte digest.
pub(super) fn random() -> [u8; 32] {
    let mut h = [0u8; 32];
    aws_lc_rs::rand::fill(&mut h).unwrap();
    h
}

pub(super) fn session_hash() -> SessionTokenHash {
    SessionTokenHash::from_bytes(random())
}

pub(super) fn nonce_hash() -> NonceHash {
    NonceHash::from_bytes(random())
}

pub(super) fn used(expires_at: i64) -> UsedNonce {
    UsedNonce {
        hash: nonce_hash(),
        expires_at,
    }
}

pub(super) fn session_of(app: &App, user: &str) -> SessionRecord {
    SessionRecord {
        token_hash: session_hash(),
        session_id: format!("{:x}", random_id()),
        app_id: app.app_id,
        user_id: UserId::new(user).unwrap(),
        created_at: 100,
        expires_at: 10_000,
        last_seen_at: 100,
        client_address: Some("192.0.2.7".into()),
        user_agent: Some("conformance/1".into()),
        nonce_hash: Some(nonce_hash()),
    }
}

pub(super) fn random_id() -> u32 {
    let mut b = [0u8; 4];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u32::from_be_bytes(b)
}

/// An operator's event about a user of `app`, at `at`.
pub(super) fn user_event(app: &App, user: &UserId, action: AuditAction, at: i64) -> AuditEvent {
    AuditEvent {
        client_address: Some("198.51.100.4".into()),
        request_id: Some(format!("req-{at}")),
        detail: serde_json::json!({ "at": at }),
        ..AuditEvent::new(at, action, Actor::Admin)
            .app(app.app_id)
            .user(user.clone())
    }
}

/// A user's life in one app, shared by the parts of [`users_and_audit`](super::users_and_audit):
/// Ada's sessions opened at 100 (`old`) and 200 (`new`), Bob's at 100.
pub(super) struct Users<'s> {
    pub store: &'s dyn Store,
    pub a: App,
    pub ada: UserId,
    pub bob: UserId,
    pub old: SessionRecord,
    pub new: SessionRecord,
    pub bobs: SessionRecord,
}

impl<'s> Users<'s> {
    pub async fn open_in(store: &'s dyn Store) -> Users<'s> {
        let a = app();
        store.create_app(&a, &ev()).await.unwrap();
        let (old, new, bobs) = (
            opened_at(&a, "ada", 100),
            opened_at(&a, "ada", 200),
            opened_at(&a, "bob", 100),
        );
        for s in [&old, &new, &bobs] {
            store
                .open_session(s, &Profile::default(), &ev())
                .await
                .unwrap()
                .unwrap();
        }
        Users {
            store,
            a,
            ada: UserId::new("ada").unwrap(),
            bob: UserId::new("bob").unwrap(),
            old,
            new,
            bobs,
        }
    }

    /// A session of `user` opened at `created_at` (not stored).
    pub fn open(&self, user: &str, created_at: i64) -> SessionRecord {
        opened_at(&self.a, user, created_at)
    }

    /// Whether `s` is live at 300.
    pub async fn live(&self, s: &SessionRecord) -> bool {
        self.store
            .session(&s.token_hash, 300)
            .await
            .unwrap()
            .is_some()
    }

    /// An operator's event about Ada.
    pub fn e(&self, action: AuditAction, at: i64) -> AuditEvent {
        user_event(&self.a, &self.ada, action, at)
    }
}

/// A session of `user` in `app` opened at `created_at` (not stored).
fn opened_at(app: &App, user: &str, created_at: i64) -> SessionRecord {
    SessionRecord {
        created_at,
        last_seen_at: created_at,
        ..session_of(app, user)
    }
}
