//! Operators' control of users: a user's state and sessions, ending them,
//! suspension, revoke-before per app and per user, identity edits, and the
//! audit trail recording each of them with its actor.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_tests::authority::{claims, encode, new_signer, token, Authority, TestApp};

struct Fixture {
    authority: Authority,
    signer: tessera_signer::PemSigner,
    app: TestApp,
}

impl Fixture {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(change: impl FnOnce(&mut tessera_authority::AuthorityConfig)) -> Self {
        let authority = Authority::start_with(change).await;
        let signer = new_signer();
        let app = authority.app_with_key(&signer).await;
        Self {
            authority,
            signer,
            app,
        }
    }

    fn app_path(&self) -> String {
        format!("/admin/apps/{}", encode(&self.app.app_id.to_string()))
    }

    fn user_path(&self, user: &str) -> String {
        format!("{}/users/{}", self.app_path(), encode(user))
    }

    /// A token for `user` answering a fresh nonce.
    async fn token(&self, user: &str, display_name: Option<&str>) -> String {
        let nonce = self.authority.nonce(None).await;
        let mut c = claims(self.app.provider_id, user, &nonce);
        c.profile.display_name = display_name.map(str::to_owned);
        token(&self.signer, &c).await
    }

    async fn open(&self, user: &str) -> String {
        let t = self.token(user, None).await;
        let (status, body) = self.authority.open_session(&self.app.app_id, &t).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["session_token"].as_str().unwrap().to_owned()
    }

    async fn works(&self, session: &str) -> bool {
        let (status, body) = self
            .authority
            .get_with_session("/identities/me", session)
            .await;
        match status {
            StatusCode::OK => true,
            StatusCode::UNAUTHORIZED => {
                assert_eq!(body["id"], "authentication_required", "{body}");
                assert!(body["data"]["nonce"].is_string(), "a re-challenge: {body}");
                false
            }
            other => panic!("{other}: {body}"),
        }
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.authority.admin(method, path, body).await
    }

    /// (action, actor) of the user's events, oldest first.
    async fn trail(&self, user: &str) -> Vec<(String, String)> {
        let path = format!(
            "/admin/audit?app_id={}&user_id={}",
            encode(&self.app.app_id.to_string()),
            encode(user)
        );
        let (status, page) = self.admin(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_owned(),
                    e["actor"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn an_operator_sees_a_user_ends_their_sessions_and_suspends_them() {
    let f = Fixture::start().await;
    let (a1, a2, bob) = (
        f.open("ada").await,
        f.open("ada").await,
        f.open("bob").await,
    );

    let (status, user) = f.admin(Method::GET, &f.user_path("ada"), None).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["user_id"], "ada");
    assert_eq!(user["suspended"], false);
    assert_eq!(user["identity"]["user_id"], "ada");
    let sessions = user["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    for s in sessions {
        assert_eq!(s["client_address"], "127.0.0.1");
        assert!(s["session_id"].as_str().unwrap().len() >= 16);
        assert!(s["last_seen_at"].is_string());
    }
    let text = user.to_string();
    assert!(
        !text.contains(&a1) && !text.contains(&a2),
        "never a session token"
    );
    let (status, never_seen) = f.admin(Method::GET, &f.user_path("carol"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(never_seen["identity"], Value::Null);
    assert_eq!(never_seen["sessions"], json!([]));

    // Every session of the user ends at once; other users keep theirs.
    let (status, _) = f
        .admin(
            Method::DELETE,
            &format!("{}/sessions", f.user_path("ada")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!f.works(&a1).await && !f.works(&a2).await);
    assert!(f.works(&bob).await);

    // Suspended: sessions end, new ones are refused with the documented error.
    let a3 = f.open("ada").await;
    let suspension = format!("{}/suspension", f.user_path("ada"));
    let (status, _) = f.admin(Method::PUT, &suspension, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!f.works(&a3).await);
    let held = f.token("ada", None).await;
    let (status, body) = f.authority.open_session(&f.app.app_id, &held).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["id"], "user_suspended");
    assert_eq!(body["code"], 101);
    assert!(body["message"].as_str().unwrap().contains("suspended"));
    let (_, user) = f.admin(Method::GET, &f.user_path("ada"), None).await;
    assert_eq!(user["suspended"], true);
    assert!(user["suspended_at"].is_string());
    assert_eq!(user["sessions"], json!([]));
    let (status, _) = f.admin(Method::PUT, &suspension, None).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "suspending again is harmless"
    );

    // Lifted: the refused token's nonce was left unused, so it works now.
    let (status, _) = f.admin(Method::DELETE, &suspension, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = f.authority.open_session(&f.app.app_id, &held).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    assert_eq!(
        f.trail("ada").await,
        pairs(&[
            ("session_opened", "user"),
            ("session_opened", "user"),
            ("sessions_revoked", "admin"),
            ("session_opened", "user"),
            ("user_suspended", "admin"),
            ("session_refused", "user"),
            ("suspension_lifted", "admin"),
            ("session_opened", "user"),
        ])
    );

    // Wrong paths and ids, in the error shape.
    for (path, status, id) in [
        (
            format!(
                "/admin/apps/{}/users/ada",
                encode("layer:///apps/staging/nope")
            ),
            StatusCode::NOT_FOUND,
            "invalid_app_id",
        ),
        (f.user_path("a\u{1}b"), StatusCode::NOT_FOUND, "not_found"),
        (
            format!("{}/users/%FF", f.app_path()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let (got, body) = f.admin(Method::GET, &path, None).await;
        assert_eq!(
            (got, body["id"].as_str()),
            (status, Some(id)),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn revoke_before_per_app_and_per_user_and_its_undo() {
    let f = Fixture::start().await;
    let (ada, bob) = (f.open("ada").await, f.open("bob").await);
    let app_revoke = format!("{}/revoke-before", f.app_path());
    let ada_revoke = format!("{}/revoke-before", f.user_path("ada"));

    // An instant in the past leaves today's sessions alone.
    let (status, body) = f
        .admin(
            Method::PUT,
            &app_revoke,
            Some(json!({"before": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sessions_revoked_before"], "2020-01-01T00:00:00Z");
    assert!(f.works(&ada).await && f.works(&bob).await);

    // Now (no body): every session of the app stops working.
    let (status, body) = f.admin(Method::PUT, &app_revoke, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!f.works(&ada).await && !f.works(&bob).await);
    let (_, app) = f.admin(Method::GET, &f.app_path(), None).await;
    assert_eq!(
        app["sessions_revoked_before"],
        body["sessions_revoked_before"]
    );
    f.authority.time.advance(1);
    let fresh = f.open("ada").await;
    assert!(f.works(&fresh).await, "sessions opened afterwards work");
    // Undo: the revoked sessions, which have not otherwise ended, work again.
    let (status, _) = f.admin(Method::DELETE, &app_revoke, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(f.works(&ada).await && f.works(&bob).await);

    // Per user: only that user's sessions.
    let (status, body) = f.admin(Method::PUT, &ada_revoke, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!f.works(&ada).await && !f.works(&fresh).await);
    assert!(f.works(&bob).await);
    let (_, user) = f.admin(Method::GET, &f.user_path("ada"), None).await;
    assert_eq!(
        user["sessions_revoked_before"],
        body["sessions_revoked_before"]
    );
    assert_eq!(user["sessions"], json!([]));
    let (status, _) = f.admin(Method::DELETE, &ada_revoke, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(f.works(&ada).await && f.works(&fresh).await);

    for (body, status, id) in [
        (json!({"before": "yesterday"}), 422, "invalid_property"),
        (json!({"before": 5}), 422, "invalid_property"),
        (
            json!({"after": "2020-01-01T00:00:00Z"}),
            400,
            "invalid_request",
        ),
    ] {
        let (got, answer) = f.admin(Method::PUT, &ada_revoke, Some(body.clone())).await;
        assert_eq!(got.as_u16(), status, "{body}: {answer}");
        assert_eq!(answer["id"], id, "{body}: {answer}");
    }
    assert_eq!(
        f.trail("ada").await,
        pairs(&[
            ("session_opened", "user"),
            ("session_opened", "user"),
            ("revoke_before_set", "admin"),
            ("revoke_before_cleared", "admin"),
        ])
    );
}

#[tokio::test]
async fn identities_are_edited_by_operators_and_users_within_layers_limits() {
    let f = Fixture::start().await;
    let identity = format!("{}/identities/ada", f.app_path());
    let (status, body) = f
        .admin(Method::PATCH, &identity, Some(json!({"display_name": "A"})))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no identity before a first session: {body}"
    );

    let t = f.token("ada", Some("Ada from the token")).await;
    let (_, opened) = f.authority.open_session(&f.app.app_id, &t).await;
    let session = opened["session_token"].as_str().unwrap().to_owned();
    let (status, edited) = f
        .admin(
            Method::PATCH,
            &identity,
            Some(json!({
                "display_name": "Ada (edited)",
                "phone_number": "+44 20 7946 0000",
                "email_address": "ada@example.com",
                "avatar_url": "https://example.com/ada.png",
                "metadata": {"team": "engines", "floor": "3"},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["display_name"], "Ada (edited)");
    assert_eq!(edited["metadata"], json!({"floor": "3", "team": "engines"}));
    let (_, me) = f
        .authority
        .get_with_session("/identities/me", &session)
        .await;
    assert_eq!(me, edited);
    let (_, got) = f.admin(Method::GET, &identity, None).await;
    assert_eq!(got, edited);

    // The user edits their display fields, and only those.
    let patch_me = |body: Value| {
        let f = &f;
        let session = session.clone();
        async move {
            let r = f
                .authority
                .http
                .patch(format!("{}/identities/me", f.authority.url))
                .bearer_auth(session)
                .json(&body)
                .send()
                .await
                .unwrap();
            tessera_tests::authority::split(r).await
        }
    };
    let (status, mine) = patch_me(json!({"display_name": "Ada", "last_name": null})).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["display_name"], "Ada");
    assert_eq!(mine["phone_number"], "+44 20 7946 0000");
    let (status, body) = patch_me(json!({"phone_number": "+1"})).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = patch_me(json!({"metadata": {}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A later token carrying the claim replaces the edit; the rest stays.
    let t = f.token("ada", Some("Ada again from the token")).await;
    let (status, opened) = f.authority.open_session(&f.app.app_id, &t).await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    assert_eq!(
        opened["identity"]["display_name"],
        "Ada again from the token"
    );
    assert_eq!(opened["identity"]["email_address"], "ada@example.com");
    assert_eq!(opened["identity"]["metadata"]["team"], "engines");

    let many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    for (body, property) in [
        (json!({"display_name": "x".repeat(129)}), "display_name"),
        (json!({"first_name": 5}), "first_name"),
        (json!({"last_name": "a\u{7}b"}), "last_name"),
        (
            json!({"avatar_url": "ftp://example.com/a.png"}),
            "avatar_url",
        ),
        (
            json!({"avatar_url": format!("https://e.com/{}", "a".repeat(1011))}),
            "avatar_url",
        ),
        (json!({"phone_number": "1".repeat(33)}), "phone_number"),
        (json!({"email_address": "not an address"}), "email_address"),
        (
            json!({"email_address": format!("{}@e.com", "a".repeat(250))}),
            "email_address",
        ),
        (json!({"metadata": Value::Object(many.clone())}), "metadata"),
        (json!({"metadata": {"k": 1}}), "metadata"),
        (json!({"metadata": {"": "v"}}), "metadata"),
        (json!({"metadata": ["k", "v"]}), "metadata"),
    ] {
        let (status, answer) = f.admin(Method::PATCH, &identity, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["id"], "invalid_property", "{body}");
        assert_eq!(answer["data"]["property"], property, "{body}: {answer}");
    }
    for body in [json!({"user_id": "bob"}), json!([1]), json!("x")] {
        let (status, answer) = f.admin(Method::PATCH, &identity, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    assert_eq!(
        f.trail("ada").await,
        pairs(&[
            ("session_opened", "user"),
            ("identity_changed", "admin"),
            ("identity_changed", "user"),
            ("session_opened", "user"),
        ])
    );
}

#[tokio::test]
async fn the_audit_trail_is_paged_filtered_and_purged_after_its_retention() {
    let f = Fixture::start_with(|c| {
        c.audit.retention_days = 1;
        c.purge_interval_secs = 1;
    })
    .await;
    let session = f.open("ada").await;
    // A request id from the client is recorded with the event.
    let r = f
        .authority
        .http
        .delete(format!("{}/sessions/current", f.authority.url))
        .bearer_auth(&session)
        .header("x-request-id", "req-42")
        .header("user-agent", "audit-test/1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, page) = f.admin(Method::GET, "/admin/audit?limit=2", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["action"], "app_created");
    assert_eq!(events[1]["action"], "key_registered");
    assert!(events[1]["detail"]["kid"].is_string());
    let next = page["next"].as_i64().unwrap();
    let (_, rest) = f
        .admin(Method::GET, &format!("/admin/audit?after={next}"), None)
        .await;
    let rest = rest["events"].as_array().unwrap().clone();
    let actions: Vec<_> = rest.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["session_opened", "session_ended"]);
    assert_eq!(rest[1]["request_id"], "req-42");
    assert_eq!(rest[1]["actor"], "user");
    assert_eq!(rest[1]["user_id"], "ada");
    assert_eq!(rest[1]["client_address"], "127.0.0.1");
    let text = serde_json::to_string(&rest).unwrap();
    assert!(!text.contains(&session), "never a session token");

    let since = rest[1]["at"].as_str().unwrap();
    let (_, later) = f
        .admin(
            Method::GET,
            &format!("/admin/audit?since={}", encode(since)),
            None,
        )
        .await;
    let later = later["events"].as_array().unwrap();
    assert!(
        later.iter().any(|e| e["action"] == "session_ended"),
        "the event at `since` is listed: {later:?}"
    );
    assert!(later.iter().all(|e| e["at"].as_str().unwrap() >= since));
    for bad in [
        "limit=0",
        "limit=501",
        "since=today",
        "app_id=nope",
        "color=blue",
        "after=x",
    ] {
        let (status, body) = f
            .admin(Method::GET, &format!("/admin/audit?{bad}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["id"], "invalid_request");
    }

    // Past the retention, the purge loop removes them.
    f.authority.time.advance(2 * 86_400);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, page) = f.admin(Method::GET, "/admin/audit", None).await;
        if page["events"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not purged: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
