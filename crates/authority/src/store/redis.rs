//! Nonces in Redis, for several authority instances: issued with
//! `SET NX EX`, consumed atomically by a Lua script that leaves a used-marker
//! until the nonce's expiry has been reported for a while.

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;
use tessera_claims::AppId;

use super::{NonceHash, NonceRefusal, NonceStore, Purged, Result, StoreError};

/// How long a nonce's key outlives its expiry, so that a late answer hears
/// `nonce_expired` (or `nonce_used`) rather than `nonce_unknown`.
const REPORT_GRACE_SECS: i64 = 600;

/// Values are `u|<expires_at>|<app or *>` (unused) or `x|…` (used).
const CONSUME: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local state, expires, app = string.match(v, '^(%a)|(%-?%d+)|(.*)$')
if not state then return 0 end
if app ~= '*' and app ~= ARGV[2] then return 0 end
if tonumber(ARGV[1]) >= tonumber(expires) then return 3 end
if state == 'x' then return 2 end
redis.call('SET', KEYS[1], 'x|' .. expires .. '|' .. app, 'KEEPTTL')
return 1
";

/// The Redis nonce store.
#[derive(Clone)]
pub struct RedisNonceStore {
    conn: ConnectionManager,
    prefix: String,
    consume: Script,
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

impl RedisNonceStore {
    /// Connects to `url` (`redis://host:port/db`); keys start with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let conn = ConnectionManager::new(client).await.map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            consume: Script::new(CONSUME),
        })
    }

    fn key(&self, nonce: &NonceHash) -> String {
        let hex: String = nonce
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}nonce:{hex}", self.prefix)
    }
}

#[async_trait]
impl NonceStore for RedisNonceStore {
    async fn issue(
        &self,
        nonce: &NonceHash,
        app_id: Option<&AppId>,
        expires_at: i64,
    ) -> Result<()> {
        let app = app_id.map_or_else(|| "*".to_owned(), ToString::to_string);
        // Redis expires keys by its own (real) clock.
        let ttl = (expires_at - tessera_claims::unix_now()).max(1) + REPORT_GRACE_SECS;
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(nonce))
            .arg(format!("u|{expires_at}|{app}"))
            .arg("NX")
            .arg("EX")
            .arg(ttl)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        match set {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict("nonce already issued".into())),
        }
    }

    async fn consume(
        &self,
        nonce: &NonceHash,
        app_id: &AppId,
        now: i64,
    ) -> Result<std::result::Result<(), NonceRefusal>> {
        let outcome: i64 = self
            .consume
            .key(self.key(nonce))
            .arg(now)
            .arg(app_id.to_string())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(match outcome {
            1 => Ok(()),
            2 => Err(NonceRefusal::Used),
            3 => Err(NonceRefusal::Expired),
            _ => Err(NonceRefusal::Unknown),
        })
    }

    /// Redis expires nonces by itself.
    async fn purge_expired_nonces(&self, _now: i64) -> Result<Purged> {
        Ok(Purged::default())
    }
}
