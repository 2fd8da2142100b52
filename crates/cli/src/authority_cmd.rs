//! `tessera authority`: run the authority.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use tessera_authority::{AuthorityConfig, DashboardPassword};

use crate::config::redact_url;
use crate::logging::{init_logging, LogFormat};

#[derive(Debug, Subcommand)]
pub enum AuthorityCommand {
    /// Serve the authority's HTTP API until SIGINT or SIGTERM.
    Serve {
        /// Config file (TOML); without one, the embedded defaults and `TESSERA_*` variables.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Log format.
        #[arg(long, value_enum, default_value_t = LogFormat::Human)]
        log_format: LogFormat,
    },
    /// Print the authority's OpenAPI 3.1 description, as served at
    /// `/openapi.json` (the repository keeps it in `openapi/authority.json`).
    Openapi,
    /// Apply the database's missing migrations and print its schema version.
    Migrate {
        /// Config file (TOML); without one, the embedded defaults and `TESSERA_*` variables.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Write every app and key as JSON (to move them to another store).
    Export {
        /// Config file (TOML); without one, the embedded defaults and `TESSERA_*` variables.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Read apps and keys written by `export` into this store. Ids already
    /// there must hold the same data; on any conflict nothing is written.
    Import {
        /// Config file (TOML); without one, the embedded defaults and `TESSERA_*` variables.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The export document, or `-` for standard input.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Start signing new nonces with a fresh MAC key. Nonces of the previous
    /// keys stay valid until they expire; running instances pick the new key
    /// up within a minute.
    RotateNonceKey {
        /// Config file (TOML); without one, the embedded defaults and `TESSERA_*` variables.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Load a running authority from this process: `POST /nonces` or whole `POST /sessions`.
    Bench(crate::load_bench::BenchArgs),
    /// Measure the rate limiter: the cost per request with a table of
    /// tracked clients against an empty one.
    BenchLimiter(crate::limiter_bench::LimiterBenchArgs),
}

pub async fn run(cmd: AuthorityCommand) -> Result<ExitCode> {
    match cmd {
        AuthorityCommand::Serve { config, log_format } => {
            init_logging(log_format);
            let config = load_config(config.as_deref())?;
            let admin_token = admin_token(&config)?;
            if admin_token.is_none() {
                tracing::warn!("no admin token (TESSERA_ADMIN_TOKEN or admin_token_file): the admin API is disabled");
            }
            let password = dashboard_password(&config)?;
            if config.dashboard.enabled && admin_token.is_none() && password.is_none() {
                tracing::warn!("the dashboard is enabled but no one can sign in: set an admin token or TESSERA_DASHBOARD_PASSWORD / dashboard.password_file");
            }
            let database = redact_url(&config.database_url);
            let state = tessera_authority::open(config.clone(), admin_token.as_deref())
                .await
                .with_context(|| format!("cannot start the authority on {database}"))?;
            if let Some(password) = password {
                state.set_dashboard_password(password);
            }
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            let address = listener.local_addr()?;
            tracing::info!(%address, %database, "authority listening on {address}");
            tessera_authority::serve(listener, state, crate::logging::shutdown_signal()).await?;
            tracing::info!("authority stopped");
            Ok(ExitCode::SUCCESS)
        }
        AuthorityCommand::Openapi => {
            crate::write_stdout(&tessera_api::openapi::to_json(&tessera_authority::openapi()))?;
            Ok(ExitCode::SUCCESS)
        }
        AuthorityCommand::Migrate { config } => {
            let (store, database) = open_store(config.as_deref()).await?;
            let version = store.schema_version().await?;
            outln!("{database}: schema version {version}")?;
            Ok(ExitCode::SUCCESS)
        }
        AuthorityCommand::Export { config, out } => {
            let (store, database) = open_store(config.as_deref()).await?;
            let doc = tessera_authority::export(store.as_ref(), tessera_claims::unix_now())
                .await
                .with_context(|| format!("cannot export from {database}"))?;
            let mut json = serde_json::to_string_pretty(&doc)?;
            json.push('\n');
            match out {
                Some(path) => {
                    std::fs::write(&path, json)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
                None => crate::write_stdout(&json)?,
            }
            let keys: usize = doc.apps.iter().map(|a| a.keys.len()).sum();
            eprintln!(
                "exported {} apps and {keys} keys from {database}",
                doc.apps.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        AuthorityCommand::Import { config, file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let doc: tessera_authority::Export = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an export document", file.display()))?;
            let (store, database) = open_store(config.as_deref()).await?;
            let s = tessera_authority::import(store.as_ref(), &doc)
                .await
                .with_context(|| format!("nothing imported into {database}"))?;
            eprintln!(
                "imported into {database}: apps {} created, {} unchanged; keys {} created, {} unchanged, {} revoked",
                s.apps_created, s.apps_unchanged, s.keys_created, s.keys_unchanged, s.keys_revoked
            );
            Ok(ExitCode::SUCCESS)
        }
        AuthorityCommand::RotateNonceKey { config } => {
            let skew = load_config(config.as_deref())?.tokens.clock_skew_secs;
            let (store, database) = open_store(config.as_deref()).await?;
            let now = tessera_claims::unix_now();
            let key = tessera_authority::nonce::new_key(now);
            let forget_before = now - tessera_authority::nonce::retired_key_grace_secs(skew);
            store
                .rotate_nonce_key(&key, forget_before)
                .await
                .with_context(|| format!("cannot rotate the nonce key in {database}"))?;
            eprintln!(
                "{database}: nonces are now signed with key {:08x}",
                key.key_id
            );
            Ok(ExitCode::SUCCESS)
        }
        AuthorityCommand::Bench(args) => crate::load_bench::run(args).await,
        AuthorityCommand::BenchLimiter(args) => Ok(crate::limiter_bench::run(args)),
    }
}

/// The configured database, migrated, and its URL as it may be printed.
async fn open_store(
    path: Option<&std::path::Path>,
) -> Result<(std::sync::Arc<dyn tessera_authority::store::Store>, String)> {
    let config = load_config(path)?;
    let database = redact_url(&config.database_url);
    let store = tessera_authority::open_store(&config)
        .await
        .with_context(|| format!("cannot open {database}"))?;
    Ok((store, database))
}

/// The authority's settings: defaults, then the file, then `TESSERA_*`.
pub fn load_config(path: Option<&std::path::Path>) -> Result<AuthorityConfig> {
    let mut figment = Figment::new();
    if let Some(path) = path {
        if !path.is_file() {
            anyhow::bail!("config file {} does not exist", path.display());
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    let config: AuthorityConfig = figment
        .merge(Env::prefixed("TESSERA_").split("__"))
        .extract()
        .map_err(|e| match path {
            Some(p) => anyhow::anyhow!("invalid configuration in {}: {e}", p.display()),
            None => anyhow::anyhow!("invalid configuration: {e}"),
        })?;
    config.check().map_err(|e| match path {
        Some(p) => anyhow::anyhow!("invalid configuration in {}: {e}", p.display()),
        None => anyhow::anyhow!("invalid configuration: {e}"),
    })?;
    Ok(config)
}

/// The admin token: `TESSERA_ADMIN_TOKEN`, else the file named in config.
fn admin_token(config: &AuthorityConfig) -> Result<Option<String>> {
    let token = match std::env::var("TESSERA_ADMIN_TOKEN") {
        Ok(t) => Some(t),
        Err(_) => match &config.admin_token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read admin_token_file {}", path.display()))?,
            ),
            None => None,
        },
    };
    match token.map(|t| t.trim().to_owned()) {
        Some(t) if t.len() < 16 => anyhow::bail!("the admin token must be at least 16 characters"),
        other => Ok(other),
    }
}

/// The dashboard password: `TESSERA_DASHBOARD_PASSWORD`, else the file
/// `dashboard.password_file` names (a password, or its argon2id PHC string).
fn dashboard_password(config: &AuthorityConfig) -> Result<Option<DashboardPassword>> {
    let secret = match std::env::var("TESSERA_DASHBOARD_PASSWORD") {
        Ok(p) => p,
        Err(_) => match &config.dashboard.password_file {
            Some(path) => std::fs::read_to_string(path).with_context(|| {
                format!("cannot read dashboard.password_file {}", path.display())
            })?,
            None => return Ok(None),
        },
    };
    Ok(Some(DashboardPassword::new(&secret)?))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The shipped example configurations load and pass their range checks.
    #[test]
    fn the_example_configs_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let authority = super::load_config(Some(&root.join("authority.toml"))).unwrap();
        assert_eq!(authority.rate_limit.nonces, 300);
        assert!(authority.http.trusted_proxies.is_empty());
        // The dashboard is off in every shipped production configuration.
        assert_eq!(
            authority.dashboard,
            tessera_authority::DashboardConfig::default()
        );
        assert!(!authority.dashboard.enabled);
        let postgres =
            super::load_config(Some(&root.join("authority-postgres-redis.toml"))).unwrap();
        assert!(!postgres.dashboard.enabled);
        let identity: tessera_identity::IdentityConfig =
            crate::config::load(&root.join("identity.toml")).unwrap();
        assert_eq!(identity.password.queue, 32);
        assert_eq!(identity.rate_limit.max_delay_secs, 300);
        identity.rate_limit.check().unwrap();
        identity.http.check().unwrap();
    }
}
