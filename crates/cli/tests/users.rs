//! `tessera users` against a config file: passwords from standard input,
//! never as arguments; on SQLite and on a PostgreSQL shared by several
//! identity-service instances.

use tessera_tests::process as common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn tessera(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(common::tessera_bin())
        .arg("users")
        .arg(args[0])
        .arg("--config")
        .arg(config)
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn add_list_passwd_remove() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("identity.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"sqlite://{}/identity.db\"\nprovider_id = \"layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02\"\n\
             [signer]\nbackend = \"pem\"\nkid = \"layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01\"\npath = \"unused.pem\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = tessera(
        &config,
        &["add", "alice", "--display-name", "Alice A."],
        "s3cret-passw0rd\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tessera(
        &config,
        &["add", "bob", "--user-id", "u-2"],
        "another-password\n",
    );
    assert!(out.status.success());
    let out = tessera(&config, &["add", "alice"], "third-password\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
    let out = tessera(&config, &["add", "carol"], "short\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));

    let out = tessera(&config, &["list"], "");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, "alice\talice\tAlice A.\nbob\tu-2\t\n");
    assert!(!text.contains("argon2"));

    assert!(tessera(&config, &["passwd", "bob"], "a-new-password\n")
        .status
        .success());
    assert_eq!(
        tessera(&config, &["passwd", "nobody"], "a-new-password\n")
            .status
            .code(),
        Some(2)
    );
    assert!(tessera(&config, &["remove", "bob"], "").status.success());
    assert_eq!(
        tessera(&config, &["remove", "bob"], "").status.code(),
        Some(2)
    );
    let text = String::from_utf8(tessera(&config, &["list"], "").stdout).unwrap();
    assert_eq!(text, "alice\talice\tAlice A.\n");
}

/// A token request with credentials at `url`: the status.
async fn credentials(http: &reqwest::Client, url: &str, username: &str, password: &str) -> u16 {
    http.post(format!("{url}/identity_tokens"))
        .json(&serde_json::json!({
            "nonce": "q5lH0mJ2c8Vx1NwYt3ZkR9aB7eD4fG6hJ0kL2mN4pQ8_Zx-7Ya1Bb2Cc3Dd4Ee5F",
            "username": username,
            "password": password,
        }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn users_on_postgres_are_shared_by_identity_instances() {
    let url = std::env::var("TESSERA_TEST_POSTGRES_URL")
        .expect("TESSERA_TEST_POSTGRES_URL is not set; run the suite with scripts/test");
    let dir = tempfile::tempdir().unwrap();
    let config = common::identity_config(dir.path(), &url, "");
    // A username of this test alone: the database is shared by the run.
    let name = format!("pg-{}", tessera_claims::KeyId::generate().uuid().simple());
    let out = tessera(&config, &["add", &name], "first-password\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(tessera(&config, &["list"], "").stdout).unwrap();
    assert!(listed.contains(&format!("{name}\t{name}\t")), "{listed}");

    let instances = [
        common::start_service("identity", &config),
        common::start_service("identity", &config),
    ];
    let http = reqwest::Client::new();
    for i in &instances {
        assert_eq!(
            credentials(&http, &i.url, &name, "first-password").await,
            200
        );
        assert_eq!(
            credentials(&http, &i.url, &name, "wrong-password").await,
            401
        );
    }
    // Changed and removed through the CLI: every instance sees it at once.
    assert!(tessera(&config, &["passwd", &name], "second-password\n")
        .status
        .success());
    for i in &instances {
        assert_eq!(
            credentials(&http, &i.url, &name, "first-password").await,
            401
        );
        assert_eq!(
            credentials(&http, &i.url, &name, "second-password").await,
            200
        );
    }
    assert!(tessera(&config, &["remove", &name], "").status.success());
    for i in &instances {
        assert_eq!(
            credentials(&http, &i.url, &name, "second-password").await,
            401
        );
    }
}
