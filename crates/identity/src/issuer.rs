//! Issuing identity tokens: for backends that check credentials themselves
//! and only need tokens signed.

use std::sync::Arc;
use std::time::Duration;

use tessera_claims::{Claims, IdentityToken, Profile, ProviderId, SystemTime, TimeSource, UserId};
use tessera_signer::{sign_token, DynSigner, SignerError};

/// The lifetimes the SPEC allows for issued tokens, in seconds.
pub const TOKEN_TTL_RANGE: std::ops::RangeInclusive<u64> = 30..=600;

/// Signs EIT v1 identity tokens for one provider with one signer.
///
/// ```no_run
/// # async fn run(signer: tessera_signer::DynSigner) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tessera_claims::{Profile, UserId};
/// use tessera_identity::Issuer;
///
/// let issuer = Issuer::new(signer, "layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02".parse()?,
///     Duration::from_secs(120))?;
/// // After your own login check succeeded:
/// let token = issuer.issue(&UserId::new("alice")?, "the nonce, untouched", &Profile::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Issuer {
    signer: DynSigner,
    provider_id: ProviderId,
    ttl_secs: i64,
    time: Arc<dyn TimeSource>,
}

/// A token could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The lifetime is outside 30..=600 seconds.
    #[error("token lifetime of {0} s is outside 30..=600 s")]
    Ttl(u64),
    /// The claims break the SPEC's rules (an empty nonce, a bad avatar URL…).
    #[error("invalid claims")]
    Claims(#[from] tessera_claims::ClaimError),
    /// The signer failed.
    #[error("signing failed")]
    Signer(#[from] SignerError),
}

impl Issuer {
    /// An issuer of tokens living `ttl` (30 s to 10 min).
    pub fn new(
        signer: DynSigner,
        provider_id: ProviderId,
        ttl: Duration,
    ) -> Result<Self, IssueError> {
        let secs = ttl.as_secs();
        if !TOKEN_TTL_RANGE.contains(&secs) {
            return Err(IssueError::Ttl(secs));
        }
        Ok(Self {
            signer,
            provider_id,
            ttl_secs: secs as i64,
            time: Arc::new(SystemTime),
        })
    }

    /// Reads `iat` from `time` instead of the system clock.
    #[must_use]
    pub fn with_time(mut self, time: Arc<dyn TimeSource>) -> Self {
        self.time = time;
        self
    }

    /// The signer.
    pub fn signer(&self) -> &DynSigner {
        &self.signer
    }

    /// The provider tokens are issued for.
    pub fn provider_id(&self) -> ProviderId {
        self.provider_id
    }

    /// Signs a token for `user_id` answering `nonce` (passed on byte for byte).
    pub async fn issue(
        &self,
        user_id: &UserId,
        nonce: &str,
        profile: &Profile,
    ) -> Result<IdentityToken, IssueError> {
        let now = self.time.now();
        let claims = Claims::builder(self.provider_id, user_id.clone(), nonce)
            .issued_at(now)
            .ttl_secs(self.ttl_secs)
            .profile(profile.clone())
            .build()?;
        Ok(sign_token(self.signer.as_ref(), &claims).await?)
    }
}
