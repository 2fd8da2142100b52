//! Identifiers in Layer's forms (SPEC §1): apps, providers, keys, identities, nonces, users.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// An identifier that did not have the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: expected {expected}")]
#[non_exhaustive]
pub struct IdError {
    /// What was being parsed (`"app id"`, `"key id"`, ...).
    pub kind: &'static str,
    /// The form that was expected.
    pub expected: &'static str,
}

/// Parses the lower-case hyphenated UUID that ends a Layer id.
fn parse_uuid(s: &str) -> Option<Uuid> {
    let is_canonical = s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if is_canonical {
        Uuid::parse_str(s).ok()
    } else {
        None
    }
}

/// Serializes a value as its `Display` form.
fn serialize_display<T: fmt::Display, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Deserializes a value from a string through its `FromStr`.
fn deserialize_parsed<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: fmt::Display,
    D: Deserializer<'de>,
{
    let s = String::deserialize(deserializer)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// What a [`UuidId`] identifies: its prefix and names.
pub trait IdKind: Copy + Eq + std::hash::Hash + Ord + Send + Sync + 'static {
    /// The prefix before the UUID.
    const PREFIX: &'static str;
    /// What the id names, for errors (`"key id"`).
    const NAME: &'static str;
    /// The expected form, for errors.
    const EXPECTED: &'static str;
    /// The type's name, for `Debug`.
    const TYPE: &'static str;
}

/// Providers: `layer:///providers/<uuid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {}

impl IdKind for Provider {
    const PREFIX: &'static str = "layer:///providers/";
    const NAME: &'static str = "provider id";
    const EXPECTED: &'static str = "`layer:///providers/<lower-case uuid>`";
    const TYPE: &'static str = "ProviderId";
}

/// Keys: `layer:///keys/<uuid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {}

impl IdKind for Key {
    const PREFIX: &'static str = "layer:///keys/";
    const NAME: &'static str = "key id";
    const EXPECTED: &'static str = "`layer:///keys/<lower-case uuid>`";
    const TYPE: &'static str = "KeyId";
}

/// A Layer id made of a fixed prefix and a lower-case UUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UuidId<K: IdKind> {
    uuid: Uuid,
    kind: PhantomData<K>,
}

/// A provider id, `layer:///providers/<uuid>`: the `iss` of an identity token.
pub type ProviderId = UuidId<Provider>;

/// A key id, `layer:///keys/<uuid>`: the `kid` of an identity token.
pub type KeyId = UuidId<Key>;

impl<K: IdKind> UuidId<K> {
    /// The prefix before the UUID.
    pub const PREFIX: &'static str = K::PREFIX;

    /// A fresh id with a random (v4) UUID.
    pub fn generate() -> Self {
        Self::from_uuid(Uuid::new_v4())
    }

    /// The id with the given UUID.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self {
            uuid,
            kind: PhantomData,
        }
    }

    /// The UUID part.
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }
}

impl<K: IdKind> FromStr for UuidId<K> {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        s.strip_prefix(K::PREFIX)
            .and_then(parse_uuid)
            .map(Self::from_uuid)
            .ok_or(IdError {
                kind: K::NAME,
                expected: K::EXPECTED,
            })
    }
}

impl<K: IdKind> fmt::Display for UuidId<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", K::PREFIX, self.uuid.hyphenated())
    }
}

impl<K: IdKind> fmt::Debug for UuidId<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({self})", K::TYPE)
    }
}

impl<K: IdKind> Serialize for UuidId<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_display(self, serializer)
    }
}

impl<'de, K: IdKind> Deserialize<'de> for UuidId<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer)
    }
}

/// The environment an app lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Development and testing; sample identity providers may serve it.
    Staging,
    /// Live users; never served by a sample identity provider.
    Production,
}

impl Environment {
    /// The form used in app ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        match s {
            "staging" => Ok(Environment::Staging),
            "production" => Ok(Environment::Production),
            _ => Err(IdError {
                kind: "environment",
                expected: "`staging` or `production`",
            }),
        }
    }
}

/// An app id, `layer:///apps/{staging|production}/<uuid>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppId {
    environment: Environment,
    uuid: Uuid,
}

impl AppId {
    /// A fresh app id in the given environment.
    pub fn generate(environment: Environment) -> Self {
        Self {
            environment,
            uuid: Uuid::new_v4(),
        }
    }

    /// The environment the app lives in.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The UUID part.
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }
}

impl FromStr for AppId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let err = IdError {
            kind: "app id",
            expected: "`layer:///apps/{staging|production}/<lower-case uuid>`",
        };
        let rest = s.strip_prefix("layer:///apps/").ok_or(err.clone())?;
        let (env, uuid) = rest.split_once('/').ok_or(err.clone())?;
        let environment = env.parse().map_err(|_| err.clone())?;
        let uuid = parse_uuid(uuid).ok_or(err)?;
        Ok(Self { environment, uuid })
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "layer:///apps/{}/{}",
            self.environment,
            self.uuid.hyphenated()
        )
    }
}

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppId({self})")
    }
}

impl Serialize for AppId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_display(self, serializer)
    }
}

impl<'de> Deserialize<'de> for AppId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer)
    }
}

/// Whether `c` is a Unicode format character (general category Cf):
/// invisible, and able to make two ids look alike or reorder text.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// The app's own id for a user (the `prn` claim): 1 to 256 bytes of UTF-8
/// without control characters or invisible format characters
/// (bidirectional overrides, zero-width characters: Unicode category Cf).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    /// The longest user id, in bytes.
    pub const MAX_BYTES: usize = 256;

    /// Checks the rules of SPEC §2 and wraps the id.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        Self::check(&id)?;
        Ok(Self(id))
    }

    /// Checks the rules of SPEC §2 without taking the id.
    pub fn check(id: &str) -> Result<(), IdError> {
        if id.is_empty()
            || id.len() > Self::MAX_BYTES
            || id.chars().any(|c| c.is_control() || is_format_char(c))
        {
            return Err(IdError {
                kind: "user id",
                expected: "1 to 256 bytes of UTF-8 without control or invisible format characters",
            });
        }
        Ok(())
    }

    /// The id as the app gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identity id the authority gives this user.
    pub fn identity_id(&self) -> IdentityId {
        IdentityId(format!(
            "layer:///identities/{}",
            utf8_percent_encode(&self.0, IDENTITY_ENCODE)
        ))
    }
}

impl FromStr for UserId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({:?})", self.0)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_display(self, serializer)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer)
    }
}

/// Characters kept as they are in an identity id: RFC 3986 unreserved.
const IDENTITY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An identity id, `layer:///identities/<url-encoded user id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct IdentityId(String);

impl IdentityId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A nonce in the authority's form: 48 bytes (an expiry, 18 random bytes
/// and a MAC), base64url without padding (64 characters of `A-Za-z0-9-_`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Nonce(String);

impl Nonce {
    /// Length of the encoded form this authority issues.
    pub const LEN: usize = 64;
    /// Shortest nonce of the contract (SPEC §1), any authority's.
    pub const MIN_LEN: usize = 43;
    /// Longest nonce of the contract.
    pub const MAX_LEN: usize = 128;

    /// Whether `s` has the contract's form of a nonce: opaque base64url
    /// without padding, 43 to 128 characters (what an identity service
    /// accepts; [`Nonce`] itself parses only the 64 this authority issues).
    pub fn has_form(s: &str) -> bool {
        (Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len()) && is_base64url(s)
    }

    /// Encodes the authority's 48 bytes.
    pub fn from_bytes(bytes: [u8; 48]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The nonce as issued.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether every character of `s` is in the base64url alphabet.
pub fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FromStr for Nonce {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() == Self::LEN && is_base64url(s) && URL_SAFE_NO_PAD.decode(s).is_ok() {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError {
                kind: "nonce",
                expected: "64 characters of base64url without padding",
            })
        }
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Nonce {
    /// Nonces are bearer values for ten minutes: never printed whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({}…)", &self.0[..6.min(self.0.len())])
    }
}

impl Serialize for Nonce {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_display(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_roundtrip_their_forms() {
        let kid: KeyId = "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01"
            .parse()
            .unwrap();
        assert_eq!(
            kid.to_string(),
            "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01"
        );
        let app: AppId = "layer:///apps/production/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01"
            .parse()
            .unwrap();
        assert_eq!(app.environment(), Environment::Production);
        let fresh = ProviderId::generate();
        assert_eq!(fresh.to_string().parse::<ProviderId>().unwrap(), fresh);
    }

    #[test]
    fn ids_refuse_other_forms() {
        for bad in [
            "7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01",
            "layer:///keys/7D7A9A0E-2F57-4D0E-9A6C-1F5B0C3B9A01",
            "layer:///keys/7d7a9a0e2f574d0e9a6c1f5b0c3b9a01",
            "layer:///providers/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01",
            "layer:///keys/",
        ] {
            assert!(bad.parse::<KeyId>().is_err(), "{bad}");
        }
        assert!("layer:///apps/dev/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01"
            .parse::<AppId>()
            .is_err());
    }

    #[test]
    fn user_ids_follow_the_spec_rules() {
        assert!(UserId::new("").is_err());
        assert!(UserId::new("a\u{7}b").is_err());
        for invisible in [
            '\u{202E}',
            '\u{200B}',
            '\u{200D}',
            '\u{2066}',
            '\u{FEFF}',
            '\u{E0041}',
        ] {
            assert!(
                UserId::new(format!("ali{invisible}ce")).is_err(),
                "{invisible:?}"
            );
        }
        assert!(UserId::new("zoë 🦀 مرحبا").is_ok());
        assert!(UserId::new("x".repeat(257)).is_err());
        assert!(UserId::new("é".repeat(128)).is_ok());
        assert_eq!(
            UserId::new("alice@example.com/ü x")
                .unwrap()
                .identity_id()
                .as_str(),
            "layer:///identities/alice%40example.com%2F%C3%BC%20x"
        );
    }

    #[test]
    fn nonces_are_64_base64url_characters() {
        let n = Nonce::from_bytes([7; 48]);
        assert_eq!(n.as_str().len(), Nonce::LEN);
        assert_eq!(n.as_str().parse::<Nonce>().unwrap(), n);
        assert!("a+b".parse::<Nonce>().is_err());
        assert!(!format!("{n:?}").contains(n.as_str()));
    }
}
