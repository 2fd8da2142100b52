//! One real authority in this process, on a loopback port over a fresh
//! SQLite file, with a clock the test moves; and helpers to register apps
//! and open sessions on it. The generic helpers of the crate root are
//! re-exported, so that a test needs one `use`.

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_authority::{AppState, AuthorityConfig};
use tessera_claims::{AppId, ManualTime, ProviderId};
use tessera_signer::{PemSigner, Signer as _};
use tokio::sync::oneshot;

pub use crate::{
    claims, claims_json, encode, env, header_for, new_signer, now, sign_raw, token, ADMIN,
    EIT_PUBLIC_KEY, EIT_SIGNING_KEY,
};

/// A running authority.
pub struct Authority {
    /// Its base URL.
    pub url: String,
    /// Its state (stores, caches, metrics).
    pub state: AppState,
    /// A client for it.
    pub http: reqwest::Client,
    /// Its data directory.
    pub dir: Arc<tempfile::TempDir>,
    /// Its clock, standing at the wall-clock time of the start until moved.
    pub time: ManualTime,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A configuration with its SQLite database in `dir`.
pub fn config_in(dir: &std::path::Path) -> AuthorityConfig {
    AuthorityConfig {
        database_url: format!("sqlite://{}", dir.join("authority.db").display()),
        ..AuthorityConfig::default()
    }
}

/// Used nonces in this run's Redis (`TESSERA_TEST_REDIS_URL`), under a
/// key prefix of their own.
pub fn nonces_in_redis(config: &mut AuthorityConfig) {
    config.nonces.backend = tessera_authority::NonceBackend::Redis;
    config.nonces.redis_url = Some(env("TESSERA_TEST_REDIS_URL"));
    config.nonces.redis_prefix = format!(
        "{}{}:",
        env("TESSERA_TEST_REDIS_PREFIX"),
        tessera_claims::KeyId::generate().uuid()
    );
}

impl Authority {
    /// Starts on a fresh data directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts on a fresh data directory with a changed configuration.
    pub async fn start_with(change: impl FnOnce(&mut AuthorityConfig)) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut config = config_in(dir.path());
        change(&mut config);
        Self::start_in(dir, config).await
    }

    /// Starts on an existing data directory (a restart).
    pub async fn start_in(dir: Arc<tempfile::TempDir>, config: AuthorityConfig) -> Self {
        let time = ManualTime::starting_now();
        let state = tessera_authority::open_with_time(config, Some(ADMIN), Arc::new(time.clone()))
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
            time,
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

    /// The SQLite file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("authority.db")
    }

    /// A JSON POST: status and body.
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

    /// A request with the admin token.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN);
        if let Some(body) = body {
            r = r.json(&body);
        }
        split(r.send().await.unwrap()).await
    }

    /// A GET with a session token.
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

    /// A fresh nonce, optionally bound to an app.
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

    /// Registers the signer's public key for the app.
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

    /// `POST /sessions` with a token.
    pub async fn open_session(&self, app: &AppId, token: &str) -> (StatusCode, Value) {
        self.post(
            "/sessions",
            json!({"app_id": app.to_string(), "identity_token": token}),
        )
        .await
    }
}

/// A response's status and JSON body (`null` when empty).
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

/// An app registered by the harness.
pub struct TestApp {
    /// The app id.
    pub app_id: AppId,
    /// Its provider.
    pub provider_id: ProviderId,
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
