//! Apps and their providers' keys.

use async_trait::async_trait;
use tessera_claims::{AppId, KeyId, ProviderId};

use super::{App, AppChange, AuditEvent, KeyRecord, Result};

/// Apps and the public keys of their providers.
///
/// # Contract
/// Every method is atomic. `create_app` and `add_key` refuse taken ids with
/// [`StoreError::Conflict`](super::StoreError::Conflict). A method taking an
/// [`AuditEvent`] writes it in the same transaction as its change, and only
/// when something changed. Checked by
/// [`conformance::apps`](super::conformance::apps).
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Adds an app; its app id and provider id must both be free.
    async fn create_app(&self, app: &App, event: &AuditEvent) -> Result<()>;
    /// The app with this id.
    async fn app(&self, app_id: &AppId) -> Result<Option<App>>;
    /// Every app, by app id.
    async fn apps(&self) -> Result<Vec<App>>;
    /// At most `limit` apps by app id, those after `after` when given.
    async fn apps_page(&self, after: Option<&AppId>, limit: u32) -> Result<Vec<App>>;
    /// Changes an app; the app as it is now, `None` if no such app.
    async fn update_app(
        &self,
        app_id: &AppId,
        change: &AppChange,
        event: &AuditEvent,
    ) -> Result<Option<App>>;
    /// Registers a key for a provider; its kid must be free.
    async fn add_key(&self, key: &KeyRecord, event: &AuditEvent) -> Result<()>;
    /// The key with this id.
    async fn key(&self, kid: &KeyId) -> Result<Option<KeyRecord>>;
    /// Every key of a provider, revoked ones included.
    async fn keys_of_provider(&self, provider_id: &ProviderId) -> Result<Vec<KeyRecord>>;
    /// Marks a key revoked; `None` if no such key. Revoking twice keeps the
    /// first time (and records nothing).
    async fn revoke_key(
        &self,
        kid: &KeyId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<Option<ProviderId>>;
}
