//! `tessera admin` against a running authority process: apps listed and
//! changed with the admin token from the environment or a file.

use tessera_tests::process as common;

use std::process::{Command, Output};

use common::{start_authority, ADMIN};
use serde_json::json;

fn admin(args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(common::tessera_bin());
    command
        .arg("admin")
        .args(args)
        .env_remove("TESSERA_ADMIN_TOKEN");
    if let Some(token) = token {
        command.env("TESSERA_ADMIN_TOKEN", token);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn apps_are_listed_and_changed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}/authority.db\"\n",
        dir.path().display()
    );
    let server = start_authority(dir.path(), "authority", &config);
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for name in ["first app", "second app"] {
        let app: serde_json::Value = http
            .post(format!("{}/admin/apps", server.url))
            .bearer_auth(ADMIN)
            .json(&json!({"name": name, "environment": "staging"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(app["app_id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    let url = server.url.as_str();

    let out = admin(&["apps", "list", "--url", url], Some(ADMIN));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    for (line, id) in lines.iter().zip(&ids) {
        assert!(line.starts_with(&format!("{id}\t")), "{line}");
        assert!(line.contains("\t2592000 (default)\t"), "{line}");
    }

    // The token from a file; the change shows at once.
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{ADMIN}\n")).unwrap();
    let file = token_file.to_str().unwrap();
    let out = admin(
        &[
            "apps",
            "update",
            &ids[0],
            "--session-ttl-secs",
            "3600",
            "--name",
            "renamed",
            "--url",
            url,
            "--token-file",
            file,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("\t3600\trenamed\n"),
        "{}",
        text(&out.stdout)
    );
    let out = admin(
        &[
            "apps",
            "update",
            &ids[0],
            "--default-session-ttl",
            "--url",
            url,
        ],
        Some(ADMIN),
    );
    assert!(
        text(&out.stdout).contains("\t2592000 (default)\trenamed"),
        "{}",
        text(&out.stdout)
    );

    // Refusals carry the authority's error id and message; exit status 2.
    let out = admin(
        &[
            "apps",
            "update",
            &ids[0],
            "--session-ttl-secs",
            "5",
            "--url",
            url,
        ],
        Some(ADMIN),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid_property"),
        "{}",
        text(&out.stderr)
    );
    let out = admin(
        &["apps", "list", "--url", url],
        Some("a-wrong-admin-token-0123"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("access_denied"),
        "{}",
        text(&out.stderr)
    );
    let out = admin(&["apps", "list", "--url", url], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("TESSERA_ADMIN_TOKEN"),
        "{}",
        text(&out.stderr)
    );
    let out = admin(&["apps", "update", &ids[0], "--url", url], Some(ADMIN));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("nothing to change"),
        "{}",
        text(&out.stderr)
    );
}
