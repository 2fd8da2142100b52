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
