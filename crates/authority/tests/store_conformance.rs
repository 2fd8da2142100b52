//! The store conformance suite (`tessera_authority::store::conformance`)
//! against every store: SQLite, PostgreSQL, and Redis for nonces.
//! `scripts/test` gives each run its own PostgreSQL server database
//! (`TESSERA_TEST_POSTGRES_URL`, in which each test here makes a database of
//! its own) and Redis key prefix (`TESSERA_TEST_REDIS_URL`,
//! `TESSERA_TEST_REDIS_PREFIX`); without them the PostgreSQL and Redis tests
//! fail.

use std::sync::Arc;

use reqwest::StatusCode;
use tessera_authority::store::conformance;
use tessera_authority::store::{Engine, RedisNonceStore, SqlStore};
use tessera_claims::{unix_now, KeyId};
use tessera_tests::authority::{
    claims, env, new_signer, nonces_in_redis, reason, token, Authority,
};
use tessera_tests::ScratchDatabase;

/// Every part of the suite against one SQL store.
async fn sql_store(store: Arc<SqlStore>) {
    conformance::apps_and_keys(store.as_ref()).await;
    conformance::app_pages_and_changes(store.as_ref()).await;
    conformance::sessions_and_identities(store.as_ref()).await;
    conformance::redemption(store.clone()).await;
    conformance::nonce_keys(store.as_ref()).await;
    conformance::users_and_audit(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let store = Arc::new(SqlStore::connect(&url, 4).await.unwrap());
    assert_eq!(store.engine(), Engine::Sqlite);
    sql_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_store() {
    let store = Arc::new(SqlStore::connect("sqlite::memory:", 4).await.unwrap());
    sql_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store() {
    // A database of its own: the nonce-key suite counts every key.
    let db = ScratchDatabase::create().await;
    let store = Arc::new(SqlStore::connect(&db.url, 8).await.unwrap());
    assert_eq!(store.engine(), Engine::Postgres);
    sql_store(store).await;
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
    conformance::nonce_marks(store, unix_now()).await;
}

/// The whole authority on PostgreSQL with nonces in Redis, then on PostgreSQL alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authority_runs_on_postgres_with_and_without_redis() {
    for redis in [true, false] {
        let authority = Authority::start_with(|c| {
            c.database_url = env("TESSERA_TEST_POSTGRES_URL");
            if redis {
                nonces_in_redis(c);
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
