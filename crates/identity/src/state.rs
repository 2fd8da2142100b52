//! What the identity service's handlers share.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_claims::{JwkSet, KeyId, PublicKey};
use tokio::sync::Mutex;

use crate::config::IdentityConfig;
use crate::issuer::Issuer;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::users::CredentialVerifier;

/// How long a signer self-check result is reused by `/healthz`.
const HEALTH_TTL: Duration = Duration::from_secs(10);

/// Shared state of the identity service.
#[derive(Debug, Clone)]
pub struct IdentityState(Arc<Inner>);

/// The contents of [`IdentityState`].
#[derive(Debug)]
pub struct Inner {
    /// Settings.
    pub config: IdentityConfig,
    /// Signs tokens.
    pub issuer: Issuer,
    /// Checks credentials.
    pub verifier: Arc<dyn CredentialVerifier>,
    /// The published keys.
    pub jwks: JwkSet,
    /// Attempt limits.
    pub limiter: RateLimiter,
    /// Metrics.
    pub metrics: Metrics,
    health: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl std::ops::Deref for IdentityState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl IdentityState {
    /// State around an issuer and a credential check. `retiring` keys are
    /// published in the JWKS beside the issuer's own.
    pub fn new(
        config: IdentityConfig,
        issuer: Issuer,
        verifier: Arc<dyn CredentialVerifier>,
        retiring: &[(KeyId, PublicKey)],
    ) -> Self {
        let signer = issuer.signer();
        let mut keys = vec![signer.public_key().to_jwk(signer.key_id())];
        keys.extend(
            retiring
                .iter()
                .filter(|(kid, _)| kid != signer.key_id())
                .map(|(kid, key)| key.to_jwk(kid)),
        );
        Self(Arc::new(Inner {
            limiter: RateLimiter::new(config.rate_limit),
            config,
            issuer,
            verifier,
            jwks: JwkSet { keys },
            metrics: Metrics::default(),
            health: Mutex::new(None),
        }))
    }

    /// The signer's self-check, run at most every 10 seconds.
    pub async fn signer_health(&self) -> Result<(), String> {
        let mut cached = self.health.lock().await;
        if let Some((at, result)) = cached.as_ref() {
            if at.elapsed() < HEALTH_TTL {
                return result.clone();
            }
        }
        let result = tessera_signer::self_check(self.issuer.signer().as_ref())
            .await
            .map_err(|e| e.to_string());
        *cached = Some((Instant::now(), result.clone()));
        result
    }
}
