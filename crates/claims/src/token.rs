//! The EIT v1 header and claims, and the builder that makes valid claims.

use serde::{Deserialize, Serialize};

use crate::ids::{KeyId, ProviderId, UserId};
use crate::jws;

/// `typ` of every identity token.
pub const TYP: &str = "JWT";
/// `alg` of every identity token: nothing else is accepted.
pub const ALG: &str = "RS256";
/// `cty` of an EIT v1 token.
pub const CTY: &str = "layer-eit;v=1";
/// Longest name claim, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest avatar URL, in characters.
pub const MAX_AVATAR_URL_CHARS: usize = 1024;

/// The JOSE header of an identity token, exactly the four SPEC members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    /// Always `"JWT"`.
    pub typ: &'static str,
    /// Always `"RS256"`.
    pub alg: &'static str,
    /// Always `"layer-eit;v=1"`.
    pub cty: &'static str,
    /// The signing key.
    pub kid: KeyId,
}

impl Header {
    /// The EIT v1 header for a key.
    pub fn new(kid: KeyId) -> Self {
        Self {
            typ: TYP,
            alg: ALG,
            cty: CTY,
            kid,
        }
    }
}

/// The optional profile claims an identity token may carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Given name, at most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name, at most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Name to show, at most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Empty, or an `http`/`https` URL of at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

impl Profile {
    /// Checks the SPEC's caps and URL rule, naming the first claim that breaks them.
    pub fn check(&self) -> Result<(), ClaimError> {
        for (name, value) in [
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("display_name", &self.display_name),
        ] {
            if let Some(v) = value {
                check_name(v).map_err(|why| ClaimError { claim: name, why })?;
            }
        }
        if let Some(url) = &self.avatar_url {
            check_avatar_url(url).map_err(|why| ClaimError {
                claim: "avatar_url",
                why,
            })?;
        }
        Ok(())
    }
}

/// A control character (C0, DEL or C1) in a string claim: none is
/// allowed, since they are stored and shown.
pub(crate) fn check_no_control(v: &str) -> Result<(), String> {
    match v.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "contains the control character U+{:04X}; none is allowed",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

pub(crate) fn check_name(v: &str) -> Result<(), String> {
    check_no_control(v)?;
    let n = v.chars().count();
    if n > MAX_NAME_CHARS {
        return Err(format!("{n} characters; at most {MAX_NAME_CHARS} allowed"));
    }
    Ok(())
}

pub(crate) fn check_avatar_url(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    check_no_control(v)?;
    let n = v.chars().count();
    if n > MAX_AVATAR_URL_CHARS {
        return Err(format!(
            "{n} characters; at most {MAX_AVATAR_URL_CHARS} allowed"
        ));
    }
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) => Err(format!(
            "scheme `{}` is not allowed; use http or https",
            u.scheme()
        )),
        Err(e) => Err(format!("not a URL ({e})")),
    }
}

/// The claims of an identity token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The provider vouching for the user.
    pub iss: ProviderId,
    /// The app's user id.
    pub prn: UserId,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// The nonce, exactly as the authority issued it.
    pub nce: String,
    /// Optional profile claims.
    #[serde(flatten)]
    pub profile: Profile,
}

impl Claims {
    /// Starts claims for `prn`, vouched for by `iss`, answering `nonce`.
    pub fn builder(iss: ProviderId, prn: UserId, nonce: impl Into<String>) -> ClaimsBuilder {
        ClaimsBuilder {
            iss,
            prn,
            nce: nonce.into(),
            iat: None,
            ttl_secs: 120,
            profile: Profile::default(),
        }
    }
}

/// A claim that breaks the SPEC's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("claim `{claim}` is invalid: {why}")]
#[non_exhaustive]
pub struct ClaimError {
    /// The claim's name.
    pub claim: &'static str,
    /// What is wrong with it.
    pub why: String,
}

/// Builds [`Claims`] that pass the SPEC's claim rules.
#[derive(Debug, Clone)]
#[must_use]
pub struct ClaimsBuilder {
    iss: ProviderId,
    prn: UserId,
    nce: String,
    iat: Option<i64>,
    ttl_secs: i64,
    profile: Profile,
}

impl ClaimsBuilder {
    /// Issue time in seconds since the epoch (the caller's clock: the crate reads none).
    pub fn issued_at(mut self, iat: i64) -> Self {
        self.iat = Some(iat);
        self
    }

    /// Lifetime in seconds; `exp = iat + ttl`. The SPEC recommends 30..=600.
    pub fn ttl_secs(mut self, ttl: i64) -> Self {
        self.ttl_secs = ttl;
        self
    }

    /// All optional profile claims at once.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// `first_name`.
    pub fn first_name(mut self, v: impl Into<String>) -> Self {
        self.profile.first_name = Some(v.into());
        self
    }

    /// `last_name`.
    pub fn last_name(mut self, v: impl Into<String>) -> Self {
        self.profile.last_name = Some(v.into());
        self
    }

    /// `display_name`.
    pub fn display_name(mut self, v: impl Into<String>) -> Self {
        self.profile.display_name = Some(v.into());
        self
    }

    /// `avatar_url`.
    pub fn avatar_url(mut self, v: impl Into<String>) -> Self {
        self.profile.avatar_url = Some(v.into());
        self
    }

    /// Checks every rule and returns the claims.
    pub fn build(self) -> Result<Claims, ClaimError> {
        let iat = self.iat.ok_or_else(|| ClaimError {
            claim: "iat",
            why: "no issue time given".into(),
        })?;
        if iat < 0 {
            return Err(ClaimError {
                claim: "iat",
                why: "negative".into(),
            });
        }
        if self.ttl_secs <= 0 {
            return Err(ClaimError {
                claim: "exp",
                why: "the lifetime must be positive".into(),
            });
        }
        let exp = iat.checked_add(self.ttl_secs).ok_or_else(|| ClaimError {
            claim: "exp",
            why: "out of range".into(),
        })?;
        if self.nce.is_empty() {
            return Err(ClaimError {
                claim: "nce",
                why: "empty".into(),
            });
        }
        self.profile.check()?;
        Ok(Claims {
            iss: self.iss,
            prn: self.prn,
            iat,
            exp,
            nce: self.nce,
            profile: self.profile,
        })
    }
}

/// The part of a token that gets signed: `b64url(header).b64url(claims)`.
pub fn signing_input(header: &Header, claims: &Claims) -> String {
    // Serializing these types cannot fail: strings, integers and ids only.
    let h = serde_json::to_vec(header).expect("header serializes");
    let c = serde_json::to_vec(claims).expect("claims serialize");
    jws::signing_input(&h, &c)
}

/// A compact-serialized identity token.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityToken(String);

impl IdentityToken {
    /// Wraps a compact token without checking it.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The compact form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The compact form, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for IdentityToken {
    /// Tokens are bearer credentials: only their length is printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentityToken({} bytes)", self.0.len())
    }
}

impl std::fmt::Display for IdentityToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ClaimsBuilder {
        Claims::builder(
            ProviderId::generate(),
            UserId::new("alice").unwrap(),
            "n".repeat(43),
        )
        .issued_at(1_700_000_000)
    }

    #[test]
    fn builder_sets_exp_from_ttl_and_serializes_only_given_claims() {
        let c = builder()
            .ttl_secs(300)
            .display_name("Alice")
            .build()
            .unwrap();
        assert_eq!(c.exp - c.iat, 300);
        let v = serde_json::to_value(&c).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 6);
        assert!(v.get("first_name").is_none());
    }

    #[test]
    fn builder_refuses_bad_claims() {
        assert_eq!(
            builder()
                .avatar_url("javascript:alert(1)")
                .build()
                .unwrap_err()
                .claim,
            "avatar_url"
        );
        assert_eq!(
            builder()
                .last_name("x".repeat(129))
                .build()
                .unwrap_err()
                .claim,
            "last_name"
        );
        assert!(builder().ttl_secs(0).build().is_err());
        assert!(builder().avatar_url("").build().is_ok());
        assert!(builder()
            .avatar_url("https://x.example/a.png")
            .build()
            .is_ok());
    }

    #[test]
    fn header_has_exactly_the_spec_members() {
        let h = serde_json::to_value(Header::new(KeyId::generate())).unwrap();
        let mut keys: Vec<_> = h.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["alg", "cty", "kid", "typ"]);
        assert_eq!(h["cty"], "layer-eit;v=1");
    }
}
