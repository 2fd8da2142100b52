//! The identity service over a real bound server.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_claims::{jws, validate, KeyId, Profile, ProviderId, PublicKey, TrustedKey, UserId};
use tessera_identity::{
    CredentialVerifier, IdentityConfig, IdentityState, RateLimitConfig, RetiringKey,
    UserStoreError, VerifiedUser,
};
use tessera_signer::{PemSigner, SignerConfig};

const NONCE: &str = "q5lH0mJ2c8Vx1NwYt3ZkR9aB7eD4fG6hJ0kL2mN4pQ8_Zx-7Ya1Bb2Cc3Dd4Ee5F";

struct Service {
    url: String,
    state: IdentityState,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn key_file(dir: &Path, name: &str) -> (KeyId, std::path::PathBuf) {
    let path = dir.join(name);
    std::fs::write(&path, PemSigner::generate_pem(2048).unwrap()).unwrap();
    (KeyId::generate(), path)
}

fn config(dir: &Path, change: impl FnOnce(&mut IdentityConfig)) -> IdentityConfig {
    let (kid, path) = key_file(dir, "active.pem");
    let mut c: IdentityConfig = serde_json::from_value(json!({
        "database_url": format!("sqlite://{}", dir.join("identity.db").display()),
        "provider_id": ProviderId::generate().to_string(),
        "signer": {"backend": "pem", "kid": kid.to_string(), "path": path},
    }))
    .unwrap();
    change(&mut c);
    c
}

async fn start(state: IdentityState, dir: tempfile::TempDir) -> Service {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tessera_identity::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    Service {
        url,
        state,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

/// A service with users alice (profile) and bob.
async fn service(change: impl FnOnce(&mut IdentityConfig)) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), change);
    let users = tessera_identity::open_users(&config).await.unwrap();
    let profile = Profile {
        display_name: Some("Alice A.".into()),
        first_name: Some("Alice".into()),
        ..Profile::default()
    };
    users
        .add(
            "alice",
            &UserId::new("user-alice").unwrap(),
            "alice-password",
            &profile,
        )
        .await
        .unwrap();
    users
        .add(
            "bob",
            &UserId::new("user-bob").unwrap(),
            "bob-password!",
            &Profile::default(),
        )
        .await
        .unwrap();
    let state = tessera_identity::open(config).await.unwrap();
    start(state, dir).await
}

impl Service {
    async fn tokens(&self, body: Value) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let r = self
            .http
            .post(format!("{}/identity_tokens", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, r.json().await.unwrap(), headers)
    }

    fn trusted(&self) -> TrustedKey {
        let signer = self.state.issuer.signer();
        TrustedKey {
            kid: *signer.key_id(),
            provider_id: self.state.issuer.provider_id(),
            public_key: signer.public_key().clone(),
            revoked: false,
        }
    }
}

#[tokio::test]
async fn credentials_give_a_token_for_the_user_with_the_nonce_untouched() {
    let s = service(|_| {}).await;
    // A nonce not of the contract's form is refused before anything is signed.
    let (short, long) = ("n".repeat(42), "n".repeat(129));
    for odd in [
        "a+b c/d=",
        &format!("{}=", &NONCE[1..]),
        &short,
        &long,
        "",
        &format!("{}\u{0}", &NONCE[1..]),
    ] {
        let (status, body, _) = s
            .tokens(json!({"username": "alice", "password": "alice-password", "nonce": odd}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["id"], "invalid_property");
        assert_eq!(body["data"]["property"], "nonce");
    }
    // Any nonce of the contract's form (43 to 128 characters of base64url)
    // is signed as it came, not only the 64 this authority issues.
    for other in ["A".repeat(43), "z-_9".repeat(32), NONCE[1..].to_owned()] {
        let (status, body, _) = s
            .tokens(json!({"username": "alice", "password": "alice-password", "nonce": other}))
            .await;
        assert_eq!(status, StatusCode::OK, "{} characters: {body}", other.len());
        let token = body["identity_token"].as_str().unwrap();
        assert_eq!(jws::decode(token).unwrap().claims["nce"], other.as_str());
    }
    let nonce = NONCE;
    let (status, body, _) = s
        .tokens(json!({"username": "alice", "password": "alice-password", "nonce": nonce}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["identity_token"].as_str().unwrap();
    let decoded = jws::decode(token).unwrap();
    assert_eq!(decoded.claims["prn"], "user-alice");
    assert_eq!(decoded.claims["nce"], nonce);
    assert_eq!(decoded.claims["display_name"], "Alice A.");
    assert_eq!(decoded.claims["first_name"], "Alice");
    assert_eq!(
        decoded.claims["exp"].as_i64().unwrap() - decoded.claims["iat"].as_i64().unwrap(),
        120
    );
    let report = validate(token, &s.trusted());
    assert!(report.valid, "{report:#?}");
    assert!(report.warnings().is_empty(), "{report:#?}");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_indistinguishable() {
    let s = service(|_| {}).await;
    let (s1, b1, _) = s
        .tokens(json!({"username": "alice", "password": "wrong-password", "nonce": NONCE}))
        .await;
    let (s2, b2, _) = s
        .tokens(json!({"username": "mallory", "password": "wrong-password", "nonce": NONCE}))
        .await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(b1["id"], "invalid_credentials");
    for bad in [
        json!({"username": "alice", "nonce": NONCE}),
        json!({"username": "alice", "password": "alice-password"}),
        json!({"username": "alice", "password": "alice-password", "nonce": ""}),
    ] {
        let (status, body, _) = s.tokens(bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let r = s
        .http
        .post(format!("{}/identity_tokens", s.url))
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], "invalid_request");
}

/// `POST /identity_tokens` from a client bound to `source` (any address of 127.0.0.0/8).
async fn tokens_from(s: &Service, source: &str, body: Value) -> (StatusCode, Value, u64) {
    let http = reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/identity_tokens", s.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let retry = r
        .headers()
        .get("retry-after")
        .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
    (status, r.json().await.unwrap(), retry)
}

#[tokio::test]
async fn failing_usernames_and_busy_addresses_are_limited() {
    let s = service(|c| {
        c.rate_limit = RateLimitConfig {
            per_ip: 8,
            per_username_failures: 3,
            window_secs: 60,
            max_delay_secs: 60,
        }
    })
    .await;
    let wrong = json!({"username": "bob", "password": "nope-nope", "nonce": NONCE});
    let right = json!({"username": "bob", "password": "bob-password!", "nonce": NONCE});
    for _ in 0..3 {
        let (status, _, _) = tokens_from(&s, "127.0.0.2", wrong.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // From the failing address bob waits, even with the right password...
    let (status, body, retry) = tokens_from(&s, "127.0.0.2", right.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        (body["id"].as_str(), body["code"].as_u64()),
        (Some("rate_limit_exceeded"), Some(7))
    );
    assert!((1..=60).contains(&retry), "{retry}");
    // ...but the failures of a stranger never lock bob out of his own address.
    let (status, body, _) = tokens_from(&s, "127.0.0.3", right.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // And the delay passes: a second later the right password works there too.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (status, body, _) = tokens_from(&s, "127.0.0.2", right.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // An address has `per_ip` attempts per window, whatever the usernames:
    // 127.0.0.2 has made 4 counted ones (the refused one was not counted).
    for _ in 0..4 {
        let (status, _, _) = tokens_from(&s, "127.0.0.2", right.clone()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let alice = json!({"username": "alice", "password": "alice-password", "nonce": NONCE});
    let (status, _, _) = tokens_from(&s, "127.0.0.2", alice.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = tokens_from(&s, "127.0.0.4", alice).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn usernames_and_passwords_are_capped_in_length() {
    let s = service(|_| {}).await;
    for (property, body) in [
        (
            "username",
            json!({"username": "u".repeat(257), "password": "p", "nonce": NONCE}),
        ),
        (
            "password",
            json!({"username": "alice", "password": "p".repeat(1025), "nonce": NONCE}),
        ),
    ] {
        let (status, answer, _) = s.tokens(body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["data"]["property"], property);
    }
}

#[tokio::test]
async fn sample_mode_serves_staging_apps_only_and_is_off_by_default() {
    let staging = format!("layer:///apps/staging/{}", uuid_v4());
    let configured = staging.clone();
    let s = service(move |c| {
        c.sample_mode = true;
        c.sample_app_id = Some(configured.parse().unwrap());
    })
    .await;
    // Another staging app than the configured one: the client does not choose.
    let other = format!("layer:///apps/staging/{}", uuid_v4());
    let (status, body, _) = s
        .tokens(json!({"app_id": other, "user_id": "sam", "nonce": NONCE}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["data"]["property"], "app_id");
    let (status, body, _) = s
        .tokens(json!({"app_id": staging, "user_id": "sam", "nonce": NONCE}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        jws::decode(body["identity_token"].as_str().unwrap())
            .unwrap()
            .claims["prn"],
        "sam"
    );
    let production = format!("layer:///apps/production/{}", uuid_v4());
    let (status, body, _) = s
        .tokens(json!({"app_id": production, "user_id": "sam", "nonce": NONCE}))
        .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::FORBIDDEN, Some("production_app_refused"))
    );
    // Credentials still work in sample mode.
    let (status, _, _) = s
        .tokens(json!({"username": "bob", "password": "bob-password!", "nonce": NONCE}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let off = service(|_| {}).await;
    let (status, body, _) = off
        .tokens(json!({"app_id": staging, "user_id": "sam", "nonce": NONCE}))
        .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("missing_property"))
    );
}

fn uuid_v4() -> String {
    ProviderId::generate().uuid().to_string()
}

#[tokio::test]
async fn jwks_publishes_the_active_and_retiring_keys() {
    let dir = tempfile::tempdir().unwrap();
    // The old key becomes a retiring key; a new one signs.
    let old_pem = PemSigner::generate_pem(2048).unwrap();
    let old_kid = KeyId::generate();
    let old_public = PemSigner::from_pem(old_kid, &old_pem).unwrap();
    let old_public = tessera_signer::Signer::public_key(&old_public).clone();
    std::fs::write(dir.path().join("old.pub.pem"), old_public.to_pem()).unwrap();
    let retiring = RetiringKey {
        kid: old_kid,
        public_key_path: dir.path().join("old.pub.pem"),
    };
    let sample_app: tessera_claims::AppId = format!("layer:///apps/staging/{}", uuid_v4())
        .parse()
        .unwrap();
    let config = config(dir.path(), |c| {
        c.retiring_keys = vec![retiring];
        c.jwks_max_age_secs = 120;
        c.sample_mode = true;
        c.sample_app_id = Some(sample_app);
    });
    let SignerConfig::Pem(active) = &config.signer else {
        unreachable!()
    };
    let active_kid = active.kid;
    let state = tessera_identity::open(config).await.unwrap();
    let s = start(state, dir).await;

    let r = s
        .http
        .get(format!("{}/.well-known/jwks.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "public, max-age=120");
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kid"], active_kid.to_string());
    assert_eq!(keys[1]["kid"], old_kid.to_string());
    for k in keys {
        for field in ["kid", "kty", "alg", "use", "n", "e"] {
            assert!(k[field].is_string(), "{field}: {k}");
        }
        assert_eq!(
            (k["kty"].as_str(), k["alg"].as_str(), k["use"].as_str()),
            (Some("RSA"), Some("RS256"), Some("sig"))
        );
    }
    let active_jwk: tessera_claims::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
    assert_eq!(
        &PublicKey::from_jwk(&active_jwk).unwrap(),
        s.state.issuer.signer().public_key()
    );
    let old_jwk: tessera_claims::Jwk = serde_json::from_value(keys[1].clone()).unwrap();
    assert_eq!(PublicKey::from_jwk(&old_jwk).unwrap(), old_public);

    // Tokens are signed by the active key only.
    let staging = sample_app.to_string();
    let (status, body, _) = s
        .tokens(json!({"app_id": staging, "user_id": "u", "nonce": NONCE}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["identity_token"].as_str().unwrap();
    assert_eq!(
        jws::decode(token).unwrap().header["kid"],
        active_kid.to_string()
    );

    // PyJWT builds the same key from the JWK and verifies the token with it.
    let python = std::env::var("TESSERA_TEST_PYTHON").expect(
        "TESSERA_TEST_PYTHON must name a Python with PyJWT[crypto]; run the suite with scripts/test",
    );
    let script = "import json,sys,jwt\nfrom jwt.algorithms import RSAAlgorithm\njwk=json.loads(sys.argv[1]);key=RSAAlgorithm.from_jwk(jwk)\nc=jwt.decode(sys.argv[2],key,algorithms=['RS256'])\nprint(c['prn'])";
    let out = std::process::Command::new(python)
        .args(["-c", script, &keys[0].to_string(), token])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "u");
}

/// A backend's own user store, plugged into the server.
#[derive(Debug)]
struct OneUser;

#[async_trait]
impl CredentialVerifier for OneUser {
    async fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<VerifiedUser>, UserStoreError> {
        Ok(
            (username == "root" && password == "open-sesame").then(|| VerifiedUser {
                user_id: UserId::new("0").unwrap(),
                profile: Profile::default(),
            }),
        )
    }
}

#[tokio::test]
async fn a_custom_credential_verifier_plugs_in() {
    let dir = tempfile::tempdir().unwrap();
    let state = tessera_identity::open_with(config(dir.path(), |_| {}), Arc::new(OneUser))
        .await
        .unwrap();
    let s = start(state, dir).await;
    let (status, body, _) = s
        .tokens(json!({"username": "root", "password": "open-sesame", "nonce": NONCE}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = s
        .tokens(json!({"username": "root", "password": "closed", "nonce": NONCE}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_settings_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for ttl in [29, 601] {
        let err = tessera_identity::open(config(dir.path(), |c| c.token_ttl_secs = ttl))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("token_ttl_secs"), "{err}");
    }
    let err = tessera_identity::open(config(dir.path(), |c| c.password.memory_kib = 1024))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("OWASP"), "{err}");
    let err = tessera_identity::open(config(dir.path(), |c| {
        c.retiring_keys = vec![RetiringKey {
            kid: KeyId::generate(),
            public_key_path: "/nonexistent.pem".into(),
        }];
    }))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent.pem"), "{err}");
}

#[tokio::test]
async fn health_and_metrics() {
    let s = service(|_| {}).await;
    s.tokens(json!({"username": "alice", "password": "alice-password", "nonce": NONCE}))
        .await;
    s.tokens(json!({"username": "alice", "password": "nope-nope", "nonce": NONCE}))
        .await;
    let health: Value = s
        .http
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["signer"]["self_check"], "ok");
    assert_eq!(health["signer"]["backend"], "pem");
    let text = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "tessera_identity_tokens_issued_total{mode=\"credentials\"} 1",
        "tessera_identity_failures_total{kind=\"invalid_credentials\"} 1",
        "tessera_identity_signer_duration_seconds_count 1",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
}

#[tokio::test]
async fn sample_mode_needs_a_configured_staging_app() {
    let dir = tempfile::tempdir().unwrap();
    for (app, wanted) in [
        (None, "`sample_app_id` is required"),
        (
            Some(format!("layer:///apps/production/{}", uuid_v4())),
            "is a production app",
        ),
    ] {
        let config = config(dir.path(), |c| {
            c.sample_mode = true;
            c.sample_app_id = app.map(|a| a.parse().unwrap());
        });
        let Err(e) = tessera_identity::open(config).await else {
            panic!("sample mode started without a staging app");
        };
        assert!(
            e.to_string().contains(wanted) || format!("{e:?}").contains(wanted),
            "{e:?}"
        );
    }
}
