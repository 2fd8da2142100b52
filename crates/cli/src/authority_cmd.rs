//! `tessera authority`: run the authority.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use tessera_authority::AuthorityConfig;

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
    /// Load a running authority from this process: `POST /nonces` or whole `POST /sessions`.
    Bench(crate::http_bench::BenchArgs),
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
            let state = tessera_authority::open(config.clone(), admin_token.as_deref())
                .await
                .with_context(|| {
                    format!("cannot start the authority on {}", config.database_url)
                })?;
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            let address = listener.local_addr()?;
            tracing::info!(%address, database = %config.database_url, "authority listening on {address}");
            tessera_authority::serve(listener, state, crate::logging::shutdown_signal()).await?;
            tracing::info!("authority stopped");
            Ok(ExitCode::SUCCESS)
        }
        AuthorityCommand::Bench(args) => crate::http_bench::run(args).await,
    }
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
