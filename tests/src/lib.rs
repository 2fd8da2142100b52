//! The one harness of Tessera's tests: the cross-crate tests in `tests/`,
//! the authority's tests over real servers and the command's process tests
//! all take their helpers from here.
//!
//! - the helpers every test needs: [`env`] (a test service's setting from
//!   `scripts/test`), [`encode`], [`new_signer`], tokens and claims;
//! - [`authority`]: one authority in this process on a loopback port;
//! - [`deployment`]: an authority and an identity service together;
//! - [`process`]: `tessera … serve` as child processes;
//! - [`fault_proxy`]: a TCP proxy that loses answers, and [`redis_server`]:
//!   a Redis of a test's own, to restart.

pub mod authority;
pub mod deployment;
pub mod fault_proxy;
pub mod process;
pub mod redis_server;

use serde_json::{json, Value};
use tessera_claims::{Claims, KeyId, ProviderId, UserId};
use tessera_signer::{sign_token, PemSigner, Signer as _};

/// The admin token of every authority the harness starts.
pub const ADMIN: &str = "harness-admin-token-0123456789";

/// The EIT test key pair of `tests/vectors/eit`.
pub const EIT_SIGNING_KEY: &str = include_str!("../vectors/eit/signing_key.pem");
/// Its public key.
pub const EIT_PUBLIC_KEY: &str = include_str!("../vectors/eit/public_key.pem");

/// A test service's setting from `scripts/test`; without it the test fails.
pub fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set; run the suite with scripts/test"))
}

/// Seconds since the epoch.
pub use tessera_claims::unix_now as now;

/// The URL-encoded form of an id, for paths.
pub fn encode(s: &str) -> String {
    tessera_api::path_segment(s)
}

/// A PEM signer with a fresh RSA-2048 key and key id.
pub fn new_signer() -> PemSigner {
    PemSigner::from_pem(KeyId::generate(), &PemSigner::generate_pem(2048).unwrap()).unwrap()
}

/// Claims for `user` over `nonce`, issued now, living 120 s.
pub fn claims(iss: ProviderId, user: &str, nonce: &str) -> Claims {
    Claims::builder(iss, UserId::new(user).unwrap(), nonce)
        .issued_at(now())
        .ttl_secs(120)
        .build()
        .unwrap()
}

/// The token of `claims` signed by `signer`.
pub async fn token(signer: &PemSigner, claims: &Claims) -> String {
    sign_token(signer, claims).await.unwrap().into_string()
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

/// Registers a staging app for `provider` over the admin API at `url`,
/// with these public keys (key id, SPKI PEM): its app id.
pub async fn register_app_with_keys(
    http: &reqwest::Client,
    url: &str,
    provider: ProviderId,
    keys: &[(KeyId, String)],
) -> String {
    let app: Value = http
        .post(format!("{url}/admin/apps"))
        .bearer_auth(ADMIN)
        .json(
            &json!({"name": "test", "environment": "staging", "provider_id": provider.to_string()}),
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    for (kid, public_key_pem) in keys {
        let response = http
            .post(format!("{url}/admin/apps/{}/keys", encode(&app_id)))
            .bearer_auth(ADMIN)
            .json(&json!({"public_key_pem": public_key_pem, "kid": kid.to_string()}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status.is_success(),
            "registering key {kid} of {app_id}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }
    app_id
}

/// A fresh nonce for the app from the authority at `url`.
pub async fn nonce_at(http: &reqwest::Client, url: &str, app_id: &str) -> String {
    let nonce: Value = http
        .post(format!("{url}/nonces"))
        .json(&json!({"app_id": app_id}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    nonce["nonce"].as_str().unwrap().to_owned()
}

/// A PostgreSQL database of its own for one test, on the server of
/// `TESSERA_TEST_POSTGRES_URL`: its URL, and the database is dropped when
/// the guard goes.
pub struct ScratchDatabase {
    /// Its URL.
    pub url: String,
    name: String,
    admin_url: String,
}

impl ScratchDatabase {
    /// Creates the database.
    pub async fn create() -> Self {
        use sqlx::Connection as _;
        let admin_url = env("TESSERA_TEST_POSTGRES_URL");
        let name = format!("tessera_scratch_{}", KeyId::generate().uuid().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        Self {
            url,
            name,
            admin_url,
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside any runtime the test may still hold.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection as _;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(&drop).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}
