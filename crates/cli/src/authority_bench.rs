//! `tessera authority bench`: load on a running authority from a separate
//! process: `POST /nonces`, or whole `POST /sessions` with tokens signed
//! beforehand (so that the load generator's signing is not measured).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tessera_claims::{Claims, KeyId, UserId};
use tessera_signer::{sign_token, PemSigner, Signer as _};

use crate::token::now;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `POST /nonces`.
    Nonces,
    /// `POST /sessions` with a fresh, valid token each time.
    Sessions,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The authority's base URL.
    #[arg(long, default_value = "http://127.0.0.1:7700")]
    url: String,
    /// What to load.
    #[arg(long, value_enum)]
    target: Target,
    /// Admin token (for `sessions`: an app and key are registered first);
    /// defaults to `TESSERA_ADMIN_TOKEN`.
    #[arg(long, env = "TESSERA_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// How long to run (`nonces`), at most.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Sessions to open (`sessions`); tokens are signed before the clock starts.
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct BenchResult {
    target: Target,
    concurrency: usize,
    seconds: f64,
    ok: usize,
    errors: usize,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl fmt::Display for BenchResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: {} ok, {} errors in {:.2} s at concurrency {}\n  {:.1} requests/s, p50 {:.3} ms, p99 {:.3} ms",
            self.target, self.ok, self.errors, self.seconds, self.concurrency, self.requests_per_sec, self.p50_ms, self.p99_ms
        )
    }
}

pub async fn run(args: BenchArgs) -> Result<std::process::ExitCode> {
    if args.concurrency == 0
        || args.concurrency > 1024
        || !args.seconds.is_finite()
        || args.seconds <= 0.0
    {
        anyhow::bail!("--concurrency must be in 1..=1024 and --seconds positive");
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let url = args.url.trim_end_matches('/').to_owned();
    let requests: Vec<(String, Value)> = match args.target {
        Target::Nonces => Vec::new(),
        Target::Sessions => prepare_sessions(&http, &url, &args).await?,
    };
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, url, requests, next) =
            (http.clone(), url.clone(), requests.clone(), next.clone());
        let target = args.target;
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            loop {
                let began = Instant::now();
                let response = match target {
                    Target::Nonces => {
                        if began >= deadline {
                            break;
                        }
                        http.post(format!("{url}/nonces")).send().await
                    }
                    Target::Sessions => {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((path, body)) = requests.get(i) else {
                            break;
                        };
                        http.post(format!("{url}{path}")).json(body).send().await
                    }
                };
                match response {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let _ = r.bytes().await;
                        latencies.push(began.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let result = BenchResult {
        target: args.target,
        concurrency: args.concurrency,
        seconds: elapsed,
        ok: latencies.len(),
        errors,
        requests_per_sec: latencies.len() as f64 / elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    };
    if args.json {
        crate::write_stdout(&format!("{}\n", serde_json::to_string(&result)?))?;
    } else {
        crate::write_stdout(&format!("{result}\n"))?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Registers an app with a fresh key, then fetches nonces and signs one token each.
async fn prepare_sessions(
    http: &reqwest::Client,
    url: &str,
    args: &BenchArgs,
) -> Result<Vec<(String, Value)>> {
    let admin = args
        .admin_token
        .as_deref()
        .context("--admin-token (or TESSERA_ADMIN_TOKEN) is needed to register the bench app")?;
    let signer = PemSigner::from_pem(KeyId::generate(), &PemSigner::generate_pem(2048)?)?;
    let app: Value = http
        .post(format!("{url}/admin/apps"))
        .bearer_auth(admin)
        .json(&json!({"name": "bench", "environment": "staging"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let app_id = app["app_id"].as_str().context("no app_id")?.to_owned();
    let provider_id = app["provider_id"]
        .as_str()
        .context("no provider_id")?
        .parse()?;
    let encoded: String = app_id.replace(':', "%3A").replace('/', "%2F");
    http.post(format!("{url}/admin/apps/{encoded}/keys"))
        .bearer_auth(admin)
        .json(&json!({"public_key_pem": signer.public_key().to_pem(), "kid": signer.key_id().to_string()}))
        .send()
        .await?
        .error_for_status()?;
    eprintln!("preparing {} signed tokens...", args.requests);
    let mut out = Vec::with_capacity(args.requests);
    for i in 0..args.requests {
        let nonce: Value = http
            .post(format!("{url}/nonces"))
            .json(&json!({"app_id": app_id}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let claims = Claims::builder(
            provider_id,
            UserId::new(format!("bench-{}", i % 1000))?,
            nonce["nonce"].as_str().context("no nonce")?,
        )
        .issued_at(now())
        .ttl_secs(600)
        .build()?;
        let token = sign_token(&signer, &claims).await?;
        out.push((
            "/sessions".to_owned(),
            json!({"app_id": app_id, "identity_token": token.as_str()}),
        ));
    }
    Ok(out)
}
