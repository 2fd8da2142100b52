//! The developer dashboard at `/dashboard` (`dashboard.enabled`): pages and
//! assets embedded in the binary, signed in with the admin token or the
//! dashboard password. A sign-in is an HttpOnly, SameSite=Strict cookie;
//! the pages call the admin API with it and send their CSRF token with
//! every change. No page carries inline script: the Content-Security-Policy
//! allows the dashboard's own script and styles only.
//!
//! Imports the state, the guards and the sign-ins; imported by `routes`
//! (which merges its router) only.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tessera_api::authority::{DashboardSession, DashboardSignIn};
use tessera_api::server::{ApiJson, ClientAddr};
use tessera_api::{rfc3339, ApiError};

use crate::error::access_denied;
use crate::guards::{Caller, SignedIn, Viewer};
use crate::limits::count;
use crate::sign_in::{self, COOKIE};
use crate::state::AppState;
use crate::store::{Actor, AuditAction};

/// The Content-Security-Policy of every dashboard response.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const SHELL: &str = include_str!("assets/shell.html");
const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");

/// The pages, by path under `/dashboard/`, with their titles.
const PAGES: [(&str, &str); 4] = [
    ("apps", "Apps"),
    ("validate", "Validation tool"),
    ("users", "Users"),
    ("audit", "Audit trail"),
];

/// The dashboard's routes, to merge into the authority's router.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(home))
        .route("/dashboard/", get(home))
        .route("/dashboard/sign-in", get(sign_in_page).post(sign_in))
        .route("/dashboard/sign-out", post(sign_out))
        .route("/dashboard/apps/{app_id}", get(app_page))
        .route("/dashboard/{page}", get(page))
        .route("/dashboard/assets/dashboard.js", get(script))
        .route("/dashboard/assets/dashboard.css", get(style))
        .layer(middleware::from_fn(protect))
}

/// Headers of every dashboard response: the CSP, no framing, no sniffing,
/// no referrer, nothing cached but the assets.
async fn protect(request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/dashboard/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CSP);
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(
        header::CACHE_CONTROL,
        if asset { "no-cache" } else { "no-store" },
    );
    response
}

fn to_sign_in() -> Response {
    Redirect::to("/dashboard/sign-in").into_response()
}

async fn home(Viewer(sign_in): Viewer) -> Redirect {
    Redirect::to(match sign_in {
        Some(_) => "/dashboard/apps",
        None => "/dashboard/sign-in",
    })
}

/// The page shell: the script draws the page its `data-page` names.
fn shell(page: &str, title: &str, csrf: &str, app_id: &str) -> Response {
    let html = SHELL
        .replace("{{page}}", page)
        .replace("{{title}}", title)
        .replace("{{csrf}}", csrf)
        .replace("{{app_id}}", app_id);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn sign_in_page(Viewer(sign_in): Viewer) -> Response {
    match sign_in {
        Some(_) => Redirect::to("/dashboard/apps").into_response(),
        None => shell("sign-in", "Sign in", "", ""),
    }
}

async fn page(Viewer(sign_in): Viewer, Path(page): Path<String>) -> Response {
    let Some((name, title)) = PAGES.iter().find(|(name, _)| *name == page) else {
        return ApiError::not_found("no such dashboard page").into_response();
    };
    match sign_in {
        Some(sign_in) => shell(name, title, &sign_in.csrf, ""),
        None => to_sign_in(),
    }
}

async fn app_page(Viewer(sign_in): Viewer, Path(app_id): Path<String>) -> Response {
    let Some(sign_in) = sign_in else {
        return to_sign_in();
    };
    // The id goes into an attribute: only an app id's characters pass.
    match app_id.parse::<tessera_claims::AppId>() {
        Ok(id) => shell("app", "App", &sign_in.csrf, &id.to_string()),
        Err(_) => ApiError::invalid_app_id().into_response(),
    }
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

/// `POST /dashboard/sign-in {admin_token | password}`: 200 with the CSRF
/// token and an HttpOnly cookie, recorded in the audit trail; 401
/// `access_denied` otherwise (logged, not recorded: anyone can fail).
async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    caller: Caller,
    parts: Parts,
    ApiJson(body): ApiJson<DashboardSignIn>,
) -> Result<Response, ApiError> {
    count(&state.limits.sign_ins, client)?;
    let with = if body.password.is_some() {
        "password"
    } else {
        "admin_token"
    };
    let accepted = match (&body.admin_token, &body.password) {
        (Some(token), None) => state
            .admin_token
            .as_ref()
            .is_some_and(|expected| expected.matches(token.trim())),
        (None, Some(password)) => match state.dashboard_password() {
            Some(expected) => expected.verify(password).await?,
            None => false,
        },
        _ => {
            return Err(ApiError::invalid_request(
                "give either `admin_token` or `password`",
            ))
        }
    };
    if !accepted {
        tracing::warn!(address = %client, "dashboard sign-in refused");
        return Err(access_denied(
            "that admin token or dashboard password is not the configured one",
        ));
    }
    let now = state.now();
    let event = caller
        .event(now, AuditAction::DashboardSignedIn, Actor::Admin)
        .detail(serde_json::json!({ "with": with }));
    state.store.record(&event).await?;
    let (token, sign_in) = state.sign_ins.open(now);
    tracing::info!(address = %client, "dashboard sign-in");
    let mut cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        token.as_str(),
        sign_in.expires_at - now
    );
    if secure(&parts, &state) {
        cookie.push_str("; Secure");
    }
    let body = DashboardSession {
        csrf_token: sign_in.csrf,
        expires_at: rfc3339(sign_in.expires_at),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// `POST /dashboard/sign-out`: ends the sign-in, clears the cookie and
/// records it in the audit trail.
async fn sign_out(
    _: SignedIn,
    caller: Caller,
    parts: Parts,
    State(state): State<AppState>,
) -> Response {
    if let Some(cookie) = sign_in::cookie(&parts.headers) {
        state.sign_ins.close(cookie);
    }
    // Ending a sign-in never waits on the trail: it has ended either way.
    let event = caller.event(state.now(), AuditAction::DashboardSignedOut, Actor::Admin);
    if let Err(e) = state.store.record(&event).await {
        tracing::warn!(error = %e, "recording a dashboard sign-out failed");
    }
    let mut cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if secure(&parts, &state) {
        cookie.push_str("; Secure");
    }
    ([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response()
}

/// Whether the browser reached the authority over TLS: `public_url` is
/// `https`, or a trusted proxy says so in `X-Forwarded-Proto`.
fn secure(parts: &Parts, state: &AppState) -> bool {
    if state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
    {
        return true;
    }
    let from_proxy = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| {
            state
                .config
                .http
                .trusted_proxies
                .iter()
                .any(|c| c.contains(peer.ip()))
        });
    from_proxy
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}
