//! The conformance suite every store runs (feature `test-util`), so that
//! a third-party [`Store`] or [`NonceStore`] can be checked against the
//! same contract as the built-in ones:
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
//! A separate used-nonce store (Redis) runs [`nonce_marks`]. Each function
//! panics at the first broken rule. Ids are random, but `nonce_keys`
//! expects a database of its own (it counts every key).
#![allow(clippy::missing_panics_doc)]

use std::sync::Arc;

use tessera_claims::{AppId, Environment, KeyId, Profile, ProviderId, UserId};

use super::{
    Actor, App, AppChange, AuditAction, AuditEvent, AuditQuery, IdentityChange, KeyRecord, Marker,
    NonceHash, NonceKeyRecord, NonceStore, RevocationScope, SessionRecord, SessionRefusal,
    SessionTokenHash, Store, StoreError, UsedNonce, UserControls,
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

/// Apps and keys: round trips, conflicts on taken ids, revocation.
pub async fn apps_and_keys(store: &dyn Store) {
    let a = app();
    store.create_app(&a, &ev()).await.unwrap();
    assert_eq!(store.app(&a.app_id).await.unwrap(), Some(a.clone()));
    assert!(store
        .app(&AppId::generate(Environment::Production))
        .await
        .unwrap()
        .is_none());
    let same_provider = App {
        app_id: AppId::generate(Environment::Staging),
        ..a.clone()
    };
    assert!(matches!(
        store.create_app(&same_provider, &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_app(&a, &ev()).await,
        Err(StoreError::Conflict(_))
    ));

    let key = KeyRecord {
        kid: KeyId::generate(),
        provider_id: a.provider_id,
        spki_der: vec![1, 2, 3],
        fingerprint: "SHA256:x".into(),
        created_at: 5,
        revoked_at: None,
    };
    store.add_key(&key, &ev()).await.unwrap();
    assert!(matches!(
        store.add_key(&key, &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.key(&key.kid).await.unwrap(), Some(key.clone()));
    assert_eq!(
        store.keys_of_provider(&a.provider_id).await.unwrap(),
        vec![key.clone()]
    );
    assert_eq!(
        store.revoke_key(&key.kid, 10, &ev()).await.unwrap(),
        Some(a.provider_id)
    );
    assert_eq!(
        store.revoke_key(&key.kid, 20, &ev()).await.unwrap(),
        Some(a.provider_id)
    );
    assert_eq!(
        store.key(&key.kid).await.unwrap().unwrap().revoked_at,
        Some(10),
        "the first revocation time stays"
    );
    assert_eq!(
        store
            .revoke_key(&KeyId::generate(), 1, &ev())
            .await
            .unwrap(),
        None
    );
}

/// Listing apps a page at a time, and changing them: a name alone keeps the
/// session lifetime, a lifetime can be set and returned to the default.
pub async fn app_pages_and_changes(store: &dyn Store) {
    let mut ours = Vec::new();
    for _ in 0..5 {
        let a = app();
        store.create_app(&a, &ev()).await.unwrap();
        ours.push(a.app_id);
    }
    // Every page is in order, after the cursor, at most `limit` long; paging
    // through sees each app once (other apps may share the database).
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.apps_page(after.as_ref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        for a in &page {
            if let Some(last) = seen.last() {
                assert!(a.app_id.to_string() > *last, "out of order");
            }
            seen.push(a.app_id.to_string());
        }
        after = Some(page.last().unwrap().app_id);
    }
    for id in &ours {
        assert_eq!(seen.iter().filter(|s| **s == id.to_string()).count(), 1);
    }
    assert_eq!(seen.len(), store.apps().await.unwrap().len());

    let id = ours[0];
    let changed = store
        .update_app(
            &id,
            &AppChange {
                session_ttl_secs: Some(Some(3_600)),
                ..AppChange::default()
            },
            &ev(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.session_ttl_secs, Some(3_600));
    assert_eq!(changed.name, "conformance");
    let renamed = store
        .update_app(
            &id,
            &AppChange {
                name: Some("renamed".into()),
                ..AppChange::default()
            },
            &ev(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.session_ttl_secs),
        ("renamed", Some(3_600))
    );
    assert_eq!(store.app(&id).await.unwrap(), Some(renamed));
    let reset = store
        .update_app(
            &id,
            &AppChange {
                session_ttl_secs: Some(None),
                ..AppChange::default()
            },
            &ev(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reset.session_ttl_secs, None);
    assert_eq!(reset.name, "renamed");
    assert_eq!(
        reset.allowed_origins,
        vec!["https://conformance.example".parse().unwrap()],
        "origins are kept unless changed"
    );
    let origins: Vec<tessera_api::Origin> = vec![
        "http://127.0.0.1:8080".parse().unwrap(),
        "https://web.example".parse().unwrap(),
    ];
    let listed = store
        .update_app(
            &id,
            &AppChange {
                allowed_origins: Some(origins.clone()),
                ..AppChange::default()
            },
            &ev(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed.allowed_origins, origins);
    assert_eq!(listed.name, "renamed");
    assert_eq!(
        store.app(&id).await.unwrap().unwrap().allowed_origins,
        origins
    );
    assert_eq!(
        store
            .update_app(
                &AppId::generate(Environment::Staging),
                &AppChange::default(),
                &ev()
            )
            .await
            .unwrap(),
        None
    );
}

/// Sessions and identities: profile merging, expiry, uniqueness, deletion, purge.
pub async fn sessions_and_identities(store: &dyn Store) {
    let a = app();
    store.create_app(&a, &ev()).await.unwrap();
    let user = UserId::new("ada@example.com").unwrap();
    let session = SessionRecord {
        expires_at: 200,
        ..session_of(&a, user.as_str())
    };
    let first = Profile {
        first_name: Some("Ada".into()),
        display_name: Some("Ada L.".into()),
        ..Profile::default()
    };
    let identity = store
        .open_session(&session, &first, &ev())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.profile, first);
    let later = SessionRecord {
        token_hash: session_hash(),
        nonce_hash: Some(nonce_hash()),
        created_at: 150,
        last_seen_at: 150,
        ..session.clone()
    };
    let update = Profile {
        display_name: Some("Countess".into()),
        ..Profile::default()
    };
    let identity = store
        .open_session(&later, &update, &ev())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        identity.profile.first_name.as_deref(),
        Some("Ada"),
        "absent claims keep stored values"
    );
    assert_eq!(identity.profile.display_name.as_deref(), Some("Countess"));
    assert_eq!((identity.created_at, identity.updated_at), (100, 150));
    assert_eq!(
        store.identity(&a.app_id, &user).await.unwrap().unwrap(),
        identity
    );

    assert_eq!(
        store.session(&session.token_hash, 199).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store.session(&session.token_hash, 200).await.unwrap(),
        None,
        "expired"
    );
    let same_token = SessionRecord {
        nonce_hash: Some(nonce_hash()),
        ..session.clone()
    };
    assert!(
        matches!(
            store.open_session(&same_token, &first, &ev()).await,
            Err(StoreError::Conflict(_))
        ),
        "a token hash is unique"
    );
    assert!(store
        .delete_session(&later.token_hash, &ev())
        .await
        .unwrap());
    assert!(!store
        .delete_session(&later.token_hash, &ev())
        .await
        .unwrap());
    assert_eq!(store.session(&later.token_hash, 120).await.unwrap(), None);
    let live = SessionRecord {
        token_hash: session_hash(),
        nonce_hash: Some(nonce_hash()),
        created_at: 150,
        last_seen_at: 150,
        expires_at: 10_000,
        ..session.clone()
    };
    store
        .open_session(&live, &update, &ev())
        .await
        .unwrap()
        .unwrap();
    assert!(store.purge_expired(200, 0).await.unwrap().sessions >= 1);
    assert_eq!(
        store.session(&session.token_hash, 150).await.unwrap(),
        None,
        "purged"
    );
    assert_eq!(
        store.session(&live.token_hash, 200).await.unwrap(),
        Some(live),
        "a live session survives the purge"
    );
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

/// Users: sessions listed and touched; revoke-before per app and per user
/// and its undo; suspension ending sessions and refusing new ones without
/// writing anything; ending a user's sessions; identity edits and the
/// token's claims; the audit trail in order, filtered, paged and purged.
pub async fn users_and_audit(store: &dyn Store) {
    let a = app();
    store.create_app(&a, &ev()).await.unwrap();
    let ada = UserId::new("ada").unwrap();
    let bob = UserId::new("bob").unwrap();
    let open = |user: &str, created_at: i64| SessionRecord {
        created_at,
        last_seen_at: created_at,
        ..session_of(&a, user)
    };
    let (old, new, bobs) = (open("ada", 100), open("ada", 200), open("bob", 100));
    for s in [&old, &new, &bobs] {
        store
            .open_session(s, &Profile::default(), &ev())
            .await
            .unwrap()
            .unwrap();
    }
    let live = |s: &SessionRecord| {
        let hash = s.token_hash;
        async move { store.session(&hash, 300).await.unwrap().is_some() }
    };
    assert_eq!(
        store.session(&old.token_hash, 300).await.unwrap(),
        Some(old.clone())
    );
    assert_eq!(
        store
            .sessions_of_user(&a.app_id, &ada, 300, 10)
            .await
            .unwrap(),
        vec![new.clone(), old.clone()],
        "newest first"
    );
    assert_eq!(
        store
            .sessions_of_user(&a.app_id, &ada, 300, 1)
            .await
            .unwrap(),
        vec![new.clone()]
    );
    store.touch_session(&old.token_hash, 290).await.unwrap();
    assert_eq!(
        store
            .session(&old.token_hash, 300)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        290
    );

    // Revoke-before, per app: sessions opened at or before the instant.
    let app_scope = RevocationScope::App(a.app_id);
    let e = |action, at| user_event(&a, &ada, action, at);
    assert!(store
        .set_sessions_revoked_before(
            &app_scope,
            Some(100),
            &e(AuditAction::RevokeBeforeSet, 10_001)
        )
        .await
        .unwrap());
    assert_eq!(
        store
            .app(&a.app_id)
            .await
            .unwrap()
            .unwrap()
            .sessions_revoked_before,
        Some(100)
    );
    assert!(!live(&old).await && !live(&bobs).await && live(&new).await);
    assert_eq!(
        store
            .sessions_of_user(&a.app_id, &ada, 300, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .set_sessions_revoked_before(
            &app_scope,
            None,
            &e(AuditAction::RevokeBeforeCleared, 10_002)
        )
        .await
        .unwrap());
    assert!(live(&old).await && live(&bobs).await, "clearing undoes it");
    assert!(!store
        .set_sessions_revoked_before(
            &RevocationScope::App(AppId::generate(Environment::Staging)),
            Some(1),
            &ev()
        )
        .await
        .unwrap());

    // Per user: only that user's sessions.
    let ada_scope = RevocationScope::User(a.app_id, ada.clone());
    assert!(store
        .set_sessions_revoked_before(
            &ada_scope,
            Some(200),
            &e(AuditAction::RevokeBeforeSet, 10_003)
        )
        .await
        .unwrap());
    assert!(!live(&old).await && !live(&new).await && live(&bobs).await);
    assert_eq!(
        store.user_controls(&a.app_id, &ada).await.unwrap(),
        UserControls {
            suspended_at: None,
            sessions_revoked_before: Some(200)
        }
    );
    assert_eq!(
        store.user_controls(&a.app_id, &bob).await.unwrap(),
        UserControls::default()
    );
    assert!(store
        .set_sessions_revoked_before(
            &ada_scope,
            None,
            &e(AuditAction::RevokeBeforeCleared, 10_004)
        )
        .await
        .unwrap());
    assert!(live(&old).await && live(&new).await);

    // Suspension ends the sessions and refuses new ones, writing nothing.
    assert!(store
        .set_suspension(
            &a.app_id,
            &ada,
            true,
            &e(AuditAction::UserSuspended, 10_005)
        )
        .await
        .unwrap());
    assert!(
        !store
            .set_suspension(
                &a.app_id,
                &ada,
                true,
                &e(AuditAction::UserSuspended, 10_006)
            )
            .await
            .unwrap(),
        "suspending twice changes nothing"
    );
    assert_eq!(
        store
            .user_controls(&a.app_id, &ada)
            .await
            .unwrap()
            .suspended_at,
        Some(10_005)
    );
    assert!(!live(&old).await && !live(&new).await && live(&bobs).await);
    let refused = open("ada", 300);
    assert_eq!(
        store
            .open_session(&refused, &Profile::default(), &ev())
            .await
            .unwrap(),
        Err(SessionRefusal::Suspended)
    );
    let nonce = used(5_000);
    assert_eq!(
        store
            .redeem(&nonce, &refused, &Profile::default(), &ev())
            .await
            .unwrap(),
        Err(SessionRefusal::Suspended)
    );
    assert!(!live(&refused).await, "nothing was written");
    assert!(store
        .set_suspension(
            &a.app_id,
            &ada,
            false,
            &e(AuditAction::SuspensionLifted, 10_007)
        )
        .await
        .unwrap());
    assert!(!store
        .set_suspension(
            &a.app_id,
            &ada,
            false,
            &e(AuditAction::SuspensionLifted, 10_008)
        )
        .await
        .unwrap());
    assert!(
        store
            .redeem(&nonce, &refused, &Profile::default(), &ev())
            .await
            .unwrap()
            .is_ok(),
        "the refused redemption left the nonce unused"
    );
    assert!(live(&refused).await);
    assert!(!live(&old).await, "suspension ended the sessions for good");

    // Ending every session of a user.
    store
        .open_session(&open("ada", 310), &Profile::default(), &ev())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .end_sessions_of_user(&a.app_id, &ada, &e(AuditAction::SessionsRevoked, 10_009))
            .await
            .unwrap(),
        2
    );
    assert!(store
        .sessions_of_user(&a.app_id, &ada, 300, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(live(&bobs).await);

    // Identity edits, and a token's claims replacing an edited display field.
    let change = IdentityChange {
        display_name: Some(Some("Ada".into())),
        phone_number: Some(Some("+44 20 7946 0000".into())),
        metadata: Some([("team".to_owned(), "engines".to_owned())].into()),
        ..IdentityChange::default()
    };
    assert_eq!(
        store
            .update_identity(&a.app_id, &UserId::new("nobody").unwrap(), &change, &ev())
            .await
            .unwrap(),
        None,
        "no identity before a first session"
    );
    let edited = store
        .update_identity(
            &a.app_id,
            &ada,
            &change,
            &e(AuditAction::IdentityChanged, 10_010),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(edited.profile.display_name.as_deref(), Some("Ada"));
    assert_eq!(edited.phone_number.as_deref(), Some("+44 20 7946 0000"));
    assert_eq!(
        edited.metadata.get("team").map(String::as_str),
        Some("engines")
    );
    assert_eq!(edited.updated_at, 10_010);
    assert_eq!(
        store.identity(&a.app_id, &ada).await.unwrap(),
        Some(edited.clone())
    );
    let from_token = Profile {
        display_name: Some("Countess".into()),
        ..Profile::default()
    };
    let after_login = store
        .open_session(&open("ada", 700), &from_token, &ev())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after_login.profile.display_name.as_deref(),
        Some("Countess")
    );
    assert_eq!(
        after_login.phone_number, edited.phone_number,
        "edits alone set the rest"
    );
    assert_eq!(after_login.metadata, edited.metadata);
    let cleared = store
        .update_identity(
            &a.app_id,
            &ada,
            &IdentityChange {
                phone_number: Some(None),
                metadata: Some(Default::default()),
                ..IdentityChange::default()
            },
            &ev(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cleared.phone_number, cleared.metadata.len()), (None, 0));
    assert_eq!(cleared.profile.display_name.as_deref(), Some("Countess"));

    // The trail: what changed, in order, as recorded.
    let query = AuditQuery {
        app_id: Some(a.app_id),
        user_id: Some(ada.clone()),
        since: Some(10_000),
        limit: 100,
        ..AuditQuery::default()
    };
    let trail = store.audit_events(&query).await.unwrap();
    let actions: Vec<_> = trail.iter().map(|r| (r.event.action, r.event.at)).collect();
    assert_eq!(
        actions,
        vec![
            (AuditAction::RevokeBeforeSet, 10_001),
            (AuditAction::RevokeBeforeCleared, 10_002),
            (AuditAction::RevokeBeforeSet, 10_003),
            (AuditAction::RevokeBeforeCleared, 10_004),
            (AuditAction::UserSuspended, 10_005),
            (AuditAction::SuspensionLifted, 10_007),
            (AuditAction::SessionsRevoked, 10_009),
            (AuditAction::IdentityChanged, 10_010),
        ],
        "unchanged suspensions are not recorded"
    );
    let first = &trail[0].event;
    assert_eq!(first.actor, Actor::Admin);
    assert_eq!(first.client_address.as_deref(), Some("198.51.100.4"));
    assert_eq!(first.request_id.as_deref(), Some("req-10001"));
    assert_eq!(trail[6].event.detail["sessions_ended"], 2);
    assert!(trail.windows(2).all(|w| w[0].seq < w[1].seq));
    let page = store
        .audit_events(&AuditQuery {
            after: Some(trail[2].seq),
            limit: 2,
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(page, trail[3..5].to_vec(), "a page after a cursor");
    let later = store
        .audit_events(&AuditQuery {
            since: Some(10_009),
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(later, trail[6..].to_vec());
    let window = store
        .audit_events(&AuditQuery {
            since: Some(10_003),
            until: Some(10_007),
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        window,
        trail[2..5].to_vec(),
        "since is inclusive, until not"
    );
    let bobs_trail = store
        .audit_events(&AuditQuery {
            user_id: Some(bob),
            ..query.clone()
        })
        .await
        .unwrap();
    assert!(bobs_trail.is_empty());

    // Retention: events before the cutoff go, later ones stay.
    let purged = store.purge_expired(0, 10_005).await.unwrap();
    assert!(purged.audit_events >= 4, "{purged:?}");
    let kept = store.audit_events(&query).await.unwrap();
    assert_eq!(kept, trail[4..].to_vec());
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

/// Redemption: a nonce opens one session, a second use writes nothing, of
/// 32 concurrent redeemers exactly one wins, a failed session write leaves
/// the nonce unused, and used-nonce records go once expired.
pub async fn redemption(store: Arc<dyn Store>) {
    let a = app();
    store.create_app(&a, &ev()).await.unwrap();
    let profile = Profile::default();
    let nonce = used(5_000);
    let first = session_of(&a, "redeemer");
    assert!(store
        .redeem(&nonce, &first, &profile, &ev())
        .await
        .unwrap()
        .is_ok());
    let second = session_of(&a, "redeemer");
    assert_eq!(
        store
            .redeem(&nonce, &second, &profile, &ev())
            .await
            .unwrap(),
        Err(SessionRefusal::NonceUsed)
    );
    assert_eq!(
        store.session(&second.token_hash, 200).await.unwrap(),
        None,
        "a refused redemption opens no session"
    );

    // A session write that fails (its token hash is taken) leaves the nonce unused.
    let fresh = used(5_000);
    let clash = SessionRecord {
        token_hash: first.token_hash,
        ..session_of(&a, "clash")
    };
    assert!(matches!(
        store.redeem(&fresh, &clash, &profile, &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .redeem(&fresh, &session_of(&a, "clash"), &profile, &ev())
            .await
            .unwrap()
            .is_ok(),
        "the nonce is still redeemable after a failed session write"
    );

    let contested = used(5_000);
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (store, session) = (store.clone(), session_of(&a, &format!("racer-{i}")));
        tasks.push(tokio::spawn(async move {
            store
                .redeem(&contested, &session, &Profile::default(), &ev())
                .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        // A store may also refuse a racer as busy; it must never let two win.
        if let Ok(Ok(_)) = task.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one concurrent redemption wins");

    // Concurrent redemptions of distinct nonces by a few users, each user's
    // in a different order: every one opens its session (a store that
    // writes several at once must not deadlock on the shared identities).
    let mut tasks = Vec::new();
    for i in 0..96 {
        let user = if i % 2 == 0 { i % 6 } else { 5 - i % 6 };
        let (store, session) = (store.clone(), session_of(&a, &format!("shared-{user}")));
        tasks.push(tokio::spawn(async move {
            store
                .redeem(&used(5_000), &session, &Profile::default(), &ev())
                .await
        }));
    }
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Ok(Ok(_))));
    }

    let purged = store.purge_expired(5_000, 0).await.unwrap();
    assert!(purged.used_nonces >= 3, "{purged:?}");
    assert!(
        store
            .redeem(&nonce, &session_of(&a, "after"), &profile, &ev())
            .await
            .unwrap()
            .is_ok(),
        "an expired record is gone (the authority refuses expired nonces itself)"
    );
    one_session_per_nonce(store, &a).await;
}

/// A nonce's digest opens one session, whatever a separate used-nonce
/// store remembers: a second session with it is refused as used, with
/// nothing written, alone or among concurrent ones.
async fn one_session_per_nonce(store: Arc<dyn Store>, a: &App) {
    let profile = Profile {
        first_name: Some("Second".into()),
        ..Profile::default()
    };
    let digest = nonce_hash();
    let with_digest = |user: &str, digest: NonceHash| SessionRecord {
        nonce_hash: Some(digest),
        ..session_of(a, user)
    };
    store
        .open_session(&with_digest("once", digest), &Profile::default(), &ev())
        .await
        .unwrap()
        .unwrap();
    let again = with_digest("twice", digest);
    assert_eq!(
        store.open_session(&again, &profile, &ev()).await.unwrap(),
        Err(SessionRefusal::NonceUsed)
    );
    assert_eq!(store.session(&again.token_hash, 200).await.unwrap(), None);
    assert_eq!(
        store.identity(&a.app_id, &again.user_id).await.unwrap(),
        None,
        "a refused session writes no identity"
    );

    let contested = nonce_hash();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (store, session) = (store.clone(), with_digest(&format!("rival-{i}"), contested));
        tasks.push(tokio::spawn(async move {
            store
                .open_session(&session, &Profile::default(), &ev())
                .await
        }));
    }
    let (mut won, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(Ok(_)) => won += 1,
            Ok(Err(SessionRefusal::NonceUsed)) => refused += 1,
            // A store may refuse a racer as busy; never let two win.
            Ok(Err(other)) => panic!("{other:?}"),
            Err(_) => {}
        }
    }
    assert_eq!(won, 1, "exactly one session per nonce ({refused} refused)");
}

/// Nonce MAC keys: the first one is added once, rotation retires the
/// active ones, and keys retired long ago are forgotten.
pub async fn nonce_keys(store: &dyn Store) {
    let key = |id: u32, at: i64| NonceKeyRecord {
        key_id: id,
        secret: random().to_vec(),
        created_at: at,
        retired_at: None,
    };
    let first = key(random_id(), 100);
    let keys = store.nonce_keys(&first).await.unwrap();
    let active: Vec<_> = keys.iter().filter(|k| k.retired_at.is_none()).collect();
    assert_eq!(active.len(), 1, "{keys:?}");
    let again = store.nonce_keys(&key(random_id(), 150)).await.unwrap();
    assert_eq!(again, keys, "a second candidate is not added");

    let second = key(random_id(), 200);
    store.rotate_nonce_key(&second, 0).await.unwrap();
    let keys = store.nonce_keys(&key(random_id(), 250)).await.unwrap();
    let active: Vec<_> = keys.iter().filter(|k| k.retired_at.is_none()).collect();
    assert_eq!(active, vec![&second]);
    assert!(keys
        .iter()
        .any(|k| k.key_id == active_before(&again) && k.retired_at == Some(200)));

    store
        .rotate_nonce_key(&key(random_id(), 300), 250)
        .await
        .unwrap();
    let keys = store.nonce_keys(&key(random_id(), 350)).await.unwrap();
    assert_eq!(keys.len(), 2, "keys retired before 250 are gone: {keys:?}");
    assert_eq!(
        keys.iter()
            .find(|k| k.key_id == second.key_id)
            .unwrap()
            .retired_at,
        Some(300)
    );
}

fn active_before(keys: &[NonceKeyRecord]) -> u32 {
    keys.iter().find(|k| k.retired_at.is_none()).unwrap().key_id
}

fn random_id() -> u32 {
    let mut b = [0u8; 4];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u32::from_be_bytes(b)
}

/// A separate used-nonce store: one mark per nonce, of 32 concurrent
/// markers exactly one wins, and a mark is taken back only by its own marker.
pub async fn nonce_marks(nonces: Arc<dyn NonceStore>, now: i64) {
    let nonce = used(now + 600);
    let marker = nonces.mark_used(&nonce, now).await.unwrap().unwrap();
    assert_eq!(nonces.mark_used(&nonce, now).await.unwrap(), None);
    nonces
        .unmark(&nonce, &Marker("someone else's".into()))
        .await
        .unwrap();
    assert_eq!(
        nonces.mark_used(&nonce, now).await.unwrap(),
        None,
        "another marker takes nothing back"
    );
    nonces.unmark(&nonce, &marker).await.unwrap();
    assert!(
        nonces.mark_used(&nonce, now).await.unwrap().is_some(),
        "a mark taken back leaves the nonce usable"
    );

    let contested = used(now + 600);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let n = nonces.clone();
        tasks.push(tokio::spawn(
            async move { n.mark_used(&contested, now).await },
        ));
    }
    let mut won = 0;
    for task in tasks {
        if task.await.unwrap().unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}
