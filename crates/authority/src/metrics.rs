//! Prometheus metrics of the authority, held in its state (no global registry).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// The authority's counters and histograms.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RouteLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    nonces_issued: Counter,
    nonces_consumed: Counter,
    purged: Family<KindLabels, Counter>,
    sessions_opened: Counter,
    sessions_ended: Counter,
    rejections: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tessera_authority");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        let nonces_issued = Counter::default();
        registry.register("nonces_issued", "Nonces issued", nonces_issued.clone());
        let nonces_consumed = Counter::default();
        registry.register(
            "nonces_consumed",
            "Nonces consumed by a session",
            nonces_consumed.clone(),
        );
        let purged = Family::<KindLabels, Counter>::default();
        registry.register(
            "purged",
            "Expired records purged: used nonces and sessions",
            purged.clone(),
        );
        let sessions_opened = Counter::default();
        registry.register(
            "sessions_opened",
            "Sessions opened",
            sessions_opened.clone(),
        );
        let sessions_ended = Counter::default();
        registry.register(
            "sessions_deauthenticated",
            "Sessions ended by deauthentication or by an operator",
            sessions_ended.clone(),
        );
        let rejections = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "identity_token_rejections",
            "Identity tokens refused at POST /sessions, by reason",
            rejections.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            latency,
            nonces_issued,
            nonces_consumed,
            purged,
            sessions_opened,
            sessions_ended,
            rejections,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub(crate) fn nonce_issued(&self) {
        self.nonces_issued.inc();
    }

    pub(crate) fn nonce_consumed(&self) {
        self.nonces_consumed.inc();
    }

    pub(crate) fn purged(&self, purged: &crate::store::Purged) {
        for (kind, count) in [
            ("used_nonce", purged.used_nonces),
            ("session", purged.sessions),
            ("audit_event", purged.audit_events),
        ] {
            self.purged
                .get_or_create(&KindLabels { kind })
                .inc_by(count);
        }
    }

    pub(crate) fn session_opened(&self) {
        self.sessions_opened.inc();
    }

    pub(crate) fn sessions_ended(&self, count: u64) {
        self.sessions_ended.inc_by(count);
    }

    pub(crate) fn rejected(&self, reason: &str) {
        self.rejections
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }
}

/// Middleware: counts and times every request by its route template.
pub(crate) async fn track(State(m): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    m.latency
        .get_or_create(&LatencyLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&RouteLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
