//! Per-client limits on the anonymous routes: `POST /nonces`, re-challenges,
//! refused `POST /sessions` and `POST /validate`; and the client address
//! taken from `X-Forwarded-For` only behind a trusted proxy.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_tests::authority::{claims, new_signer, split, token, Authority};

/// A 429 in the SPEC shape with `Retry-After`.
#[track_caller]
fn assert_limited(status: StatusCode, retry_after: Option<&str>, body: &Value) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["id"], "rate_limit_exceeded");
    assert_eq!(body["code"], 7);
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    assert_eq!(body["data"]["retry_after_secs"], secs);
}

async fn post_from(
    a: &Authority,
    path: &str,
    body: Value,
    forwarded_for: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut r = a.http.post(format!("{}{path}", a.url)).json(&body);
    if let Some(xff) = forwarded_for {
        r = r.header("x-forwarded-for", xff);
    }
    answer(r.send().await.unwrap()).await
}

/// A response's status, `Retry-After` and body.
async fn answer(r: reqwest::Response) -> (StatusCode, Option<String>, Value) {
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = split(r).await;
    (status, retry, body)
}

#[tokio::test]
async fn nonces_and_re_challenges_are_limited_per_client() {
    let a = Authority::start_with(|c| {
        c.rate_limit.nonces = 5;
        c.rate_limit.challenges = 3;
    })
    .await;
    for _ in 0..5 {
        assert_eq!(
            post_from(&a, "/nonces", json!({}), None).await.0,
            StatusCode::CREATED
        );
    }
    let (status, retry, body) = post_from(&a, "/nonces", json!({}), None).await;
    assert_limited(status, retry.as_deref(), &body);

    for _ in 0..3 {
        let (status, _) = a.get_with_session("/identities/me", "nope").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let r = a
        .http
        .get(format!("{}/identities/me", a.url))
        .send()
        .await
        .unwrap();
    let (status, retry, body) = answer(r).await;
    assert_limited(status, retry.as_deref(), &body);
}

#[tokio::test]
async fn refused_sessions_and_validations_are_limited_per_client() {
    let a = Authority::start_with(|c| {
        c.rate_limit.failed_sessions = 2;
        c.rate_limit.validations = 2;
    })
    .await;
    let signer = new_signer();
    let app = a.app_with_key(&signer).await;
    // Successes do not count.
    for user in ["a", "b", "c"] {
        let nonce = a.nonce(Some(&app.app_id)).await;
        let t = token(&signer, &claims(app.provider_id, user, &nonce)).await;
        assert_eq!(a.open_session(&app.app_id, &t).await.0, StatusCode::CREATED);
    }
    for _ in 0..2 {
        let (status, _) = a.open_session(&app.app_id, "not-a-token").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Now even a good token waits: the limit is checked before anything else.
    let nonce = a.nonce(Some(&app.app_id)).await;
    let t = token(&signer, &claims(app.provider_id, "d", &nonce)).await;
    let body = json!({"app_id": app.app_id.to_string(), "identity_token": t});
    let (status, retry, answer) = post_from(&a, "/sessions", body, None).await;
    assert_limited(status, retry.as_deref(), &answer);

    for _ in 0..2 {
        let (status, _, _) =
            post_from(&a, "/validate", json!({"identity_token": "x.y.z"}), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, retry, body) =
        post_from(&a, "/validate", json!({"identity_token": "x.y.z"}), None).await;
    assert_limited(status, retry.as_deref(), &body);
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    // Untrusted: every request is the loopback peer's, whatever the header says.
    let a = Authority::start_with(|c| c.rate_limit.nonces = 2).await;
    for i in 0..2 {
        let xff = format!("198.51.100.{i}");
        let (status, _, _) = post_from(&a, "/nonces", json!({}), Some(&xff)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, _, _) = post_from(&a, "/nonces", json!({}), Some("198.51.100.9")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Trusted loopback proxy: each forwarded client has its own budget,
    // and a client cannot pick its address by writing further left.
    let b = Authority::start_with(|c| {
        c.rate_limit.nonces = 2;
        c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for client in ["198.51.100.1", "198.51.100.2", "2001:db8:0:1::1"] {
        for _ in 0..2 {
            let (status, _, _) = post_from(&b, "/nonces", json!({}), Some(client)).await;
            assert_eq!(status, StatusCode::CREATED, "{client}");
        }
        let (status, _, _) = post_from(&b, "/nonces", json!({}), Some(client)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{client}");
    }
    // Same /64: the same client.
    let (status, _, _) = post_from(&b, "/nonces", json!({}), Some("2001:db8:0:1::ffff")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let spoofed = "203.0.113.77, 198.51.100.1";
    let (status, _, _) = post_from(&b, "/nonces", json!({}), Some(spoofed)).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right-most hop counts"
    );
}

/// `POST /nonces` from each of `clients` (via a trusted proxy's
/// `X-Forwarded-For`), 32 at a time; how many got 201.
async fn nonces_for(a: &Authority, clients: Vec<String>) -> usize {
    let mut created = 0;
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        if tasks.len() >= 32 {
            created += usize::from(tasks.join_next().await.unwrap().unwrap());
        }
        let (http, url) = (a.http.clone(), a.url.clone());
        tasks.spawn(async move {
            let r = http
                .post(format!("{url}/nonces"))
                .header("x-forwarded-for", client)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            r.status() == StatusCode::CREATED
        });
    }
    while let Some(ok) = tasks.join_next().await {
        created += usize::from(ok.unwrap());
    }
    created
}

/// A flood of ten times the limiter's capacity in distinct addresses, IPv4
/// and IPv6 (from many /48s, and thousands of /64s of one /48), leaves new
/// clients of both families their own windows: nobody shares an overflow
/// window, nobody is locked out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_addresses_locks_no_new_client_out() {
    const CAPACITY: usize = 2_000;
    let a = Authority::start_with(|c| {
        c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.rate_limit.max_clients = CAPACITY;
        c.rate_limit.nonces = 3;
    })
    .await;
    let mut flood: Vec<String> = (0..8_000u32)
        .map(|i| std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string())
        .collect();
    flood.extend((0..6_000u32).map(|i| format!("2001:db8:{:x}:1::1", i + 1)));
    flood.extend((0..6_000u32).map(|i| format!("2001:db8:0:{:x}::1", i + 1)));
    assert!(flood.len() >= 10 * CAPACITY);
    let flooded = nonces_for(&a, flood).await;
    let v4: Vec<String> = (0..50).map(|i| format!("198.51.100.{}", i + 1)).collect();
    // New clients of other networks (one /48 each, as customers have).
    let v6: Vec<String> = (0..50)
        .map(|i| format!("2001:db9:{:x}:1::1", i + 1))
        .collect();
    let (v4_ok, v6_ok) = (nonces_for(&a, v4).await, nonces_for(&a, v6).await);
    println!("flood: {flooded} of 20000 answered 201; new clients afterwards: IPv4 {v4_ok} of 50, IPv6 {v6_ok} of 50");
    assert!(v4_ok >= 48, "{v4_ok} of 50 new IPv4 clients got a nonce");
    assert!(v6_ok >= 48, "{v6_ok} of 50 new IPv6 clients got a nonce");
    a.stop().await;
}

/// A client at `address` (a loopback address of its own).
fn client_at(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Guessing the admin token is limited per client, as the dashboard's
/// sign-in is: after the failures of a window, 429 before the token is
/// looked at, while the operator at another address gets in.
#[tokio::test]
async fn wrong_admin_tokens_are_limited_per_client() {
    let a = Authority::start().await;
    let guesser = client_at("127.0.0.7");
    // `GET /admin/apps` from `client` with `token`.
    let list_apps = |client: &reqwest::Client, token: String| {
        let request = client
            .get(format!("{}/admin/apps", a.url))
            .bearer_auth(token);
        async move { answer(request.send().await.unwrap()).await }
    };
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..200 {
        let (status, retry, body) = list_apps(&guesser, format!("guess-{i}")).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_limited(status, retry.as_deref(), &body);
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        }
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&401), Some(&10), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&190), "{statuses:?}");
    // Even the right token waits at the guessing address...
    let (status, _, _) = list_apps(&guesser, tessera_tests::ADMIN.into()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // ...while the operator elsewhere gets in.
    let (status, _, _) = list_apps(&client_at("127.0.0.8"), tessera_tests::ADMIN.into()).await;
    assert_eq!(status, StatusCode::OK);
    a.stop().await;
}
