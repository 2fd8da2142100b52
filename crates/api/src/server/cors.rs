//! Cross-origin requests from browsers (CORS), the same way on both
//! services.
//!
//! A request whose `Origin` is another origin than the service's own is
//! served only when that origin is listed: by the configuration, or (on the
//! authority) by an app. An allowed origin gets its own origin back in
//! `Access-Control-Allow-Origin`, with credentials allowed (never `*`); a
//! preflight from it is answered 204 with the methods and headers clients
//! send and a cache lifetime. Any other origin gets 403 `origin_not_allowed`
//! without CORS headers, and its request never reaches a handler. Handlers
//! that learn the request's app later (its session, its `app_id`) hold the
//! origin to that app's list with [`CrossOrigin::check`].

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorId};
use crate::origin::Origin;

/// The methods a preflight may ask for.
pub const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";

/// The request headers a preflight may ask for, as sent in
/// `Access-Control-Allow-Headers`: what Tessera's and Layer's clients send.
pub const ALLOWED_HEADERS: &str =
    "accept, authorization, client-id, content-type, layer-xdk-version, x-request-id";

/// The response headers a page may read besides the simple ones.
const EXPOSED_HEADERS: &str = "retry-after, www-authenticate, x-request-id";

/// A future of [`OriginPolicy`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which origins are listed at all (by the configuration or by any app):
/// the origins a preflight or a request without an app is served for.
pub trait OriginPolicy: Send + Sync + 'static {
    /// Whether `origin` is listed.
    fn is_listed<'a>(&'a self, origin: &'a Origin) -> BoxFuture<'a, bool>;
}

/// A fixed list of origins (the identity service's, or a test's).
#[derive(Debug, Clone, Default)]
pub struct ListedOrigins(pub BTreeSet<Origin>);

impl OriginPolicy for ListedOrigins {
    fn is_listed<'a>(&'a self, origin: &'a Origin) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.0.contains(origin) })
    }
}

/// `[cors]` of both services' configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins whose pages may call the service (the authority adds each
    /// app's own list for that app's requests). Exact origins
    /// (`https://app.example.com`); `*` is refused.
    pub allowed_origins: BTreeSet<Origin>,
    /// How long a browser may cache a preflight's answer, in seconds.
    pub max_age_secs: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: BTreeSet::new(),
            max_age_secs: 600,
        }
    }
}

/// The CORS settings of a service.
#[derive(Clone)]
pub struct Cors {
    policy: Arc<dyn OriginPolicy>,
    max_age_secs: u64,
    same_origin_only: &'static [&'static str],
    /// The service's own origin when its public URL is known.
    own: Option<Origin>,
}

impl std::fmt::Debug for Cors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cors")
            .field("max_age_secs", &self.max_age_secs)
            .field("same_origin_only", &self.same_origin_only)
            .field("own", &self.own)
            .finish_non_exhaustive()
    }
}

impl Cors {
    /// Origins as `policy` lists them; preflights cached `max_age_secs`.
    pub fn new(policy: Arc<dyn OriginPolicy>, max_age_secs: u64) -> Self {
        Cors {
            policy,
            max_age_secs,
            same_origin_only: &[],
            own: None,
        }
    }

    /// The service's own origin (of its public URL): a request is
    /// same-origin only when its `Origin` is this one, scheme and port
    /// included, and a browser's request (one with `Origin`) whose `Host`
    /// names another host is refused, so that a page of another name that
    /// resolves to the service (DNS rebinding) is never taken for one of
    /// its own. Without it, `Origin` is compared with `Host`.
    pub fn own_origin(mut self, own: Option<Origin>) -> Self {
        self.own = own;
        self
    }

    /// Same-origin requests only, whatever the policy lists, for paths
    /// under these prefixes (the admin API).
    pub fn same_origin_only(mut self, prefixes: &'static [&'static str]) -> Self {
        self.same_origin_only = prefixes;
        self
    }

    /// No origin but the service's own.
    pub fn none() -> Self {
        Cors::new(Arc::new(ListedOrigins::default()), 0)
    }
}

/// The origin of a cross-origin request that was let through because the
/// configuration or some app lists it (`None` for same-origin requests and
/// requests without `Origin`, such as every non-browser client's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrossOrigin(pub Option<Origin>);

impl CrossOrigin {
    /// 403 `origin_not_allowed` unless the request is same-origin or
    /// `allowed` holds for its origin (the app's list, the configuration's).
    pub fn check(&self, allowed: impl FnOnce(&Origin) -> bool) -> Result<(), ApiError> {
        match &self.0 {
            Some(origin) if !allowed(origin) => Err(refused(origin)),
            _ => Ok(()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CrossOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CrossOrigin>()
            .cloned()
            .unwrap_or_default())
    }
}

fn refused(origin: &Origin) -> ApiError {
    ApiError::new(
        ErrorId::OriginNotAllowed,
        format!("requests from {origin} are not allowed; the app's operator lists the origins of its web pages"),
    )
}

/// The middleware: see the module's documentation.
pub(crate) async fn cors(cors: Cors, mut request: Request, next: Next) -> Response {
    let Some(sent) = request.headers().get(header::ORIGIN) else {
        return next.run(request).await;
    };
    let origin = sent.to_str().ok().and_then(|s| s.parse::<Origin>().ok());
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if let Some(own) = &cors.own {
        if host.is_some_and(|host| !host.eq_ignore_ascii_case(own.authority())) {
            return ApiError::invalid_request(format!(
                "this service answers for {own} only; the request's Host names another"
            ))
            .with_status(StatusCode::MISDIRECTED_REQUEST.as_u16())
            .into_response();
        }
    }
    if !preflight && is_same_origin(origin.as_ref(), host, cors.own.as_ref()) {
        return next.run(request).await;
    }
    // Answers differ by origin and by what a preflight asks.
    let path = request.uri().path();
    let same_origin_only = cors.same_origin_only.iter().any(|p| path.starts_with(p));
    let mut response = match listed(&cors, origin, same_origin_only).await {
        Err(refusal) => refusal.into_response(),
        Ok(origin) if preflight => match preflight_answer(&cors, &origin, request.headers()) {
            Ok(answer) => answer,
            Err(refusal) => refusal.into_response(),
        },
        Ok(origin) => {
            request
                .extensions_mut()
                .insert(CrossOrigin(Some(origin.clone())));
            let mut response = next.run(request).await;
            if response.extensions().get::<ErrorId>() != Some(&ErrorId::OriginNotAllowed) {
                allow(response.headers_mut(), &origin);
                response.headers_mut().insert(
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_static(EXPOSED_HEADERS),
                );
            }
            response
        }
    };
    response.headers_mut().append(
        header::VARY,
        HeaderValue::from_static(
            "origin, access-control-request-method, access-control-request-headers",
        ),
    );
    response
}

/// The request's origin when the policy lists it and the path is not
/// `same_origin_only`.
async fn listed(
    cors: &Cors,
    origin: Option<Origin>,
    same_origin_only: bool,
) -> Result<Origin, ApiError> {
    let Some(origin) = origin else {
        return Err(ApiError::new(
            ErrorId::OriginNotAllowed,
            "requests from this origin are not allowed",
        ));
    };
    if same_origin_only || !cors.policy.is_listed(&origin).await {
        return Err(refused(&origin));
    }
    Ok(origin)
}

/// Whether `Origin` is the service's own: its public origin when known,
/// else the host the request was sent to.
fn is_same_origin(origin: Option<&Origin>, host: Option<&str>, own: Option<&Origin>) -> bool {
    match (origin, own) {
        (Some(origin), Some(own)) => origin == own,
        (Some(origin), None) => host
            .and_then(Origin::http)
            .is_some_and(|own| origin.authority() == own.authority()),
        (None, _) => false,
    }
}

/// 204 with what a listed origin may send, or 403 when the preflight asks
/// for another method or header.
fn preflight_answer(
    cors: &Cors,
    origin: &Origin,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let allowed = |list: &str, item: &str| list.split(", ").any(|a| a == item);
    let method = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|m| m.to_str().ok())
        .unwrap_or_default();
    if !allowed(ALLOWED_METHODS, method) {
        return Err(ApiError::new(
            ErrorId::OriginNotAllowed,
            format!("cross-origin requests may use {ALLOWED_METHODS}"),
        ));
    }
    let unknown = headers
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .find(|h| !h.is_empty() && !allowed(ALLOWED_HEADERS, h));
    if let Some(unknown) = unknown {
        return Err(ApiError::new(
            ErrorId::OriginNotAllowed,
            format!(
                "cross-origin requests may not send the header `{}`; allowed: {ALLOWED_HEADERS}",
                unknown.chars().take(64).collect::<String>(),
            ),
        ));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    allow(out, origin);
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    out.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(cors.max_age_secs),
    );
    Ok(response)
}

fn allow(headers: &mut HeaderMap, origin: &Origin) {
    if let Ok(value) = HeaderValue::from_str(origin.as_str()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}
