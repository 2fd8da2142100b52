//! Serving a router over TCP with what an internet-facing service needs:
//! a cap on connections and on requests in flight, timeouts for slow
//! headers, slow bodies and idle connections, and a shutdown deadline.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};
use tower::ServiceExt;

use super::fairness::PerClient;
use super::limit::{client_address, Cidr};
use super::ClientAddr;
use crate::error::{ApiError, ErrorId};

/// `[http]`: connection limits and timeouts, the same keys in both services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Time a client has to send a request's head, from its first byte.
    pub header_read_timeout_secs: u64,
    /// Time from a request's head to the end of its answer, the body's
    /// upload included (408 beyond).
    pub request_timeout_secs: u64,
    /// Time a connection may wait for its next request.
    pub idle_timeout_secs: u64,
    /// Most open connections; more are answered 503 and closed.
    pub max_connections: usize,
    /// Most requests being handled at once; more are answered 503. A
    /// request takes one of these only once its body has arrived.
    pub max_in_flight: usize,
    /// Most open connections from one client address (IPv6 by /64; a
    /// trusted proxy's connections are not counted); more are answered 429
    /// and closed.
    pub max_connections_per_client: usize,
    /// Most requests of one client (as the rate limits know it) being
    /// read or handled at once; more are answered 429.
    pub max_in_flight_per_client: usize,
    /// Largest request head (request line and headers), in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// After a shutdown signal, how long in-flight requests may take
    /// before their connections are closed.
    pub shutdown_timeout_secs: u64,
    /// Networks of reverse proxies whose `X-Forwarded-For` names the client
    /// (empty: the peer is the client).
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_connections: 1024,
            max_in_flight: 256,
            max_connections_per_client: 64,
            max_in_flight_per_client: 32,
            max_header_bytes: 16 * 1024,
            shutdown_timeout_secs: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

impl HttpConfig {
    /// Checks ranges: `Err((key, what is allowed))`.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        const SECS: (u64, u64, &str) = (1, 3600, "must be between 1 and 3600");
        const COUNT: (u64, u64, &str) = (1, 1_000_000, "must be between 1 and 1000000");
        const HEAD: (u64, u64, &str) = (1024, 1024 * 1024, "must be between 1 KiB and 1 MiB");
        let count = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        let settings = [
            (
                "http.header_read_timeout_secs",
                self.header_read_timeout_secs,
                SECS,
            ),
            ("http.request_timeout_secs", self.request_timeout_secs, SECS),
            ("http.idle_timeout_secs", self.idle_timeout_secs, SECS),
            (
                "http.shutdown_timeout_secs",
                self.shutdown_timeout_secs,
                SECS,
            ),
            ("http.max_connections", count(self.max_connections), COUNT),
            ("http.max_in_flight", count(self.max_in_flight), COUNT),
            (
                "http.max_connections_per_client",
                count(self.max_connections_per_client),
                COUNT,
            ),
            (
                "http.max_in_flight_per_client",
                count(self.max_in_flight_per_client),
                COUNT,
            ),
            ("http.max_header_bytes", count(self.max_header_bytes), HEAD),
        ];
        for (key, value, (min, max, allowed)) in settings {
            if !(min..=max).contains(&value) {
                return Err((key, allowed));
            }
        }
        Ok(())
    }
}

/// How long an over-capacity connection gets to read its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// Most over-capacity connections being answered at once; beyond, they are
/// closed without an answer.
const MAX_REFUSING: usize = 64;
/// `Retry-After` of an over-capacity answer.
const BUSY_RETRY_SECS: u64 = 1;
/// Longest `x-request-id` kept from a client; longer ones are replaced.
pub const MAX_REQUEST_ID_LEN: usize = 64;

fn busy() -> ApiError {
    ApiError::new(
        ErrorId::ServiceUnavailable,
        "the service is at capacity; try again shortly",
    )
    .with_retry_after(BUSY_RETRY_SECS)
}

/// Serves `app` on `listener` under `config` until `shutdown` completes;
/// then stops accepting, lets in-flight requests finish for at most
/// `shutdown_timeout_secs`, and closes what is left. A request's body (at
/// most `body_limit_bytes`, 413 beyond) is read under the request's
/// deadline before the request takes one of the shared in-flight slots, so
/// that slow uploads hold only their own client's. Handlers can read the
/// client's address with [`super::ClientAddr`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &HttpConfig,
    body_limit_bytes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let shared = Arc::new(Shared {
        app,
        config: config.clone(),
        body_limit_bytes,
        in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
        in_flight_per_client: PerClient::new(config.max_in_flight_per_client),
    });
    let connections_per_client = PerClient::new(config.max_connections_per_client);
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off a little.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // A trusted proxy's connections are its clients'.
                let own = if config.trusted_proxies.iter().any(|p| p.contains(peer.ip())) {
                    Ok(None)
                } else {
                    connections_per_client.take(peer.ip()).map(Some).ok_or(())
                };
                match (own, connections.clone().try_acquire_owned()) {
                    (Ok(own), Ok(permit)) => {
                        let shared = shared.clone();
                        let stopping = stopping.clone();
                        tasks.spawn(async move {
                            connection(stream, peer, shared, stopping).await;
                            drop((permit, own));
                        });
                    }
                    (own, _) => {
                        if let Ok(permit) = refusing.clone().try_acquire_owned() {
                            let answer = if own.is_err() { too_many_of_yours() } else { busy() };
                            tasks.spawn(async move {
                                refuse(stream, &answer).await;
                                drop(permit);
                            });
                        }
                    }
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if timeout(Duration::from_secs(config.shutdown_timeout_secs), drain)
        .await
        .is_err()
    {
        tracing::warn!(
            connections = tasks.len(),
            "shutdown deadline passed; closing the remaining connections"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    Ok(())
}

/// A 429 for a client over its own cap of connections or requests.
fn too_many_of_yours() -> ApiError {
    ApiError::rate_limited(BUSY_RETRY_SECS).with_data(
        "reason",
        "too many connections or requests of this client at once",
    )
}

/// Answers a connection beyond a cap with `error` and closes it.
async fn refuse(mut stream: TcpStream, error: &ApiError) {
    let answer = raw_answer(error);
    let _ = timeout(REFUSAL_WRITE_TIMEOUT, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    })
    .await;
}

/// A whole HTTP/1.1 answer carrying `error` in the error shape, for where
/// no router answers: the connection is closed after it.
fn raw_answer(error: &ApiError) -> Vec<u8> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::to_vec(&error.body()).unwrap_or_default();
    let retry_after = error
        .retry_after_secs()
        .map(|secs| format!("retry-after: {secs}\r\n"))
        .unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry_after}cache-control: no-store\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

/// What every connection's requests share.
struct Shared {
    app: Router,
    config: HttpConfig,
    body_limit_bytes: usize,
    in_flight: Arc<Semaphore>,
    in_flight_per_client: Arc<PerClient>,
}

/// Where a connection is in its life, for the timeouts that hyper does not keep.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request since `since`; its first byte came at `head_from`.
    Waiting {
        since: Instant,
        head_from: Option<Instant>,
    },
    /// A request is being handled (its own timeout applies).
    Busy,
}

/// A connection's [`Phase`], moved on by reads and by the service.
#[derive(Debug)]
struct Watch {
    phase: Mutex<Phase>,
    /// Responses the service has handed to hyper.
    answers: AtomicU64,
}

impl Watch {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Waiting {
                since: Instant::now(),
                head_from: None,
            }),
            answers: AtomicU64::new(0),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Phase) -> R) -> R {
        f(&mut self.phase.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn read_some(&self) {
        self.with(|phase| {
            if let Phase::Waiting { head_from, .. } = phase {
                head_from.get_or_insert_with(Instant::now);
            }
        });
    }

    fn busy(&self) {
        self.with(|phase| *phase = Phase::Busy);
    }

    fn done(&self) {
        self.answers.fetch_add(1, Ordering::AcqRel);
        self.with(|phase| {
            *phase = Phase::Waiting {
                since: Instant::now(),
                head_from: None,
            }
        });
    }

    /// When the connection must be closed if nothing changes; `None` while busy.
    fn deadline(&self, config: &HttpConfig) -> Option<Instant> {
        self.with(|phase| match *phase {
            Phase::Busy => None,
            Phase::Waiting {
                head_from: Some(from),
                ..
            } => Some(from + Duration::from_secs(config.header_read_timeout_secs)),
            Phase::Waiting { since, .. } => {
                Some(since + Duration::from_secs(config.idle_timeout_secs))
            }
        })
    }

    /// Completes when the connection has been slow or idle too long.
    async fn expired(&self, config: &HttpConfig) {
        let recheck = Duration::from_secs(1);
        loop {
            let now = Instant::now();
            match self.deadline(config) {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => tokio::time::sleep_until(deadline.min(now + recheck)).await,
                None => tokio::time::sleep(recheck).await,
            }
        }
    }
}

/// A stream that tells its [`Watch`] when bytes arrive, and answers in the
/// error shape where hyper itself refuses a request it cannot parse (a
/// request line that is not HTTP or not ASCII, a URI too long, a bad
/// version): hyper writes such an answer, with an empty body, without ever
/// calling the service, so a response head written when every answer of
/// the service has had its head is hyper's own, and is replaced.
struct Watched {
    stream: TcpStream,
    watch: Arc<Watch>,
    /// Response heads written so far.
    heads: u64,
    /// A replacement being written, and how much of it is.
    replacement: Option<(Vec<u8>, usize)>,
}

impl Watched {
    fn new(stream: TcpStream, watch: Arc<Watch>) -> Self {
        Self {
            stream,
            watch,
            heads: 0,
            replacement: None,
        }
    }

    /// Writes what is left of the replacement; ready when all of it is.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// hyper's own answer to a request it could not parse, in the error shape.
fn parse_error_answer(head: &[u8]) -> Vec<u8> {
    let status = head
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let message = match status {
        StatusCode::URI_TOO_LONG => "the request's URI is too long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request's headers are too large",
        StatusCode::HTTP_VERSION_NOT_SUPPORTED => "only HTTP/1.1 and HTTP/1.0 are served",
        _ => "the request is not valid HTTP: its request line or a header is malformed (a path must be ASCII, percent-encoded where needed)",
    };
    raw_answer(&ApiError::invalid_request(message).with_status(status.as_u16()))
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // A response head, not an interim `100 Continue`.
        let head = buf.starts_with(b"HTTP/1.") && buf.get(9).is_some_and(|&d| d != b'1');
        if this.replacement.is_none() && head {
            if this.heads == this.watch.answers.load(Ordering::Acquire) {
                this.replacement = Some((parse_error_answer(buf), 0));
            } else {
                let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
                if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
                    this.heads += 1;
                }
                return polled;
            }
        }
        if this.replacement.is_some() {
            // hyper's bytes are dropped: the replacement stands for them.
            return this.poll_replacement(cx).map_ok(|()| buf.len());
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves one connection until the client closes it, it is slow or idle
/// too long, or the server shuts down.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let watch = Arc::new(Watch::new());
    let io = TokioIo::new(Watched::new(stream, watch.clone()));
    let service = hyper::service::service_fn({
        let watch = watch.clone();
        let shared = shared.clone();
        move |request: Request<Incoming>| {
            let watch = watch.clone();
            let shared = shared.clone();
            async move {
                watch.busy();
                let response = handle(&shared, peer, request).await;
                watch.done();
                Ok::<_, Infallible>(response)
            }
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The head's own timeout is kept by `Watch`, which also knows idleness.
        .header_read_timeout(None)
        .max_buf_size((shared.config.max_header_bytes * 4).max(8192))
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    let mut conn = pin!(conn);
    let mut draining = *stopping.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stopping.changed(), if !draining => {
                draining = true;
                if changed.is_err() || *stopping.borrow() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = watch.expired(&shared.config) => {
                tracing::debug!(%peer, "closing a slow or idle connection");
                return;
            }
        }
    }
}

/// One request: the head-size cap, the request id, the client's own cap,
/// its body read under the whole-request deadline, then a shared in-flight
/// slot and the router, within what is left of the deadline.
async fn handle(shared: &Shared, peer: SocketAddr, request: Request<Incoming>) -> Response {
    let deadline = Instant::now() + Duration::from_secs(shared.config.request_timeout_secs);
    let mut request = request.map(Body::new);
    if head_size(&request) > shared.config.max_header_bytes {
        return ApiError::invalid_request("the request's headers are too large")
            .with_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.as_u16())
            .into_response();
    }
    keep_request_id_if_short(&mut request);
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let client = client_address(peer.ip(), forwarded, &shared.config.trusted_proxies);
    let Some(_mine) = shared.in_flight_per_client.take(client) else {
        return too_many_of_yours().into_response();
    };
    let mut request = match read_body(request, shared.body_limit_bytes, deadline).await {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    let Ok(_permit) = shared.in_flight.clone().try_acquire_owned() else {
        let mut refusal = busy();
        if request.method() == axum::http::Method::POST && request.uri().path() == "/sessions" {
            // Nothing was handled: the identity token may be sent again.
            let unused = crate::authority::NonceState::Unused;
            refusal = refusal.with_data(crate::authority::NonceState::DATA_KEY, unused.as_str());
        }
        return refusal.into_response();
    };
    request.extensions_mut().insert(ClientAddr(client));
    request.extensions_mut().insert(ConnectInfo(peer));
    match tokio::time::timeout_at(deadline, shared.app.clone().oneshot(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => took_too_long(),
    }
}

/// A 408 that closes the connection.
fn took_too_long() -> Response {
    let mut response = ApiError::invalid_request("the request took too long")
        .with_status(StatusCode::REQUEST_TIMEOUT.as_u16())
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The request with its whole body read (at most `limit` bytes) before
/// `deadline`; else the answer: 413, 408, or 400 for a body that broke off.
async fn read_body(
    request: Request<Body>,
    limit: usize,
    deadline: Instant,
) -> Result<Request<Body>, Response> {
    use http_body_util::BodyExt as _;
    if super::stack::declared_length(request.headers()).is_some_and(|n| n > limit as u64) {
        return Err(super::json::body_too_large().into_response());
    }
    let (parts, body) = request.into_parts();
    let read = http_body_util::Limited::new(body, limit).collect();
    match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(collected)) => Ok(Request::from_parts(parts, Body::from(collected.to_bytes()))),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(super::json::body_too_large().into_response())
        }
        Ok(Err(_)) => {
            Err(ApiError::invalid_request("the request's body broke off").into_response())
        }
        Err(_) => Err(took_too_long()),
    }
}

/// The size of the request line and headers, roughly as sent.
fn head_size(request: &Request<Body>) -> usize {
    let uri = request.uri();
    let line = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(1, |p| p.as_str().len())
        + 16;
    request.headers().iter().fold(line, |n, (name, value)| {
        n + name.as_str().len() + value.len() + 4
    })
}

/// Drops an `x-request-id` that is long or not plain ASCII, so that a
/// generated one takes its place before anything echoes or logs it.
fn keep_request_id_if_short(request: &mut Request<Body>) {
    let headers = request.headers_mut();
    let fine = headers.get_all("x-request-id").iter().count() <= 1
        && headers.get("x-request-id").is_none_or(|v| {
            v.len() <= MAX_REQUEST_ID_LEN
                && v.as_bytes()
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
        });
    if !fine {
        headers.remove("x-request-id");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_in_range_and_zero_is_refused() {
        assert_eq!(HttpConfig::default().check(), Ok(()));
        let zero = HttpConfig {
            idle_timeout_secs: 0,
            ..HttpConfig::default()
        };
        assert_eq!(zero.check().unwrap_err().0, "http.idle_timeout_secs");
        let none = HttpConfig {
            max_in_flight: 0,
            ..HttpConfig::default()
        };
        assert_eq!(none.check().unwrap_err().0, "http.max_in_flight");
    }

    #[test]
    fn long_or_odd_request_ids_are_dropped() {
        let with = |id: &str| {
            let mut r = Request::builder()
                .header("x-request-id", id)
                .body(Body::empty())
                .unwrap();
            keep_request_id_if_short(&mut r);
            r.headers()
                .get("x-request-id")
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(with("abc-123").as_deref(), Some("abc-123"));
        assert_eq!(with(&"a".repeat(MAX_REQUEST_ID_LEN + 1)), None);
        assert_eq!(with("a b"), None);
        assert_eq!(with("line\tbreak"), None);
    }
}
