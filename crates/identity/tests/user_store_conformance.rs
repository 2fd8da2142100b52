//! One conformance suite for the built-in user store on each engine: SQLite
//! and PostgreSQL. `scripts/test` gives each run its own PostgreSQL database
//! (`TESSERA_TEST_POSTGRES_URL`); without it the PostgreSQL test fails.

use std::sync::Arc;

use tessera_api::sql::{PoolSettings, SchemaTooNew};
use tessera_claims::{Profile, UserId};
use tessera_identity::{
    CredentialVerifier, PasswordParams, Passwords, UserStore, UserStoreError, VerifiedUser,
    POSTGRES_SCHEMA,
};

fn passwords() -> Passwords {
    Passwords::new(PasswordParams::default()).unwrap()
}

async fn connect(url: &str) -> UserStore {
    UserStore::connect(url, 4, passwords()).await.unwrap()
}

/// A username no other test of this run uses (the PostgreSQL database is shared).
fn unique(name: &str) -> String {
    let mut r = [0u8; 6];
    aws_lc_rs::rand::fill(&mut r).unwrap();
    let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
    format!("{name}-{hex}")
}

/// A store at `url` holding two fresh users.
struct Users {
    store: UserStore,
    alice: String,
    bob: String,
    alice_id: UserId,
    profile: Profile,
}

async fn users(url: &str) -> Users {
    let store = connect(url).await;
    let (alice, bob) = (unique("alice"), unique("bob"));
    let alice_id = UserId::new(unique("user-alice")).unwrap();
    let profile = Profile {
        first_name: Some("Alice".into()),
        last_name: Some("Ångström".into()),
        display_name: Some("Alice Å.".into()),
        avatar_url: Some("https://example.com/a.png".into()),
    };
    store
        .add(&alice, &alice_id, "correct horse", &profile)
        .await
        .unwrap();
    let bob_id = UserId::new(unique("user-bob")).unwrap();
    store
        .add(&bob, &bob_id, "battery staple", &Profile::default())
        .await
        .unwrap();
    Users {
        store,
        alice,
        bob,
        alice_id,
        profile,
    }
}

/// Right, wrong and unknown credentials.
async fn credentials(url: &str) {
    let Users {
        store,
        alice,
        bob,
        alice_id,
        profile,
    } = users(url).await;
    assert_eq!(
        store.verify(&alice, "correct horse").await.unwrap(),
        Some(VerifiedUser {
            user_id: alice_id,
            profile,
        })
    );
    assert_eq!(store.verify(&alice, "correct horse ").await.unwrap(), None);
    assert_eq!(store.verify(&alice, "battery staple").await.unwrap(), None);
    let nobody = unique("nobody");
    assert_eq!(store.verify(&nobody, "correct horse").await.unwrap(), None);
    let bob = store.verify(&bob, "battery staple").await.unwrap();
    assert_eq!(bob.map(|u| u.profile), Some(Profile::default()));
}

/// Taken usernames and user ids are refused.
async fn conflicts(url: &str) {
    let Users {
        store,
        alice,
        alice_id,
        ..
    } = users(url).await;
    let other_id = UserId::new(unique("other")).unwrap();
    let none = Profile::default();
    let taken_name = store.add(&alice, &other_id, "x-password", &none).await;
    assert!(matches!(taken_name, Err(UserStoreError::Conflict)));
    let taken_id = store
        .add(&unique("carol"), &alice_id, "x-password", &none)
        .await;
    assert!(matches!(taken_id, Err(UserStoreError::Conflict)));
}

/// Listing, ordered by username.
async fn listing(url: &str) {
    let Users {
        store,
        alice,
        bob,
        alice_id,
        profile,
    } = users(url).await;
    let listed: Vec<_> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.username == alice || u.username == bob)
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].username, alice);
    assert_eq!(listed[0].user_id, alice_id);
    assert_eq!(listed[0].profile, profile);
    assert_eq!(listed[1].username, bob);
}

/// A new password replaces the old one.
async fn password_change(url: &str) {
    let Users { store, alice, .. } = users(url).await;
    store.set_password(&alice, "new horse").await.unwrap();
    assert_eq!(store.verify(&alice, "correct horse").await.unwrap(), None);
    assert!(store.verify(&alice, "new horse").await.unwrap().is_some());
    assert!(matches!(
        store.set_password(&unique("nobody"), "x-password").await,
        Err(UserStoreError::NotFound)
    ));
}

/// Concurrent checks all answer, right and wrong ones alike.
async fn concurrent_checks(url: &str) {
    let Users { store, bob, .. } = users(url).await;
    let store = Arc::new(store);
    let checks: Vec<_> = (0..12)
        .map(|i| {
            let (store, name) = (store.clone(), bob.clone());
            let password = if i % 2 == 0 {
                "battery staple"
            } else {
                "wrong"
            };
            tokio::spawn(async move { store.verify(&name, password).await.unwrap().is_some() })
        })
        .collect();
    for (i, check) in checks.into_iter().enumerate() {
        assert_eq!(check.await.unwrap(), i % 2 == 0);
    }
}

/// What one connection writes, another (another instance) sees; removal.
async fn second_connection_and_removal(url: &str) {
    let Users {
        store, alice, bob, ..
    } = users(url).await;
    let other = connect(url).await;
    assert!(other
        .verify(&alice, "correct horse")
        .await
        .unwrap()
        .is_some());
    store.remove(&bob).await.unwrap();
    assert_eq!(other.verify(&bob, "battery staple").await.unwrap(), None);
    assert!(matches!(
        store.remove(&bob).await,
        Err(UserStoreError::NotFound)
    ));
    store.remove(&alice).await.unwrap();
}

/// A fresh SQLite file (kept while the directory lives).
fn sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("users.db").display());
    (dir, url)
}

fn postgres() -> String {
    tessera_tests::env("TESSERA_TEST_POSTGRES_URL")
}

#[tokio::test]
async fn credentials_on_sqlite() {
    let (_dir, url) = sqlite();
    credentials(&url).await;
}

#[tokio::test]
async fn credentials_on_postgres() {
    credentials(&postgres()).await;
}

#[tokio::test]
async fn conflicts_on_sqlite() {
    let (_dir, url) = sqlite();
    conflicts(&url).await;
}

#[tokio::test]
async fn conflicts_on_postgres() {
    conflicts(&postgres()).await;
}

#[tokio::test]
async fn listing_on_sqlite() {
    let (_dir, url) = sqlite();
    listing(&url).await;
}

#[tokio::test]
async fn listing_on_postgres() {
    listing(&postgres()).await;
}

#[tokio::test]
async fn password_change_on_sqlite() {
    let (_dir, url) = sqlite();
    password_change(&url).await;
}

#[tokio::test]
async fn password_change_on_postgres() {
    password_change(&postgres()).await;
}

#[tokio::test]
async fn concurrent_checks_on_sqlite() {
    let (_dir, url) = sqlite();
    concurrent_checks(&url).await;
}

#[tokio::test]
async fn concurrent_checks_on_postgres() {
    concurrent_checks(&postgres()).await;
}

#[tokio::test]
async fn second_connection_and_removal_on_sqlite() {
    let (_dir, url) = sqlite();
    second_connection_and_removal(&url).await;
}

#[tokio::test]
async fn second_connection_and_removal_on_postgres() {
    second_connection_and_removal(&postgres()).await;
}

#[tokio::test]
async fn instances_starting_together_on_postgres_all_open() {
    let url = postgres();
    let opening: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { UserStore::connect(&url, 2, passwords()).await })
        })
        .collect();
    for store in opening {
        store.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn an_unknown_scheme_is_refused() {
    let err = UserStore::connect("mysql://localhost/users", 1, passwords())
        .await
        .unwrap_err();
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        source
            .as_deref()
            .is_some_and(|s| s.contains("sqlite:// or postgres://")),
        "{err}: {source:?}"
    );
}

/// A database holding a migration this build does not know (a newer
/// Tessera migrated it) is refused, naming both versions, on both engines.
async fn newer_schema_is_refused(url: &str, mark_newer: &str) {
    let store = connect(url).await;
    assert_eq!(store.schema_version().await.unwrap(), 1);
    drop(store);
    // The same pools the store opens (on PostgreSQL, in its schema).
    let settings = PoolSettings {
        max_connections: 1,
        postgres_schema: Some(POSTGRES_SCHEMA),
        sqlite_synchronous: tessera_api::sql::Synchronous::Normal,
    };
    let pools = tessera_api::sql::connect(url, settings).await.unwrap();
    sqlx::query(mark_newer)
        .execute(&pools.writer)
        .await
        .unwrap();
    pools.writer.close().await;
    let err = UserStore::connect(url, 2, passwords()).await.unwrap_err();
    assert!(
        matches!(
            err,
            UserStoreError::SchemaTooNew(SchemaTooNew {
                found: 20_991_231_000_000,
                known: 1
            })
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("newer than this tessera knows"),
        "{err}"
    );
}

const FUTURE_MIGRATION: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (20991231000000, 'from a newer tessera', TRUE, {checksum}, 0)";

#[tokio::test]
async fn a_newer_sqlite_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("users.db").display());
    newer_schema_is_refused(&url, &FUTURE_MIGRATION.replace("{checksum}", "x'00'")).await;
}

#[tokio::test]
async fn a_newer_postgres_schema_is_refused() {
    let db = tessera_tests::ScratchDatabase::create().await;
    newer_schema_is_refused(&db.url, &FUTURE_MIGRATION.replace("{checksum}", "'\\x00'")).await;
}
