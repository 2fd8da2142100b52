//! `tessera authority serve` as a process: it starts from a config file,
//! answers, survives `kill -9` without losing anything, and stops cleanly on
//! SIGTERM.

use tessera_tests::process as common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{start_authority, Server, ADMIN};
use serde_json::{json, Value};

fn start(dir: &Path) -> Server {
    let config = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}/data/authority.db\"\n",
        dir.display()
    );
    start_authority(dir, "authority", &config)
}

async fn json_post(http: &reqwest::Client, url: String, body: Value, admin: bool) -> (u16, Value) {
    let mut r = http.post(url).json(&body);
    if admin {
        r = r.bearer_auth(ADMIN);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn state_survives_kill_9_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut server = start(dir.path());
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/eit");
    let keys: Value =
        serde_json::from_str(&std::fs::read_to_string(vectors.join("keys.json")).unwrap()).unwrap();
    let (status, app) = json_post(
        &http,
        format!("{}/admin/apps", server.url),
        json!({"name": "p", "environment": "staging", "provider_id": keys["provider_id"]}),
        true,
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    let encoded = common::encode(&app_id);
    let (status, _) = json_post(
        &http,
        format!("{}/admin/apps/{encoded}/keys", server.url),
        json!({"public_key_pem": std::fs::read_to_string(vectors.join("public_key.pem")).unwrap(), "kid": keys["kid"]}),
        true,
    )
    .await;
    assert_eq!(status, 201);
    let (_, nonce) = json_post(&http, format!("{}/nonces", server.url), json!({}), false).await;
    let token = Command::new(common::tessera_bin())
        .args(["token", "sign", "--key"])
        .arg(vectors.join("signing_key.pem"))
        .args([
            "--kid",
            keys["kid"].as_str().unwrap(),
            "--provider-id",
            keys["provider_id"].as_str().unwrap(),
        ])
        .args(["--user", "kim", "--nonce", nonce["nonce"].as_str().unwrap()])
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let (status, session) = json_post(
        &http,
        format!("{}/sessions", server.url),
        json!({"app_id": app_id, "identity_token": token}),
        false,
    )
    .await;
    assert_eq!(status, 201, "{session}");

    // kill -9, then start again on the same data.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let mut server = start(dir.path());
    let me = http
        .get(format!("{}/identities/me", server.url))
        .bearer_auth(session["session_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    let (status, replay) = json_post(
        &http,
        format!("{}/sessions", server.url),
        json!({"app_id": app_id, "identity_token": token}),
        false,
    )
    .await;
    assert_eq!(
        (status, replay["data"]["reason"].as_str()),
        (422, Some("nonce_used")),
        "{replay}"
    );

    // SIGTERM: a clean exit.
    Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the authority did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_config_fails_at_start_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("a.toml");
    std::fs::write(&config, "[nonces]\nttl_secs = 900\n").unwrap();
    let out = Command::new(common::tessera_bin())
        .args(["authority", "serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a.toml") && err.contains("nonces.ttl_secs"),
        "{err}"
    );
    std::fs::write(&config, "listen = 7\n").unwrap();
    let out = Command::new(common::tessera_bin())
        .args(["authority", "serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen"), "{err}");
}
