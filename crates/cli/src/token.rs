//! `tessera token`: sign, validate and inspect identity tokens.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clap::Subcommand;
use tessera_claims::{
    jws, validate, Claims, JwkSet, KeyId, Profile, ProviderId, PublicKey, Status, TrustedKey,
    UserId, ValidationReport,
};
use tessera_signer::sign_token;

use crate::config::SignerSource;
use crate::keys::read_public_key;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Sign an identity token and print it.
    Sign {
        #[command(flatten)]
        signer: SignerSource,
        /// Provider id (`iss`); taken from the config file when not given.
        #[arg(long, value_name = "ISS")]
        provider_id: Option<ProviderId>,
        /// The app's user id (`prn`).
        #[arg(long)]
        user: String,
        /// The nonce from the authority, passed on untouched.
        #[arg(long)]
        nonce: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 120)]
        ttl: i64,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Validate a token and print the report (exit 0 valid, 1 invalid, 2 usage error).
    Validate {
        /// Public (SPKI or PKCS#1) or private PEM key to verify with.
        #[arg(
            long,
            value_name = "PUB.pem",
            required_unless_present = "jwks",
            requires = "kid"
        )]
        key: Option<PathBuf>,
        /// The key's id (with --key).
        #[arg(long)]
        kid: Option<KeyId>,
        /// A JWKS to find the token's key in: an http(s) URL or a file.
        #[arg(long, value_name = "URL|FILE", conflicts_with_all = ["key", "kid"])]
        jwks: Option<String>,
        /// The provider that owns the key.
        #[arg(long, value_name = "ISS")]
        provider_id: ProviderId,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The token, or `-` to read it from standard input.
        token: String,
    },
    /// Print a token's header and claims without verifying anything.
    Inspect {
        /// The token, or `-` to read it from standard input.
        token: String,
    },
}

/// The optional profile claims, as flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ProfileArgs {
    /// `first_name` claim.
    #[arg(long)]
    first_name: Option<String>,
    /// `last_name` claim.
    #[arg(long)]
    last_name: Option<String>,
    /// `display_name` claim.
    #[arg(long)]
    display_name: Option<String>,
    /// `avatar_url` claim.
    #[arg(long)]
    avatar_url: Option<String>,
}

impl From<ProfileArgs> for Profile {
    fn from(p: ProfileArgs) -> Self {
        Profile {
            first_name: p.first_name,
            last_name: p.last_name,
            display_name: p.display_name,
            avatar_url: p.avatar_url,
        }
    }
}

pub async fn run(cmd: TokenCommand) -> Result<ExitCode> {
    match cmd {
        TokenCommand::Sign {
            signer,
            provider_id,
            user,
            nonce,
            ttl,
            profile,
        } => {
            let (signer, configured) = signer.build(None).await?;
            let iss = provider_id
                .or(configured)
                .context("--provider-id is required (or `provider_id` in the config file)")?;
            let claims = Claims::builder(iss, UserId::new(user).context("--user")?, nonce)
                .issued_at(tessera_claims::unix_now())
                .ttl_secs(ttl)
                .profile(profile.into())
                .build()?;
            outln!("{}", sign_token(signer.as_ref(), &claims).await?)?;
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Validate {
            key,
            kid,
            jwks,
            provider_id,
            json,
            token,
        } => {
            let keys = match (key, kid, jwks) {
                (Some(key), Some(kid), None) => vec![TrustedKey {
                    kid,
                    provider_id,
                    public_key: read_public_key(&key)?,
                    revoked: false,
                }],
                (None, None, Some(source)) => jwks_keys(&source, provider_id).await?,
                _ => anyhow::bail!("give --key KEY.pem --kid KID, or --jwks URL|FILE"),
            };
            let report = validate(&read_token(&token)?, keys.as_slice());
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                crate::write_stdout(&checklist(&report))?;
            }
            Ok(if report.valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        TokenCommand::Inspect { token } => inspect(&read_token(&token)?),
    }
}

/// The RSA keys of a JWKS (from a URL or a file), trusted for `provider_id`.
/// Keys without a well-formed `kid` or that are not RSA are skipped.
async fn jwks_keys(source: &str, provider_id: ProviderId) -> Result<Vec<TrustedKey>> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        reqwest::get(source)
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("cannot fetch {source}"))?
            .text()
            .await?
    } else {
        std::fs::read_to_string(source).with_context(|| format!("cannot read {source}"))?
    };
    let set: JwkSet =
        serde_json::from_str(&text).with_context(|| format!("{source} is not a JWKS"))?;
    let keys: Vec<TrustedKey> = set
        .keys
        .iter()
        .filter_map(|jwk| {
            Some(TrustedKey {
                kid: jwk.kid.as_deref()?.parse().ok()?,
                provider_id,
                public_key: PublicKey::from_jwk(jwk).ok()?,
                revoked: false,
            })
        })
        .collect();
    anyhow::ensure!(
        !keys.is_empty(),
        "{source} has no RSA key with a `layer:///keys/…` kid"
    );
    Ok(keys)
}

fn read_token(arg: &str) -> Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(1 << 20)
            .read_to_string(&mut s)
            .context("cannot read the token from standard input")?;
        Ok(s.trim().to_owned())
    } else {
        Ok(arg.trim().to_owned())
    }
}

/// The report as a checklist for people.
pub fn checklist(report: &ValidationReport) -> String {
    let fails = report.failure_reasons().len();
    let warns = report.warnings().len();
    let mut out = format!(
        "{}  ({fails} failure(s), {warns} warning(s))\n",
        if report.valid { "VALID" } else { "INVALID" }
    );
    for f in &report.findings {
        let mark = match f.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Warn => "warn",
            Status::Skip => "skip",
        };
        let reason = f
            .reason
            .as_deref()
            .map(|r| format!("[{r}] "))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {mark}  {:<20} {reason}{}\n",
            f.check, f.message
        ));
        if let Some(hint) = &f.hint {
            out.push_str(&format!("        {:<20} hint: {hint}\n", ""));
        }
    }
    out
}

fn inspect(token: &str) -> Result<ExitCode> {
    outln!("UNVERIFIED: decoded only; nothing about this token has been checked.")?;
    match jws::decode(token) {
        Ok(d) => {
            outln!("header: {}", serde_json::to_string_pretty(&d.header)?)?;
            outln!("claims: {}", serde_json::to_string_pretty(&d.claims)?)?;
            outln!("signature: {} bytes", d.signature.len())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            outln!("malformed: {e}")?;
            // Show whatever segments do decode, to help find the fault.
            for (name, segment) in ["header", "claims"].iter().zip(token.split('.')) {
                if let Ok(bytes) = URL_SAFE_NO_PAD.decode(segment) {
                    if let Ok(object) = jws::parse_object(&bytes) {
                        outln!("{name}: {}", serde_json::to_string_pretty(&object)?)?;
                    }
                }
            }
            Ok(ExitCode::from(1))
        }
    }
}
