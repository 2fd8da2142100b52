//! Stateless nonces and atomic redemption, over a real authority: issuing
//! and re-challenging write nothing, a rotated MAC key keeps earlier nonces
//! valid, and a session write that fails (a trigger in the real database)
//! leaves the nonce redeemable, on SQLite and on PostgreSQL with Redis.
//! `scripts/test` provides PostgreSQL and Redis (`TESSERA_TEST_POSTGRES_URL`,
//! `TESSERA_TEST_REDIS_URL`, `TESSERA_TEST_REDIS_PREFIX`).

use std::path::Path;

use base64::Engine as _;
use reqwest::StatusCode;
use sqlx::Connection as _;
use tessera_tests::authority::{claims, new_signer, nonces_in_redis, reason, token, Authority};
use tessera_tests::ScratchDatabase;

/// Rows of every table of the SQLite file.
async fn rows(db: &Path) -> Vec<(String, i64)> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let mut counts = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{table}\""))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        counts.push((table, n));
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuing_nonces_and_re_challenging_write_nothing() {
    let authority = Authority::start().await;
    let app = authority.app_with_key(&new_signer()).await;
    let before = rows(&authority.db_path()).await;
    assert!(before.iter().any(|(t, n)| t == "nonce_keys" && *n == 1));
    for i in 0..300 {
        let nonce = authority.nonce((i % 2 == 0).then_some(&app.app_id)).await;
        assert_eq!(nonce.len(), tessera_claims::Nonce::LEN);
        let (status, body) = authority
            .get_with_session("/identities/me", "no-such-session")
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body["data"]["nonce"].as_str().unwrap().len(),
            tessera_claims::Nonce::LEN
        );
    }
    assert_eq!(rows(&authority.db_path()).await, before);
}

/// The key id a nonce names (bytes 2..6).
fn key_id_of(nonce: &str) -> [u8; 4] {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(nonce)
        .unwrap();
    bytes[2..6].try_into().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_keeps_earlier_nonces_valid() {
    let authority = Authority::start().await;
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let before = authority.nonce(Some(&app.app_id)).await;
    let now = authority.state.now();
    authority
        .state
        .store
        .rotate_nonce_key(&tessera_authority::nonce::new_key(now + 1), 0)
        .await
        .unwrap();
    authority.state.reload_keyring().await.unwrap();
    let after = authority.nonce(Some(&app.app_id)).await;
    assert_ne!(key_id_of(&before), key_id_of(&after));
    for (user, nonce) in [("before", &before), ("after", &after)] {
        let t = token(&signer, &claims(app.provider_id, user, nonce)).await;
        let (status, body) = authority.open_session(&app.app_id, &t).await;
        assert_eq!(status, StatusCode::CREATED, "{user}: {body}");
    }
    // A nonce of a key the database never held is unknown, not an error.
    let mut forged = after.clone().into_bytes();
    forged[4] = if forged[4] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let t = token(&signer, &claims(app.provider_id, "forger", &forged)).await;
    let (status, body) = authority.open_session(&app.app_id, &t).await;
    assert_eq!(reason(status, &body), "nonce_unknown");
}

/// Opens a session with a user whose session insert the database refuses,
/// then lifts the fault and sends the same token again.
async fn fault_leaves_the_nonce_redeemable(
    authority: &Authority,
    inject: impl std::future::Future<Output = ()>,
    lift: impl std::future::Future<Output = ()>,
) {
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let nonce = authority.nonce(Some(&app.app_id)).await;
    let t = token(&signer, &claims(app.provider_id, "fault", &nonce)).await;
    inject.await;
    let (status, body) = authority.open_session(&app.app_id, &t).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["id"], "service_unavailable");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("the nonce was not used"),
        "{body}"
    );
    lift.await;
    let (status, body) = authority.open_session(&app.app_id, &t).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = authority.open_session(&app.app_id, &t).await;
    assert_eq!(reason(status, &body), "nonce_used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_session_write_leaves_the_nonce_redeemable_on_sqlite() {
    let authority = Authority::start().await;
    let url = format!("sqlite://{}", authority.db_path().display());
    let exec = |sql: &'static str| {
        let url = url.clone();
        async move {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    };
    fault_leaves_the_nonce_redeemable(
        &authority,
        exec("CREATE TRIGGER fault BEFORE INSERT ON sessions WHEN NEW.user_id = 'fault' BEGIN SELECT RAISE(ABORT, 'injected fault'); END"),
        exec("DROP TRIGGER fault"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_session_write_leaves_the_nonce_redeemable_on_postgres_with_redis() {
    let db = ScratchDatabase::create().await;
    let authority = Authority::start_with(|c| {
        c.database_url = db.url.clone();
        nonces_in_redis(c);
    })
    .await;
    let exec = |sql: &'static str| {
        let url = db.url.clone();
        async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
    };
    fault_leaves_the_nonce_redeemable(
        &authority,
        exec(
            "CREATE FUNCTION fault() RETURNS trigger AS $$ BEGIN
                 IF NEW.user_id = 'fault' THEN RAISE EXCEPTION 'injected fault'; END IF;
                 RETURN NEW; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER fault BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION fault();",
        ),
        exec("DROP TRIGGER fault ON sessions; DROP FUNCTION fault();"),
    )
    .await;
}
