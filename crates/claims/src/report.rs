//! The validation report (SPEC §2, "The validation tool"): every check but
//! expiry and the nonce, every finding, nothing consumed.

use serde::{Deserialize, Serialize};

use crate::checks::{self, ClaimChecks, KeyResolver, TrustedKey};
use crate::jws::{self, JsonObject};
use crate::reason::{Reason, Rejection, Warning};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    /// The check passed.
    Pass,
    /// The check failed: the token is invalid.
    Fail,
    /// Worth a look, but the token stays valid.
    Warn,
    /// The check could not run because an earlier one failed.
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    /// What was checked: `format`, `header`, `algorithm`, `key`, `revocation`,
    /// `signature`, `claims.<name>`, `issuer`, `lifetime`, `nonce_format`.
    pub check: String,
    /// The outcome.
    pub status: Status,
    /// For `fail` a SPEC reason id, for `warn` a warning id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What was found, for people.
    pub message: String,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Every finding about one token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationReport {
    /// No finding failed.
    pub valid: bool,
    /// The decoded header, when the token could be decoded.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub header: Option<JsonObject>,
    /// The decoded claims, when the token could be decoded.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub claims: Option<JsonObject>,
    /// The findings, in check order.
    pub findings: Vec<Finding>,
}

impl ValidationReport {
    /// The distinct failure reasons, in check order.
    pub fn failure_reasons(&self) -> Vec<&str> {
        self.ids(Status::Fail)
    }

    /// The distinct warning ids, in check order.
    pub fn warnings(&self) -> Vec<&str> {
        self.ids(Status::Warn)
    }

    fn ids(&self, status: Status) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in self.findings.iter().filter(|f| f.status == status) {
            if let Some(r) = f.reason.as_deref() {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        out
    }
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(&mut self, check: &str, status: Status, reason: Option<&str>, message: String) {
        self.0.push(Finding {
            check: check.to_owned(),
            status,
            reason: reason.map(str::to_owned),
            message,
            hint: None,
        });
    }

    fn pass(&mut self, check: &str, message: impl Into<String>) {
        self.push(check, Status::Pass, None, message.into());
    }

    fn skip(&mut self, check: &str, message: &str) {
        self.push(check, Status::Skip, None, message.to_owned());
    }

    fn fail(&mut self, check: &str, rejection: &Rejection) {
        self.push(
            check,
            Status::Fail,
            Some(rejection.reason.as_str()),
            rejection.message.clone(),
        );
        self.with_hint(rejection.hint);
    }

    fn warn(&mut self, check: &str, warning: Warning, message: String, hint: Option<&str>) {
        self.push(check, Status::Warn, Some(warning.as_str()), message);
        self.with_hint(hint);
    }

    fn with_hint(&mut self, hint: Option<&str>) {
        if let (Some(last), Some(hint)) = (self.0.last_mut(), hint) {
            last.hint = Some(hint.to_owned());
        }
    }

    /// Records a result and returns its value, if it passed.
    fn record<T>(&mut self, check: &str, pass: &str, r: Result<T, Rejection>) -> Option<T> {
        match r {
            Ok(v) => {
                self.pass(check, pass);
                Some(v)
            }
            Err(e) => {
                self.fail(check, &e);
                None
            }
        }
    }
}

const AFTER_KEY: [&str; 2] = ["revocation", "signature"];

/// Runs every check of SPEC §2 except expiry (9) and the nonce (10) and
/// returns all findings. Never consumes anything and never panics.
pub fn validate<R: KeyResolver + ?Sized>(token: &str, keys: &R) -> ValidationReport {
    let mut out = Findings::default();
    let decoded = match jws::decode(token) {
        Ok(d) => d,
        Err(e) => {
            out.fail(
                "format",
                &Rejection::new(Reason::MalformedToken, e.to_string()),
            );
            for check in [
                "header",
                "algorithm",
                "key",
                "revocation",
                "signature",
                "claims",
                "issuer",
                "lifetime",
                "nonce_format",
            ] {
                out.skip(check, "the token could not be decoded");
            }
            return finish(out, None, None);
        }
    };
    out.pass(
        "format",
        "three base64url segments; header and claims are JSON objects",
    );
    out.record(
        "header",
        "typ is \"JWT\" and cty is \"layer-eit;v=1\"",
        checks::header(&decoded.header),
    );
    let alg_ok = out
        .record(
            "algorithm",
            "alg is \"RS256\"",
            checks::algorithm(&decoded.header),
        )
        .is_some();
    let key: Option<&TrustedKey> = out.record(
        "key",
        "kid names a known key of the provider",
        checks::key(&decoded.header, keys),
    );
    match key {
        None => AFTER_KEY
            .iter()
            .for_each(|c| out.skip(c, "no known key for this kid")),
        Some(key) => {
            out.record("revocation", "the key is active", checks::revocation(key));
            if alg_ok {
                out.record(
                    "signature",
                    "the RS256 signature verifies",
                    checks::signature(key, &decoded),
                );
            } else {
                out.skip("signature", "alg is not RS256: no signature check is made");
            }
        }
    }
    let claims = checks::claims(&decoded.claims);
    record_claims(&mut out, &claims);
    match (claims.iss(), key) {
        (Some(iss), Some(key)) => {
            out.record(
                "issuer",
                "iss is the provider that owns the key",
                checks::issuer(iss, key),
            );
        }
        (None, _) => out.skip("issuer", "iss is missing or not a string"),
        (_, None) => out.skip("issuer", "no known key, so no known provider"),
    }
    match claims.times() {
        Some((iat, exp)) => match checks::lifetime(iat, exp) {
            Ok(()) => out.pass("lifetime", format!("the token lives {} s", exp - iat)),
            Err(m) => out.warn("lifetime", Warning::Lifetime, m, None),
        },
        None => out.skip("lifetime", "iat or exp is invalid"),
    }
    match claims.nce() {
        Some(nce) => match checks::nonce_format(nce) {
            Ok(()) => out.pass("nonce_format", "the nonce is base64url"),
            Err((m, hint)) => out.warn("nonce_format", Warning::NonceFormat, m, hint),
        },
        None => out.skip("nonce_format", "nce is missing or invalid"),
    }
    finish(out, Some(decoded.header), Some(decoded.claims))
}

fn record_claims(out: &mut Findings, claims: &ClaimChecks<'_>) {
    for (name, r) in claims.required() {
        let check = format!("claims.{name}");
        match r {
            Ok(()) => out.pass(&check, format!("{name} is present and well-formed")),
            Err(e) => out.fail(&check, e),
        }
    }
    for (name, r) in &claims.optional {
        let check = format!("claims.{name}");
        match r {
            Ok(_) => out.pass(&check, format!("{name} is well-formed")),
            Err(e) => out.fail(&check, e),
        }
    }
}

fn finish(
    out: Findings,
    header: Option<JsonObject>,
    claims: Option<JsonObject>,
) -> ValidationReport {
    ValidationReport {
        valid: !out.0.iter().any(|f| f.status == Status::Fail),
        header,
        claims,
        findings: out.0,
    }
}
