//! PostgreSQL's way of writing sessions: redemptions waiting at the same
//! moment sent as one statement ([`batches`], [`statements`]), a
//! deauthentication and its event as one statement on the pool.
//!
//! Imported by `sql/` only (which chooses it for PostgreSQL); imports the
//! store's records, `tables` and `writes`.

mod batches;
mod statements;

use async_trait::async_trait;
use sqlx::{AnyPool, Row as _};

use super::tables::bind_event;
use super::writes::{Redemption, SessionWrites};
use super::{AuditEvent, Opened, Result, SessionTokenHash};
use batches::Batches;

/// Sessions written on PostgreSQL.
#[derive(Debug, Clone)]
pub(crate) struct Postgres {
    batches: Batches,
    pool: AnyPool,
}

impl Postgres {
    /// Starts the batch senders on `pool` (migrated).
    pub fn start(pool: AnyPool) -> Self {
        Self {
            batches: Batches::start(pool.clone()),
            pool,
        }
    }
}

#[async_trait]
impl SessionWrites for Postgres {
    async fn redeem(&self, redemption: Redemption) -> Result<Opened> {
        self.batches.redeem(redemption).await
    }

    async fn delete(&self, token_hash: &SessionTokenHash, event: &AuditEvent) -> Result<bool> {
        let query = sqlx::query(statements::DELETE_SESSION_PG).bind(&token_hash.as_bytes()[..]);
        let row = bind_event(query, event).fetch_one(&self.pool).await?;
        Ok(row.try_get::<bool, _>("deleted")?)
    }
}
