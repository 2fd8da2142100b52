//! Random bearer values, their digests, and constant-time comparison.

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tessera_claims::Nonce;

/// 32 bytes from the operating system's CSPRNG.
fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // The system RNG failing leaves nothing safe to do.
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random number generator failed");
    bytes
}

/// A fresh nonce.
pub fn new_nonce() -> Nonce {
    Nonce::from_bytes(random_32())
}

/// A fresh session token: 32 random bytes, base64url without padding.
pub fn new_session_token() -> String {
    URL_SAFE_NO_PAD.encode(random_32())
}

/// SHA-256, the form in which nonces and session tokens are stored.
pub fn sha256(value: &str) -> [u8; 32] {
    let d = digest(&SHA256, value.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The admin token, kept only as its digest and compared in constant time.
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl AdminToken {
    /// Wraps a token; it must be at least 16 characters.
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (token.len() >= 16).then(|| Self(sha256(token)))
    }

    /// Constant-time check of a presented token.
    pub fn matches(&self, presented: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &sha256(presented)).is_ok()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// RFC 3339 UTC time of seconds since the epoch.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn admin_tokens_compare_by_digest() {
        let t = AdminToken::new("0123456789abcdef").unwrap();
        assert!(t.matches("0123456789abcdef"));
        assert!(!t.matches("0123456789abcdeF"));
        assert!(!t.matches(""));
        assert!(AdminToken::new("short").is_none());
        assert_eq!(format!("{t:?}"), "AdminToken(..)");
    }

    #[test]
    fn bearer_values_are_random_and_well_formed() {
        let (a, b) = (new_session_token(), new_session_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(new_nonce().as_str().len(), 43);
    }
}
