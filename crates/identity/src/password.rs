//! Password hashing with argon2id; verification of unknown users costs the
//! same as of known ones. Verifications run on a fixed pool of worker
//! threads, each reusing one memory buffer (memory stays flat however many
//! logins fail), behind a bounded queue: when it is full the caller hears
//! [`Busy`] at once instead of waiting.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde::Deserialize;

/// argon2id cost parameters. The defaults are OWASP's minimum for argon2id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordParams {
    /// Memory in KiB (default 19456, 19 MiB).
    pub memory_kib: u32,
    /// Passes (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
    /// Worker threads verifying passwords (0: one per core).
    pub workers: usize,
    /// Verifications that may wait for a worker; more are refused at once
    /// (503 with `Retry-After`).
    pub queue: usize,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            workers: 0,
            queue: 32,
        }
    }
}

/// Every worker is busy and the queue is full: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks in progress")]
pub struct Busy;

/// A password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// Hashes new passwords and verifies presented ones.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    dummy_hash: String,
    pool: Option<Arc<Pool>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    /// Checks the parameters and prepares the dummy hash used for unknown users.
    pub fn new(params: PasswordParams) -> Result<Self, PasswordError> {
        if params.queue > 100_000 || params.workers > 1024 {
            return Err(PasswordError(
                "password.workers must be at most 1024 and password.queue at most 100000".into(),
            ));
        }
        if params.memory_kib < 19_456 || params.iterations < 2 {
            return Err(PasswordError(
                "argon2id parameters below OWASP's minimum (memory_kib ≥ 19456, iterations ≥ 2)"
                    .into(),
            ));
        }
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| PasswordError(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let mut this = Self {
            argon2,
            dummy_hash: String::new(),
            pool: None,
        };
        let mut random = [0u8; 24];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| PasswordError("no randomness".into()))?;
        this.dummy_hash = this.hash(&format!("{random:?}"))?;
        let workers = match params.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        this.pool = Some(Arc::new(Pool::start(this.clone(), workers, params.queue)?));
        Ok(this)
    }

    /// Verifies on the worker pool: `Err(Busy)` at once when its queue is full.
    pub async fn verify_pooled(
        &self,
        stored: Option<String>,
        password: String,
    ) -> Result<bool, Busy> {
        let Some(pool) = &self.pool else {
            return Ok(self.verify(stored.as_deref(), &password));
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        pool.jobs
            .try_send(Job {
                stored,
                password,
                answer: tx,
            })
            .map_err(|e| match e {
                TrySendError::Full(_) | TrySendError::Disconnected(_) => Busy,
            })?;
        rx.await.map_err(|_| Busy)
    }

    /// Like [`Passwords::verify`], computing in `memory` (grown as needed and
    /// kept by the caller, so that no 19 MiB buffer is allocated per call).
    pub fn verify_in(&self, stored: Option<&str>, password: &str, memory: &mut Vec<Block>) -> bool {
        let (hash, known) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash.as_str(), false),
        };
        match argon2id_matches(hash, password, memory) {
            Some(ok) => ok && known,
            None => {
                // A corrupt stored hash: still spend the time, then refuse.
                let _ = self.verify_in(None, password, memory);
                false
            }
        }
    }

    /// An argon2id PHC string for a new password, with a random salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError("no randomness".into()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError(e.to_string()))?;
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError(e.to_string()))
    }

    /// Whether `password` matches `stored` (constant-time comparison). With no
    /// stored hash (unknown user) a dummy hash is checked, so that both cases
    /// take the same time; the answer is then always `false`.
    pub fn verify(&self, stored: Option<&str>, password: &str) -> bool {
        self.verify_in(stored, password, &mut Vec::new())
    }
}

/// Whether `password` matches the argon2id PHC string `hash`; `None` when
/// the string is not a usable argon2id hash.
fn argon2id_matches(hash: &str, password: &str, memory: &mut Vec<Block>) -> Option<bool> {
    let parsed = PasswordHash::new(hash).ok()?;
    if Algorithm::try_from(parsed.algorithm).ok()? != Algorithm::Argon2id {
        return None;
    }
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::V0x13,
    };
    let params = Params::try_from(&parsed).ok()?;
    let expected = parsed.hash?;
    let mut salt = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
    let mut out = vec![0u8; expected.len()];
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::new());
    }
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params.clone());
    argon2
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            &mut memory[..params.block_count()],
        )
        .ok()?;
    Some(aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected.as_bytes()).is_ok())
}

struct Job {
    stored: Option<String>,
    password: String,
    answer: tokio::sync::oneshot::Sender<bool>,
}

/// Worker threads, each with its own argon2 memory, fed by a bounded queue.
struct Pool {
    jobs: SyncSender<Job>,
}

impl Pool {
    fn start(passwords: Passwords, workers: usize, queue: usize) -> Result<Self, PasswordError> {
        let (jobs, inbox) = sync_channel::<Job>(queue);
        let inbox = Arc::new(Mutex::new(inbox));
        for i in 0..workers.max(1) {
            let (passwords, inbox) = (passwords.clone(), inbox.clone());
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&passwords, &inbox))
                .map_err(|e| PasswordError(format!("cannot start a password worker: {e}")))?;
        }
        Ok(Self { jobs })
    }
}

/// A worker: one job at a time, in one buffer, until the pool is dropped.
fn work(passwords: &Passwords, inbox: &Mutex<Receiver<Job>>) {
    let mut memory = Vec::new();
    loop {
        let job = match inbox.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let ok = passwords.verify_in(job.stored.as_deref(), &job.password, &mut memory);
        let _ = job.answer.send(ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let p = Passwords::new(PasswordParams::default()).unwrap();
        let h = p.hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(p.verify(Some(&h), "correct horse"));
        assert!(!p.verify(Some(&h), "correct horse "));
        assert!(!p.verify(None, "correct horse"));
        assert!(!p.verify(Some("garbage"), "x"));
        assert_ne!(h, p.hash("correct horse").unwrap(), "salts must differ");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pool_verifies_and_refuses_at_once_when_its_queue_is_full() {
        let p = Passwords::new(PasswordParams {
            workers: 1,
            queue: 1,
            ..PasswordParams::default()
        })
        .unwrap();
        let h = p.hash("pw").unwrap();
        assert_eq!(
            p.verify_pooled(Some(h.clone()), "pw".into()).await,
            Ok(true)
        );
        assert_eq!(
            p.verify_pooled(Some(h.clone()), "no".into()).await,
            Ok(false)
        );
        assert_eq!(p.verify_pooled(None, "pw".into()).await, Ok(false));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (p, h) = (p.clone(), h.clone());
            tasks.push(tokio::spawn(async move {
                p.verify_pooled(Some(h), "pw".into()).await
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        assert!(answers.contains(&Err(Busy)), "{answers:?}");
        assert!(answers.contains(&Ok(true)), "{answers:?}");
        assert!(answers.iter().all(|a| *a != Ok(false)));
    }

    #[test]
    fn one_buffer_serves_every_verification() {
        let p = Passwords::new(PasswordParams::default()).unwrap();
        let h = p.hash("pw").unwrap();
        let mut memory = Vec::new();
        assert!(p.verify_in(Some(&h), "pw", &mut memory));
        let size = memory.len();
        assert_eq!(size, 19_456);
        assert!(!p.verify_in(Some(&h), "px", &mut memory));
        assert!(!p.verify_in(
            Some("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA"),
            "pw",
            &mut memory
        ));
        assert_eq!(memory.len(), size);
    }

    #[test]
    fn weak_parameters_are_refused() {
        let weak = PasswordParams {
            memory_kib: 4096,
            ..PasswordParams::default()
        };
        assert!(Passwords::new(weak).is_err());
    }
}
