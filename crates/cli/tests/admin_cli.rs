//! `tessera admin` against a running authority process: apps listed and
//! changed with the admin token from the environment or a file.

use tessera_tests::process as common;

use std::process::{Command, Output};

use common::{start_authority, ADMIN};

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
    for _ in 0..2 {
        let provider = tessera_claims::ProviderId::generate();
        ids.push(tessera_tests::register_app_with_keys(&http, &server.url, provider, &[]).await);
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
    let url_args = ["--url", url];
    for (args, token, expected) in [
        (
            vec!["apps", "update", &ids[0], "--session-ttl-secs", "5"],
            Some(ADMIN),
            "invalid_property",
        ),
        (
            vec!["apps", "list"],
            Some("a-wrong-admin-token-0123"),
            "access_denied",
        ),
        (vec!["apps", "list"], None, "TESSERA_ADMIN_TOKEN"),
        (
            vec!["apps", "update", &ids[0]],
            Some(ADMIN),
            "nothing to change",
        ),
    ] {
        let args: Vec<&str> = args.into_iter().chain(url_args).collect();
        let out = admin(&args, token);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}
