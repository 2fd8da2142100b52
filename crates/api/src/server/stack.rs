//! The layers every route of both services runs under, and `serve`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use super::cors::Cors;
use crate::error::ApiError;

/// Limits every request is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body, in bytes (413 beyond).
    pub body_bytes: usize,
}

/// Adds what both services answer and log the same way around `routes`:
/// 404 and 405 in the error envelope, the body limit, `Cache-Control:
/// no-store` unless a route sets its own (answers carry nonces, tokens and
/// session tokens), a request id
/// (`x-request-id`, kept from the client or generated, echoed back) and a
/// trace span per request that names the path only (query strings and
/// headers may carry secrets; a session token in a path is left out),
/// the `Accept` check ([`acceptable`]) and CORS ([`super::cors`]).
pub fn with_common_layers(routes: Router, limits: Limits, cors: Cors) -> Router {
    routes
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::not_found("this endpoint does not take this method")
                .with_status(StatusCode::METHOD_NOT_ALLOWED.as_u16())
        })
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            refuse_declared_oversize(request, next, limits.body_bytes)
        }))
        .layer(middleware::from_fn(refuse_unacceptable))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            super::cors::cors(cors.clone(), request, next)
        }))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .make_span_with(|request: &Request| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %loggable_path(request.uri().path()))
                }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The path as logged: Layer's `DELETE /sessions/{session_token}` carries
/// a session token, which is never logged.
fn loggable_path(path: &str) -> &str {
    match path.strip_prefix("/sessions/") {
        Some("current") | None => path,
        Some(_) => "/sessions/{session_token}",
    }
}

/// Layer's media type; its versions 1.0 to 3.0 are answered alike.
const LAYER_MEDIA_TYPE: &str = "application/vnd.layer+json";

/// Whether an `Accept` header lets the client read a JSON answer: no
/// header, `*/*`, `application/*`, `application/json`, or Layer's
/// `application/vnd.layer+json` with no version or a version from 1.0 to
/// 3.0. Other types are not refused (a browser's navigation, a scraper),
/// except Layer's type at a version this API does not speak with nothing
/// else acceptable beside it.
pub fn acceptable(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return true };
    let mut layer_versions_only = true;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or_default().trim();
        let params: Vec<(&str, &str)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        if param("q").and_then(|q| q.parse::<f32>().ok()) == Some(0.0) {
            continue;
        }
        if !essence.eq_ignore_ascii_case(LAYER_MEDIA_TYPE) {
            layer_versions_only = false;
            continue;
        }
        if matches!(
            param("version"),
            None | Some("1.0" | "2.0" | "3.0" | "1" | "2" | "3")
        ) {
            return true;
        }
    }
    !layer_versions_only
}

/// 406 for a client that accepts only a Layer API version not spoken here.
async fn refuse_unacceptable(request: Request, next: Next) -> Response {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .map(|v| v.to_str().unwrap_or(LAYER_MEDIA_TYPE));
    if !acceptable(accept) {
        return ApiError::invalid_request(
            "this API answers `application/json`, or `application/vnd.layer+json` versions 1.0 to 3.0",
        )
        .with_status(StatusCode::NOT_ACCEPTABLE.as_u16())
        .into_response();
    }
    next.run(request).await
}

/// 413 at once for a body declared larger than the limit, on every route,
/// whether or not it reads its body.
async fn refuse_declared_oversize(request: Request, next: Next, limit: usize) -> Response {
    if declared_length(request.headers()).is_some_and(|n| n > limit as u64) {
        return super::json::body_too_large().into_response();
    }
    next.run(request).await
}

/// The body's length as `Content-Length` declares it.
pub(super) fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The client's IP address: the peer's, or behind `http.trusted_proxies`
/// the one `X-Forwarded-For` names (unspecified when the router runs
/// without connection info, as in `oneshot` tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(client) = parts.extensions.get::<ClientAddr>() {
            return Ok(*client);
        }
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{acceptable, loggable_path};

    #[test]
    fn layer_versions_one_to_three_and_json_are_acceptable() {
        for ok in [
            None,
            Some("application/json"),
            Some("*/*"),
            Some("application/vnd.layer+json; version=1.0"),
            Some("application/vnd.layer+json; version=2.0"),
            Some("application/vnd.layer+json;version=3.0"),
            Some("application/vnd.layer+json"),
            Some("application/vnd.layer+json; version=4.0, application/json"),
            Some("text/html,application/xhtml+xml,*/*;q=0.8"),
            Some("text/plain"),
        ] {
            assert!(acceptable(ok), "{ok:?} refused");
        }
        for refused in [
            "application/vnd.layer+json; version=4.0",
            "application/vnd.layer+json; version=0.9",
            "application/vnd.layer+json; version=4.0, application/json;q=0",
        ] {
            assert!(!acceptable(Some(refused)), "{refused:?} accepted");
        }
    }

    #[test]
    fn a_session_token_in_a_path_is_not_logged() {
        assert_eq!(
            loggable_path("/sessions/s3cr3t"),
            "/sessions/{session_token}"
        );
        assert_eq!(loggable_path("/sessions/current"), "/sessions/current");
        assert_eq!(loggable_path("/sessions"), "/sessions");
        assert_eq!(loggable_path("/identities/me"), "/identities/me");
    }
}
