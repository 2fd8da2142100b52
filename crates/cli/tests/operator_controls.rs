//! Operator controls across three `tessera authority serve` processes
//! sharing PostgreSQL and Redis, driven by `tessera admin` against one
//! instance and checked at every instance: a user's sessions revoked,
//! suspension and its lifting, an app's session lifetime applying to new
//! sessions only, revoke-before per app and per user and its undo, identity
//! edits validated, and the audit trail listing each action with its actor.
//! `scripts/test` provides PostgreSQL and Redis; without them this fails.

use tessera_tests::process as common;

use std::process::{Command, Output};

use common::{env, new_signer, register_app, start_authority, token_at, Server, ADMIN};
use serde_json::{json, Value};
use tessera_claims::{KeyId, ProviderId};
use tessera_signer::PemSigner;
use tessera_tests::ScratchDatabase;

fn tessera_admin(args: &[&str]) -> Output {
    Command::new(common::tessera_bin())
        .arg("admin")
        .args(args)
        .env("TESSERA_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `tessera admin ARGS --url URL` and expects success: its stdout.
#[track_caller]
fn admin_ok(args: &[&str], url: &str) -> String {
    let mut all = args.to_vec();
    all.extend(["--url", url]);
    let out = tessera_admin(&all);
    assert!(
        out.status.success(),
        "{all:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

struct Stack {
    servers: Vec<Server>,
    http: reqwest::Client,
    app_id: String,
    provider: ProviderId,
    signer: PemSigner,
}

impl Stack {
    fn url(&self, i: usize) -> &str {
        &self.servers[i].url
    }

    /// Opens a session for `user` at instance `i`: the answer's status and body.
    async fn try_open(&self, i: usize, user: &str) -> (u16, Value) {
        let token = token_at(
            &self.http,
            self.url(i),
            &self.app_id,
            self.provider,
            &self.signer,
            user,
        )
        .await;
        let r = self
            .http
            .post(format!("{}/sessions", self.url(i)))
            .json(&json!({"app_id": self.app_id, "identity_token": token}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn open(&self, i: usize, user: &str) -> Value {
        let (status, body) = self.try_open(i, user).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// `GET /identities/me` at instance `i`: 200, or 401 with a re-challenge.
    async fn me(&self, i: usize, session: &Value) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}/identities/me", self.url(i)))
            .bearer_auth(session["session_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        if status == 401 {
            assert_eq!(body["id"], "authentication_required", "{body}");
            assert!(body["data"]["nonce"].is_string(), "{body}");
        }
        (status, body)
    }

    /// Whether every instance accepts (`true`) or refuses each session.
    async fn expect_everywhere(&self, sessions: &[&Value], works: bool) {
        for i in 0..self.servers.len() {
            for s in sessions {
                let (status, body) = self.me(i, s).await;
                let expected = if works { 200 } else { 401 };
                assert_eq!(status, expected, "instance {i}, {}: {body}", s["user_id"]);
            }
        }
    }
}

#[tokio::test]
async fn operators_control_users_across_three_instances() {
    let db = ScratchDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{}\"\n\
         [rate_limit]\nnonces = 1000000\nfailed_sessions = 1000000\nchallenges = 1000000\n\
         [nonces]\nbackend = \"redis\"\nredis_url = \"{}\"\nredis_prefix = \"{}{}:\"\n",
        db.url,
        env("TESSERA_TEST_REDIS_URL"),
        env("TESSERA_TEST_REDIS_PREFIX"),
        KeyId::generate().uuid()
    );
    // The first instance migrates the new database; the others find it ready.
    let mut servers = vec![start_authority(dir.path(), "a0", &config)];
    servers.extend((1..3).map(|i| start_authority(dir.path(), &format!("a{i}"), &config)));
    let http = reqwest::Client::new();
    let signer = new_signer();
    let (app_id, provider) = register_app(&http, &servers[0].url, &[&signer]).await;
    let stack = Stack {
        servers,
        http,
        app_id,
        provider,
        signer,
    };
    let app = stack.app_id.as_str();

    // A user with a session opened at each instance; another user.
    let ada: Vec<Value> = [
        stack.open(0, "ada").await,
        stack.open(1, "ada").await,
        stack.open(2, "ada").await,
    ]
    .into();
    let bob = stack.open(0, "bob").await;
    let all_ada: Vec<&Value> = ada.iter().collect();
    stack.expect_everywhere(&all_ada, true).await;
    let shown: Value =
        serde_json::from_str(&admin_ok(&["users", "show", app, "ada"], stack.url(2))).unwrap();
    assert_eq!(shown["sessions"].as_array().unwrap().len(), 3);

    // Revoked at one instance: every instance refuses every one of them.
    let out = admin_ok(&["users", "end-sessions", app, "ada"], stack.url(1));
    assert_eq!(out, "ada: every session ended\n");
    stack.expect_everywhere(&all_ada, false).await;
    stack.expect_everywhere(&[&bob], true).await;

    // Suspension refuses new sessions with the documented error; lifting it
    // restores them.
    admin_ok(&["users", "suspend", app, "ada"], stack.url(2));
    for i in 0..3 {
        let (status, body) = stack.try_open(i, "ada").await;
        assert_eq!(status, 403, "instance {i}: {body}");
        assert_eq!(body["id"], "user_suspended");
        assert_eq!(body["code"], 101);
    }
    let shown: Value =
        serde_json::from_str(&admin_ok(&["users", "show", app, "ada"], stack.url(0))).unwrap();
    assert_eq!(shown["suspended"], true);
    admin_ok(&["users", "lift-suspension", app, "ada"], stack.url(2));
    let before_change = stack.open(1, "ada").await;

    // A new session lifetime applies to sessions opened afterwards only.
    admin_ok(
        &["apps", "update", app, "--session-ttl-secs", "30"],
        stack.url(0),
    );
    let after_change = stack.open(0, "ada").await;
    let lifetime = |s: &Value| {
        let expires = tessera_api::parse_rfc3339(s["expires_at"].as_str().unwrap()).unwrap();
        expires - common::now()
    };
    assert!(lifetime(&after_change) <= 30, "{after_change}");
    assert!(lifetime(&before_change) > 29 * 86_400, "{before_change}");
    stack
        .expect_everywhere(&[&before_change, &after_change], true)
        .await;

    // Revoke-before for the app, then its undo.
    let live = [&before_change, &after_change, &bob];
    let out = admin_ok(&["revoke-before", "set", app], stack.url(1));
    assert!(out.starts_with("sessions opened at or before "), "{out}");
    stack.expect_everywhere(&live, false).await;
    admin_ok(&["revoke-before", "clear", app], stack.url(2));
    stack.expect_everywhere(&live, true).await;
    // For one user, then its undo.
    admin_ok(
        &["revoke-before", "set", app, "--user", "ada"],
        stack.url(0),
    );
    stack
        .expect_everywhere(&[&before_change, &after_change], false)
        .await;
    stack.expect_everywhere(&[&bob], true).await;
    admin_ok(
        &["revoke-before", "clear", app, "--user", "ada"],
        stack.url(0),
    );
    stack
        .expect_everywhere(&[&before_change, &after_change], true)
        .await;

    // Identity edits, validated, errors in the SPEC's shape.
    for (flag, value) in [
        ("--display-name", "x".repeat(129)),
        ("--avatar-url", "ftp://example.com/a.png".to_owned()),
        ("--email-address", "nobody".to_owned()),
    ] {
        let out = tessera_admin(&[
            "identities",
            "update",
            app,
            "ada",
            flag,
            &value,
            "--url",
            stack.url(1),
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(
            text(&out.stderr).contains("422 Unprocessable Entity invalid_property"),
            "{flag}: {}",
            text(&out.stderr)
        );
    }
    let edited: Value = serde_json::from_str(&admin_ok(
        &[
            "identities",
            "update",
            app,
            "ada",
            "--display-name",
            "Ada",
            "--metadata",
            "team=engines",
        ],
        stack.url(1),
    ))
    .unwrap();
    assert_eq!(edited["display_name"], "Ada");
    let (_, me) = stack.me(2, &after_change).await;
    assert_eq!(me["display_name"], "Ada");
    assert_eq!(me["metadata"], json!({"team": "engines"}));

    // The trail lists each action in order, with its actor.
    let trail = admin_ok(&["audit", "--app-id", app], stack.url(2));
    let events: Vec<(String, String, String)> = trail
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 9, "{line}");
            (f[2].to_owned(), f[3].to_owned(), f[5].to_owned())
        })
        .collect();
    let expected = [
        ("app_created", "admin", "-"),
        ("key_registered", "admin", "-"),
        ("session_opened", "user", "ada"),
        ("session_opened", "user", "ada"),
        ("session_opened", "user", "ada"),
        ("session_opened", "user", "bob"),
        ("sessions_revoked", "admin", "ada"),
        ("user_suspended", "admin", "ada"),
        ("session_refused", "user", "ada"),
        ("session_refused", "user", "ada"),
        ("session_refused", "user", "ada"),
        ("suspension_lifted", "admin", "ada"),
        ("session_opened", "user", "ada"),
        ("app_changed", "admin", "-"),
        ("session_opened", "user", "ada"),
        ("revoke_before_set", "admin", "-"),
        ("revoke_before_cleared", "admin", "-"),
        ("revoke_before_set", "admin", "ada"),
        ("revoke_before_cleared", "admin", "ada"),
        ("identity_changed", "admin", "ada"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
        .collect();
    assert_eq!(events, expected, "{trail}");
    assert!(
        trail.contains("\"reason\":\"user_suspended\""),
        "refusals carry their reason: {trail}"
    );
    for s in ada.iter().chain([&bob, &before_change, &after_change]) {
        assert!(
            !trail.contains(s["session_token"].as_str().unwrap()),
            "never a session token"
        );
    }
    let ada_only = admin_ok(
        &["audit", "--app-id", app, "--user-id", "ada", "--limit", "3"],
        stack.url(0),
    );
    assert_eq!(ada_only.lines().count(), 3);
    assert!(ada_only
        .lines()
        .all(|l| l.split('\t').nth(5) == Some("ada")));
}
