//! Hostile clients against `tessera authority serve` and `tessera identity
//! serve` as processes, over loopback: floods of nonces and re-challenges,
//! slow clients and a SIGTERM among them, failed logins from hundreds of
//! addresses in 127.0.0.0/8, and a storage fault injected during
//! redemption. Every answer is in the SPEC's error shape, and no 5xx comes
//! back but the injected fault's and a full password queue's 503.

use tessera_tests::process as common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start_authority, start_service, Server};
use serde_json::{json, Value};
use sqlx::{Connection as _, Executor as _, Row as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// An answer: status, `Retry-After` if any, and the body as JSON (`Null`
/// when it is not JSON).
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

/// An error answer in the SPEC's shape: `{id, code, message, data?}`.
fn assert_error_shape(a: &Answer) {
    assert!(
        a.body["id"].is_string() && a.body["code"].is_u64() && a.body["message"].is_string(),
        "{}: {}",
        a.status,
        a.body
    );
}

/// A 429 `rate_limit_exceeded` (code 7) with `Retry-After`.
fn assert_rate_limited(a: &Answer) {
    assert_eq!(a.status, 429, "{}", a.body);
    assert_error_shape(a);
    assert_eq!(a.body["id"], "rate_limit_exceeded");
    assert_eq!(a.body["code"], 7);
    assert!(a.retry_after.is_some_and(|s| s >= 1), "no Retry-After");
}

/// A client whose connections come from `address`.
fn client_from(address: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Every table of the SQLite database at `path` with its row count.
async fn row_counts(path: &Path) -> Vec<(String, i64)> {
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut db)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut counts = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query(&format!("SELECT count(*) FROM \"{table}\""))
            .fetch_one(&mut db)
            .await
            .unwrap()
            .get(0);
        counts.push((table, n));
    }
    counts
}

/// `n` requests made by `make` (given the request's index), `concurrency`
/// at a time; their answers in order.
async fn flood<F, Fut>(n: usize, concurrency: usize, make: F) -> Vec<Answer>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Answer> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (make, next) = (make.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return done;
                }
                done.push((i, make(i).await));
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, a)| a).collect()
}

fn authority_config(dir: &Path, extra: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}/data/authority.db\"\n{extra}",
        dir.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_nonces_and_re_challenges_are_limited_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let authority = start_authority(dir.path(), "authority", &authority_config(dir.path(), ""));
    let db = dir.path().join("data/authority.db");
    let before = row_counts(&db).await;
    assert!(before.iter().any(|(t, _)| t == "sessions"), "{before:?}");
    let started = Instant::now();

    // 20,000 from one address: the first 300 of the window get a nonce.
    let url = authority.url.clone();
    let http = client_from(Ipv4Addr::new(127, 0, 0, 1));
    let answers = flood(20_000, 32, move |_| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            answer(
                http.post(format!("{url}/nonces"))
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    })
    .await;
    let windows = 1 + started.elapsed().as_secs() / 60;
    let issued = answers.iter().filter(|a| a.status == 201).count() as u64;
    assert!(
        (1..=300 * windows).contains(&issued),
        "{issued} nonces issued"
    );
    for a in answers.iter().filter(|a| a.status != 201) {
        assert_rate_limited(a);
    }

    // 2,000 re-challenges from another address: 401 with a nonce, then 429.
    let url = authority.url.clone();
    let http = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let answers = flood(2_000, 16, move |_| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            answer(
                http.get(format!("{url}/identities/me"))
                    .bearer_auth("no-such-session")
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    })
    .await;
    let challenged = answers.iter().filter(|a| a.status == 401).count() as u64;
    assert!(
        (1..=300 * windows).contains(&challenged),
        "{challenged} re-challenges"
    );
    for a in &answers {
        if a.status == 401 {
            assert_error_shape(a);
            assert_eq!(a.body["id"], "authentication_required");
            assert_eq!(a.body["data"]["nonce"].as_str().map(str::len), Some(64));
        } else {
            assert_rate_limited(a);
        }
    }

    // A burst within the limits, from 100 addresses: every nonce issued.
    let url = authority.url.clone();
    let answers = flood(100, 20, move |i| {
        let url = url.clone();
        async move {
            let http = client_from(Ipv4Addr::new(127, 0, 1, i as u8 + 1));
            let mut last = None;
            for _ in 0..20 {
                let a = answer(
                    http.post(format!("{url}/nonces"))
                        .json(&json!({}))
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
                assert_eq!(a.status, 201, "{}", a.body);
                last = Some(a);
            }
            last.unwrap()
        }
    })
    .await;
    assert_eq!(answers.len(), 100);

    assert_eq!(row_counts(&db).await, before, "a burst added rows");
}

/// A connection that sends a partial head, one byte every 300 ms; how long
/// the server took to close it.
async fn slow_header(address: &str) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"POST /nonces HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(300)) => {
                if stream.write_all(b"a").await.is_err() {
                    return started.elapsed();
                }
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never closed");
    }
}

/// A connection that sends a whole head promising 1,000 bytes of body, then
/// one byte every 300 ms; the answer it got and how long until closed.
async fn slow_body(address: &str, path: &str) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    return (String::from_utf8_lossy(&received).into_owned(), started.elapsed())
                }
                Ok(n) => received.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(Duration::from_millis(300)) => {
                // Writing may fail once the server has answered and closed.
                let _ = stream.write_all(b" ").await;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never closed");
    }
}

/// A 408 in the error shape, as raw HTTP.
fn assert_raw_408(raw: &str) {
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}"));
    assert!(body["id"].is_string() && body["code"].is_u64(), "{raw}");
}

/// Short timeouts; the slow clients all come from one address, within its
/// own caps (what those caps do is `fairness.rs`'s).
const SHORT_TIMEOUTS: &str = "[http]\nheader_read_timeout_secs = 2\nrequest_timeout_secs = 3\nidle_timeout_secs = 3\nshutdown_timeout_secs = 2\nmax_connections_per_client = 1000\nmax_in_flight_per_client = 1000\n";

/// 50 slow-header and 50 slow-body connections against `server`: closed
/// within the timeouts (2 s and 3 s, with 3 s to spare for a loaded
/// machine); the slow bodies told 408.
async fn slow_clients_are_cut_off(server: &Server, body_path: &'static str) {
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut heads = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..50 {
        let a = address.clone();
        heads.push(tokio::spawn(async move { slow_header(&a).await }));
        let a = address.clone();
        bodies.push(tokio::spawn(async move { slow_body(&a, body_path).await }));
    }
    for h in heads {
        let took = h.await.unwrap();
        assert!(took < Duration::from_secs(5), "slow head held {took:?}");
    }
    for b in bodies {
        let (raw, took) = b.await.unwrap();
        assert_raw_408(&raw);
        assert!(took < Duration::from_secs(6), "slow body held {took:?}");
    }
}

/// Slow and idle clients hold `server`'s connections; SIGTERM; it exits
/// cleanly within its 2 s shutdown deadline (with 3 s to spare).
async fn sigterm_among_slow_clients(mut server: Server, body_path: &'static str) {
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let a = address.clone();
        clients.push(tokio::spawn(async move {
            slow_header(&a).await;
        }));
        let a = address.clone();
        clients.push(tokio::spawn(async move {
            slow_body(&a, body_path).await;
        }));
    }
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(TcpStream::connect(&address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    for c in clients {
        c.abort();
    }
}

/// The identity service's directory: a generated key, a SQLite user store
/// with `alice` (password `alice-password`), and its config with `extra`.
fn identity_setup(dir: &Path, extra: &str) -> std::path::PathBuf {
    let database = format!("sqlite://{}/identity.db", dir.display());
    let config = common::identity_config(dir, &database, extra);
    let mut add = Command::new(common::tessera_bin())
        .args(["users", "add", "--config"])
        .arg(&config)
        .arg("alice")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = add.stdin.take().unwrap();
        stdin.write_all(b"alice-password\n").unwrap();
    }
    assert!(add.wait().unwrap().success());
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_and_sigterm_on_both_services() {
    let dir = tempfile::tempdir().unwrap();
    let authority = start_authority(
        dir.path(),
        "authority",
        &authority_config(dir.path(), SHORT_TIMEOUTS),
    );
    slow_clients_are_cut_off(&authority, "/nonces").await;
    drop(authority);
    let identity_dir = dir.path().join("identity");
    std::fs::create_dir(&identity_dir).unwrap();
    let identity = start_service("identity", &identity_setup(&identity_dir, SHORT_TIMEOUTS));
    slow_clients_are_cut_off(&identity, "/identity_tokens").await;
    drop(identity);

    // Timeouts far longer than the shutdown deadline: only the deadline
    // can end the slow clients' connections.
    let patient = "[http]\nheader_read_timeout_secs = 60\nrequest_timeout_secs = 60\nidle_timeout_secs = 60\nshutdown_timeout_secs = 2\n";
    let authority = start_authority(
        dir.path(),
        "patient",
        &authority_config(dir.path(), patient),
    );
    sigterm_among_slow_clients(authority, "/nonces").await;
    let identity_dir = dir.path().join("patient-identity");
    std::fs::create_dir(&identity_dir).unwrap();
    let identity = start_service("identity", &identity_setup(&identity_dir, patient));
    sigterm_among_slow_clients(identity, "/identity_tokens").await;
}

/// A credentials request for `username` from `http`.
async fn login(http: &reqwest::Client, url: &str, username: &str, password: &str) -> Answer {
    answer(
        http.post(format!("{url}/identity_tokens"))
            .json(&json!({
                "nonce": "q5lH0mJ2c8Vx1NwYt3ZkR9aB7eD4fG6hJ0kL2mN4pQ8_Zx-7Ya1Bb2Cc3Dd4Ee5F",
                "username": username,
                "password": password,
            }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A failed login's answer: 401 `access_denied`, or 503 with `Retry-After`
/// when the password queue is full; both in the error shape.
fn assert_refused(a: &Answer) {
    assert_error_shape(a);
    match a.status {
        401 => {}
        503 => assert!(a.retry_after.is_some(), "503 without Retry-After"),
        other => panic!("{other}: {}", a.body),
    }
}

/// Resident memory of a process, in KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_from_many_addresses_neither_stall_nor_lock_out_nor_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    let identity = start_service("identity", &identity_setup(dir.path(), ""));
    let url = identity.url.clone();
    let alice = client_from(Ipv4Addr::new(127, 0, 0, 1));
    let a = login(&alice, &url, "alice", "alice-password").await;
    assert_eq!(a.status, 200, "{}", a.body);

    // 600 wrong passwords for alice, all at once, from 600 addresses; her
    // own login meanwhile waits behind at most the password queue (32
    // checks) and the workers' checks in progress, not behind the flood, or
    // is told 503 at once. Counted in checks, not seconds, so that a slow
    // or busy machine does not change the verdict.
    let checked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let attackers = {
        let (url, checked) = (url.clone(), checked.clone());
        tokio::spawn(flood(600, 600, move |i| {
            let (url, checked) = (url.clone(), checked.clone());
            async move {
                let http = client_from(Ipv4Addr::new(
                    127,
                    0,
                    2 + (i / 200) as u8,
                    1 + (i % 200) as u8,
                ));
                let a = login(&http, &url, "alice", &format!("wrong-{i}")).await;
                if a.status == 401 {
                    checked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                a
            }
        }))
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let checked_before = checked.load(std::sync::atomic::Ordering::SeqCst);
    let a = login(&alice, &url, "alice", "alice-password").await;
    let checked_meanwhile = checked.load(std::sync::atomic::Ordering::SeqCst) - checked_before;
    eprintln!(
        "a valid login among 600 failing ones: {} in {:?}, after {checked_meanwhile} failed checks",
        a.status,
        started.elapsed()
    );
    match a.status {
        200 => {}
        503 => assert!(a.retry_after.is_some()),
        other => panic!("{other}: {}", a.body),
    }
    assert!(
        checked_meanwhile <= 100,
        "the valid login waited behind {checked_meanwhile} failed checks"
    );
    for a in attackers.await.unwrap() {
        assert_refused(&a);
    }
    // Failures from other addresses do not stop alice from hers.
    let a = login(&alice, &url, "alice", "alice-password").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["identity_token"].is_string(), "{}", a.body);

    // 1,000 more failed logins, paced so that each reaches argon2: memory
    // stays flat.
    let answers = flood(1_000, 8, move |i| {
        let url = url.clone();
        async move {
            let http = client_from(Ipv4Addr::new(127, 1, (i / 200) as u8, 1 + (i % 200) as u8));
            let user = if i % 2 == 0 { "alice" } else { "nobody" };
            login(&http, &url, user, &format!("wrong-{i}")).await
        }
    })
    .await;
    let checked = answers.iter().filter(|a| a.status == 401).count();
    for a in &answers {
        assert_refused(a);
    }
    assert!(
        checked >= 900,
        "only {checked} of 1,000 reached a password check"
    );
    let rss = resident_kib(identity.child.id());
    eprintln!("{checked} of 1,000 failed logins checked; resident memory {rss} KiB");
    assert!(
        rss <= 100 * 1024,
        "resident memory {rss} KiB after 1,000 failed logins"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_write_fault_leaves_the_nonce_redeemable() {
    let dir = tempfile::tempdir().unwrap();
    let authority = start_authority(dir.path(), "authority", &authority_config(dir.path(), ""));
    let http = reqwest::Client::new();
    let signer = common::new_signer();
    let (app_id, provider) = common::register_app(&http, &authority.url, &[&signer]).await;
    let token = common::token_at(&http, &authority.url, &app_id, provider, &signer, "u-1").await;
    let open = || {
        http.post(format!("{}/sessions", authority.url))
            .json(&json!({"app_id": app_id, "identity_token": token}))
            .send()
    };

    let db = format!(
        "sqlite://{}?mode=rw",
        dir.path().join("data/authority.db").display()
    );
    let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
    conn.execute(
        "CREATE TRIGGER injected_fault BEFORE INSERT ON sessions \
         BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    )
    .await
    .unwrap();
    let a = answer(open().await.unwrap()).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_error_shape(&a);
    assert!(a.retry_after.is_some());

    conn.execute("DROP TRIGGER injected_fault").await.unwrap();
    let a = answer(open().await.unwrap()).await;
    assert_eq!(a.status, 201, "the nonce was burned: {}", a.body);
    assert!(a.body["session_token"].is_string(), "{}", a.body);
    let a = answer(open().await.unwrap()).await;
    assert_eq!(a.body["data"]["reason"], "nonce_used", "{}", a.body);
}
