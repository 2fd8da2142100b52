//! One conformance suite for every store: SQLite, PostgreSQL, and Redis for
//! nonces. `scripts/test` gives each run its own PostgreSQL database
//! (`TESSERA_TEST_POSTGRES_URL`) and Redis key prefix
//! (`TESSERA_TEST_REDIS_URL`, `TESSERA_TEST_REDIS_PREFIX`); without them the
//! PostgreSQL and Redis tests fail.

mod common;

use std::sync::Arc;

use common::{claims, new_signer, reason, token, Authority};
use reqwest::StatusCode;
use tessera_authority::NonceBackend;

use tessera_authority::store::{
    App, KeyRecord, NonceRefusal, NonceStore, PostgresStore, RedisNonceStore, SessionRecord,
    SqliteStore, Store, StoreError,
};
use tessera_claims::{AppId, Environment, KeyId, Profile, ProviderId, UserId};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set; run the suite with scripts/test"))
}

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
fn hash() -> [u8; 32] {
    let mut h = [0u8; 32];
    aws_lc_rs::rand::fill(&mut h).unwrap();
    h
}

async fn apps_and_keys(store: &dyn Store) {
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

async fn sessions_and_identities(store: &dyn Store) {
    let a = app();
    store.create_app(&a).await.unwrap();
    let user = UserId::new("ada@example.com").unwrap();
    let session = SessionRecord {
        token_hash: hash(),
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
        token_hash: hash(),
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
        store.open_session(&session, &first).await.is_err(),
        "a token hash is unique"
    );
    assert!(store.delete_session(&later.token_hash).await.unwrap());
    assert!(!store.delete_session(&later.token_hash).await.unwrap());
    assert_eq!(store.session(&later.token_hash, 120).await.unwrap(), None);
    assert!(store.purge_expired_sessions(200).await.unwrap() >= 1);
    assert_eq!(
        store.session(&session.token_hash, 150).await.unwrap(),
        None,
        "purged"
    );
}

async fn nonces(nonces: Arc<dyn NonceStore>, now: i64) {
    let app = AppId::generate(Environment::Staging);
    let other = AppId::generate(Environment::Staging);
    let (free, bound, late) = (hash(), hash(), hash());
    nonces.issue(&free, None, now + 600).await.unwrap();
    nonces.issue(&bound, Some(&other), now + 600).await.unwrap();
    nonces.issue(&late, Some(&app), now + 1).await.unwrap();
    assert_eq!(
        nonces.consume(&bound, &app, now).await.unwrap(),
        Err(NonceRefusal::Unknown)
    );
    assert_eq!(
        nonces.consume(&hash(), &app, now).await.unwrap(),
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
    let contested = hash();
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

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::connect(&format!("sqlite://{}", dir.path().join("s.db").display()))
            .await
            .unwrap(),
    );
    apps_and_keys(store.as_ref()).await;
    sessions_and_identities(store.as_ref()).await;
    nonces(store.clone(), now()).await;
    let purged = store.purge_expired_nonces(now() + 601).await.unwrap();
    assert_eq!((purged.used_nonces, purged.unused_nonces), (3, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store() {
    let store = Arc::new(
        PostgresStore::connect(&env("TESSERA_TEST_POSTGRES_URL"), 1, 8)
            .await
            .unwrap(),
    );
    apps_and_keys(store.as_ref()).await;
    sessions_and_identities(store.as_ref()).await;
    // Far-future times keep these nonces apart from the other tests' purges.
    nonces(store.clone(), now() + 86_400 * 365).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_nonce_store() {
    let prefix = format!(
        "{}{}:",
        env("TESSERA_TEST_REDIS_PREFIX"),
        KeyId::generate().uuid()
    );
    let store = Arc::new(
        RedisNonceStore::connect(&env("TESSERA_TEST_REDIS_URL"), &prefix)
            .await
            .unwrap(),
    );
    nonces(store, now()).await;
}

/// The whole authority on PostgreSQL with nonces in Redis, then on PostgreSQL alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authority_runs_on_postgres_with_and_without_redis() {
    for redis in [true, false] {
        let authority = Authority::start_with(|c| {
            c.database_url = env("TESSERA_TEST_POSTGRES_URL");
            if redis {
                c.nonces.backend = NonceBackend::Redis;
                c.nonces.redis_url = Some(env("TESSERA_TEST_REDIS_URL"));
                c.nonces.redis_prefix = format!(
                    "{}{}:",
                    env("TESSERA_TEST_REDIS_PREFIX"),
                    KeyId::generate().uuid()
                );
            }
        })
        .await;
        let signer = new_signer();
        let app = authority.app_with_key(&signer).await;
        let nonce = authority.nonce(Some(&app.app_id)).await;
        let t = token(&signer, &claims(app.provider_id, "pg-user", &nonce)).await;
        let (status, body) = authority.open_session(&app.app_id, &t).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, replay) = authority.open_session(&app.app_id, &t).await;
        assert_eq!(reason(status, &replay), "nonce_used");
        let session = body["session_token"].as_str().unwrap();
        assert_eq!(
            authority
                .get_with_session("/identities/me", session)
                .await
                .0,
            StatusCode::OK
        );
    }
}
