//! Used-nonce marks in Redis, for several authority instances: `SET NX`
//! with a time to live past the nonce's expiry, each mark a random value
//! so that taking it back removes only the mark this instance set.

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use redis::aio::ConnectionManager;
use redis::Script;

use super::{Marker, NonceHash, NonceStore, Result, StoreError, UsedNonce};

/// How long a mark outlives its nonce's expiry (Redis keeps its own clock).
const GRACE_SECS: i64 = 120;

/// Deletes the key only if it still holds this instance's mark.
const UNMARK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// The Redis nonce store.
#[derive(Clone)]
pub struct RedisNonceStore {
    conn: ConnectionManager,
    prefix: String,
    unmark: Script,
}

impl std::fmt::Debug for RedisNonceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisNonceStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

/// A command's failure: refused connections sent nothing; any other
/// failure may have come after Redis applied the command.
fn sent(e: redis::RedisError) -> StoreError {
    if e.is_connection_refusal() {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::OutcomeUnknown(Box::new(e))
    }
}

impl RedisNonceStore {
    /// Connects to `url` (`redis://host:port/db`); keys start with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let conn = ConnectionManager::new(client).await.map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            unmark: Script::new(UNMARK),
        })
    }

    fn key(&self, nonce: &NonceHash) -> String {
        let hex: String = nonce
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}used-nonce:{hex}", self.prefix)
    }
}

/// Redis would drop used-nonce marks before they expire: their keys carry
/// a time to live, so every eviction policy but `noeviction` may take them
/// (`volatile-*` evicts exactly such keys), and a nonce whose mark is gone
/// could be replayed once its session has ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Redis has `maxmemory-policy {policy}`, which can evict used-nonce marks before they expire; set `maxmemory-policy noeviction` (and give Redis memory for ten minutes of logins)")]
pub struct EvictingRedis {
    /// The policy found.
    pub policy: String,
}

/// What Redis says of the settings that matter to used-nonce marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `maxmemory-policy`; `None` where `CONFIG` is not allowed.
    pub maxmemory_policy: Option<String>,
    /// Whether Redis keeps its data on disk (RDB snapshots or the AOF);
    /// `None` where `CONFIG` is not allowed.
    pub persistent: Option<bool>,
}

impl RedisSettings {
    /// Refuses a policy that can evict the marks.
    pub fn check(&self) -> std::result::Result<(), EvictingRedis> {
        match self.maxmemory_policy.as_deref() {
            None | Some("noeviction") => Ok(()),
            Some(policy) => Err(EvictingRedis {
                policy: policy.to_owned(),
            }),
        }
    }
}

impl RedisNonceStore {
    /// Reads `maxmemory-policy`, `save` and `appendonly` (`CONFIG GET`);
    /// where `CONFIG` is refused (managed services often rename it), the
    /// settings are unknown.
    pub async fn settings(&self) -> Result<RedisSettings> {
        let policy = self.config("maxmemory-policy").await?;
        let save = self.config("save").await?;
        let appendonly = self.config("appendonly").await?;
        let persistent = match (save, appendonly) {
            (Some(save), Some(aof)) => Some(!save.trim().is_empty() || aof == "yes"),
            _ => None,
        };
        Ok(RedisSettings {
            maxmemory_policy: policy,
            persistent,
        })
    }

    /// One setting; `None` when Redis refuses `CONFIG GET`.
    async fn config(&self, name: &str) -> Result<Option<String>> {
        let reply: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query_async(&mut self.conn.clone())
            .await;
        match reply {
            Ok(pair) => Ok(pair.get(1).cloned()),
            Err(e) if matches!(e.kind(), redis::ErrorKind::Server(_)) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl NonceStore for RedisNonceStore {
    async fn mark_used(&self, nonce: &UsedNonce, now: i64) -> Result<Option<Marker>> {
        let mut value = [0u8; 16];
        aws_lc_rs::rand::fill(&mut value).expect("the system random number generator failed");
        let marker = Marker(URL_SAFE_NO_PAD.encode(value));
        let ttl = (nonce.expires_at - now).max(1) + GRACE_SECS;
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(&nonce.hash))
            .arg(&marker.0)
            .arg("NX")
            .arg("EX")
            .arg(ttl)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(sent)?;
        Ok(set.map(|_| marker))
    }

    async fn unmark(&self, nonce: &UsedNonce, marker: &Marker) -> Result<()> {
        let _: i64 = self
            .unmark
            .key(self.key(&nonce.hash))
            .arg(&marker.0)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
