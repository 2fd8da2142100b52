//! `tessera identity` (run the identity service) and `tessera users`
//! (manage its users).

use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use tessera_claims::{Profile, UserId};
use tessera_identity::{IdentityConfig, UserStoreError};

use crate::logging::{init_logging, LogFormat};
use crate::token::ProfileArgs;

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Serve the identity service's HTTP API until SIGINT or SIGTERM.
    Serve {
        /// Config file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Log format.
        #[arg(long, value_enum, default_value_t = LogFormat::Human)]
        log_format: LogFormat,
    },
    /// Print the identity service's OpenAPI 3.1 description, as served at
    /// `/openapi.json` (the repository keeps it in `openapi/identity.json`).
    Openapi,
    /// Load a running identity service from this process: `POST /identity_tokens`.
    Bench(crate::load_bench::BenchArgs),
    /// argon2id verifications per second with the config's parameters: the
    /// ceiling of credentials mode.
    BenchPassword {
        /// The identity service's config file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// How long to run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Verifications at once (default: the number of cores).
        #[arg(long)]
        concurrency: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user; the password is read from standard input or a prompt.
    Add {
        /// The identity service's config file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Login name.
        username: String,
        /// The `prn` of their tokens (default: the username).
        #[arg(long)]
        user_id: Option<String>,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Set a user's password, read from standard input or a prompt.
    Passwd {
        /// The identity service's config file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Login name.
        username: String,
    },
    /// Remove a user.
    Remove {
        /// The identity service's config file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Login name.
        username: String,
    },
    /// List users (never their passwords).
    List {
        /// The identity service's config file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

fn load(path: &Path) -> Result<IdentityConfig> {
    crate::config::load(path)
}

pub async fn run(cmd: IdentityCommand) -> Result<ExitCode> {
    match cmd {
        IdentityCommand::Serve {
            config: path,
            log_format,
        } => {
            init_logging(log_format);
            let config = load(&path)?;
            let listen = config.listen;
            let state = tessera_identity::open(config).await.with_context(|| {
                format!("cannot start the identity service from {}", path.display())
            })?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let address = listener.local_addr()?;
            let signer = state.issuer.signer();
            tracing::info!(
                %address,
                backend = signer.backend(),
                kid = %signer.key_id(),
                "identity service listening on {address}"
            );
            tessera_identity::serve(listener, state, crate::logging::shutdown_signal()).await?;
            tracing::info!("identity service stopped");
            Ok(ExitCode::SUCCESS)
        }
        IdentityCommand::Openapi => {
            crate::write_stdout(&tessera_api::openapi::to_json(&tessera_identity::openapi()))?;
            Ok(ExitCode::SUCCESS)
        }
        IdentityCommand::Bench(args) => crate::load_bench::run(args).await,
        IdentityCommand::BenchPassword {
            config,
            seconds,
            concurrency,
        } => {
            let config = load(&config)?;
            let concurrency = concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
                .clamp(1, 64);
            let result =
                crate::load_bench::password_rate(config.password, seconds, concurrency).await?;
            outln!("{result}")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A password from standard input (one line) or, on a terminal, a prompt.
fn read_password() -> Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ")?;
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    anyhow::ensure!(
        password.chars().count() >= 8,
        "the password must have at least 8 characters"
    );
    anyhow::ensure!(
        password.len() <= 1024,
        "the password is longer than 1024 bytes"
    );
    Ok(password)
}

pub async fn run_users(cmd: UsersCommand) -> Result<ExitCode> {
    let (path, cmd) = match &cmd {
        UsersCommand::Add { config, .. }
        | UsersCommand::Passwd { config, .. }
        | UsersCommand::Remove { config, .. }
        | UsersCommand::List { config } => (config.clone(), cmd),
    };
    let config = load(&path)?;
    let users = tessera_identity::open_users(&config)
        .await
        .with_context(|| {
            format!(
                "cannot open the user store {}",
                crate::config::redact_url(&config.database_url)
            )
        })?;
    let named = |e: UserStoreError, username: &str| match e {
        UserStoreError::NotFound => anyhow::anyhow!("no user {username:?}"),
        UserStoreError::Conflict => {
            anyhow::anyhow!("a user {username:?} (or with that user id) exists")
        }
        other => anyhow::Error::new(other),
    };
    match cmd {
        UsersCommand::Add {
            username,
            user_id,
            profile,
            ..
        } => {
            let user_id =
                UserId::new(user_id.unwrap_or_else(|| username.clone())).context("--user-id")?;
            let profile: Profile = profile.into();
            profile.check()?;
            let password = read_password()?;
            users
                .add(&username, &user_id, &password, &profile)
                .await
                .map_err(|e| named(e, &username))?;
            eprintln!("added {username:?} (user id {user_id})");
        }
        UsersCommand::Passwd { username, .. } => {
            let password = read_password()?;
            users
                .set_password(&username, &password)
                .await
                .map_err(|e| named(e, &username))?;
            eprintln!("password of {username:?} changed");
        }
        UsersCommand::Remove { username, .. } => {
            users
                .remove(&username)
                .await
                .map_err(|e| named(e, &username))?;
            eprintln!("removed {username:?}");
        }
        UsersCommand::List { .. } => {
            for u in users.list().await? {
                let name = u.profile.display_name.as_deref().unwrap_or("");
                outln!("{}\t{}\t{}", u.username, u.user_id, name)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
