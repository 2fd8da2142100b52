//! The PostgreSQL write path of the session routes: redemptions waiting at
//! the same moment go to the database together, as one statement
//! ([`REDEEM_PG`](super::sql)), so that they share one round trip, one
//! executor start and one commit, where each alone would pay for its own. A
//! few tasks take turns at the queue, each sending what gathered while the
//! others' statements ran: on an idle store a redemption goes alone and at
//! once.
//!
//! A statement writes all of its redemptions or none. When one fails for a
//! reason of its own (a taken token digest, a value the database refuses),
//! its redemptions are sent again one by one, so that only that caller
//! hears the error; when the database cannot be reached, all of them hear
//! it. Redemptions whose callers have gone before their statement is sent
//! are not written.

use std::collections::HashSet;
use std::error::Error;
use std::sync::Arc;

use sqlx::AnyPool;
use tessera_claims::{AppId, Profile, UserId};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::sql::redeem_all;
use super::{
    AuditEvent, IdentityRecord, NonceHash, Result, SessionRecord, SessionRefusal, StoreError,
    UsedNonce,
};

/// Tasks sending statements. Each holds one of the pool's connections only
/// while its statement runs.
const SENDERS: usize = 2;

/// Most redemptions in one statement.
const MAX_BATCH: usize = 64;

/// Redemptions that may wait for a sender; more wait to be queued.
const QUEUE: usize = 4096;

/// What a redemption came to: the user's identity, or why no session was
/// opened.
pub(super) type Redeemed = std::result::Result<IdentityRecord, SessionRefusal>;

/// The writes of one `POST /sessions`.
pub(super) struct Redemption {
    /// The nonce to mark used; `None` when used nonces are kept elsewhere.
    pub nonce: Option<UsedNonce>,
    /// The session to open.
    pub session: SessionRecord,
    /// The token's profile claims, merged into the identity.
    pub profile: Profile,
    /// The event to record.
    pub event: AuditEvent,
}

impl Redemption {
    pub fn new(
        nonce: Option<UsedNonce>,
        session: &SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
    ) -> Self {
        Self {
            nonce,
            session: session.clone(),
            profile: profile.clone(),
            event: event.clone(),
        }
    }
}

/// A redemption and where its answer goes.
struct Job {
    redemption: Redemption,
    reply: oneshot::Sender<Result<Redeemed>>,
}

/// The senders' queue.
#[derive(Debug, Clone)]
pub(super) struct Redeemer {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

impl Redeemer {
    /// Starts the senders on `pool` (a PostgreSQL database, migrated). They
    /// stop when the last [`Redeemer`] is dropped.
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
    pub async fn redeem(&self, redemption: Redemption) -> Result<Redeemed> {
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
        answer(&pool, round).await;
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
        let nonce = r.nonce.map(|n| n.hash);
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

/// Writes one round in one statement and answers its callers.
async fn answer(pool: &AnyPool, round: Vec<Job>) {
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
        Err(StoreError::Unavailable(source)) => {
            let source: Arc<dyn Error + Send + Sync> = Arc::from(source);
            for job in round {
                let _ = job
                    .reply
                    .send(Err(StoreError::Unavailable(Box::new(source.clone()))));
            }
        }
        Err(e) if round.len() == 1 => {
            if let Some(job) = round.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
        Err(_) => {
            for job in round {
                let outcome = redeem_all(pool, &[&job.redemption])
                    .await
                    .and_then(|outcomes| {
                        outcomes.into_iter().next().ok_or_else(|| {
                            StoreError::Corrupt("a redemption without its row".into())
                        })
                    });
                let _ = job.reply.send(outcome);
            }
        }
    }
}
