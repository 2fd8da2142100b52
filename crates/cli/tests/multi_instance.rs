//! Three `tessera authority serve` processes on one PostgreSQL (with and
//! without Redis) behave as one: 2,000 nonces issued round-robin, each token
//! submitted to all three at once, exactly one session per token; then one
//! instance killed with SIGKILL mid-load while the others keep serving.
//! `scripts/test` provides the database and Redis; without them this fails.

use tessera_tests::process as common;

use std::sync::Arc;

use common::{env, new_signer, register_app, start_authority, token_at, Server};
use serde_json::{json, Value};
use tessera_claims::KeyId;

const TOKENS: usize = 2000;
const KILL_TOKENS: usize = 300;

/// Posts `{app_id, identity_token}` to every instance at once; returns the
/// statuses, reasons and session tokens (connection failures as status 0).
async fn submit_everywhere(
    http: reqwest::Client,
    urls: Arc<Vec<String>>,
    app_id: String,
    token: String,
) -> Vec<(u16, Option<String>, Option<String>)> {
    let calls: Vec<_> = urls
        .iter()
        .map(|url| {
            let r = http
                .post(format!("{url}/sessions"))
                .json(&json!({"app_id": app_id, "identity_token": token}));
            tokio::spawn(async move {
                match r.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        (
                            status,
                            body["data"]["reason"].as_str().map(str::to_owned),
                            body["session_token"].as_str().map(str::to_owned),
                        )
                    }
                    Err(_) => (0, None, None),
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for c in calls {
        out.push(c.await.unwrap());
    }
    out
}

async fn scenario(redis: bool) {
    let dir = tempfile::tempdir().unwrap();
    // Every request comes from loopback: one client as far as limits go.
    let mut config = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{}\"\n[rate_limit]\nnonces = 1000000\nfailed_sessions = 1000000\n",
        env("TESSERA_TEST_POSTGRES_URL")
    );
    if redis {
        config.push_str(&format!(
            "[nonces]\nbackend = \"redis\"\nredis_url = \"{}\"\nredis_prefix = \"{}{}:\"\n",
            env("TESSERA_TEST_REDIS_URL"),
            env("TESSERA_TEST_REDIS_PREFIX"),
            KeyId::generate().uuid()
        ));
    }
    let mut servers: Vec<Server> = (0..3)
        .map(|i| start_authority(dir.path(), &format!("a{i}"), &config))
        .collect();
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    // An app and its key, registered at instance 0.
    let signer = new_signer();
    let (app_id, provider) = register_app(&http, &urls[0], &[&signer]).await;

    // Nonces round-robin over the instances; a token for each.
    let mut tokens = Vec::with_capacity(TOKENS + KILL_TOKENS);
    for i in 0..TOKENS + KILL_TOKENS {
        let user = format!("user-{i}");
        tokens.push(token_at(&http, &urls[i % 3], &app_id, provider, &signer, &user).await);
    }

    // Each token to all three at once, 16 tokens in flight.
    let urls = Arc::new(urls);
    let run = |batch: Vec<String>| {
        let (http, urls, app_id) = (http.clone(), urls.clone(), app_id.clone());
        async move {
            let mut results = Vec::new();
            for chunk in batch.chunks(16) {
                let calls: Vec<_> = chunk
                    .iter()
                    .map(|t| {
                        tokio::spawn(submit_everywhere(
                            http.clone(),
                            urls.clone(),
                            app_id.clone(),
                            t.clone(),
                        ))
                    })
                    .collect();
                for c in calls {
                    results.push(c.await.unwrap());
                }
            }
            results
        }
    };
    let results = run(tokens[..TOKENS].to_vec()).await;
    let mut sessions = Vec::new();
    for (i, per_instance) in results.iter().enumerate() {
        let created: Vec<_> = per_instance.iter().filter(|(s, _, _)| *s == 201).collect();
        assert_eq!(created.len(), 1, "token {i}: {per_instance:?}");
        for (status, reason, _) in per_instance.iter().filter(|(s, _, _)| *s != 201) {
            assert_eq!(
                (*status, reason.as_deref()),
                (422, Some("nonce_used")),
                "token {i}"
            );
        }
        sessions.push(created[0].2.clone().unwrap());
    }
    assert_eq!(sessions.len(), TOKENS);

    // A session opened at one instance is deauthenticated at another and
    // refused by all at once.
    let s0 = &sessions[0];
    let r = http
        .delete(format!("{}/sessions/current", urls[1]))
        .bearer_auth(s0)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    for url in urls.iter() {
        let r = http
            .get(format!("{url}/identities/me"))
            .bearer_auth(s0)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }

    // SIGKILL instance 2 while the last tokens are in flight.
    let mut victim = servers.pop().unwrap();
    let victim_pid = victim.child.id();
    let load = tokio::spawn(run(tokens[TOKENS..].to_vec()));
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    std::process::Command::new("kill")
        .args(["-KILL", &victim_pid.to_string()])
        .status()
        .unwrap();
    victim.child.wait().unwrap();
    let results = load.await.unwrap();
    let (mut opened, mut burned) = (0, 0);
    for (i, per_instance) in results.iter().enumerate() {
        let created: Vec<_> = per_instance.iter().filter(|(s, _, _)| *s == 201).collect();
        assert!(
            created.len() <= 1,
            "a nonce accepted twice: token {i}: {per_instance:?}"
        );
        for (status, reason, _) in per_instance.iter().filter(|(s, _, _)| *s != 201 && *s != 0) {
            assert_eq!(
                (*status, reason.as_deref()),
                (422, Some("nonce_used")),
                "token {i}"
            );
        }
        match created.first() {
            Some((_, _, session)) => {
                opened += 1;
                sessions.push(session.clone().unwrap());
            }
            // Consumed by the killed instance just before it died: no
            // session was opened, and the client saw its request fail.
            None => {
                assert!(
                    per_instance.iter().any(|(s, _, _)| *s == 0),
                    "token {i} refused everywhere: {per_instance:?}"
                );
                burned += 1;
            }
        }
    }
    // Only requests in flight at the victim (one batch of 16) can be burned;
    // the others keep serving.
    assert!(burned <= 16, "{burned} tokens without a session");
    assert_eq!(opened + burned, KILL_TOKENS);
    // No session lost: every one still works at the survivors (but the deauthenticated one).
    for (i, s) in sessions.iter().enumerate().skip(1).step_by(23) {
        let r = http
            .get(format!("{}/identities/me", urls[i % 2]))
            .bearer_auth(s)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "session {i}");
    }
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_postgres_and_redis() {
    scenario(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_postgres_alone() {
    scenario(false).await;
}
