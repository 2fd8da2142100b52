//! The checks of SPEC §2, one function each, shared by [`crate::verify`]
//! (first failure wins) and [`crate::validate`] (every finding).

use std::collections::HashMap;

use serde_json::Value;

use crate::ids::{is_base64url, KeyId, ProviderId, UserId};
use crate::jws::{DecodedToken, JsonObject};
use crate::reason::{Reason, Rejection, URL_DECODED_NONCE_HINT};
use crate::token::{self, Claims, Profile, ALG, CTY, TYP};
use crate::PublicKey;

/// A public key the verifier trusts, with the provider that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The key's id.
    pub kid: KeyId,
    /// The provider that owns the key: tokens signed with it must carry this `iss`.
    pub provider_id: ProviderId,
    /// The RSA public key.
    pub public_key: PublicKey,
    /// A revoked key is known but refused.
    pub revoked: bool,
}

/// Finds trusted keys by id.
pub trait KeyResolver {
    /// The key with this id, if it is known.
    fn resolve(&self, kid: &KeyId) -> Option<&TrustedKey>;
}

impl KeyResolver for TrustedKey {
    fn resolve(&self, kid: &KeyId) -> Option<&TrustedKey> {
        (self.kid == *kid).then_some(self)
    }
}

impl KeyResolver for [TrustedKey] {
    fn resolve(&self, kid: &KeyId) -> Option<&TrustedKey> {
        self.iter().find(|k| k.kid == *kid)
    }
}

impl KeyResolver for Vec<TrustedKey> {
    fn resolve(&self, kid: &KeyId) -> Option<&TrustedKey> {
        self.as_slice().resolve(kid)
    }
}

impl<S: std::hash::BuildHasher> KeyResolver for HashMap<KeyId, TrustedKey, S> {
    fn resolve(&self, kid: &KeyId) -> Option<&TrustedKey> {
        self.get(kid)
    }
}

fn describe(v: Option<&Value>) -> String {
    match v {
        None => "missing".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => format!("{other} (not a string)"),
    }
}

/// Step 2: `typ` and `cty`, and no `crit`: EIT v1 defines no extension a
/// verifier must understand, so any `crit` (even empty, RFC 7515 §4.1.11)
/// is refused.
pub(crate) fn header(h: &JsonObject) -> Result<(), Rejection> {
    let mut problems = Vec::new();
    if h.contains_key("crit") {
        problems.push("crit is present; EIT v1 has no critical extensions".to_owned());
    }
    if h.get("typ").and_then(Value::as_str) != Some(TYP) {
        problems.push(format!(
            "typ is {}, expected \"{TYP}\"",
            describe(h.get("typ"))
        ));
    }
    if h.get("cty").and_then(Value::as_str) != Some(CTY) {
        problems.push(format!(
            "cty is {}, expected \"{CTY}\"",
            describe(h.get("cty"))
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Rejection::new(Reason::InvalidHeader, problems.join("; ")))
    }
}

/// Step 3: `alg` must be exactly `RS256`.
pub(crate) fn algorithm(h: &JsonObject) -> Result<(), Rejection> {
    if h.get("alg").and_then(Value::as_str) == Some(ALG) {
        Ok(())
    } else {
        Err(Rejection::new(
            Reason::UnsupportedAlgorithm,
            format!(
                "alg is {}; only \"{ALG}\" is accepted",
                describe(h.get("alg"))
            ),
        ))
    }
}

/// Step 4: `kid` names a key of the provider.
pub(crate) fn key<'k, R: KeyResolver + ?Sized>(
    h: &JsonObject,
    keys: &'k R,
) -> Result<&'k TrustedKey, Rejection> {
    let kid = match h.get("kid") {
        None => return Err(Rejection::new(Reason::UnknownKey, "kid is missing")),
        Some(Value::String(s)) => s.parse::<KeyId>().map_err(|_| {
            Rejection::new(
                Reason::UnknownKey,
                format!("kid {s:?} is not of the form `layer:///keys/<uuid>`"),
            )
        })?,
        Some(other) => {
            return Err(Rejection::new(
                Reason::UnknownKey,
                format!("kid is {other}, not a string"),
            ))
        }
    };
    keys.resolve(&kid).ok_or_else(|| {
        Rejection::new(
            Reason::UnknownKey,
            format!("kid {kid} is not a key of this provider"),
        )
    })
}

/// Step 5: the key is not revoked.
pub(crate) fn revocation(key: &TrustedKey) -> Result<(), Rejection> {
    if key.revoked {
        Err(Rejection::new(
            Reason::RevokedKey,
            format!("key {} has been revoked", key.kid),
        ))
    } else {
        Ok(())
    }
}

/// Step 6: the RS256 signature.
pub(crate) fn signature(key: &TrustedKey, token: &DecodedToken<'_>) -> Result<(), Rejection> {
    if key
        .public_key
        .verify_rs256(token.signing_input.as_bytes(), &token.signature)
    {
        Ok(())
    } else {
        Err(Rejection::new(
            Reason::InvalidSignature,
            format!("the RS256 signature does not verify with key {}", key.kid),
        ))
    }
}

fn missing(name: &str) -> Rejection {
    Rejection::new(Reason::MissingClaim, format!("{name} is missing"))
}

fn invalid(name: &str, why: impl std::fmt::Display) -> Rejection {
    Rejection::new(Reason::InvalidClaim, format!("{name} {why}"))
}

fn string<'a>(c: &'a JsonObject, name: &str) -> Result<Option<&'a str>, Rejection> {
    match c.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(name, format_args!("is {other}, not a string"))),
    }
}

fn required_string<'a>(c: &'a JsonObject, name: &str) -> Result<&'a str, Rejection> {
    string(c, name)?.ok_or_else(|| missing(name))
}

fn time(c: &JsonObject, name: &str) -> Result<i64, Rejection> {
    match c.get(name) {
        None => Err(missing(name)),
        Some(Value::Number(n)) => n.as_i64().filter(|t| *t >= 0).ok_or_else(|| {
            invalid(
                name,
                format_args!("is {n}, not a non-negative integer number of seconds"),
            )
        }),
        Some(other) => Err(invalid(name, format_args!("is {other}, not an integer"))),
    }
}

/// The claims as found, each checked for presence, type and its own rules.
#[derive(Debug)]
pub(crate) struct ClaimChecks<'a> {
    pub iss: Result<&'a str, Rejection>,
    pub prn: Result<&'a str, Rejection>,
    pub iat: Result<i64, Rejection>,
    pub exp: Result<i64, Rejection>,
    pub nce: Result<&'a str, Rejection>,
    /// Present optional claims: name and outcome.
    pub optional: Vec<(&'static str, Result<&'a str, Rejection>)>,
}

/// Names of the optional claims, in report order.
const OPTIONAL: [&str; 4] = ["first_name", "last_name", "display_name", "avatar_url"];

/// Step 7: every claim's presence, type and rules.
pub(crate) fn claims(c: &JsonObject) -> ClaimChecks<'_> {
    let iat = time(c, "iat");
    let exp = time(c, "exp").and_then(|exp| match iat {
        Ok(iat) if exp <= iat => Err(invalid(
            "exp",
            format_args!("({exp}) is not after iat ({iat})"),
        )),
        _ => Ok(exp),
    });
    let prn = required_string(c, "prn").and_then(|p| {
        UserId::check(p)
            .map(|()| p)
            .map_err(|_| invalid("prn", "must be 1 to 256 bytes without control characters"))
    });
    let nce = required_string(c, "nce").and_then(|n| {
        if n.is_empty() {
            Err(invalid("nce", "is empty"))
        } else {
            token::check_no_control(n)
                .map(|()| n)
                .map_err(|why| invalid("nce", why))
        }
    });
    let optional = OPTIONAL
        .iter()
        .filter(|name| c.contains_key(**name))
        .map(|&name| {
            let outcome = string(c, name).and_then(|v| {
                let v = v.unwrap_or_default();
                let rule = if name == "avatar_url" {
                    token::check_avatar_url(v)
                } else {
                    token::check_name(v)
                };
                rule.map(|()| v).map_err(|why| invalid(name, why))
            });
            (name, outcome)
        })
        .collect();
    ClaimChecks {
        iss: required_string(c, "iss"),
        prn,
        iat,
        exp,
        nce,
        optional,
    }
}

impl<'a> ClaimChecks<'a> {
    /// Each required claim with its outcome, in report order.
    pub fn required(&self) -> [(&'static str, Result<(), &Rejection>); 5] {
        fn unit<T>(r: &Result<T, Rejection>) -> Result<(), &Rejection> {
            r.as_ref().map(|_| ())
        }
        [
            ("iss", unit(&self.iss)),
            ("prn", unit(&self.prn)),
            ("iat", unit(&self.iat)),
            ("exp", unit(&self.exp)),
            ("nce", unit(&self.nce)),
        ]
    }

    /// The first failure, in claim order.
    pub fn first_failure(&self) -> Option<&Rejection> {
        self.required()
            .into_iter()
            .find_map(|(_, r)| r.err())
            .or_else(|| self.optional.iter().find_map(|(_, r)| r.as_ref().err()))
    }

    fn ok<T: Copy>(r: &Result<T, Rejection>) -> Option<T> {
        r.as_ref().ok().copied()
    }

    /// `iss` when it is a string.
    pub fn iss(&self) -> Option<&'a str> {
        Self::ok(&self.iss)
    }

    /// `(iat, exp)` when both are valid.
    pub fn times(&self) -> Option<(i64, i64)> {
        Some((Self::ok(&self.iat)?, Self::ok(&self.exp)?))
    }

    /// `nce` when it is a non-empty string.
    pub fn nce(&self) -> Option<&'a str> {
        Self::ok(&self.nce)
    }

    /// Typed claims, once every claim and the issuer passed.
    pub fn into_claims(self, iss: ProviderId) -> Option<Claims> {
        let (iat, exp) = self.times()?;
        let prn = UserId::new(Self::ok(&self.prn)?).ok()?;
        let nce = self.nce()?.to_owned();
        let mut profile = Profile::default();
        for (name, value) in self.optional {
            let value = Some(value.ok()?.to_owned());
            match name {
                "first_name" => profile.first_name = value,
                "last_name" => profile.last_name = value,
                "display_name" => profile.display_name = value,
                _ => profile.avatar_url = value,
            }
        }
        Some(Claims {
            iss,
            prn,
            iat,
            exp,
            nce,
            profile,
        })
    }
}

/// Step 8: `iss` is the id of the provider that owns the key.
pub(crate) fn issuer(iss: &str, key: &TrustedKey) -> Result<ProviderId, Rejection> {
    match iss.parse::<ProviderId>() {
        Ok(p) if p == key.provider_id => Ok(p),
        _ => Err(Rejection::new(
            Reason::IssuerMismatch,
            format!(
                "iss {iss:?} is not {}, the provider that owns key {}",
                key.provider_id, key.kid
            ),
        )),
    }
}

/// The lifetime the SPEC recommends, in seconds.
pub const RECOMMENDED_LIFETIME: std::ops::RangeInclusive<i64> = 30..=600;

/// Warning: `exp − iat` outside the recommended lifetime.
pub(crate) fn lifetime(iat: i64, exp: i64) -> Result<(), String> {
    let life = exp - iat;
    if RECOMMENDED_LIFETIME.contains(&life) {
        Ok(())
    } else {
        Err(format!(
            "the token lives {life} s; 30 to 600 s is recommended"
        ))
    }
}

/// Warning: characters outside the nonce alphabet; with a hint when it looks URL-decoded.
pub(crate) fn nonce_format(nce: &str) -> Result<(), (String, Option<&'static str>)> {
    if is_base64url(nce) {
        return Ok(());
    }
    let hint = nce.contains([' ', '+']).then_some(URL_DECODED_NONCE_HINT);
    Err((
        "the nonce has characters outside the base64url alphabet".into(),
        hint,
    ))
}
