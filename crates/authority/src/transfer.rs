//! Moving apps and their keys between stores (SQLite to PostgreSQL, one
//! deployment to another) as a JSON document. Sessions, identities and
//! nonces stay behind: they are short-lived and re-created by signing in.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tessera_api::Origin;
use tessera_claims::{unix_now, AppId, Environment, KeyId, ProviderId, PublicKey};

use crate::store::{Actor, App, AuditAction, AuditEvent, KeyRecord, Store, StoreError};

/// The `format` of an export document.
pub const EXPORT_FORMAT: &str = "tessera-authority-export/v1";

/// Apps and keys as `tessera authority export` writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// Seconds since the epoch.
    pub exported_at: i64,
    /// Every app with its provider's keys.
    pub apps: Vec<ExportedApp>,
}

/// An app and its provider's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedApp {
    /// The app id.
    pub app_id: AppId,
    /// Its provider.
    pub provider_id: ProviderId,
    /// Staging or production.
    pub environment: Environment,
    /// A name for people.
    pub name: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The app's own session lifetime in seconds, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ttl_secs: Option<u64>,
    /// Seconds since the epoch: the app's sessions opened at or before no
    /// longer work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_revoked_before: Option<i64>,
    /// The web origins of the app's pages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<Origin>,
    /// The provider's keys, revoked ones included.
    pub keys: Vec<ExportedKey>,
}

/// A registered public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedKey {
    /// The key id.
    pub kid: KeyId,
    /// SubjectPublicKeyInfo PEM.
    pub public_key_pem: String,
    /// `SHA256:…` of the SPKI DER, checked on import.
    pub fingerprint: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Apps written.
    pub apps_created: usize,
    /// Apps already there, identical.
    pub apps_unchanged: usize,
    /// Keys written.
    pub keys_created: usize,
    /// Keys already there, identical.
    pub keys_unchanged: usize,
    /// Keys already there that the document has revoked: revoked here too.
    pub keys_revoked: usize,
}

/// An import was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The document is not an export of this version, or is inconsistent.
    #[error("invalid export document: {0}")]
    Invalid(String),
    /// The target store holds a different app or key under the same id.
    #[error("conflicts with the target store: {0}")]
    Conflict(String),
    /// The store failed.
    #[error("the store failed")]
    Store(#[from] StoreError),
}

/// Every app and key of `store`.
pub async fn export(store: &dyn Store, now: i64) -> Result<Export, StoreError> {
    let mut apps = Vec::new();
    for app in store.apps().await? {
        let keys = store
            .keys_of_provider(&app.provider_id)
            .await?
            .into_iter()
            .map(|k| {
                let public = PublicKey::from_der(&k.spki_der)
                    .map_err(|e| StoreError::Corrupt(format!("key {}: {e}", k.kid)))?;
                Ok(ExportedKey {
                    kid: k.kid,
                    public_key_pem: public.to_pem(),
                    fingerprint: k.fingerprint,
                    created_at: k.created_at,
                    revoked_at: k.revoked_at,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        apps.push(ExportedApp {
            app_id: app.app_id,
            provider_id: app.provider_id,
            environment: app.environment,
            name: app.name,
            created_at: app.created_at,
            session_ttl_secs: app.session_ttl_secs,
            sessions_revoked_before: app.sessions_revoked_before,
            allowed_origins: app.allowed_origins,
            keys,
        });
    }
    Ok(Export {
        format: EXPORT_FORMAT.into(),
        exported_at: now,
        apps,
    })
}

/// What one key of the document asks of the target store.
enum KeyStep {
    Create(AppId, KeyRecord),
    Revoke(AppId, KeyId, i64),
    Unchanged,
}

/// Writes the document's apps and keys into `store`. Everything is checked
/// first (the document, and each id against what the store holds); on any
/// problem found then, nothing is written (a writer racing the import may
/// still make a later write fail). Importing the same document twice changes
/// nothing the second time.
pub async fn import(store: &dyn Store, doc: &Export) -> Result<ImportSummary, ImportError> {
    if doc.format != EXPORT_FORMAT {
        return Err(ImportError::Invalid(format!(
            "format is {:?}, expected {EXPORT_FORMAT:?}",
            doc.format
        )));
    }
    let mut summary = ImportSummary::default();
    let existing = store.apps().await?;
    let by_app: HashMap<AppId, &App> = existing.iter().map(|e| (e.app_id, e)).collect();
    let by_provider: HashMap<ProviderId, &App> =
        existing.iter().map(|e| (e.provider_id, e)).collect();
    let mut new_apps = Vec::new();
    let mut key_steps = Vec::new();
    let mut seen_apps = HashSet::new();
    let mut seen_providers = HashSet::new();
    let mut seen_kids = HashSet::new();
    for a in &doc.apps {
        if !seen_apps.insert(a.app_id) || !seen_providers.insert(a.provider_id) {
            return Err(ImportError::Invalid(format!(
                "app {} or its provider appears twice",
                a.app_id
            )));
        }
        if a.app_id.environment() != a.environment {
            return Err(ImportError::Invalid(format!(
                "app {}: environment {} does not match its id",
                a.app_id,
                a.environment.as_str()
            )));
        }
        let app = App {
            app_id: a.app_id,
            provider_id: a.provider_id,
            environment: a.environment,
            name: a.name.clone(),
            created_at: a.created_at,
            session_ttl_secs: a.session_ttl_secs,
            sessions_revoked_before: a.sessions_revoked_before,
            allowed_origins: a.allowed_origins.clone(),
        };
        match (by_app.get(&app.app_id), by_provider.get(&app.provider_id)) {
            (Some(e), _) if **e == app => summary.apps_unchanged += 1,
            (None, None) => new_apps.push(app),
            (Some(_), _) => {
                return Err(ImportError::Conflict(format!(
                    "app {} exists with other settings",
                    a.app_id
                )))
            }
            (None, Some(e)) => {
                return Err(ImportError::Conflict(format!(
                    "provider {} belongs to app {} here",
                    a.provider_id, e.app_id
                )))
            }
        }
        for k in &a.keys {
            if !seen_kids.insert(k.kid) {
                return Err(ImportError::Invalid(format!("key {} appears twice", k.kid)));
            }
            let public = PublicKey::from_pem(&k.public_key_pem)
                .map_err(|e| ImportError::Invalid(format!("key {}: {e}", k.kid)))?;
            if public.fingerprint() != k.fingerprint {
                return Err(ImportError::Invalid(format!(
                    "key {}: the fingerprint does not match the public key",
                    k.kid
                )));
            }
            let record = KeyRecord {
                kid: k.kid,
                provider_id: a.provider_id,
                spki_der: public.spki_der().to_vec(),
                fingerprint: k.fingerprint.clone(),
                created_at: k.created_at,
                revoked_at: k.revoked_at,
            };
            key_steps.push(match store.key(&k.kid).await? {
                None => KeyStep::Create(a.app_id, record),
                Some(stored) => {
                    let same_key = stored.provider_id == record.provider_id
                        && stored.spki_der == record.spki_der
                        && stored.created_at == record.created_at;
                    match (same_key, stored.revoked_at, record.revoked_at) {
                        (false, _, _) => {
                            return Err(ImportError::Conflict(format!(
                                "key {} exists with another public key or provider",
                                k.kid
                            )))
                        }
                        (true, None, Some(at)) => KeyStep::Revoke(a.app_id, k.kid, at),
                        // A revocation is never undone by an import; the
                        // first revocation time stays.
                        (true, _, _) => KeyStep::Unchanged,
                    }
                }
            });
        }
    }
    // Recorded as the operator's, who ran the import.
    let now = unix_now();
    let event = |action, app_id| {
        AuditEvent::new(now, action, Actor::Admin)
            .app(app_id)
            .detail(serde_json::json!({ "import": true }))
    };
    for app in &new_apps {
        let created = event(AuditAction::AppCreated, app.app_id);
        store.create_app(app, &created).await.map_err(|e| match e {
            StoreError::Conflict(m) => ImportError::Conflict(format!("app {}: {m}", app.app_id)),
            other => other.into(),
        })?;
        summary.apps_created += 1;
    }
    for step in key_steps {
        match step {
            KeyStep::Create(app_id, record) => {
                let event = event(AuditAction::KeyRegistered, app_id)
                    .detail(serde_json::json!({ "import": true, "kid": record.kid.to_string() }));
                store.add_key(&record, &event).await?;
                summary.keys_created += 1;
            }
            KeyStep::Revoke(app_id, kid, at) => {
                let event = event(AuditAction::KeyRevoked, app_id)
                    .detail(serde_json::json!({ "import": true, "kid": kid.to_string() }));
                store.revoke_key(&kid, at, &event).await?;
                summary.keys_revoked += 1;
            }
            KeyStep::Unchanged => summary.keys_unchanged += 1,
        }
    }
    Ok(summary)
}
