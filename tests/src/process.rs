//! `tessera … serve` as child processes, started from a config text, their
//! address read from their JSON log; and helpers to register apps and get
//! tokens over HTTP. The generic helpers of the crate root are re-exported.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tessera_claims::{Claims, ProviderId, UserId};
use tessera_signer::{sign_token, PemSigner, Signer as _};

pub use crate::{encode, env, new_signer, now, ADMIN};

/// The `tessera` binary cargo built beside the running test.
pub fn tessera_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/tessera
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join(format!("tessera{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing; run the suite with scripts/test",
        bin.display()
    );
    bin
}

/// A running server process, killed when dropped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its base URL.
    pub url: String,
}

impl Drop for Server {
    /// A test that fails must not leave its servers running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tessera authority serve` with `config` written to `dir/name.toml`.
pub fn start_authority(dir: &Path, name: &str, config: &str) -> Server {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    start_service("authority", &path)
}

/// Starts `tessera <service> serve --config <path>` (authority or identity)
/// and waits until it listens.
pub fn start_service(service: &str, config: &Path) -> Server {
    try_start_service(service, config).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`start_service`], but a server that exits before it listens is an
/// error carrying its last log line, for a test that starts it again.
pub fn try_start_service(service: &str, config: &Path) -> Result<Server, String> {
    let mut child = Command::new(tessera_bin())
        .args([service, "serve", "--log-format", "json", "--config"])
        .arg(config)
        .env("TESSERA_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn,tessera=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut last = String::new();
    let address = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.wait();
            return Err(format!("the {service} exited before listening: {last}"));
        };
        match serde_json::from_str::<Value>(&line) {
            Ok(event) => {
                if let Some(a) = event["address"].as_str() {
                    break a.to_owned();
                }
            }
            Err(_) => last = line,
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Server {
        child,
        url: format!("http://{address}"),
    })
}

/// A staging app registered over the admin API at `url`, with one key per
/// signer: its app id and provider.
pub async fn register_app(
    http: &reqwest::Client,
    url: &str,
    signers: &[&PemSigner],
) -> (String, ProviderId) {
    let provider = ProviderId::generate();
    let keys: Vec<_> = signers
        .iter()
        .map(|s| (*s.key_id(), s.public_key().to_pem()))
        .collect();
    let app_id = crate::register_app_with_keys(http, url, provider, &keys).await;
    (app_id, provider)
}

/// A nonce for the app from the authority at `url`, and a token over it for
/// `user`, signed by `signer`.
pub async fn token_at(
    http: &reqwest::Client,
    url: &str,
    app_id: &str,
    provider: ProviderId,
    signer: &PemSigner,
    user: &str,
) -> String {
    let nonce = crate::nonce_at(http, url, app_id).await;
    let claims = Claims::builder(provider, UserId::new(user).unwrap(), nonce)
        .issued_at(now())
        .ttl_secs(600)
        .build()
        .unwrap();
    sign_token(signer, &claims).await.unwrap().into_string()
}

/// An identity service's config in `dir/identity.toml` over `database_url`,
/// with a freshly generated PEM key in `dir/signing.pem`, a new provider id,
/// and `extra` (TOML) before the `[signer]` table: its path.
pub fn identity_config(dir: &Path, database_url: &str, extra: &str) -> PathBuf {
    let key = dir.join("signing.pem");
    let generated = Command::new(tessera_bin())
        .args(["keys", "generate", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(generated.status.success());
    let config = dir.join("identity.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase_url = \"{database_url}\"\nprovider_id = \"{}\"\n{extra}\n\
             [signer]\nbackend = \"pem\"\nkid = \"{}\"\npath = \"{}\"\n",
            ProviderId::generate(),
            tessera_claims::KeyId::generate(),
            key.display()
        ),
    )
    .unwrap();
    config
}
