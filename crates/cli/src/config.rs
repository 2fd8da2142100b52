//! Configuration files: TOML read with figment, overridden by `TESSERA_`
//! environment variables (`__` separates nested keys).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tessera_claims::{KeyId, ProviderId};
use tessera_signer::{build_signer, DynSigner, PemConfig, SignerConfig};

/// The figment for a config file: the file, then `TESSERA_*` overrides.
pub fn figment(path: &Path) -> Figment {
    Figment::new()
        .merge(Toml::file_exact(path))
        .merge(Env::prefixed("TESSERA_").split("__"))
}

/// Reads and checks a config file. Errors name the file, the key and what was expected.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T> {
    if !path.is_file() {
        anyhow::bail!("config file {} does not exist", path.display());
    }
    figment(path)
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration in {}: {e}", path.display()))
}

/// The part of a service config a signing command needs: who signs, with what.
#[derive(Debug, Deserialize)]
pub struct SigningConfig {
    /// The provider the tokens are issued for (`iss`).
    pub provider_id: Option<ProviderId>,
    /// The key backend.
    pub signer: SignerConfig,
}

/// Where a command's signer comes from: a config file or a bare PEM key.
#[derive(Debug, Clone, clap::Args)]
pub struct SignerSource {
    /// Config file with a `[signer]` table (and `provider_id`).
    #[arg(long, value_name = "FILE", conflicts_with = "key")]
    pub config: Option<PathBuf>,
    /// PKCS#1 or PKCS#8 PEM private key, instead of a config file.
    #[arg(long, value_name = "KEY.pem", required_unless_present = "config")]
    pub key: Option<PathBuf>,
    /// Key id (`layer:///keys/<uuid>`) of the key given with --key.
    #[arg(long, value_name = "KID", requires = "key")]
    pub kid: Option<KeyId>,
}

impl SignerSource {
    /// Loads the config (if any) and builds the signer, self-check included.
    pub async fn build(
        &self,
        default_kid: Option<KeyId>,
    ) -> Result<(DynSigner, Option<ProviderId>)> {
        let (signer_config, provider_id) = match (&self.config, &self.key) {
            (Some(path), _) => {
                let c: SigningConfig = load(path)?;
                (c.signer, c.provider_id)
            }
            (None, Some(key)) => {
                let kid = self
                    .kid
                    .or(default_kid)
                    .context("--kid is required with --key")?;
                (
                    SignerConfig::Pem(PemConfig {
                        kid,
                        path: Some(key.clone()),
                        pem_env: None,
                    }),
                    None,
                )
            }
            (None, None) => anyhow::bail!("give --config FILE or --key KEY.pem"),
        };
        let signer = build_signer(&signer_config).await?;
        Ok((signer, provider_id))
    }
}

#[cfg(test)]
// figment::Jail closures return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    const KID: &str = "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01";

    #[test]
    fn reads_the_file_and_environment_overrides() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "signer.toml",
                &format!(
                    "provider_id = \"layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02\"\n\
                     [signer]\nbackend = \"pem\"\nkid = \"{KID}\"\npath = \"a.pem\"\n"
                ),
            )?;
            jail.set_env("TESSERA_SIGNER__PATH", "b.pem");
            let c: SigningConfig = load(Path::new("signer.toml")).map_err(|e| e.to_string())?;
            match c.signer {
                SignerConfig::Pem(p) => assert_eq!(p.path.unwrap(), PathBuf::from("b.pem")),
                other => panic!("{other:?}"),
            }
            Ok(())
        });
    }

    #[test]
    fn a_bad_file_names_the_file_the_key_and_what_was_expected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "bad.toml",
                "[signer]\nbackend = \"pem\"\nkid = \"layer:///keys/not-a-uuid\"\npath = \"a.pem\"\n",
            )?;
            let err = load::<SigningConfig>(Path::new("bad.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("bad.toml"), "{err}");
            // The table, the setting ("key id") and the form expected.
            assert!(err.contains("signer"), "{err}");
            assert!(err.contains("invalid key id"), "{err}");
            assert!(err.contains("layer:///keys/<lower-case uuid>"), "{err}");

            jail.create_file("typo.toml", "[signer]\nbackend = \"hsm\"\n")?;
            let err = load::<SigningConfig>(Path::new("typo.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("signer") && err.contains("`hsm`") && err.contains("aws-kms"),
                "{err}"
            );

            jail.create_file(
                "other.toml",
                &format!("[signer]\nbackend = \"pem\"\nkid = \"{KID}\"\npath = \"a.pem\"\npin_env = \"PIN\"\n"),
            )?;
            let err = load::<SigningConfig>(Path::new("other.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("other.toml") && err.contains("signer") && err.contains("`pin_env`"),
                "{err}"
            );

            let err = load::<SigningConfig>(Path::new("missing.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("missing.toml"), "{err}");
            Ok(())
        });
    }
}

/// A database or Redis URL as it may be printed: any password replaced by
/// `***`, whatever characters it holds (a raw `/`, `?`, `#` or `@` included),
/// and so is the value of a `password=` query parameter.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user information ends at the last `@`: a password may hold any
    // character, and over-hiding a host or path is the safe mistake.
    let rest = match rest.rsplit_once('@') {
        Some((userinfo, after)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if user.contains(['/', '?', '#']) {
                // No user information at all: the `@` sits in the path or query.
                rest.to_owned()
            } else {
                format!("{user}:***@{after}")
            }
        }
        _ => rest.to_owned(),
    };
    format!("{scheme}://{}", redact_query_password(&rest))
}

/// Hides a `password=` query parameter's value, up to the next `&` (a raw
/// `#` is taken as part of it: database URLs have no fragments).
fn redact_query_password(rest: &str) -> String {
    let Some((before, query)) = rest.split_once('?') else {
        return rest.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{before}?{}", query.join("&"))
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        assert_eq!(
            redact_url("postgres://tessera:s3cr3t@db.internal:5432/tessera?sslmode=require"),
            "postgres://tessera:***@db.internal:5432/tessera?sslmode=require"
        );
        assert_eq!(
            redact_url("redis://:pw@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("postgres://tessera@db/tessera"),
            "postgres://tessera@db/tessera"
        );
        assert_eq!(redact_url("sqlite://./data/a.db"), "sqlite://./data/a.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn passwords_with_delimiters_are_hidden() {
        for password in ["pa/ss", "pa?ss", "pa#ss", "p@ss", "/?#@:", "a:b"] {
            let url = format!("postgres://tessera:{password}@db:5432/tessera?sslmode=require");
            let shown = redact_url(&url);
            assert_eq!(
                shown, "postgres://tessera:***@db:5432/tessera?sslmode=require",
                "{password}"
            );
        }
        assert_eq!(
            redact_url("postgres://db/tessera?user=me&password=s/e#c?r@t"),
            "postgres://db/tessera?user=me&password=***"
        );
        assert_eq!(
            redact_url("postgres://db/tessera?options=a@b"),
            "postgres://db/tessera?options=a@b"
        );
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error
mod shipped_configs {
    use super::*;

    /// Every file in `config/` is read by the command it is for.
    #[test]
    fn every_shipped_config_file_parses() {
        // In a jail: other tests set `TESSERA_*` variables inside theirs.
        figment::Jail::expect_with(|_| {
            check_shipped_configs();
            Ok(())
        });
    }

    fn check_shipped_configs() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let mut read = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("authority") {
                let c = crate::authority_cmd::load_config(Some(&path)).unwrap();
                assert!(c.database_url.contains("://"), "{name}");
            } else if name.starts_with("identity") {
                let c: tessera_identity::IdentityConfig = load(&path).unwrap();
                assert!(c.database_url.contains("://"), "{name}");
            } else if name.starts_with("signer") {
                let c: SigningConfig = load(&path).unwrap();
                assert!(c.provider_id.is_some(), "{name}");
            } else {
                panic!("{name}: which command reads it?");
            }
            read.push(name);
        }
        read.sort();
        assert_eq!(
            read,
            [
                "authority-postgres-redis.toml",
                "authority.toml",
                "identity-aws-kms.toml",
                "identity-pkcs11.toml",
                "identity.toml",
                "signer-pem.toml"
            ]
        );
    }
}
