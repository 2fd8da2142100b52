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
    AlreadyUsed, App, AppChange, KeyRecord, Marker, NonceHash, NonceKeyRecord, NonceStore,
    SessionRecord, SessionTokenHash, Store, StoreError, UsedNonce,
};

fn app() -> App {
    App {
        app_id: AppId::generate(Environment::Staging),
        provider_id: ProviderId::generate(),
        environment: Environment::Staging,
        name: "conformance".into(),
        created_at: 1_000,
        session_ttl_secs: None,
    }
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
    store.create_app(&a).await.unwrap();
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
        store.create_app(&same_provider).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_app(&a).await,
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
    store.add_key(&key).await.unwrap();
    assert!(matches!(
        store.add_key(&key).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.key(&key.kid).await.unwrap(), Some(key.clone()));
    assert_eq!(
        store.keys_of_provider(&a.provider_id).await.unwrap(),
        vec![key.clone()]
    );
    assert_eq!(
        store.revoke_key(&key.kid, 10).await.unwrap(),
        Some(a.provider_id)
    );
    assert_eq!(
        store.revoke_key(&key.kid, 20).await.unwrap(),
        Some(a.provider_id)
    );
    assert_eq!(
        store.key(&key.kid).await.unwrap().unwrap().revoked_at,
        Some(10),
        "the first revocation time stays"
    );
    assert_eq!(store.revoke_key(&KeyId::generate(), 1).await.unwrap(), None);
}

/// Listing apps a page at a time, and changing them: a name alone keeps the
/// session lifetime, a lifetime can be set and returned to the default.
pub async fn app_pages_and_changes(store: &dyn Store) {
    let mut ours = Vec::new();
    for _ in 0..5 {
        let a = app();
        store.create_app(&a).await.unwrap();
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
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reset.session_ttl_secs, None);
    assert_eq!(reset.name, "renamed");
    assert_eq!(
        store
            .update_app(
                &AppId::generate(Environment::Staging),
                &AppChange::default()
            )
            .await
            .unwrap(),
        None
    );
}

/// Sessions and identities: profile merging, expiry, uniqueness, deletion, purge.
pub async fn sessions_and_identities(store: &dyn Store) {
    let a = app();
    store.create_app(&a).await.unwrap();
    let user = UserId::new("ada@example.com").unwrap();
    let session = SessionRecord {
        token_hash: session_hash(),
        app_id: a.app_id,
        user_id: user.clone(),
        created_at: 100,
        expires_at: 200,
    };
    let first = Profile {
        first_name: Some("Ada".into()),
        display_name: Some("Ada L.".into()),
        ..Profile::default()
    };
    let identity = store.open_session(&session, &first).await.unwrap();
    assert_eq!(identity.profile, first);
    let later = SessionRecord {
        token_hash: session_hash(),
        created_at: 150,
        ..session.clone()
    };
    let update = Profile {
        display_name: Some("Countess".into()),
        ..Profile::default()
    };
    let identity = store.open_session(&later, &update).await.unwrap();
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
    assert!(
        matches!(
            store.open_session(&session, &first).await,
            Err(StoreError::Conflict(_))
        ),
        "a token hash is unique"
    );
    assert!(store.delete_session(&later.token_hash).await.unwrap());
    assert!(!store.delete_session(&later.token_hash).await.unwrap());
    assert_eq!(store.session(&later.token_hash, 120).await.unwrap(), None);
    let live = SessionRecord {
        token_hash: session_hash(),
        created_at: 150,
        expires_at: 10_000,
        ..session.clone()
    };
    store.open_session(&live, &update).await.unwrap();
    assert!(store.purge_expired(200).await.unwrap().sessions >= 1);
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

fn used(expires_at: i64) -> UsedNonce {
    UsedNonce {
        hash: nonce_hash(),
        expires_at,
    }
}

fn session_of(app: &App, user: &str) -> SessionRecord {
    SessionRecord {
        token_hash: session_hash(),
        app_id: app.app_id,
        user_id: UserId::new(user).unwrap(),
        created_at: 100,
        expires_at: 10_000,
    }
}

/// Redemption: a nonce opens one session, a second use writes nothing, of
/// 32 concurrent redeemers exactly one wins, a failed session write leaves
/// the nonce unused, and used-nonce records go once expired.
pub async fn redemption(store: Arc<dyn Store>) {
    let a = app();
    store.create_app(&a).await.unwrap();
    let profile = Profile::default();
    let nonce = used(5_000);
    let first = session_of(&a, "redeemer");
    assert!(store
        .redeem(&nonce, &first, &profile)
        .await
        .unwrap()
        .is_ok());
    let second = session_of(&a, "redeemer");
    assert_eq!(
        store.redeem(&nonce, &second, &profile).await.unwrap(),
        Err(AlreadyUsed)
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
        store.redeem(&fresh, &clash, &profile).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .redeem(&fresh, &session_of(&a, "clash"), &profile)
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
                .redeem(&contested, &session, &Profile::default())
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

    let purged = store.purge_expired(5_000).await.unwrap();
    assert!(purged.used_nonces >= 3, "{purged:?}");
    assert!(
        store
            .redeem(&nonce, &session_of(&a, "after"), &profile)
            .await
            .unwrap()
            .is_ok(),
        "an expired record is gone (the authority refuses expired nonces itself)"
    );
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
