//! PostgreSQL's batched redemptions: redemptions waiting at
//! the same moment go to the database together, as one statement
//! ([`REDEEM_PG`](super::statements::REDEEM_PG)), so that they share one round trip, one
//! executor start and one commit, where each alone would pay for its own. A
//! few tasks take turns at the queue, each sending what gathered while the
//! others' statements ran: on an idle store a redemption goes alone and at
//! once.
//!
//! A statement writes all of its redemptions or none. When one fails for a
//! reason of its own (a taken token digest, a value the database refuses),
//! its redemptions are sent again one by one, so that only that caller
//! hears the error; when the database cannot be reached, all of them hear
//! it, and when the answer was lost (the statement may have committed), all
//! of them hear that, and nothing is sent again. Redemptions whose callers have gone before their statement is sent
//! are not written.

use std::collections::HashSet;
use std::error::Error;
use std::sync::Arc;

use sqlx::AnyPool;
use tessera_claims::{AppId, UserId};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::statements::redeem_all;
use crate::store::writes::Redemption;
use crate::store::{BoxError, NonceHash, Opened, Result, StoreError};

/// Tasks sending statements. Each holds one of the pool's connections only
/// while its statement runs.
const SENDERS: usize = 2;

/// Most redemptions in one statement.
const MAX_BATCH: usize = 64;

/// Redemptions that may wait for a sender; more wait to be queued.
const QUEUE: usize = 4096;

/// A redemption and where its answer goes.
struct Job {
    redemption: Redemption,
    reply: oneshot::Sender<Result<Opened>>,
}

/// The senders' queue.
#[derive(Debug, Clone)]
pub(super) struct Batches {
    queue: mpsc::Sender<Job>,
}

impl Batches {
    /// Starts the senders on `pool` (a PostgreSQL database, migrated). They
    /// stop when the last [`Batches`] is dropped.
    pub fn start(pool: AnyPool) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..SENDERS {
            tokio::spawn(send(pool.clone(), jobs.clone()));
        }
        Self { queue }
    }

    /// Writes `redemption` with whatever else is waiting, answering once
    /// its statement has committed (or failed).
    pub async fn redeem(&self, redemption: Redemption) -> Result<Opened> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { redemption, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the session write path has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Backend("the redemption's statement ended without an answer".into())
        })?
    }
}

/// A sender: takes everything waiting (at most [`MAX_BATCH`]), writes it,
/// answers, and again.
async fn send(pool: AnyPool, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let batch = {
            let mut jobs = jobs.lock().await;
            let Some(first) = jobs.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        // A panic would cost this batch its answers (its callers hear that
        // there was none), never the sender.
        let _ = tokio::spawn(write(pool.clone(), batch)).await;
    }
}

/// Writes a batch in rounds, each without a user or a nonce twice.
async fn write(pool: AnyPool, batch: Vec<Job>) {
    let mut rest: Vec<Job> = batch
        .into_iter()
        .filter(|job| !job.reply.is_closed())
        .collect();
    while !rest.is_empty() {
        let (round, later) = distinct(rest);
        for job in answer(&pool, round).await {
            // A round of one is always answered: nothing comes back.
            answer(&pool, vec![job]).await;
        }
        rest = later;
    }
}

/// Splits `jobs`, in order, into those that make a round (the first of
/// each user and of each nonce) and the rest.
fn distinct(jobs: Vec<Job>) -> (Vec<Job>, Vec<Job>) {
    let mut users: HashSet<(AppId, UserId)> = HashSet::new();
    let mut nonces: HashSet<NonceHash> = HashSet::new();
    let (mut round, mut later) = (Vec::new(), Vec::new());
    for job in jobs {
        let r = &job.redemption;
        let user = (r.session.app_id, r.session.user_id.clone());
        let nonce = r.nonce.map(|n| n.hash).or(r.session.nonce_hash);
        if users.contains(&user) || nonce.is_some_and(|n| nonces.contains(&n)) {
            later.push(job);
        } else {
            users.insert(user);
            nonces.extend(nonce);
            round.push(job);
        }
    }
    (round, later)
}

/// Writes one round in one statement and answers its callers; when the
/// statement failed for a reason of one of several redemptions, answers no
/// one and gives the round back, to be sent again one by one.
async fn answer(pool: &AnyPool, round: Vec<Job>) -> Vec<Job> {
    let written = {
        let redemptions: Vec<&Redemption> = round.iter().map(|job| &job.redemption).collect();
        redeem_all(pool, &redemptions).await
    };
    match written {
        Ok(outcomes) => {
            for (job, outcome) in round.into_iter().zip(outcomes) {
                // A caller that went away no longer needs its answer.
                let _ = job.reply.send(Ok(outcome));
            }
        }
        Err(StoreError::Unavailable(source)) => tell_all(round, source, StoreError::Unavailable),
        // The statement may have committed: sent again, it would find its
        // own writes; every caller hears that the outcome is unknown.
        Err(StoreError::OutcomeUnknown(source)) => {
            tell_all(round, source, StoreError::OutcomeUnknown);
        }
        Err(_) if round.len() > 1 => return round,
        Err(e) => {
            if let Some(job) = round.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
    }
    Vec::new()
}

/// Answers every caller of `round` with the same failure.
fn tell_all(round: Vec<Job>, source: BoxError, failure: fn(BoxError) -> StoreError) {
    let source: Arc<dyn Error + Send + Sync> = Arc::from(source);
    for job in round {
        let _ = job.reply.send(Err(failure(Box::new(source.clone()))));
    }
}

#[cfg(test)]
mod tests {
    use tessera_api::sql::{connect, PoolSettings, Synchronous};
    use tessera_tests::ScratchDatabase;

    use tessera_claims::Profile;

    use super::*;
    use crate::store::fixtures::{app_in, opened, outcomes, random, session};
    use crate::store::prelude::*;
    use crate::store::{SessionRefusal, SessionTokenHash, SqlStore, UsedNonce};

    fn nonce() -> UsedNonce {
        UsedNonce {
            hash: NonceHash::from_bytes(random()),
            expires_at: 2_000,
        }
    }

    fn redemption(app: &AppId, user: &str, nonce: UsedNonce) -> Redemption {
        let token_hash = SessionTokenHash::from_bytes(random());
        let session = session(app, user, token_hash);
        Redemption::new(Some(&nonce), &session, &Profile::default(), &opened(app))
    }

    /// A migrated scratch database with one app, its store and a pool of
    /// its own.
    async fn database() -> (ScratchDatabase, SqlStore, AnyPool, AppId) {
        let db = ScratchDatabase::create().await;
        let store = SqlStore::connect(&db.url, 4).await.unwrap();
        let app = app_in(&store).await;
        let settings = PoolSettings {
            max_connections: 2,
            postgres_schema: None,
            sqlite_synchronous: Synchronous::Normal,
        };
        let pool = connect(&db.url, settings).await.unwrap().writer;
        (db, store, pool, app)
    }

    /// Writes `redemptions` as one batch; the answers in order.
    async fn batch(pool: &AnyPool, redemptions: Vec<Redemption>) -> Vec<Result<Opened>> {
        let (jobs, answers): (Vec<Job>, Vec<_>) = redemptions
            .into_iter()
            .map(|redemption| {
                let (reply, answer) = oneshot::channel();
                (Job { redemption, reply }, answer)
            })
            .unzip();
        write(pool.clone(), jobs).await;
        let mut out = Vec::new();
        for answer in answers {
            out.push(answer.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn one_failed_write_in_a_batch_fails_only_its_request() {
        let (_db, store, pool, app) = database().await;
        let first = redemption(&app, "first", nonce());
        let taken = first.session.token_hash;
        assert!(matches!(&batch(&pool, vec![first]).await[..], [Ok(Ok(_))]));

        let replayed = nonce();
        let mut clash = redemption(&app, "clash", nonce());
        clash.session.token_hash = taken;
        let answers = batch(
            &pool,
            vec![
                redemption(&app, "user-0", replayed),
                clash,
                redemption(&app, "user-1", nonce()),
                // The same user again, and the same nonce again: later rounds.
                redemption(&app, "user-0", nonce()),
                redemption(&app, "user-2", replayed),
            ],
        )
        .await;
        assert_eq!(
            outcomes(&answers),
            ["opened", "conflict", "opened", "opened", "nonce used"]
        );
        let user = |name: &str| UserId::new(name).unwrap();
        let live = |name: &'static str| {
            let store = &store;
            async move {
                store
                    .sessions_of_user(&app, &user(name), 1_500, 10)
                    .await
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(live("user-0").await, 2);
        assert_eq!(live("user-1").await, 1);
        assert_eq!(live("user-2").await, 0);
        assert_eq!(live("clash").await, 0);
    }

    #[tokio::test]
    async fn an_unreachable_database_fails_every_request_of_the_batch() {
        let (_db, _store, pool, app) = database().await;
        pool.close().await;
        let answers = batch(
            &pool,
            vec![
                redemption(&app, "a", nonce()),
                redemption(&app, "b", nonce()),
            ],
        )
        .await;
        for answer in answers {
            assert!(
                matches!(answer, Err(StoreError::Unavailable(_))),
                "{answer:?}"
            );
        }
    }

    /// Concurrent statements lock shared identities and replayed nonces
    /// in one order: thousands of redemptions by five users, a few nonces
    /// replayed among them, and none fails (a deadlock would fail both
    /// statements' callers).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_batches_never_deadlock() {
        let (_db, _store, pool, app) = database().await;
        let redeemer = Batches::start(pool);
        let replayed: Vec<UsedNonce> = (0..8).map(|_| nonce()).collect();
        let mut tasks = Vec::new();
        for i in 0..4000usize {
            let redeemer = redeemer.clone();
            let used = if i % 4 == 0 {
                replayed[(i / 4) % replayed.len()]
            } else {
                nonce()
            };
            let r = redemption(&app, &format!("user-{}", (i * 7) % 5), used);
            tasks.push(tokio::spawn(async move { redeemer.redeem(r).await }));
        }
        let (mut opened, mut refused) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(Ok(_)) => opened += 1,
                Ok(Err(SessionRefusal::NonceUsed)) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((opened, refused), (3000 + 8, 1000 - 8));
    }
}
