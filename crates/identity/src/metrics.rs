//! Prometheus metrics of the identity service, held in its state.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// Tokens issued, failures by kind, signer latency.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    issued: Family<ModeLabels, Counter>,
    failures: Family<KindLabels, Counter>,
    signer_latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tessera_identity");
        let issued = Family::<ModeLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Identity tokens issued, by mode",
            issued.clone(),
        );
        let failures = Family::<KindLabels, Counter>::default();
        registry.register(
            "failures",
            "Refused or failed token requests, by kind",
            failures.clone(),
        );
        let signer_latency = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        registry.register(
            "signer_duration_seconds",
            "Time to sign one identity token",
            signer_latency.clone(),
        );
        Self {
            registry: Arc::new(registry),
            issued,
            failures,
            signer_latency,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub(crate) fn issued(&self, mode: &'static str, seconds: f64) {
        self.issued.get_or_create(&ModeLabels { mode }).inc();
        self.signer_latency.observe(seconds);
    }

    pub(crate) fn failed(&self, kind: &'static str) {
        self.failures.get_or_create(&KindLabels { kind }).inc();
    }
}
