//! SQLite's way of writing sessions: a thread of its own that owns a
//! connection to the file and commits concurrent work together
//! ([`writer`]), and the statements it runs there ([`statements`]).
//!
//! Imported by `sql/` only (which chooses it for a SQLite file); imports
//! the store's records, `tables` and `writes`.

mod statements;
mod writer;

use async_trait::async_trait;

pub(crate) use writer::Writer;

use super::writes::{Redemption, SessionWrites};
use super::{AuditEvent, Opened, Result, SessionTokenHash};

#[async_trait]
impl SessionWrites for Writer {
    async fn redeem(&self, redemption: Redemption) -> Result<Opened> {
        self.run(move |conn| statements::redeem_on(conn, &redemption))
            .await
    }

    async fn delete(&self, token_hash: &SessionTokenHash, event: &AuditEvent) -> Result<bool> {
        let (token_hash, event) = (*token_hash, event.clone());
        self.run(move |conn| statements::delete_on(conn, &token_hash, &event))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tessera_api::sql::Synchronous;
    use tessera_claims::{Profile, UserId};

    use super::*;
    use crate::store::fixtures::{app_in, opened as event, outcomes, random, session};
    use crate::store::prelude::*;
    use crate::store::{NonceHash, SessionRefusal, SqlStore, UsedNonce};

    /// Three redemptions committed in one batch, the middle one's session
    /// write failing (its token hash is taken): it alone hears an error,
    /// its nonce is not burnt, and the other two get their sessions.
    #[tokio::test]
    async fn one_failed_write_in_a_batch_fails_only_its_request() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = Arc::new(SqlStore::connect(&url, 2).await.unwrap());
        let app = app_in(store.as_ref()).await;
        let taken = SessionTokenHash::from_bytes(random());
        let profile = Profile::default();
        store
            .open_session(&session(&app, "first", taken), &profile, &event(&app))
            .await
            .unwrap()
            .unwrap();

        // Hold the writer's thread until all three wait in its queue.
        // A writer of the test's own on the file, to hold.
        let writer = Writer::open(&dir.path().join("a.db"), Synchronous::Normal).unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let blocker = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .run(move |_| {
                        let _ = started.send(());
                        held.recv().unwrap();
                        Ok((true, ()))
                    })
                    .await
            }
        });
        running.await.unwrap();
        let nonces: Vec<UsedNonce> = (0..3)
            .map(|_| UsedNonce {
                hash: NonceHash::from_bytes(random()),
                expires_at: 2_000,
            })
            .collect();
        let hashes = [
            SessionTokenHash::from_bytes(random()),
            taken,
            SessionTokenHash::from_bytes(random()),
        ];
        let mut requests = Vec::new();
        for (i, (nonce, hash)) in nonces.iter().zip(hashes).enumerate() {
            let (writer, nonce, app_id) = (writer.clone(), *nonce, app);
            requests.push(tokio::spawn(async move {
                let s = session(&app_id, &format!("user-{i}"), hash);
                let r = Redemption::new(Some(&nonce), &s, &Profile::default(), &event(&app_id));
                writer.redeem(r).await
            }));
        }
        while writer.queued() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        let mut answers = Vec::new();
        for r in requests {
            answers.push(r.await.unwrap());
        }
        assert_eq!(outcomes(&answers), ["opened", "conflict", "opened"]);
        for (user, expected) in [("user-0", 1), ("user-1", 0), ("user-2", 1)] {
            let sessions = store
                .sessions_of_user(&app, &UserId::new(user).unwrap(), 1_500, 10)
                .await
                .unwrap();
            assert_eq!(sessions.len(), expected, "{user}");
        }
        // The failed request's nonce was rolled back with it: still usable.
        let again = session(&app, "user-1", SessionTokenHash::from_bytes(random()));
        let retried = store
            .redeem(&nonces[1], &again, &Profile::default(), &event(&app))
            .await
            .unwrap();
        assert!(retried.is_ok(), "{retried:?}");
        // The others' nonces were used.
        let reused = store
            .redeem(&nonces[0], &again, &Profile::default(), &event(&app))
            .await
            .unwrap();
        assert_eq!(reused.unwrap_err(), SessionRefusal::NonceUsed);
    }
}
