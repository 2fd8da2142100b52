//! The client SDK end to end against a real authority and identity service.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tessera_claims::{IdentityToken, ManualTime};
use tessera_client::{
    AuthOutcome, ChallengeHandler, Client, ClientError, Deauthentication, Event,
    IdentityServiceHandler,
};
use tessera_tests::deployment::{pem_signer, start, Deployment, Options};

async fn stack(nonce_ttl_secs: u64) -> Deployment {
    let keys = tempfile::tempdir().unwrap();
    let options = Options {
        users: vec![
            ("alice", "alice", "alice-password", "ALICE"),
            ("bob", "bob", "bob-password", "BOB"),
        ],
        nonce_ttl_secs,
        identity_origins: Vec::new(),
    };
    start(options, pem_signer(keys.path())).await
}

trait Devices {
    fn client(&self, handler: Option<IdentityServiceHandler>) -> Client;
    fn user(&self, name: &str) -> IdentityServiceHandler;
}

impl Devices for Deployment {
    fn client(&self, handler: Option<IdentityServiceHandler>) -> Client {
        let mut b = Client::builder()
            .authority(&self.authority)
            .app_id(self.app_id)
            .data_dir(self.dir.path().join("device"));
        if let Some(h) = handler {
            b = b.challenge_handler(h);
        }
        b.build().unwrap()
    }

    fn user(&self, name: &str) -> IdentityServiceHandler {
        IdentityServiceHandler::new(&self.identity, name, format!("{name}-password"))
    }
}

fn drain(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn first_login_challenges_and_a_restarted_client_needs_none() {
    let s = stack(600).await;
    let client = s.client(Some(s.user("alice")));
    let mut events = client.events();
    client.connect().await.unwrap();
    let outcome = client.authenticate().await.unwrap();
    assert_eq!(
        outcome,
        AuthOutcome::Authenticated {
            user_id: "alice".into(),
            challenged: true
        }
    );
    let seen = drain(&mut events);
    assert_eq!(seen[0], Event::Connected);
    assert!(
        matches!(&seen[1], Event::AuthenticationChallenge { nonce } if nonce.len() == tessera_claims::Nonce::LEN),
        "{seen:?}"
    );
    assert_eq!(
        seen[2],
        Event::Authenticated {
            user_id: "alice".into()
        }
    );
    assert_eq!(
        client.identity().await.unwrap().display_name.as_deref(),
        Some("ALICE")
    );

    // The app restarts: a new client on the same data directory.
    drop(client);
    let client = s.client(Some(s.user("alice")));
    let mut events = client.events();
    client.connect().await.unwrap();
    let outcome = client.authenticate().await.unwrap();
    assert_eq!(
        outcome,
        AuthOutcome::Authenticated {
            user_id: "alice".into(),
            challenged: false
        }
    );
    assert!(!drain(&mut events)
        .iter()
        .any(|e| matches!(e, Event::AuthenticationChallenge { .. })));
    assert_eq!(client.cached_identity().unwrap().unwrap().user_id, "alice");

    // Driving the flow by hand, without a handler.
    let hand = s.client(None);
    hand.connect().await.unwrap();
    client
        .deauthenticate(Deauthentication::DeleteLocalData)
        .await
        .unwrap();
    let AuthOutcome::Challenged { nonce } = hand.authenticate().await.unwrap() else {
        panic!("expected a challenge")
    };
    let token = s.user("bob").on_challenge(&nonce).await.unwrap();
    assert_eq!(hand.answer_challenge(token).await.unwrap(), "bob");
}

#[tokio::test]
async fn switching_users_with_and_without_kept_data() {
    let s = stack(600).await;
    let alice = s.client(Some(s.user("alice")));
    alice.connect().await.unwrap();
    alice.authenticate().await.unwrap();
    alice
        .local_set("draft", Some(json!("hello from alice")))
        .unwrap();
    // One user at a time: a token for bob is refused while alice is authenticated.
    let r: Value = reqwest::Client::new()
        .post(format!("{}/nonces", s.authority))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nonce = r["nonce"].as_str().unwrap().to_owned();
    let bob_token = s.user("bob").on_challenge(&nonce).await.unwrap();
    assert!(matches!(
        alice.answer_challenge(bob_token).await,
        Err(ClientError::InvalidState(_))
    ));
    alice
        .deauthenticate(Deauthentication::KeepLocalData)
        .await
        .unwrap();

    let bob = s.client(Some(s.user("bob")));
    bob.connect().await.unwrap();
    bob.authenticate().await.unwrap();
    assert_eq!(
        bob.local_get("draft").unwrap(),
        None,
        "bob must not see alice's data"
    );
    bob.deauthenticate(Deauthentication::DeleteLocalData)
        .await
        .unwrap();

    let alice = s.client(Some(s.user("alice")));
    alice.connect().await.unwrap();
    assert!(matches!(
        alice.authenticate().await.unwrap(),
        AuthOutcome::Authenticated {
            challenged: true,
            ..
        }
    ));
    assert_eq!(
        alice.local_get("draft").unwrap(),
        Some(json!("hello from alice")),
        "kept data is reused"
    );
    alice
        .deauthenticate(Deauthentication::DeleteLocalData)
        .await
        .unwrap();
    let alice = s.client(Some(s.user("alice")));
    alice.connect().await.unwrap();
    alice.authenticate().await.unwrap();
    assert_eq!(
        alice.local_get("draft").unwrap(),
        None,
        "deleted data is gone"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let session = s.dir.path().join("device/users/alice/session");
        assert_eq!(
            std::fs::metadata(session).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn calls_during_deauthentication_fail_and_the_session_ends_at_the_server() {
    let s = stack(600).await;
    let client = s.client(Some(s.user("alice")));
    client.connect().await.unwrap();
    client.authenticate().await.unwrap();
    let token = client.session().unwrap().token().to_owned();
    let mut events = client.events();
    let deauth = tokio::spawn({
        let c = client.clone();
        async move { c.deauthenticate(Deauthentication::DeleteLocalData).await }
    });
    // Let the deauthentication start: it is now waiting on the authority.
    tokio::task::yield_now().await;
    for result in [
        client.authenticate().await.map(|_| ()),
        client.connect().await,
        client.local_get("x").map(|_| ()),
        client.deauthenticate(Deauthentication::KeepLocalData).await,
    ] {
        assert!(
            matches!(result, Err(ClientError::InvalidState(ref m)) if m.contains("deauthentication")),
            "{result:?}"
        );
    }
    deauth.await.unwrap().unwrap();
    assert_eq!(drain(&mut events), vec![Event::Deauthenticated]);
    assert!(client.session().is_none());
    let r = reqwest::Client::new()
        .get(format!("{}/identities/me", s.authority))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn a_server_re_challenge_is_answered_in_the_background() {
    let s = stack(600).await;
    let client = s.client(Some(s.user("alice")));
    client.connect().await.unwrap();
    client.authenticate().await.unwrap();
    let old = client.session().unwrap().token().to_owned();
    // The session ends behind the client's back.
    reqwest::Client::new()
        .delete(format!("{}/sessions/current", s.authority))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap();
    let mut events = client.events();
    assert!(matches!(
        client.identity().await,
        Err(ClientError::AuthenticationRequired)
    ));
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|e| matches!(e, Event::Authenticated { .. }))
    {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("no re-authentication")
            .unwrap();
        seen.push(e);
    }
    assert!(
        matches!(&seen[0], Event::AuthenticationChallenge { .. }),
        "{seen:?}"
    );
    assert_ne!(client.session().unwrap().token(), old);
    assert_eq!(client.identity().await.unwrap().user_id, "alice");
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error() {
    let s = stack(600).await;
    let client = s.client(Some(IdentityServiceHandler::new(
        &s.identity,
        "alice",
        "not-her-password",
    )));
    let mut events = client.events();
    client.connect().await.unwrap();
    let err = client.authenticate().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Api { id, .. } if id == "invalid_credentials"),
        "{err:?}"
    );
    let seen = drain(&mut events);
    assert_eq!(
        seen.last(),
        Some(&Event::AuthenticationError {
            reason: "invalid_credentials".into()
        })
    );
    assert!(client.session().is_none());
}

/// Answers slowly the first time (the nonce expires meanwhile), or always
/// with a broken token.
#[derive(Debug)]
struct Flaky {
    inner: IdentityServiceHandler,
    calls: Arc<AtomicU32>,
    slow_first: bool,
    /// The authority's clock, moved past the nonce's life on the slow answer.
    time: ManualTime,
}

#[async_trait]
impl ChallengeHandler for Flaky {
    async fn on_challenge(&self, nonce: &str) -> tessera_client::Result<IdentityToken> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.slow_first {
            return Ok(IdentityToken::new("not.a.token"));
        }
        let token = self.inner.on_challenge(nonce).await?;
        if n == 0 {
            // Past the 3 s time to live.
            self.time.advance(4);
        }
        Ok(token)
    }
}

#[tokio::test]
async fn expired_nonces_are_replaced_and_broken_tokens_do_not_loop() {
    let s = stack(3).await;
    let calls = Arc::new(AtomicU32::new(0));
    let client = Client::builder()
        .authority(&s.authority)
        .app_id(s.app_id)
        .data_dir(s.dir.path().join("slow"))
        .challenge_handler(Flaky {
            inner: s.user("alice"),
            calls: calls.clone(),
            slow_first: true,
            time: s.time.clone(),
        })
        .build()
        .unwrap();
    let mut events = client.events();
    client.connect().await.unwrap();
    assert!(matches!(
        client.authenticate().await.unwrap(),
        AuthOutcome::Authenticated { .. }
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let challenges = drain(&mut events)
        .iter()
        .filter(|e| matches!(e, Event::AuthenticationChallenge { .. }))
        .count();
    assert_eq!(challenges, 2);

    let calls = Arc::new(AtomicU32::new(0));
    let broken = Client::builder()
        .authority(&s.authority)
        .app_id(s.app_id)
        .data_dir(s.dir.path().join("broken"))
        .challenge_handler(Flaky {
            inner: s.user("alice"),
            calls: calls.clone(),
            slow_first: false,
            time: s.time.clone(),
        })
        .build()
        .unwrap();
    broken.connect().await.unwrap();
    let err = broken.authenticate().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Api { reason: Some(r), .. } if r == "malformed_token"),
        "{err:?}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a permanently invalid token is not retried"
    );
}

/// Counts the challenges it answers.
#[derive(Debug)]
struct Counted {
    inner: IdentityServiceHandler,
    calls: Arc<AtomicU32>,
}

#[async_trait]
impl ChallengeHandler for Counted {
    async fn on_challenge(&self, nonce: &str) -> tessera_client::Result<IdentityToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.on_challenge(nonce).await
    }
}

/// Waits for the first event `wanted` accepts.
async fn wait_for(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    wanted: impl Fn(&Event) -> bool,
) -> Event {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the event never came")
            .unwrap();
        if wanted(&e) {
            return e;
        }
    }
}

#[tokio::test]
async fn an_operators_revocation_challenges_and_a_suspension_is_an_error_without_retries() {
    let s = stack(600).await;
    let calls = Arc::new(AtomicU32::new(0));
    let client = Client::builder()
        .authority(&s.authority)
        .app_id(s.app_id)
        .data_dir(s.dir.path().join("device"))
        .challenge_handler(Counted {
            inner: s.user("alice"),
            calls: calls.clone(),
        })
        .build()
        .unwrap();
    client.connect().await.unwrap();
    client.authenticate().await.unwrap();
    let user = format!(
        "{}/admin/apps/{}/users/alice",
        s.authority,
        tessera_tests::encode(&s.app_id.to_string())
    );
    let http = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: String| {
        http.request(method, path)
            .bearer_auth(tessera_tests::ADMIN)
            .send()
    };

    // The operator ends her sessions: the next call meets a challenge,
    // answered in the background.
    let r = admin(reqwest::Method::DELETE, format!("{user}/sessions"))
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let mut events = client.events();
    assert!(matches!(
        client.identity().await,
        Err(ClientError::AuthenticationRequired)
    ));
    wait_for(&mut events, |e| matches!(e, Event::Authenticated { .. })).await;
    assert_eq!(client.identity().await.unwrap().user_id, "alice");

    // Suspended: the challenge's answer is refused, an authentication error
    // naming the suspension, and no retry.
    let r = admin(reqwest::Method::PUT, format!("{user}/suspension"))
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let before = calls.load(Ordering::SeqCst);
    assert!(matches!(
        client.identity().await,
        Err(ClientError::AuthenticationRequired)
    ));
    let error = wait_for(&mut events, |e| {
        matches!(
            e,
            Event::AuthenticationError { .. } | Event::Authenticated { .. }
        )
    })
    .await;
    assert_eq!(
        error,
        Event::AuthenticationError {
            reason: "user_suspended".into()
        }
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(calls.load(Ordering::SeqCst), before + 1, "no retry loop");
    assert!(client.session().is_none());
    let err = client.authenticate().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Api { id, status: 403, .. } if id == "user_suspended"),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), before + 2);

    // Lifted: she authenticates again.
    let r = admin(reqwest::Method::DELETE, format!("{user}/suspension"))
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    client.authenticate().await.unwrap();
    assert_eq!(client.identity().await.unwrap().user_id, "alice");
}
