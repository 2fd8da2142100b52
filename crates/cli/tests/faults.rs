//! The fault suite: thousands of logins through the Rust client against two
//! `tessera authority serve` processes whose PostgreSQL (and Redis)
//! connections go through a proxy that loses 4 % of the answers and resets
//! those connections, while the test also ends every PostgreSQL backend of
//! the database, restarts Redis (a Redis of its own, keeping nothing) and
//! SIGKILLs one instance, restarted on its port. Then a checker reads the
//! database: no nonce opened two sessions, every session a client was
//! given is stored and works, and every login completed. Once with used
//! nonces in the database, once in Redis. `scripts/test` provides
//! PostgreSQL and the `redis-server` binary; without them this fails.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::Connection as _;
use tessera_authority::store::SessionTokenHash;
use tessera_claims::{Claims, IdentityToken, ProviderId, UserId};
use tessera_client::{AuthOutcome, ChallengeHandler, Client};
use tessera_signer::{sign_token, PemSigner};
use tessera_tests::fault_proxy::FaultProxy;
use tessera_tests::process::{
    new_signer, now, register_app, start_authority, try_start_service, Server,
};
use tessera_tests::redis_server::RedisServer;
use tessera_tests::ScratchDatabase;

/// Logins per nonce mode.
const LOGINS: usize = 3000;
/// Logins under way at once.
const CONCURRENCY: usize = 32;
/// The share of answers the proxies lose.
const LOSS: f64 = 0.04;

/// Signs a token for one user over each nonce it is asked about, as the
/// app's backend would; counts the tokens.
#[derive(Debug)]
struct Backend {
    signer: Arc<PemSigner>,
    provider: ProviderId,
    user: String,
    signed: Arc<AtomicU64>,
}

#[async_trait]
impl ChallengeHandler for Backend {
    async fn on_challenge(&self, nonce: &str) -> tessera_client::Result<IdentityToken> {
        let claims = Claims::builder(
            self.provider,
            UserId::new(self.user.clone()).unwrap(),
            nonce.to_owned(),
        )
        .issued_at(now())
        .ttl_secs(600)
        .build()
        .unwrap();
        self.signed.fetch_add(1, Ordering::Relaxed);
        Ok(sign_token(self.signer.as_ref(), &claims).await.unwrap())
    }
}

/// A free loopback address to give an instance, so that it can be started
/// again on it.
fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `postgres://user@host:port/db` with `host:port` replaced by `via`.
fn through(url: &str, via: SocketAddr) -> String {
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let (_, db) = rest.split_once('/').unwrap();
    format!("{scheme_user}@{via}/{db}")
}

/// The `host:port` of a PostgreSQL URL.
fn server_of(url: &str) -> SocketAddr {
    let (_, rest) = url.split_once('@').unwrap();
    let (host_port, _) = rest.split_once('/').unwrap();
    host_port.parse().unwrap()
}

/// Ends every other backend of the database (as `pg_terminate_backend`
/// does for an operator or a failover).
async fn terminate_backends(url: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    ended
}

/// The one number a query counts.
async fn count(conn: &mut sqlx::PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}

/// One login through the Rust client at `url`, as a user would: `authenticate`
/// again after a failure the client gave up on (the instance was down),
/// bounded. The session token, and how many `authenticate` calls it took.
async fn login(
    url: String,
    app_id: String,
    backend: Backend,
    dir: std::path::PathBuf,
) -> (String, u32) {
    let client = Client::builder()
        .authority(url)
        .app_id(app_id.parse().unwrap())
        .data_dir(dir)
        .challenge_handler(backend)
        .max_challenge_attempts(8)
        .build()
        .unwrap();
    let mut calls = 0;
    loop {
        calls += 1;
        let authenticated = match client.connect().await {
            Ok(()) => client.authenticate().await,
            Err(e) => Err(e),
        };
        match authenticated {
            Ok(AuthOutcome::Authenticated { .. }) => {
                return (client.session().unwrap().token().to_owned(), calls)
            }
            Ok(other) => panic!("{other:?}"),
            Err(e) if calls < 20 => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("a login failed {calls} times: {e}"),
        }
    }
}

async fn scenario(redis_nonces: bool) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDatabase::create().await;
    let pg_proxy = FaultProxy::start(server_of(&db.url)).await;
    let mut redis = redis_nonces.then(|| RedisServer::start(dir.path()));
    let redis_proxy = match &redis {
        Some(r) => Some(FaultProxy::start(r.addr).await),
        None => None,
    };
    let config = |listen: SocketAddr| {
        let mut config = format!(
            "listen = \"{listen}\"\ndatabase_url = \"{}\"\n[rate_limit]\nnonces = 1000000\nfailed_sessions = 1000000\nchallenges = 1000000\n",
            through(&db.url, pg_proxy.addr)
        );
        if let Some(proxy) = &redis_proxy {
            config.push_str(&format!(
                "[nonces]\nbackend = \"redis\"\nredis_url = \"redis://{}/0\"\n",
                proxy.addr
            ));
        }
        config
    };
    let addresses = [free_address(), free_address()];
    let mut instances: Vec<Server> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| start_authority(dir.path(), &format!("a{i}"), &config(*a)))
        .collect();
    let urls: Vec<String> = instances.iter().map(|s| s.url.clone()).collect();
    let http = reqwest::Client::new();
    let signer = Arc::new(new_signer());
    let (app_id, provider) = register_app(&http, &urls[0], &[signer.as_ref()]).await;

    // Faults from here on.
    let proxies = || std::iter::once(&pg_proxy).chain(redis_proxy.as_ref());
    for proxy in proxies() {
        proxy.reset_counts();
        proxy.set_loss(LOSS);
    }
    let signed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let logins = {
        let (signed, done) = (signed.clone(), done.clone());
        let (signer, urls, app_id) = (signer.clone(), urls.clone(), app_id.clone());
        let data = dir.path().join("clients");
        tokio::spawn(async move {
            let mut results = Vec::with_capacity(LOGINS);
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..LOGINS {
                if tasks.len() >= CONCURRENCY {
                    results.push(tasks.join_next().await.unwrap().unwrap());
                }
                let backend = Backend {
                    signer: signer.clone(),
                    provider,
                    user: format!("user-{i}"),
                    signed: signed.clone(),
                };
                let (url, app_id, dir) = (
                    urls[i % 2].clone(),
                    app_id.clone(),
                    data.join(i.to_string()),
                );
                let done = done.clone();
                tasks.spawn(async move {
                    let result = login(url, app_id, backend, dir).await;
                    done.fetch_add(1, Ordering::Relaxed);
                    (i, result)
                });
            }
            while let Some(r) = tasks.join_next().await {
                results.push(r.unwrap());
            }
            results
        })
    };

    // Meanwhile: backends ended, Redis restarted, an instance killed.
    let at = |share: f64| {
        let done = done.clone();
        async move {
            while (done.load(Ordering::Relaxed) as f64) < share * LOGINS as f64 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    at(0.2).await;
    let ended = terminate_backends(&db.url).await;
    if let Some(redis) = redis.as_mut() {
        at(0.4).await;
        redis.restart();
    }
    at(0.6).await;
    let victim = instances.pop().unwrap();
    let pid = victim.child.id();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    drop(victim);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Restarted as a supervisor would: again until it starts (its
    // migration check may lose an answer too).
    let again = dir.path().join("a1-again.toml");
    std::fs::write(&again, config(addresses[1])).unwrap();
    let mut starts = 0;
    let restarted = loop {
        starts += 1;
        match try_start_service("authority", &again) {
            Ok(server) => break server,
            Err(e) if starts < 20 => eprintln!("restart {starts} failed: {e}"),
            Err(e) => panic!("the killed instance did not start again: {e}"),
        }
    };
    instances.push(restarted);
    at(0.8).await;
    let ended_later = terminate_backends(&db.url).await;

    let results = logins.await.unwrap();
    let proxies: Vec<(u64, u64, u64)> = proxies()
        .map(|p| {
            let counts = p.counts();
            p.set_loss(0.0);
            counts
        })
        .collect();

    // The checker.
    assert_eq!(results.len(), LOGINS, "every login completed");
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let stored = count(&mut conn, "SELECT COUNT(*) FROM sessions").await;
    // No nonce opened two sessions. With used nonces in Redis, each session
    // holds its nonce's digest: no digest twice, none missing. With used
    // nonces in the database, each session was written in one transaction
    // with its nonce's record: as many records as sessions.
    let twice = if redis_nonces {
        let without = count(
            &mut conn,
            "SELECT COUNT(*) FROM sessions WHERE nonce_hash IS NULL",
        )
        .await;
        assert_eq!(without, 0, "sessions without their nonce's digest");
        count(
            &mut conn,
            "SELECT COUNT(*) FROM (SELECT nonce_hash FROM sessions
             GROUP BY nonce_hash HAVING COUNT(*) > 1) t",
        )
        .await
    } else {
        stored - count(&mut conn, "SELECT COUNT(*) FROM used_nonces").await
    };
    assert_eq!(twice, 0, "nonces that opened two sessions");
    // A token is sent again only after a 503 said its nonce was unused; so
    // no token may be refused as used (as one would be after a 503 that
    // said so of a nonce whose session had in fact been stored).
    let false_unused = count(
        &mut conn,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'session_refused' AND detail LIKE '%nonce_used%'",
    )
    .await;
    assert_eq!(
        false_unused, 0,
        "tokens refused as used after a 503 said `unused`"
    );
    let mut retried = 0;
    for (i, (token, calls)) in &results {
        retried += u64::from(*calls > 1);
        let hash = SessionTokenHash::of(token);
        let user: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM sessions WHERE token_hash = $1")
                .bind(&hash.as_bytes()[..])
                .fetch_optional(&mut conn)
                .await
                .unwrap();
        assert_eq!(
            user,
            Some(format!("user-{i}")),
            "login {i}'s session is stored"
        );
    }
    // Every acknowledged session works, at either instance.
    for (n, (i, (token, _))) in results.iter().enumerate() {
        let r = http
            .get(format!("{}/identities/me", urls[n % 2]))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "login {i}'s session works");
    }
    let tokens = signed.load(Ordering::Relaxed);
    let lost: Vec<String> = proxies
        .iter()
        .zip(["PostgreSQL", "Redis"])
        .map(|((forwarded, dropped, connections), name)| {
            format!(
                "{name}: {dropped} of {} answers lost ({:.1} %), {connections} connections",
                forwarded + dropped,
                100.0 * *dropped as f64 / (forwarded + dropped).max(1) as f64
            )
        })
        .collect();
    println!(
        "fault suite, used nonces in {}: {LOGINS} logins completed in {:.1} s ({retried} needed a second authenticate), \
         {tokens} identity tokens signed, {stored} sessions stored, 0 nonces with two sessions, \
         0 tokens refused as used; \
         {}; backends ended: {ended} and {ended_later}",
        if redis_nonces { "Redis" } else { "the database" },
        started.elapsed().as_secs_f64(),
        lost.join("; ")
    );
    for (forwarded, dropped, _) in &proxies {
        assert!(
            *dropped as f64 >= 0.03 * (forwarded + dropped) as f64,
            "at least 3 % of answers lost: {dropped} of {}",
            forwarded + dropped
        );
    }
    drop(instances);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_complete_exactly_once_under_faults_with_nonces_in_the_database() {
    scenario(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_complete_exactly_once_under_faults_with_nonces_in_redis() {
    scenario(true).await;
}
