//! `tessera signer`: check and benchmark the configured signer.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use tessera_claims::KeyId;

use crate::config::SignerSource;
use crate::signer_bench::{self, BenchOptions, Mode};

#[derive(Debug, Subcommand)]
pub enum SignerCommand {
    /// Build the signer, run its self-check and print backend, kid, key size and fingerprint.
    Check {
        #[command(flatten)]
        signer: SignerSource,
    },
    /// Sign (or verify) EITs as fast as possible and print tokens/s and latency.
    Bench {
        #[command(flatten)]
        signer: SignerSource,
        /// How long to run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Tasks signing at once.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Measure verification of signed tokens instead of signing.
        #[arg(long)]
        verify: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: SignerCommand) -> Result<ExitCode> {
    match cmd {
        SignerCommand::Check { signer } => {
            let (signer, _) = signer.build(None).await?;
            let key = signer.public_key();
            outln!("backend:     {}", signer.backend())?;
            outln!("kid:         {}", signer.key_id())?;
            outln!("key:         RSA {} bits", key.bits())?;
            outln!("fingerprint: {}", key.fingerprint())?;
            outln!("self-check:  ok (signed and verified a probe)")?;
            Ok(ExitCode::SUCCESS)
        }
        SignerCommand::Bench {
            signer,
            seconds,
            concurrency,
            verify,
            json,
        } => {
            if !seconds.is_finite()
                || seconds <= 0.0
                || seconds > 3600.0
                || concurrency == 0
                || concurrency > 4096
            {
                anyhow::bail!("--seconds must be in (0, 3600] and --concurrency in 1..=4096");
            }
            let (signer, _) = signer.build(Some(KeyId::generate())).await?;
            let options = BenchOptions {
                mode: if verify { Mode::Verify } else { Mode::Sign },
                seconds,
                concurrency,
            };
            let result = signer_bench::run(signer, options).await?;
            if json {
                outln!("{}", serde_json::to_string(&result)?)?;
            } else {
                outln!("{result}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
