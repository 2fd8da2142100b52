//! The conformance suite every store runs (feature `test-util`), so that
//! a third-party [`Store`] or [`NonceStore`] can be checked against the
//! same contract as the built-in ones:
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<tessera_authority::store::SqlStore>) {
//! use tessera_authority::store::conformance;
//! conformance::apps_and_keys(store.as_ref()).await;
//! conformance::sessions_and_identities(store.as_ref()).await;
//! let now = tessera_claims::unix_now();
//! conformance::nonces(store.clone(), now).await;
//! conformance::nonce_purge(store.as_ref(), now, conformance::Purge::Explicit).await;
//! # }
//! ```
//!
//! Each function panics at the first broken rule. Ids are random, so the
//! suite can run against a store that holds other data; pick `now` apart
//! from other users of the same nonce store, as purges remove every
//! expired nonce.
#![allow(clippy::missing_panics_doc)]

use std::sync::Arc;

use tessera_claims::{AppId, Environment, KeyId, Profile, ProviderId, UserId};

use super::{
    App, KeyRecord, NonceHash, NonceRefusal, NonceStore, SessionRecord, SessionTokenHash, Store,
    StoreError,
};

fn app() -> App {
    App {
        app_id: AppId::generate(Environment::Staging),
        provider_id: ProviderId::generate(),
        environment: Environment::Staging,
        name: "conformance".into(),
        created_at: 1_000,
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
    assert!(store.purge_expired_sessions(200).await.unwrap() >= 1);
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

/// Nonces: binding to an app, expiry, single use, and of 32 concurrent
/// consumers exactly one winner.
pub async fn nonces(nonces: Arc<dyn NonceStore>, now: i64) {
    let app = AppId::generate(Environment::Staging);
    let other = AppId::generate(Environment::Staging);
    let (free, bound, late) = (nonce_hash(), nonce_hash(), nonce_hash());
    nonces.issue(&free, None, now + 600).await.unwrap();
    nonces.issue(&bound, Some(&other), now + 600).await.unwrap();
    nonces.issue(&late, Some(&app), now + 1).await.unwrap();
    assert_eq!(
        nonces.consume(&bound, &app, now).await.unwrap(),
        Err(NonceRefusal::Unknown)
    );
    assert_eq!(
        nonces.consume(&nonce_hash(), &app, now).await.unwrap(),
        Err(NonceRefusal::Unknown)
    );
    assert_eq!(
        nonces.consume(&late, &app, now + 1).await.unwrap(),
        Err(NonceRefusal::Expired)
    );
    assert_eq!(nonces.consume(&free, &app, now).await.unwrap(), Ok(()));
    assert_eq!(
        nonces.consume(&free, &app, now + 1).await.unwrap(),
        Err(NonceRefusal::Used)
    );
    assert_eq!(nonces.consume(&bound, &other, now).await.unwrap(), Ok(()));

    // Of 32 concurrent consumers of one nonce, exactly one wins.
    let contested = nonce_hash();
    nonces
        .issue(&contested, Some(&app), now + 600)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let n = nonces.clone();
            tokio::spawn(async move { n.consume(&contested, &app, now).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => wins += 1,
            Err(r) => assert_eq!(r, NonceRefusal::Used),
        }
    }
    assert_eq!(wins, 1);
}

/// How a nonce store gets rid of expired nonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// `purge_expired_nonces` removes them and counts them (SQL stores).
    Explicit,
    /// The engine expires them by itself; `purge_expired_nonces` removes
    /// nothing (Redis).
    ByEngine,
}

/// Purging: expired nonces go (used and unused counted apart) and never
/// come back usable; live ones stay usable.
pub async fn nonce_purge(nonces: &dyn NonceStore, now: i64, purge: Purge) {
    let app = AppId::generate(Environment::Staging);
    let (used, unused, live) = (nonce_hash(), nonce_hash(), nonce_hash());
    nonces.issue(&used, Some(&app), now + 10).await.unwrap();
    nonces.issue(&unused, None, now + 10).await.unwrap();
    nonces.issue(&live, Some(&app), now + 600).await.unwrap();
    assert_eq!(nonces.consume(&used, &app, now).await.unwrap(), Ok(()));
    let purged = nonces.purge_expired_nonces(now + 10).await.unwrap();
    match purge {
        Purge::Explicit => {
            assert!(
                purged.used_nonces >= 1 && purged.unused_nonces >= 1,
                "{purged:?}"
            );
            for gone in [&used, &unused] {
                assert_eq!(
                    nonces.consume(gone, &app, now + 10).await.unwrap(),
                    Err(NonceRefusal::Unknown),
                    "purged"
                );
            }
        }
        Purge::ByEngine => {
            assert_eq!(purged, super::Purged::default());
            for gone in [&used, &unused] {
                assert_eq!(
                    nonces.consume(gone, &app, now + 10).await.unwrap(),
                    Err(NonceRefusal::Expired)
                );
            }
        }
    }
    assert_eq!(
        nonces.consume(&live, &app, now + 10).await.unwrap(),
        Ok(()),
        "a live nonce survives the purge"
    );
}
