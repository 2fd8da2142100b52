//! A real authority on a loopback port over a fresh SQLite file, and helpers
//! to register apps and sign tokens for it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_authority::{AppState, AuthorityConfig};
use tessera_claims::{AppId, Claims, KeyId, ProviderId, UserId};
use tessera_signer::{sign_token, PemSigner, Signer as _};
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const EIT_SIGNING_KEY: &str = include_str!("../../../../tests/vectors/eit/signing_key.pem");
pub const EIT_PUBLIC_KEY: &str = include_str!("../../../../tests/vectors/eit/public_key.pem");

pub struct Authority {
    pub url: String,
    pub state: AppState,
    pub http: reqwest::Client,
    pub dir: Arc<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub fn config_in(dir: &std::path::Path) -> AuthorityConfig {
    AuthorityConfig {
        database_url: format!("sqlite://{}", dir.join("authority.db").display()),
        ..AuthorityConfig::default()
    }
}

impl Authority {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(change: impl FnOnce(&mut AuthorityConfig)) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut config = config_in(dir.path());
        change(&mut config);
        Self::start_in(dir, config).await
    }

    /// Starts on an existing data directory (a restart).
    pub async fn start_in(dir: Arc<tempfile::TempDir>, config: AuthorityConfig) -> Self {
        let state = tessera_authority::open(config, Some(ADMIN_TOKEN))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tessera_authority::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            url,
            state,
            http: reqwest::Client::new(),
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server, waiting for in-flight requests.
    pub async fn stop(mut self) -> Arc<tempfile::TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.dir.clone()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("authority.db")
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        split(r).await
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            r = r.json(&body);
        }
        split(r.send().await.unwrap()).await
    }

    pub async fn get_with_session(&self, path: &str, session: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .header(
                "authorization",
                format!("Layer session-token=\"{session}\""),
            )
            .send()
            .await
            .unwrap();
        split(r).await
    }

    pub async fn nonce(&self, app: Option<&AppId>) -> String {
        let body = match app {
            Some(app) => json!({ "app_id": app.to_string() }),
            None => json!({}),
        };
        let (status, body) = self.post("/nonces", body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["nonce"].as_str().unwrap().to_owned()
    }

    /// Creates an app and registers the signer's public key for its provider.
    pub async fn app_with_key(&self, signer: &PemSigner) -> TestApp {
        let (status, app) = self
            .admin(
                reqwest::Method::POST,
                "/admin/apps",
                Some(json!({"name": "test", "environment": "staging"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        let app_id: AppId = app["app_id"].as_str().unwrap().parse().unwrap();
        let provider_id: ProviderId = app["provider_id"].as_str().unwrap().parse().unwrap();
        self.add_key(&app_id, signer).await;
        TestApp {
            app_id,
            provider_id,
        }
    }

    pub async fn add_key(&self, app_id: &AppId, signer: &PemSigner) {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                &format!("/admin/apps/{}/keys", encode(&app_id.to_string())),
                Some(json!({
                    "public_key_pem": signer.public_key().to_pem(),
                    "kid": signer.key_id().to_string(),
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub async fn open_session(&self, app: &AppId, token: &str) -> (StatusCode, Value) {
        self.post(
            "/sessions",
            json!({"app_id": app.to_string(), "identity_token": token}),
        )
        .await
    }
}

pub async fn split(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub struct TestApp {
    pub app_id: AppId,
    pub provider_id: ProviderId,
}

pub fn new_signer() -> PemSigner {
    PemSigner::from_pem(KeyId::generate(), &PemSigner::generate_pem(2048).unwrap()).unwrap()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn claims(iss: ProviderId, user: &str, nonce: &str) -> Claims {
    Claims::builder(iss, UserId::new(user).unwrap(), nonce)
        .issued_at(now())
        .ttl_secs(120)
        .build()
        .unwrap()
}

pub async fn token(signer: &PemSigner, claims: &Claims) -> String {
    sign_token(signer, claims).await.unwrap().into_string()
}

/// The reason of a 422 invalid_identity_token answer.
#[track_caller]
pub fn reason(status: StatusCode, body: &Value) -> String {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["id"], "invalid_identity_token", "{body}");
    assert_eq!(body["code"], 105, "{body}");
    assert_eq!(body["data"]["property"], "identity_token", "{body}");
    body["data"]["reason"].as_str().unwrap().to_owned()
}

/// Signs any header and claims JSON with the signer's key.
pub async fn sign_raw(signer: &PemSigner, header: &Value, claims: &Value) -> String {
    let input = tessera_claims::jws::signing_input(
        &serde_json::to_vec(header).unwrap(),
        &serde_json::to_vec(claims).unwrap(),
    );
    let sig = signer.sign(input.as_bytes()).await.unwrap();
    tessera_claims::jws::assemble(&input, sig.as_ref())
}

/// The EIT v1 header for a signer.
pub fn header_for(signer: &PemSigner) -> Value {
    json!({"typ": "JWT", "alg": "RS256", "cty": "layer-eit;v=1", "kid": signer.key_id().to_string()})
}

/// Valid claims as JSON, for tampering.
pub fn claims_json(iss: &ProviderId, nonce: &str) -> Value {
    let now = now();
    json!({"iss": iss.to_string(), "prn": "alice", "iat": now, "exp": now + 120, "nce": nonce})
}
