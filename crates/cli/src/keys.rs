//! `tessera keys`: generate a signing key, print a public key.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use tessera_claims::{KeyId, PublicKey};
use tessera_signer::{PemSigner, Signer as _};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an RSA signing key as PKCS#8 PEM (file mode 0600; never overwrites).
    Generate {
        /// Modulus size.
        #[arg(long, default_value = "2048", value_parser = ["2048", "3072", "4096"])]
        bits: String,
        /// Where to write the key.
        #[arg(long, value_name = "KEY.pem")]
        out: PathBuf,
    },
    /// Print the public key of a private or public PEM key, as SPKI PEM and as a JWK.
    Public {
        /// The key.
        #[arg(long, value_name = "KEY.pem")]
        key: PathBuf,
        /// Key id to put in the JWK.
        #[arg(long)]
        kid: Option<KeyId>,
    },
}

pub fn run(cmd: KeysCommand) -> Result<ExitCode> {
    match cmd {
        KeysCommand::Generate { bits, out } => {
            let bits: usize = bits.parse().context("--bits")?;
            let pem = PemSigner::generate_pem(bits)?;
            write_private(&out, pem.as_bytes())?;
            eprintln!("wrote a {bits}-bit RSA key to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Public { key, kid } => {
            let public = read_public_key(&key)?;
            let kid = kid.unwrap_or_else(KeyId::generate);
            crate::write_stdout(&public.to_pem())?;
            outln!("{}", serde_json::to_string_pretty(&public.to_jwk(&kid))?)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Creates `path` with mode 0600, refusing to replace an existing file.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| {
        if path.exists() {
            format!("{} already exists; not overwriting it", path.display())
        } else {
            format!("cannot create {}", path.display())
        }
    })?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a public key from a public (SPKI or PKCS#1) or private PEM file.
pub fn read_public_key(path: &Path) -> Result<PublicKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if text.contains("PRIVATE KEY-----") {
        let signer = PemSigner::from_pem(KeyId::generate(), &text)
            .with_context(|| format!("cannot use {}", path.display()))?;
        return Ok(signer.public_key().clone());
    }
    PublicKey::from_pem(&text).with_context(|| format!("cannot use {}", path.display()))
}
