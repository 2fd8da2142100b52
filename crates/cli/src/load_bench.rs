//! HTTP load from a separate process: `tessera authority bench` (`POST
//! /nonces`, or whole `POST /sessions` with tokens signed beforehand, so that
//! the load generator's signing is not measured) and `tessera identity bench`
//! (`POST /identity_tokens` in sample or credentials mode, and the raw
//! argon2id rate for comparison).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use serde::Serialize;
use serde_json::{json, Value};
use tessera_claims::{AppId, Claims, Environment, KeyId, UserId};
use tessera_signer::{sign_token, PemSigner, Signer as _};

use tessera_claims::unix_now as now;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// `POST /nonces`.
    Nonces,
    /// `POST /sessions` with a fresh, valid token each time.
    Sessions,
    /// Whole flows: `POST /nonces`, a token signed by the load generator,
    /// `POST /sessions`, `DELETE /sessions/current`, each step at the next
    /// instance in turn.
    Flows,
    /// `POST /validate` of one valid token (no writes: the same HTTP, JSON
    /// and RS256 verification as `POST /sessions`).
    Validate,
    /// `GET /healthz` (one `SELECT 1`).
    Healthz,
    /// `POST /identity_tokens` in sample mode.
    SampleTokens,
    /// `POST /identity_tokens` with a username and password.
    CredentialTokens,
}

/// A nonce-shaped value; the identity service passes nonces on unchecked.
const BENCH_NONCE: &str = "q5lH0mJ2c8Vx1NwYt3ZkR9aB7eD4fG6hJ0kL2mN4pQ8";

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The service's base URL; several (comma-separated or repeated) are
    /// used in turn, as a load balancer would.
    #[arg(long, default_value = "http://127.0.0.1:7700", value_delimiter = ',', num_args = 1..)]
    url: Vec<String>,
    /// What to load.
    #[arg(long, value_enum)]
    target: Target,
    /// Admin token (for `sessions`: an app and key are registered first);
    /// defaults to `TESSERA_ADMIN_TOKEN`.
    #[arg(long, env = "TESSERA_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Username for `credential-tokens`.
    #[arg(long)]
    username: Option<String>,
    /// Password of that (throwaway) bench user, from the environment.
    #[arg(long, env = "TESSERA_BENCH_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// How long to run (`nonces`, `flows`, identity targets), at most.
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
    // Registration and token preparation only: the measured requests go
    // over each worker's own connections.
    let http = reqwest::Client::new();
    let urls: Vec<String> = args
        .url
        .iter()
        .map(|u| u.trim_end_matches('/').to_owned())
        .collect();
    let url = urls.first().context("--url is needed")?.clone();
    // Not connected yet: each worker opens its own.
    let conns: Vec<Connection> = urls
        .iter()
        .map(|u| Connection::new(u))
        .collect::<Result<_>>()?;
    let mut flow_app = None;
    let requests: Vec<(String, Value)> = match args.target {
        Target::Nonces => Vec::new(),
        Target::Sessions => prepare_sessions(&http, &url, &args).await?,
        Target::Validate => {
            let app = register_app(&http, &url, &args).await?;
            let token = app.token(&http, &url, 0).await?;
            vec![(
                "/validate".into(),
                json!({"app_id": app.app_id, "identity_token": token.as_str()}),
            )]
        }
        Target::Healthz => Vec::new(),
        Target::Flows => {
            flow_app = Some(Arc::new(register_app(&http, &url, &args).await?));
            Vec::new()
        }
        Target::SampleTokens => vec![(
            "/identity_tokens".into(),
            json!({"app_id": AppId::generate(Environment::Staging).to_string(), "user_id": "bench-user", "nonce": BENCH_NONCE}),
        )],
        Target::CredentialTokens => vec![(
            "/identity_tokens".into(),
            json!({
                "username": args.username.as_deref().context("--username is needed")?,
                "password": args.password.as_deref().context("TESSERA_BENCH_PASSWORD is needed")?,
                "nonce": BENCH_NONCE,
            }),
        )],
    };
    // Bodies serialized once, before the clock starts.
    let requests: Vec<(String, Bytes)> = requests
        .into_iter()
        .map(|(path, body)| Ok((path, Bytes::from(serde_json::to_vec(&body)?))))
        .collect::<Result<_>>()?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (mut conns, requests, next, flow_app) = (
            conns.clone(),
            requests.clone(),
            next.clone(),
            flow_app.clone(),
        );
        let target = args.target;
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            loop {
                let began = Instant::now();
                let turn = next.fetch_add(1, Ordering::Relaxed);
                let conn = turn % conns.len();
                let response = match target {
                    Target::Sessions => {
                        let Some((path, body)) = requests.get(turn) else {
                            break;
                        };
                        conns[conn].post(path, body.clone()).await
                    }
                    _ if began >= deadline => break,
                    Target::Nonces => conns[conn].post("/nonces", Bytes::new()).await,
                    Target::Flows => {
                        let app = flow_app.as_deref().expect("registered before the clock");
                        match flow(&mut conns, turn, app).await {
                            Ok(()) => latencies.push(began.elapsed()),
                            Err(_) => errors += 1,
                        }
                        continue;
                    }
                    Target::Healthz => {
                        conns[conn]
                            .send(Method::GET, "/healthz", None, Bytes::new())
                            .await
                    }
                    Target::Validate | Target::SampleTokens | Target::CredentialTokens => {
                        let (path, body) = &requests[0];
                        conns[conn].post(path, body.clone()).await
                    }
                };
                match response {
                    Ok(_) => latencies.push(began.elapsed()),
                    Err(_) => errors += 1,
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

/// An app registered for a bench, with the key that signs its tokens.
struct BenchApp {
    app_id: String,
    provider_id: tessera_claims::ProviderId,
    signer: PemSigner,
}

/// Registers an app with a fresh key (admin API).
async fn register_app(http: &reqwest::Client, url: &str, args: &BenchArgs) -> Result<BenchApp> {
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
    Ok(BenchApp {
        app_id,
        provider_id,
        signer,
    })
}

impl BenchApp {
    /// A nonce from the authority at `url`, and a token over it for user `bench-<i % 1000>`.
    async fn token(
        &self,
        http: &reqwest::Client,
        url: &str,
        i: usize,
    ) -> Result<tessera_claims::IdentityToken> {
        let nonce: Value = http
            .post(format!("{url}/nonces"))
            .json(&json!({"app_id": self.app_id}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        self.sign(i, nonce["nonce"].as_str().context("no nonce")?)
            .await
    }

    /// A token over `nonce` for user `bench-<i % 1000>`.
    async fn sign(&self, i: usize, nonce: &str) -> Result<tessera_claims::IdentityToken> {
        let claims = Claims::builder(
            self.provider_id,
            UserId::new(format!("bench-{}", i % 1000))?,
            nonce,
        )
        .issued_at(now())
        .ttl_secs(600)
        .build()?;
        Ok(sign_token(&self.signer, &claims).await?)
    }
}

/// One whole flow, each step at the next instance: nonce, signed token,
/// session, deauthentication.
async fn flow(conns: &mut [Connection], turn: usize, app: &BenchApp) -> Result<()> {
    let instances = conns.len();
    let at = |step: usize| (turn + step) % instances;
    let body = |json: Value| Ok::<_, anyhow::Error>(Bytes::from(serde_json::to_vec(&json)?));
    let nonce: Value = serde_json::from_slice(
        &conns[at(0)]
            .post("/nonces", body(json!({"app_id": app.app_id}))?)
            .await?,
    )?;
    let token = app
        .sign(turn, nonce["nonce"].as_str().context("no nonce")?)
        .await?;
    let session: Value = serde_json::from_slice(
        &conns[at(1)]
            .post(
                "/sessions",
                body(json!({"app_id": app.app_id, "identity_token": token.as_str()}))?,
            )
            .await?,
    )?;
    let bearer = session["session_token"]
        .as_str()
        .context("no session_token")?;
    conns[at(2)]
        .send(
            Method::DELETE,
            "/sessions/current",
            Some(bearer),
            Bytes::new(),
        )
        .await?;
    Ok(())
}

/// One HTTP/1.1 connection to an instance, kept open across requests (as
/// wrk keeps one per connection slot): the load generator's own cost per
/// request stays small beside the server's, on a machine they share.
/// Opened on first use, and again once closed (by the server, or after an
/// error).
struct Connection {
    /// `host:port`.
    address: String,
    /// The base URL's path, without its trailing `/`.
    prefix: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// A clone has a connection of its own, opened on first use.
impl Clone for Connection {
    fn clone(&self) -> Self {
        Self {
            address: self.address.clone(),
            prefix: self.prefix.clone(),
            sender: None,
        }
    }
}

impl Connection {
    /// For a base URL `http://host:port[/prefix]` (plain HTTP: the load
    /// generator runs beside the service, as wrk would).
    fn new(url: &str) -> Result<Self> {
        let uri: hyper::Uri = url.parse().with_context(|| format!("--url {url}"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "--url {url}: the load generator speaks plain HTTP (http://host:port)"
        );
        let address = uri
            .authority()
            .with_context(|| format!("--url {url}: no host"))?
            .to_string();
        Ok(Self {
            address,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            sender: None,
        })
    }

    /// `POST path` with a JSON body; the response body when successful.
    async fn post(&mut self, path: &str, body: Bytes) -> Result<Bytes> {
        self.send(Method::POST, path, None, body).await
    }

    /// One request; an error for anything but a 2xx answer.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Bytes,
    ) -> Result<Bytes> {
        let sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.open().await?,
        };
        let sender = self.sender.insert(sender);
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(HOST, &self.address);
        if !body.is_empty() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        if let Some(token) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        sender.ready().await?;
        let response = sender.send_request(request.body(Full::new(body))?).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(status.is_success(), "{status}");
        Ok(body)
    }

    async fn open(&self) -> Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(&self.address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the server or the bench closes the connection.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// Registers an app with a fresh key, then fetches nonces and signs one token each.
async fn prepare_sessions(
    http: &reqwest::Client,
    url: &str,
    args: &BenchArgs,
) -> Result<Vec<(String, Value)>> {
    let app = Arc::new(register_app(http, url, args).await?);
    eprintln!("preparing {} signed tokens...", args.requests);
    // One task per core, each fetching nonces and signing its share.
    let tasks = std::thread::available_parallelism().map_or(2, usize::from);
    let mut shares = Vec::new();
    for t in 0..tasks {
        let (app, http, url) = (app.clone(), http.clone(), url.to_owned());
        let share: Vec<usize> = (t..args.requests).step_by(tasks).collect();
        shares.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(share.len());
            for i in share {
                let token = app.token(&http, &url, i).await?;
                out.push((
                    "/sessions".to_owned(),
                    json!({"app_id": app.app_id, "identity_token": token.as_str()}),
                ));
            }
            anyhow::Ok(out)
        }));
    }
    let mut out = Vec::with_capacity(args.requests);
    for share in shares {
        out.extend(share.await??);
    }
    Ok(out)
}

/// `tessera identity bench-password`: argon2id verifications per second with
/// the configured parameters, `concurrency` at a time on blocking threads.
pub async fn password_rate(
    params: tessera_identity::PasswordParams,
    seconds: f64,
    concurrency: usize,
) -> Result<Value> {
    let passwords = Arc::new(tessera_identity::Passwords::new(params)?);
    let hash = Arc::new(passwords.hash("bench-password")?);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (passwords, hash) = (passwords.clone(), hash.clone());
            tokio::task::spawn_blocking(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    assert!(passwords.verify(Some(&hash), "bench-password"));
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(json!({
        "mode": "argon2id-verify",
        "concurrency": concurrency,
        "seconds": elapsed,
        "ops": total,
        "ops_per_sec": total as f64 / elapsed,
        "memory_kib": params.memory_kib,
        "iterations": params.iterations,
    }))
}
