//! Stateless nonces: issuing one writes nothing. A nonce is 48 bytes,
//! base64url without padding (64 characters):
//!
//! | bytes  | content                                                     |
//! |--------|-------------------------------------------------------------|
//! | 0      | format version, 1                                           |
//! | 1      | flags: bit 0 set when the nonce is bound to an app          |
//! | 2..6   | id of the MAC key (big-endian)                              |
//! | 6..14  | expiry, seconds since the epoch (big-endian, signed)        |
//! | 14..32 | 18 bytes from the system's CSPRNG                           |
//! | 32..48 | HMAC-SHA256 under the key, over bytes 0..32 and, when       |
//! |        | bound, the app id; truncated to 16 bytes                    |
//!
//! The MAC keys live in the database (`nonce_keys`), so every instance
//! shares them without a secret to manage by hand; rotating one keeps the
//! previous keys valid until their nonces have expired. Redeeming a nonce
//! records it as used until it expires.

use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tessera_claims::{AppId, Nonce};

use crate::store::{NonceKeyRecord, NonceRefusal};

const VERSION: u8 = 1;
const BOUND: u8 = 1;
const BODY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const NONCE_BYTES: usize = BODY_LEN + TAG_LEN;
const DOMAIN: &[u8] = b"tessera nonce v1\0";

/// The longest nonce time to live (`nonces.ttl_secs` is at most this).
pub const MAX_NONCE_TTL_SECS: i64 = 600;

/// How long a retired key still verifies nonces: the longest nonce time to
/// live, plus the keyring's refresh period (another instance may issue
/// with the old key until it reads the keys again), plus the clock skew
/// allowed between instances.
pub fn retired_key_grace_secs(clock_skew_secs: u64) -> i64 {
    let refresh = KEYRING_REFRESH.as_secs() as i64;
    MAX_NONCE_TTL_SECS + refresh + i64::try_from(clock_skew_secs).unwrap_or(i64::MAX / 4)
}

/// A fresh MAC key record: a random id and 32 random bytes.
pub fn new_key(now: i64) -> NonceKeyRecord {
    let mut id = [0u8; 4];
    let mut secret = vec![0u8; 32];
    // The system RNG failing leaves nothing safe to do.
    aws_lc_rs::rand::fill(&mut id).expect("the system random number generator failed");
    aws_lc_rs::rand::fill(&mut secret).expect("the system random number generator failed");
    NonceKeyRecord {
        key_id: u32::from_be_bytes(id),
        secret,
        created_at: now,
        retired_at: None,
    }
}

/// A nonce that opened: its MAC is good, it is bound to no app or to this
/// one, and it has not expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenedNonce {
    /// When it expires.
    pub expires_at: i64,
}

/// Why a nonce did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Not of the form, forged, or bound to another app.
    Refused(NonceRefusal),
    /// Signed with a key this keyring does not hold (perhaps one another
    /// instance has just added).
    UnknownKey(u32),
}

#[derive(Debug)]
struct Key {
    id: u32,
    hmac: hmac::Key,
    created_at: i64,
    retired_at: Option<i64>,
}

/// The MAC keys an instance knows: it issues with the newest active one
/// and verifies with any that is active or recently retired.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<Key>,
    /// Index in `keys` of the newest active key, the one that issues.
    current: usize,
    loaded_at: Instant,
    /// [`retired_key_grace_secs`].
    grace_secs: i64,
}

impl Keyring {
    /// The keyring of these records; `None` if none is active.
    pub fn new(records: &[NonceKeyRecord]) -> Option<Self> {
        let keys: Vec<Key> = records
            .iter()
            .map(|r| Key {
                id: r.key_id,
                hmac: hmac::Key::new(hmac::HMAC_SHA256, &r.secret),
                created_at: r.created_at,
                retired_at: r.retired_at,
            })
            .collect();
        let current = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.retired_at.is_none())
            .max_by_key(|(_, k)| (k.created_at, k.id))?
            .0;
        Some(Self {
            keys,
            current,
            loaded_at: Instant::now(),
            grace_secs: retired_key_grace_secs(60),
        })
    }

    /// Allows `clock_skew_secs` between instances' clocks (60 unless set)
    /// in how long retired keys verify.
    #[must_use]
    pub fn with_clock_skew(mut self, clock_skew_secs: u64) -> Self {
        self.grace_secs = retired_key_grace_secs(clock_skew_secs);
        self
    }

    /// Time since the keys were read.
    pub fn age(&self) -> Duration {
        self.loaded_at.elapsed()
    }

    fn current(&self) -> &Key {
        &self.keys[self.current]
    }

    /// A fresh nonce expiring at `expires_at`, bound to `app_id` if given.
    pub fn issue(&self, app_id: Option<&AppId>, expires_at: i64) -> Nonce {
        let key = self.current();
        let mut bytes = [0u8; NONCE_BYTES];
        bytes[0] = VERSION;
        bytes[1] = if app_id.is_some() { BOUND } else { 0 };
        bytes[2..6].copy_from_slice(&key.id.to_be_bytes());
        bytes[6..14].copy_from_slice(&expires_at.to_be_bytes());
        aws_lc_rs::rand::fill(&mut bytes[14..BODY_LEN])
            .expect("the system random number generator failed");
        let tag = tag(&key.hmac, &bytes[..BODY_LEN], app_id);
        bytes[BODY_LEN..].copy_from_slice(&tag.as_ref()[..TAG_LEN]);
        Nonce::from_bytes(bytes)
    }

    /// Checks a presented nonce for `app_id` at `now`: form and MAC first
    /// (`nonce_unknown`), then expiry (`nonce_expired`). Whether it was used
    /// is for the store to say.
    pub fn open(&self, nonce: &str, app_id: &AppId, now: i64) -> Result<OpenedNonce, Closed> {
        let unknown = Closed::Refused(NonceRefusal::Unknown);
        if nonce.len() != Nonce::LEN {
            return Err(unknown);
        }
        let mut bytes = [0u8; NONCE_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(nonce, &mut bytes) {
            Ok(NONCE_BYTES) => {}
            _ => return Err(unknown),
        }
        if bytes[0] != VERSION || bytes[1] & !BOUND != 0 {
            return Err(unknown);
        }
        let key_id = u32::from_be_bytes(bytes[2..6].try_into().expect("4 bytes"));
        let Some(key) = self.keys.iter().find(|k| k.id == key_id) else {
            return Err(Closed::UnknownKey(key_id));
        };
        let bound = (bytes[1] & BOUND != 0).then_some(app_id);
        let expected = tag(&key.hmac, &bytes[..BODY_LEN], bound);
        if aws_lc_rs::constant_time::verify_slices_are_equal(
            &expected.as_ref()[..TAG_LEN],
            &bytes[BODY_LEN..],
        )
        .is_err()
        {
            return Err(unknown);
        }
        let expires_at = i64::from_be_bytes(bytes[6..14].try_into().expect("8 bytes"));
        if expires_at <= now {
            return Err(Closed::Refused(NonceRefusal::Expired));
        }
        if key
            .retired_at
            .is_some_and(|at| at.saturating_add(self.grace_secs) <= now)
        {
            // A retired key's nonces have all expired by now: this one lies.
            return Err(unknown);
        }
        Ok(OpenedNonce { expires_at })
    }
}

fn tag(key: &hmac::Key, body: &[u8], app_id: Option<&AppId>) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(DOMAIN);
    ctx.update(body);
    if let Some(app_id) = app_id {
        ctx.update(app_id.to_string().as_bytes());
    }
    ctx.sign()
}

/// How often the keyring is read again from the database.
pub const KEYRING_REFRESH: Duration = Duration::from_secs(60);
/// The shortest time between two reads caused by an unknown key id.
pub const KEYRING_MISS_RELOAD: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_claims::Environment;

    fn ring() -> Keyring {
        Keyring::new(&[new_key(100)]).unwrap()
    }

    #[test]
    fn a_nonce_opens_for_its_app_until_it_expires() {
        let ring = ring();
        let app = AppId::generate(Environment::Staging);
        let other = AppId::generate(Environment::Staging);
        let bound = ring.issue(Some(&app), 1_000);
        assert_eq!(bound.as_str().len(), 64);
        assert_eq!(
            ring.open(bound.as_str(), &app, 999),
            Ok(OpenedNonce { expires_at: 1_000 })
        );
        let refused = |r| Err(Closed::Refused(r));
        assert_eq!(
            ring.open(bound.as_str(), &app, 1_000),
            refused(NonceRefusal::Expired)
        );
        assert_eq!(
            ring.open(bound.as_str(), &other, 999),
            refused(NonceRefusal::Unknown)
        );
        let free = ring.issue(None, 1_000);
        assert!(ring.open(free.as_str(), &other, 999).is_ok());
        assert_ne!(ring.issue(None, 1_000), free);
    }

    #[test]
    fn forged_and_malformed_nonces_are_unknown() {
        let ring = ring();
        let app = AppId::generate(Environment::Staging);
        let nonce = ring.issue(Some(&app), 1_000);
        let unknown = Err(Closed::Refused(NonceRefusal::Unknown));
        // Every single-character change is caught (by the MAC or the form).
        let text = nonce.as_str().as_bytes();
        for i in 0..text.len() {
            let mut forged = text.to_vec();
            forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(forged).unwrap();
            assert!(ring.open(&forged, &app, 999).is_err(), "position {i}");
        }
        for bad in ["", "x", &nonce.as_str()[1..], "é".repeat(32).as_str()] {
            assert_eq!(ring.open(bad, &app, 999), unknown);
        }
        let other = Keyring::new(&[new_key(100)]).unwrap();
        assert!(matches!(
            other.open(nonce.as_str(), &app, 999),
            Err(Closed::UnknownKey(_))
        ));
    }

    #[test]
    fn retired_keys_verify_until_their_nonces_have_expired() {
        let old = new_key(100);
        let mut retired = old.clone();
        retired.retired_at = Some(200);
        let nonce = Keyring::new(std::slice::from_ref(&old))
            .unwrap()
            .issue(None, 700);
        let app = AppId::generate(Environment::Staging);
        let ring = Keyring::new(&[retired, new_key(200)]).unwrap();
        assert!(ring.open(nonce.as_str(), &app, 699).is_ok());
        assert_ne!(ring.current().id, old.key_id);
        assert!(Keyring::new(&[]).is_none());
    }

    #[test]
    fn a_retired_key_s_grace_covers_ttl_refresh_and_skew() {
        assert_eq!(retired_key_grace_secs(60), 600 + 60 + 60);
        assert_eq!(retired_key_grace_secs(0), 660);
        // The key is retired at 1,000 by an instance whose clock is 120 s
        // behind (it records 880); another, which has not read the keys
        // again yet, issues with it at the end of its refresh period; the
        // nonce is checked at the end of its life.
        let old = new_key(100);
        let mut retired = old.clone();
        retired.retired_at = Some(1_000 - 120);
        let issued = 1_000 + KEYRING_REFRESH.as_secs() as i64;
        let expires_at = issued + MAX_NONCE_TTL_SECS;
        let nonce = Keyring::new(std::slice::from_ref(&old))
            .unwrap()
            .issue(None, expires_at);
        let app = AppId::generate(Environment::Staging);
        let keys = [retired, new_key(1_000)];
        let ring = Keyring::new(&keys).unwrap().with_clock_skew(120);
        assert!(ring.open(nonce.as_str(), &app, expires_at - 1).is_ok());
        // With no margin for the skew, the nonce would be refused as a lie.
        let no_margin = Keyring::new(&keys).unwrap().with_clock_skew(0);
        assert!(no_margin
            .open(nonce.as_str(), &app, expires_at - 1)
            .is_err());
    }
}
