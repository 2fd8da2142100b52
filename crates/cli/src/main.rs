//! `tessera`: keys, tokens and signers from the command line.

/// `println!` that returns an error instead of panicking when stdout is closed.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

mod admin_cmd;
mod authority_cmd;
mod config;
mod identity_cmd;
mod keys;
mod limiter_bench;
mod load_bench;
mod logging;
mod signer_bench;
mod signer_cmd;
mod token;
mod up;
mod web_demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tessera: EIT v1 identity tokens, signers and services.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the authority and an identity service on embedded defaults
    /// (SQLite, a generated development key, a staging app, two demo
    /// users, and a demo page at /demo).
    Up(up::UpArgs),
    /// Run the client's whole flow against `tessera up`, printing each step.
    Demo(up::DemoArgs),
    /// Run the authority (nonces, sessions, apps and keys).
    #[command(subcommand)]
    Authority(authority_cmd::AuthorityCommand),
    /// Run the identity service ("your backend").
    #[command(subcommand)]
    Identity(identity_cmd::IdentityCommand),
    /// Manage the identity service's users.
    #[command(subcommand)]
    Users(identity_cmd::UsersCommand),
    /// Generate signing keys and print public keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Sign, validate and inspect identity tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Check and benchmark the configured signer.
    #[command(subcommand)]
    Signer(signer_cmd::SignerCommand),
    /// Operate a running authority through its admin API.
    #[command(subcommand)]
    Admin(admin_cmd::AdminCommand),
}

/// Writes to standard output; a closed pipe (`tessera ... | head`) ends quietly.
pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}

/// Exit status: 0 success, 1 a negative answer (an invalid token), 2 a usage
/// or set-up error.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => up::up(args).await,
            Command::Demo(args) => up::demo(args).await,
            Command::Authority(cmd) => authority_cmd::run(cmd).await,
            Command::Identity(cmd) => identity_cmd::run(cmd).await,
            Command::Users(cmd) => identity_cmd::run_users(cmd).await,
            Command::Keys(cmd) => keys::run(cmd),
            Command::Token(cmd) => token::run(cmd).await,
            Command::Signer(cmd) => signer_cmd::run(cmd).await,
            Command::Admin(cmd) => admin_cmd::run(cmd).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
