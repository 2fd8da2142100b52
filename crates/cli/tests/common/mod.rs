//! Helpers shared by the process tests: `tessera authority serve` started
//! from a config text, its address read from its JSON log.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};
use tessera_claims::{Claims, ProviderId, UserId};
use tessera_signer::{sign_token, PemSigner, Signer as _};

pub const ADMIN: &str = "process-test-admin-token";

pub struct Server {
    pub child: Child,
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([service, "serve", "--log-format", "json", "--config"])
        .arg(config)
        .env("TESSERA_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn,tessera=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the {service} exited before listening"))
            .unwrap();
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if let Some(a) = event["address"].as_str() {
            break a.to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        url: format!("http://{address}"),
    }
}

/// The URL-encoded form of an id, for paths.
pub fn encode(id: &str) -> String {
    id.replace(':', "%3A").replace('/', "%2F")
}

/// A test service's setting from `scripts/test`; without it the test fails.
pub fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set; run the suite with scripts/test"))
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A staging app registered over the admin API at `url`, with one key per
/// signer: its app id and provider.
pub async fn register_app(
    http: &reqwest::Client,
    url: &str,
    signers: &[&PemSigner],
) -> (String, ProviderId) {
    let provider = ProviderId::generate();
    let app: Value = http
        .post(format!("{url}/admin/apps"))
        .bearer_auth(ADMIN)
        .json(
            &json!({"name": "test", "environment": "staging", "provider_id": provider.to_string()}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    for signer in signers {
        http.post(format!("{url}/admin/apps/{}/keys", encode(&app_id)))
            .bearer_auth(ADMIN)
            .json(&json!({"public_key_pem": signer.public_key().to_pem(), "kid": signer.key_id().to_string()}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
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
    let nonce: Value = http
        .post(format!("{url}/nonces"))
        .json(&json!({"app_id": app_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims = Claims::builder(
        provider,
        UserId::new(user).unwrap(),
        nonce["nonce"].as_str().unwrap(),
    )
    .issued_at(now())
    .ttl_secs(600)
    .build()
    .unwrap();
    sign_token(signer, &claims).await.unwrap().into_string()
}
