//! The demo page of `tessera up`: the browser flow with the tessera-client
//! package, served from an origin of its own so that every call it makes
//! to the authority and the identity service crosses origins (CORS). The
//! assets are embedded in the binary; `tessera.js` is the package's
//! minified bundle (`scripts/test` checks it is the one built from
//! `clients/js`).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tessera_api::Origin;

const INDEX: &str = include_str!("../assets/demo/index.html");
const SCRIPT: &str = include_str!("../assets/demo/demo.js");
const STYLE: &str = include_str!("../assets/demo/demo.css");
const CLIENT: &str = include_str!("../assets/demo/tessera.js");

/// Where the page's calls go.
#[derive(Debug, Clone)]
pub struct DemoTargets {
    /// The authority's URL.
    pub authority: String,
    /// The identity service's URL.
    pub identity: String,
    /// The app the page signs in to.
    pub app_id: String,
}

/// The origins a page served at `addr` has: `http://addr`, and for a
/// loopback address also `http://localhost:port`.
pub fn origins(addr: std::net::SocketAddr) -> Vec<Origin> {
    let mut origins: Vec<Origin> = Origin::http(&addr.to_string()).into_iter().collect();
    if addr.ip().is_loopback() {
        origins.extend(Origin::http(&format!("localhost:{}", addr.port())));
    }
    origins
}

fn asset(content_type: &'static str, body: &'static str, csp: &str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response();
    if let Ok(csp) = HeaderValue::from_str(csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// The demo's routes: `/demo` and its assets.
pub fn router(targets: DemoTargets) -> Router {
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; \
         connect-src 'self' {} {}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        targets.authority, targets.identity
    );
    let page = |content_type: &'static str, body: &'static str| {
        let csp = csp.clone();
        get(move || async move { asset(content_type, body, &csp) })
    };
    let config = json!({
        "authority": targets.authority,
        "identity": targets.identity,
        "app_id": targets.app_id,
    });
    Router::new()
        .route("/", get(|| async { Redirect::to("/demo") }))
        .route("/demo", page("text/html; charset=utf-8", INDEX))
        .route("/demo/", page("text/html; charset=utf-8", INDEX))
        .route(
            "/demo/demo.js",
            page("text/javascript; charset=utf-8", SCRIPT),
        )
        .route("/demo/demo.css", page("text/css; charset=utf-8", STYLE))
        .route(
            "/demo/tessera.js",
            page("text/javascript; charset=utf-8", CLIENT),
        )
        .route(
            "/demo/config.json",
            get(move || {
                let config = config.clone();
                async move { ([(header::CACHE_CONTROL, "no-store")], Json(config)) }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_page_has_both_of_its_names() {
        let loopback = origins("127.0.0.1:7702".parse().unwrap());
        let names: Vec<&str> = loopback.iter().map(Origin::as_str).collect();
        assert_eq!(names, ["http://127.0.0.1:7702", "http://localhost:7702"]);
        assert_eq!(origins("10.0.0.5:80".parse().unwrap()).len(), 1);
    }

    #[test]
    fn the_page_loads_no_inline_script() {
        assert!(!INDEX.contains("<script>"));
        assert!(INDEX.contains(r#"<script type="module" src="/demo/demo.js"></script>"#));
        assert!(SCRIPT.contains(r#"from "/demo/tessera.js""#));
    }
}
