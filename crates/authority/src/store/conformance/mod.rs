//! The conformance suite every store runs (feature `test-util`), one part
//! per trait, so that a third-party store can be checked against the same
//! contract as the built-in ones:
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<tessera_authority::store::SqlStore>) {
//! use tessera_authority::store::conformance;
//! conformance::apps_and_keys(store.as_ref()).await;
//! conformance::app_pages_and_changes(store.as_ref()).await;
//! conformance::sessions_and_identities(store.as_ref()).await;
//! conformance::redemption(store.clone()).await;
//! conformance::nonce_keys(store.as_ref()).await;
//! conformance::users_and_audit(store.as_ref()).await;
//! # }
//! ```
//!
//! - [`apps`]: [`AppStore`](super::AppStore);
//! - [`sessions`]: [`SessionStore`](super::SessionStore);
//! - [`identities`]: [`IdentityStore`](super::IdentityStore);
//! - [`audit`]: [`AuditTrail`](super::AuditTrail);
//! - [`nonces`]: [`NonceKeyStore`](super::NonceKeyStore), and
//!   [`nonce_marks`] for a separate used-nonce store
//!   ([`NonceStore`](super::NonceStore), Redis).
//!
//! [`users_and_audit`] runs the parts about a user's life (sessions,
//! controls, edits) in turn, the audit part last reading the trail they
//! wrote. Each function panics at the first broken rule. Ids are random,
//! but `nonce_keys` expects a database of its own (it counts every key).
//! Imported by stores' tests only.
#![allow(clippy::missing_panics_doc)]

pub mod apps;
pub mod audit;
pub mod identities;
pub mod nonces;
pub mod sessions;

use tessera_claims::{AppId, Environment, Profile, ProviderId, UserId};

pub use apps::{app_pages_and_changes, apps_and_keys};
pub use nonces::{nonce_keys, nonce_marks};
pub use sessions::{redemption, sessions_and_identities};

use super::prelude::*;
use super::{
    Actor, App, AuditAction, AuditEvent, NonceHash, SessionRecord, SessionTokenHash, UsedNonce,
};

fn app() -> App {
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
fn ev() -> AuditEvent {
    AuditEvent::new(1_000, AuditAction::AppChanged, Actor::Admin)
}

/// A random 32-byte digest.
fn random() -> [u8; 32] {
    let mut h = [0u8; 32];
    aws_lc_rs::rand::fill(&mut h).unwrap();
    h
}

fn session_hash() -> SessionTokenHash {
    SessionTokenHash::from_bytes(random())
}

fn nonce_hash() -> NonceHash {
    NonceHash::from_bytes(random())
}

fn used(expires_at: i64) -> UsedNonce {
    UsedNonce {
        hash: nonce_hash(),
        expires_at,
    }
}

fn session_of(app: &App, user: &str) -> SessionRecord {
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

fn random_id() -> u32 {
    let mut b = [0u8; 4];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u32::from_be_bytes(b)
}

/// An operator's event about a user of `app`, at `at`.
fn user_event(app: &App, user: &UserId, action: AuditAction, at: i64) -> AuditEvent {
    AuditEvent {
        client_address: Some("198.51.100.4".into()),
        request_id: Some(format!("req-{at}")),
        detail: serde_json::json!({ "at": at }),
        ..AuditEvent::new(at, action, Actor::Admin)
            .app(app.app_id)
            .user(user.clone())
    }
}

/// A user's life in one app, shared by the parts of [`users_and_audit`]:
/// Ada's sessions opened at 100 (`old`) and 200 (`new`), Bob's at 100.
pub(crate) struct Users<'s> {
    store: &'s dyn Store,
    a: App,
    ada: UserId,
    bob: UserId,
    old: SessionRecord,
    new: SessionRecord,
    bobs: SessionRecord,
}

impl<'s> Users<'s> {
    async fn open_in(store: &'s dyn Store) -> Users<'s> {
        let a = app();
        store.create_app(&a, &ev()).await.unwrap();
        let mut u = Users {
            store,
            ada: UserId::new("ada").unwrap(),
            bob: UserId::new("bob").unwrap(),
            old: session_of(&a, "ada"),
            new: session_of(&a, "ada"),
            bobs: session_of(&a, "bob"),
            a,
        };
        (u.old, u.new, u.bobs) = (u.open("ada", 100), u.open("ada", 200), u.open("bob", 100));
        for s in [&u.old, &u.new, &u.bobs] {
            store
                .open_session(s, &Profile::default(), &ev())
                .await
                .unwrap()
                .unwrap();
        }
        u
    }

    /// A session of `user` opened at `created_at` (not stored).
    fn open(&self, user: &str, created_at: i64) -> SessionRecord {
        SessionRecord {
            created_at,
            last_seen_at: created_at,
            ..session_of(&self.a, user)
        }
    }

    /// Whether `s` is live at 300.
    async fn live(&self, s: &SessionRecord) -> bool {
        self.store
            .session(&s.token_hash, 300)
            .await
            .unwrap()
            .is_some()
    }

    /// An operator's event about Ada.
    fn e(&self, action: AuditAction, at: i64) -> AuditEvent {
        user_event(&self.a, &self.ada, action, at)
    }
}

/// Users: sessions listed and touched; revoke-before per app and per user
/// and its undo; suspension ending sessions and refusing new ones without
/// writing anything; ending a user's sessions; identity edits and the
/// token's claims; the audit trail in order, filtered, paged and purged.
pub async fn users_and_audit(store: &dyn Store) {
    let u = Users::open_in(store).await;
    sessions::listed_and_touched(&u).await;
    identities::revoke_before_of_app(&u).await;
    identities::revoke_before_of_user(&u).await;
    identities::suspension(&u).await;
    sessions::ending_a_users_sessions(&u).await;
    identities::edits(&u).await;
    audit::trail(&u).await;
}
