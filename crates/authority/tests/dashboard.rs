//! The dashboard's sign-in over HTTP against a real authority: cookies and
//! their flags, CSRF and origin checks on every change, sign-out, expiry,
//! and pages refused without a sign-in.

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use tessera_authority::DashboardPassword;
use tessera_tests::authority::{Authority, ADMIN};

const PAGES: [&str; 4] = ["apps", "validate", "users", "audit"];

async fn dashboard() -> Authority {
    Authority::start_with(|c| c.dashboard.enabled = true).await
}

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A request as a browser sends it: these headers (cookie, CSRF token,
/// origin…) and an optional JSON body.
async fn send(
    url: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = browser().request(method, format!("{url}{path}"));
    for (name, value) in headers {
        r = r.header(*name, *value);
    }
    if let Some(body) = body {
        r = r.json(&body);
    }
    r.send().await.unwrap()
}

struct SignIn {
    cookie: String,
    csrf: String,
    set_cookie: String,
}

impl SignIn {
    /// What the dashboard's pages send with a change.
    fn headers(&self) -> [(&str, &str); 2] {
        [("cookie", &self.cookie), ("x-csrf-token", &self.csrf)]
    }
}

async fn sign_in(url: &str, body: Value) -> Result<SignIn, (StatusCode, Value)> {
    let r = send(url, Method::POST, "/dashboard/sign-in", &[], Some(body)).await;
    let status = r.status();
    let set_cookie = r
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = r.json().await.unwrap();
    if status != StatusCode::OK {
        assert!(set_cookie.is_none(), "a refused sign-in sets no cookie");
        return Err((status, body));
    }
    let set_cookie = set_cookie.expect("a sign-in sets its cookie");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    Ok(SignIn {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        set_cookie,
    })
}

/// A request as the dashboard's pages send it: the cookie and, when given,
/// the CSRF token.
async fn call(
    a: &Authority,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut headers = vec![("cookie", cookie)];
    headers.extend(csrf.map(|csrf| ("x-csrf-token", csrf)));
    let r = send(&a.url, method, path, &headers, body).await;
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn page(a: &Authority, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let headers: Vec<_> = cookie.map(|c| ("cookie", c)).into_iter().collect();
    send(&a.url, Method::GET, path, &headers, None).await
}

fn location(r: &reqwest::Response) -> &str {
    r.headers()[header::LOCATION].to_str().unwrap()
}

async fn app_count(a: &Authority) -> usize {
    let (_, body) = a.admin(Method::GET, "/admin/apps", None).await;
    body["apps"].as_array().unwrap().len()
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_serves_the_pages() {
    let a = dashboard().await;
    for path in PAGES
        .iter()
        .map(|p| format!("/dashboard/{p}"))
        .chain(["/dashboard".to_owned()])
    {
        let r = page(&a, &path, None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&r), "/dashboard/sign-in", "{path}");
    }
    let r = page(&a, "/dashboard/sign-in", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(csp.contains("frame-ancestors 'none'"));
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("<script>") && html.contains(r#"src="/dashboard/assets/dashboard.js""#),
        "no inline script: {html}"
    );

    let (status, body) = sign_in(&a.url, json!({ "admin_token": "not the admin token" }))
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("access_denied"))
    );
    let (status, body) = sign_in(&a.url, json!({ "admin_token": ADMIN, "password": "x" }))
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, _) = sign_in(&a.url, json!({ "password": "no password is configured" }))
        .await
        .err()
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let s = sign_in(&a.url, json!({ "admin_token": ADMIN }))
        .await
        .unwrap();
    let flags: Vec<&str> = s.set_cookie.split(';').map(str::trim).collect();
    for flag in ["Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(flags.contains(&flag), "{flag} in {}", s.set_cookie);
    }
    assert!(!flags.contains(&"Secure"), "plain HTTP: {}", s.set_cookie);
    assert!(!s.set_cookie.contains(ADMIN), "the cookie is not the token");

    for p in PAGES {
        let r = page(&a, &format!("/dashboard/{p}"), Some(&s.cookie)).await;
        assert_eq!(r.status(), StatusCode::OK, "{p}");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!(r#"data-page="{p}""#)));
        assert!(html.contains(&s.csrf), "the page carries its CSRF token");
        assert!(!html.contains(ADMIN), "never the admin token");
    }
    let app = page(
        &a,
        "/dashboard/apps/layer:%2F%2F%2Fapps%2Fstaging%2F5e0c7a1b-2d3f-4a5b-9c6d-7e8f9a0b1c2d",
        Some(&s.cookie),
    )
    .await;
    assert_eq!(app.status(), StatusCode::OK);
    let bad = page(&a, "/dashboard/apps/%22%3E%3Cscript%3E", Some(&s.cookie)).await;
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);
    let missing = page(&a, "/dashboard/secrets", Some(&s.cookie)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let r = page(&a, "/dashboard/sign-in", Some(&s.cookie)).await;
    assert_eq!(location(&r), "/dashboard/apps", "signed in already");
    for asset in ["dashboard.js", "dashboard.css"] {
        let r = page(&a, &format!("/dashboard/assets/{asset}"), None).await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    // The admin API reads the cookie: reads without the CSRF token.
    let (status, body) = call(&a, Method::GET, "/admin/apps", &s.cookie, None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    a.stop().await;
}

#[tokio::test]
async fn a_change_without_the_csrf_token_or_from_another_origin_is_refused() {
    let a = dashboard().await;
    let s = sign_in(&a.url, json!({ "admin_token": ADMIN }))
        .await
        .unwrap();
    let new_app = || Some(json!({ "name": "From the dashboard", "environment": "staging" }));
    let before = app_count(&a).await;

    let (status, body) = call(&a, Method::POST, "/admin/apps", &s.cookie, None, new_app()).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::FORBIDDEN, Some("access_denied"))
    );
    let (status, _) = call(
        &a,
        Method::POST,
        "/admin/apps",
        &s.cookie,
        Some("wrong"),
        new_app(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other = sign_in(&a.url, json!({ "admin_token": ADMIN }))
        .await
        .unwrap();
    let (status, _) = call(
        &a,
        Method::POST,
        "/admin/apps",
        &s.cookie,
        Some(&other.csrf),
        new_app(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another sign-in's token");

    // From another origin, even with the right token (the page was read somehow).
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let headers = [s.headers().as_slice(), &[(name, value)]].concat();
        let r = send(&a.url, Method::POST, "/admin/apps", &headers, new_app()).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
    let elsewhere = ("origin", "http://evil.example");
    let headers = [s.headers().as_slice(), &[elsewhere]].concat();
    let r = send(&a.url, Method::POST, "/dashboard/sign-out", &headers, None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "sign-out from elsewhere");
    let body = Some(json!({ "admin_token": ADMIN }));
    let r = send(
        &a.url,
        Method::POST,
        "/dashboard/sign-in",
        &[elsewhere],
        body,
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "sign-in from elsewhere");
    assert_eq!(app_count(&a).await, before, "nothing was created");

    // The right token from the dashboard's own origin.
    let own = [
        ("origin", a.url.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    let headers = [s.headers().as_slice(), &own].concat();
    let r = send(&a.url, Method::POST, "/admin/apps", &headers, new_app()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app_count(&a).await, before + 1);
    a.stop().await;
}

#[tokio::test]
async fn signing_out_or_waiting_ends_the_sign_in() {
    let a = dashboard().await;
    let s = sign_in(&a.url, json!({ "admin_token": ADMIN }))
        .await
        .unwrap();
    let (status, _) = call(
        &a,
        Method::POST,
        "/dashboard/sign-out",
        &s.cookie,
        None,
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "sign-out needs the CSRF token too"
    );
    let r = send(
        &a.url,
        Method::POST,
        "/dashboard/sign-out",
        &s.headers(),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("tessera_dashboard=;") && cleared.contains("Max-Age=0"));
    for p in PAGES {
        let r = page(&a, &format!("/dashboard/{p}"), Some(&s.cookie)).await;
        assert_eq!(location(&r), "/dashboard/sign-in", "{p} after sign-out");
    }
    for (method, path, body) in [
        (Method::GET, "/admin/apps", None),
        (
            Method::POST,
            "/admin/apps",
            Some(json!({ "name": "x", "environment": "staging" })),
        ),
        (Method::GET, "/admin/audit", None),
        (Method::POST, "/dashboard/sign-out", None),
    ] {
        let (status, body) = call(&a, method.clone(), path, &s.cookie, Some(&s.csrf), body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
    }

    // Sign-ins and sign-outs are in the trail; refused attempts are not.
    let _ = sign_in(&a.url, json!({ "admin_token": "a wrong admin token" })).await;
    let (_, trail) = a.admin(Method::GET, "/admin/audit", None).await;
    let events: Vec<(&str, &Value)> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), &e["detail"]))
        .collect();
    assert_eq!(
        events,
        vec![
            ("dashboard_signed_in", &json!({ "with": "admin_token" })),
            ("dashboard_signed_out", &Value::Null),
        ]
    );

    // Idle for the idle timeout (30 minutes), or older than 8 hours.
    let s = sign_in(&a.url, json!({ "admin_token": ADMIN }))
        .await
        .unwrap();
    a.time.advance(29 * 60);
    let (status, _) = call(&a, Method::GET, "/admin/apps", &s.cookie, None, None).await;
    assert_eq!(status, StatusCode::OK);
    a.time.advance(30 * 60);
    let (status, _) = call(&a, Method::GET, "/admin/apps", &s.cookie, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "idle too long");
    let s = sign_in(&a.url, json!({ "admin_token": ADMIN }))
        .await
        .unwrap();
    for _ in 0..16 {
        a.time.advance(29 * 60);
        let (status, _) = call(&a, Method::GET, "/admin/apps", &s.cookie, None, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    a.time.advance(29 * 60);
    let (status, _) = call(&a, Method::GET, "/admin/apps", &s.cookie, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "8 hours old");
    a.stop().await;
}

#[tokio::test]
async fn the_dashboard_password_signs_in_and_failures_are_limited() {
    let a = Authority::start_with(|c| {
        c.dashboard.enabled = true;
        c.rate_limit.sign_ins = 3;
    })
    .await;
    a.state
        .set_dashboard_password(DashboardPassword::new("correct horse battery").unwrap());
    let (status, _) = sign_in(&a.url, json!({ "password": "wrong horse battery" }))
        .await
        .err()
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let s = sign_in(&a.url, json!({ "password": "correct horse battery" }))
        .await
        .unwrap();
    let (status, _) = call(&a, Method::GET, "/admin/apps", &s.cookie, None, None).await;
    assert_eq!(status, StatusCode::OK);
    sign_in(&a.url, json!({ "admin_token": ADMIN }))
        .await
        .unwrap();
    let (status, body) = sign_in(&a.url, json!({ "password": "correct horse battery" }))
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limit_exceeded")),
        "the fourth attempt in a minute"
    );
    a.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_over_tls_and_the_dashboard_is_off_unless_enabled() {
    let a = Authority::start_with(|c| {
        c.dashboard.enabled = true;
        c.public_url = Some("https://auth.example.com".into());
    })
    .await;
    let s = sign_in(&a.url, json!({ "admin_token": ADMIN }))
        .await
        .unwrap();
    assert!(
        s.set_cookie.split(';').any(|f| f.trim() == "Secure"),
        "{}",
        s.set_cookie
    );
    a.stop().await;

    let a = Authority::start_with(|c| {
        c.dashboard.enabled = true;
        c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let proxied = [("x-forwarded-proto", "https")];
    let body = Some(json!({ "admin_token": ADMIN }));
    let r = send(&a.url, Method::POST, "/dashboard/sign-in", &proxied, body).await;
    let set_cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.ends_with("; Secure"), "{set_cookie}");
    let s = sign_in(&a.url, json!({ "admin_token": ADMIN }))
        .await
        .unwrap();
    assert!(!s.set_cookie.contains("Secure"), "no TLS at the proxy");
    a.stop().await;

    let a = Authority::start().await;
    for path in ["/dashboard", "/dashboard/sign-in", "/dashboard/apps"] {
        assert_eq!(
            page(&a, path, None).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let (status, _) = a
        .post("/dashboard/sign-in", json!({ "admin_token": ADMIN }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    a.stop().await;
}

#[tokio::test]
async fn with_a_password_and_no_admin_token_the_dashboard_still_administers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tessera_tests::authority::config_in(dir.path());
    config.dashboard.enabled = true;
    let state = tessera_authority::open(config, None).await.unwrap();
    state.set_dashboard_password(DashboardPassword::new("correct horse battery").unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tessera_authority::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let bearer = format!("Bearer {ADMIN}");
    let r = send(
        &url,
        Method::GET,
        "/admin/apps",
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "no admin API by token"
    );
    let s = sign_in(&url, json!({ "password": "correct horse battery" }))
        .await
        .unwrap();
    let body = Some(json!({ "name": "Password-run", "environment": "staging" }));
    let r = send(&url, Method::POST, "/admin/apps", &s.headers(), body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
