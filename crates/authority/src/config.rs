//! The authority's settings, as plain types: the binary reads them from a
//! file and the environment; tests build them in code.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use tessera_api::server::{CorsConfig, HttpConfig};

/// Settings of `tessera authority serve`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AuthorityConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://path` (created if missing) or `postgres://…`.
    pub database_url: String,
    /// Most connections in the PostgreSQL pool.
    pub database_pool_size: u32,
    /// SQLite: `normal` (a commit survives a crash of the process) or
    /// `full` (a power loss too, at an fsync per commit).
    pub database_synchronous: tessera_api::sql::Synchronous,
    /// File holding the admin token (else `TESSERA_ADMIN_TOKEN`).
    pub admin_token_file: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Nonce settings.
    pub nonces: NonceConfig,
    /// Session settings.
    pub sessions: SessionConfig,
    /// Identity-token settings.
    pub tokens: TokenConfig,
    /// How often expired nonces and sessions are purged, in seconds.
    pub purge_interval_secs: u64,
    /// Connection limits and timeouts.
    pub http: HttpConfig,
    /// Requests per client address.
    pub rate_limit: RateLimitConfig,
    /// The audit trail.
    pub audit: AuditConfig,
    /// Web origins allowed for every app (each app adds its own list).
    pub cors: CorsConfig,
    /// The authority's URL as clients reach it (`https://auth.example.com`
    /// behind a TLS proxy), used in identities' `url`; default: `http://`
    /// and the request's `Host`.
    pub public_url: Option<String>,
    /// The developer dashboard at `/dashboard`.
    pub dashboard: DashboardConfig,
}

/// `[dashboard]`: the developer dashboard, signed in with the admin token
/// or the dashboard password (`TESSERA_DASHBOARD_PASSWORD`, else
/// `password_file`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Serve `/dashboard` (default off).
    pub enabled: bool,
    /// A sign-in lasts at most this long, in seconds (default 8 hours).
    pub session_ttl_secs: u64,
    /// A sign-in ends after this long without a request, in seconds
    /// (default 30 minutes).
    pub idle_timeout_secs: u64,
    /// Most signed-in browsers at once; signing in beyond ends the oldest.
    pub max_sessions: usize,
    /// File holding the dashboard password, or its argon2id PHC string.
    pub password_file: Option<PathBuf>,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            session_ttl_secs: 8 * 3600,
            idle_timeout_secs: 30 * 60,
            max_sessions: 100,
            password_file: None,
        }
    }
}

/// `[audit]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Days an event is kept; older ones are removed by the purge (default 90).
    pub retention_days: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}

/// `[rate_limit]`: requests per client address (IPv6 by /64) and window;
/// beyond, 429 `rate_limit_exceeded` with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The window, in seconds.
    pub window_secs: u64,
    /// `POST /nonces`.
    pub nonces: u32,
    /// 401 re-challenges (requests without a live session).
    pub challenges: u32,
    /// Refused `POST /sessions` (bad token, unknown app).
    pub failed_sessions: u32,
    /// `POST /validate`.
    pub validations: u32,
    /// Dashboard sign-in attempts.
    pub sign_ins: u32,
    /// Failed admin authentications (a wrong admin token; none is no
    /// guess); past them, the client's admin requests with a token are
    /// refused before the token is compared.
    pub admin_failures: u32,
    /// Most client addresses tracked per limit.
    pub max_clients: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            window_secs: 60,
            nonces: 300,
            challenges: 300,
            failed_sessions: 60,
            validations: 120,
            sign_ins: 10,
            admin_failures: 10,
            max_clients: tessera_api::server::limit::DEFAULT_CAPACITY,
        }
    }
}

/// `[nonces]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NonceConfig {
    /// Time to live, at most 600 s.
    pub ttl_secs: u64,
    /// Where nonces live: `database`.
    pub backend: NonceBackend,
    /// Redis URL for the `redis` backend.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (several deployments may share a Redis).
    pub redis_prefix: String,
}

/// Where nonces are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NonceBackend {
    /// The same database as everything else.
    Database,
    /// Redis.
    Redis,
}

/// `[sessions]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// Time to live, in seconds (default 30 days).
    pub ttl_secs: u64,
}

/// `[tokens]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// Allowed clock disagreement with identity services, in seconds.
    pub clock_skew_secs: u64,
}

impl AuthorityConfig {
    /// The origin of `public_url` (its scheme, host and port).
    pub fn public_origin(&self) -> Option<tessera_api::Origin> {
        let url = url::Url::parse(self.public_url.as_deref()?).ok()?;
        url.origin().ascii_serialization().parse().ok()
    }
}

impl Default for AuthorityConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            database_url: "sqlite://./data/authority.db".into(),
            database_pool_size: 10,
            database_synchronous: tessera_api::sql::Synchronous::Normal,
            admin_token_file: None,
            body_limit_bytes: 64 * 1024,
            nonces: NonceConfig::default(),
            sessions: SessionConfig::default(),
            tokens: TokenConfig::default(),
            purge_interval_secs: 60,
            http: HttpConfig::default(),
            rate_limit: RateLimitConfig::default(),
            audit: AuditConfig::default(),
            cors: CorsConfig::default(),
            public_url: None,
            dashboard: DashboardConfig::default(),
        }
    }
}

impl Default for NonceConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 600,
            backend: NonceBackend::Database,
            redis_url: None,
            redis_prefix: "tessera:".into(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 30 * 24 * 3600,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            clock_skew_secs: 60,
        }
    }
}

/// A setting outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {message}")]
pub struct ConfigError {
    /// The key, dotted (`nonces.ttl_secs`).
    pub key: &'static str,
    /// What is allowed.
    pub message: String,
}

impl AuthorityConfig {
    /// Checks ranges the types cannot express.
    pub fn check(&self) -> Result<(), ConfigError> {
        let err = |key, message: &str| {
            Err(ConfigError {
                key,
                message: message.into(),
            })
        };
        if let Err((key, message)) = self.http.check() {
            return err(key, message);
        }
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url).ok();
            if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
                return err("public_url", "must be an http or https URL");
            }
        }
        let r = &self.rate_limit;
        if !(1..=86_400).contains(&r.window_secs) {
            return err("rate_limit.window_secs", "must be between 1 and 86400");
        }
        for (key, value) in [
            ("rate_limit.nonces", r.nonces),
            ("rate_limit.challenges", r.challenges),
            ("rate_limit.failed_sessions", r.failed_sessions),
            ("rate_limit.validations", r.validations),
            ("rate_limit.sign_ins", r.sign_ins),
            ("rate_limit.admin_failures", r.admin_failures),
        ] {
            if value == 0 {
                return err(key, "must be at least 1");
            }
        }
        if !(1..=10_000_000).contains(&r.max_clients) {
            return err("rate_limit.max_clients", "must be between 1 and 10000000");
        }
        if !(1..=600).contains(&self.nonces.ttl_secs) {
            return err("nonces.ttl_secs", "must be between 1 and 600 seconds");
        }
        if self.sessions.ttl_secs == 0 || self.sessions.ttl_secs > 10 * 365 * 24 * 3600 {
            return err("sessions.ttl_secs", "must be between 1 second and 10 years");
        }
        if self.tokens.clock_skew_secs > 600 {
            return err("tokens.clock_skew_secs", "must be at most 600 seconds");
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.body_limit_bytes) {
            return err("body_limit_bytes", "must be between 1 KiB and 16 MiB");
        }
        if !(1..=36_500).contains(&self.audit.retention_days) {
            return err("audit.retention_days", "must be between 1 and 36500 days");
        }
        let d = &self.dashboard;
        if !(60..=7 * 86_400).contains(&d.session_ttl_secs) {
            return err(
                "dashboard.session_ttl_secs",
                "must be between 60 seconds and 7 days",
            );
        }
        if !(60..=d.session_ttl_secs).contains(&d.idle_timeout_secs) {
            return err(
                "dashboard.idle_timeout_secs",
                "must be between 60 seconds and dashboard.session_ttl_secs",
            );
        }
        if !(1..=10_000).contains(&d.max_sessions) {
            return err("dashboard.max_sessions", "must be between 1 and 10000");
        }
        if self.purge_interval_secs == 0 {
            return err("purge_interval_secs", "must be at least 1 second");
        }
        if self.nonces.backend == NonceBackend::Redis && self.nonces.redis_url.is_none() {
            return err(
                "nonces.redis_url",
                "is required when nonces.backend is `redis`",
            );
        }
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| self.database_url.starts_with(p))
        {
            return err("database_url", "must be a `sqlite://` or `postgres://` URL");
        }
        if !(1..=1000).contains(&self.database_pool_size) {
            return err("database_pool_size", "must be between 1 and 1000");
        }
        Ok(())
    }
}
