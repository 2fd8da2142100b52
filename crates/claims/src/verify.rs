//! Verification as the authority does it: every check in SPEC order, stopping
//! at the first failure.

use crate::checks::{self, KeyResolver, TrustedKey};
use crate::clock::Clock;
use crate::jws;
use crate::reason::{Reason, Rejection};
use crate::token::Claims;

/// A token that passed checks 1 to 9. The nonce (check 10) is the caller's:
/// it must still be consumed atomically before the token is accepted.
#[derive(Debug, Clone)]
pub struct VerifiedToken<'k> {
    /// The key that signed it.
    pub key: &'k TrustedKey,
    /// Its claims.
    pub claims: Claims,
}

/// Checks a token in SPEC order (format, header, algorithm, key, revocation,
/// signature, claims, issuer, expiry) and returns the first failure.
pub fn verify<'k, R: KeyResolver + ?Sized>(
    token: &str,
    keys: &'k R,
    clock: Clock,
) -> Result<VerifiedToken<'k>, Rejection> {
    let decoded =
        jws::decode(token).map_err(|e| Rejection::new(Reason::MalformedToken, e.to_string()))?;
    checks::header(&decoded.header)?;
    checks::algorithm(&decoded.header)?;
    let key = checks::key(&decoded.header, keys)?;
    checks::revocation(key)?;
    checks::signature(key, &decoded)?;
    let found = checks::claims(&decoded.claims);
    if let Some(e) = found.first_failure() {
        return Err(e.clone());
    }
    let iss = found
        .iss()
        .ok_or_else(|| Rejection::new(Reason::MissingClaim, "iss is missing"))?;
    let provider = checks::issuer(iss, key)?;
    let claims = found
        .into_claims(provider)
        .ok_or_else(|| Rejection::new(Reason::InvalidClaim, "the claims are invalid"))?;
    if claims.exp < clock.now - clock.skew_secs {
        return Err(Rejection::new(
            Reason::TokenExpired,
            format!("the token expired at {} (now {})", claims.exp, clock.now),
        ));
    }
    if claims.iat > clock.now + clock.skew_secs {
        return Err(Rejection::new(
            Reason::TokenNotYetValid,
            format!(
                "the token is issued at {}, in the future (now {})",
                claims.iat, clock.now
            ),
        ));
    }
    Ok(VerifiedToken { key, claims })
}
