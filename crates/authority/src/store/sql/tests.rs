//! The SQL store's own tests: its statements' plans.

use super::database::PURGE_USED_NONCES;
use super::sessions::{SESSION, SESSIONS_OF_USER, TOUCH_SESSION};
use super::*;
use crate::store::tables::DELETE_SESSION;

/// What an authenticated request costs: the session lookup, its
/// once-a-minute touch and a deauthentication each find their row by
/// an index, never by scanning sessions.
#[tokio::test]
async fn session_statements_use_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let store = SqlStore::connect(&url, 1).await.unwrap();
    for statement in [SESSION, TOUCH_SESSION, DELETE_SESSION, SESSIONS_OF_USER] {
        let steps = query_plan(&store, statement).await;
        assert!(
            steps.iter().all(|s| !s.starts_with("SCAN")),
            "{statement}: {steps:?}"
        );
        assert!(
            steps
                .iter()
                .any(|s| s.starts_with("SEARCH s ") || s.starts_with("SEARCH sessions ")),
            "{statement}: {steps:?}"
        );
    }
}

/// The steps of SQLite's plan for `statement`.
async fn query_plan(store: &SqlStore, statement: &str) -> Vec<String> {
    let plan: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(&format!("EXPLAIN QUERY PLAN {statement}"))
            .fetch_all(&store.reader)
            .await
            .unwrap();
    plan.into_iter().map(|p| p.3).collect()
}

/// Used nonces are keyed by expiry first: marking one appends to the
/// table's end, and the purge deletes a range of that key, with no
/// second index to keep.
#[tokio::test]
async fn used_nonces_are_kept_in_expiry_order() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let store = SqlStore::connect(&url, 1).await.unwrap();
    let steps = query_plan(&store, PURGE_USED_NONCES).await;
    assert_eq!(
        steps,
        ["SEARCH used_nonces USING PRIMARY KEY (expires_at<?)"],
        "{steps:?}"
    );
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'used_nonces'",
    )
    .fetch_all(&store.reader)
    .await
    .unwrap();
    // A WITHOUT ROWID table's key is the table itself.
    assert!(indexes.is_empty(), "{indexes:?}");
}
