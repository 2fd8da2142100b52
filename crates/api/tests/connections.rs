//! `serve` against hostile clients over loopback TCP: slow headers, slow
//! bodies, idle connections, too many connections or requests, and a
//! shutdown while slow clients hold connections. Bounded in count and time;
//! every answer checked is in the error shape.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tessera_api::server::{serve, with_common_layers, Cors, HttpConfig, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

fn config() -> HttpConfig {
    HttpConfig {
        header_read_timeout_secs: 1,
        request_timeout_secs: 2,
        idle_timeout_secs: 2,
        shutdown_timeout_secs: 2,
        ..HttpConfig::default()
    }
}

fn app() -> Router {
    let routes = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
        .route("/echo", post(|body: axum::body::Bytes| async move { body }));
    with_common_layers(routes, Limits { body_bytes: 1024 }, Cors::none())
}

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(config: HttpConfig) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(listener, app(), &config, 1024, async {
            let _ = stopped.await;
        })
        .await
    });
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

/// A connection that has sent `bytes` (a request, whole or in part).
async fn send(addr: SocketAddr, bytes: impl AsRef<[u8]>) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes.as_ref()).await.unwrap();
    s
}

/// Reads until the server closes the connection (or 10 s pass): what it sent.
async fn read_to_close(stream: &mut TcpStream) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

/// The JSON body of a raw HTTP answer.
fn json_body(answer: &str) -> serde_json::Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_closed() {
    let server = start(config()).await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(send(server.addr, b"GET /ok HTTP/1.1\r\nHost: x\r\n").await);
    }
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // A slow-header client keeps sending, one byte at a time.
    let mut dripping = TcpStream::connect(server.addr).await.unwrap();
    let drip = tokio::spawn(async move {
        for b in b"GET /ok HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa"
            .iter()
            .copied()
        {
            if dripping.write_all(&[b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        false
    });
    for s in slow.iter_mut().chain(idle.iter_mut()) {
        assert!(read_to_close(s).await.is_some(), "the server closed it");
    }
    assert!(drip.await.unwrap(), "the dripping client was cut off");
    // The server still answers others.
    let mut s = send(
        server.addr,
        b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(read_to_close(&mut s).await.unwrap().ends_with("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_get_408_in_the_error_shape() {
    // All from one address: within its own caps.
    let server = start(HttpConfig {
        max_in_flight_per_client: 64,
        ..config()
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(send(server.addr, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\nabc").await);
    }
    for s in &mut slow {
        let answer = read_to_close(s).await.expect("closed");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert_eq!(json_body(&answer)["id"], "invalid_request");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_capacity_answers_503_with_retry_after() {
    let server = start(HttpConfig {
        max_connections: 4,
        max_in_flight: 2,
        ..config()
    })
    .await;
    // Two requests in flight fill the in-flight cap.
    let mut busy = Vec::new();
    for _ in 0..2 {
        busy.push(send(server.addr, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = send(
        server.addr,
        b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let answer = read_to_close(&mut third).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert_eq!(json_body(&answer)["id"], "service_unavailable");

    // Past the connection cap, new connections hear 503 and are closed.
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = TcpStream::connect(server.addr).await.unwrap();
    let answer = read_to_close(&mut over).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert_eq!(json_body(&answer)["code"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_and_bodies_answer_in_the_error_shape() {
    let server = start(config()).await;
    let big = "a".repeat(20 * 1024);
    let head = format!("GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
    let mut s = send(server.addr, head).await;
    let answer = read_to_close(&mut s).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(json_body(&answer)["id"], "invalid_request");

    // A declared body over the limit: 413 on a route that never reads it.
    let mut s = send(
        server.addr,
        b"GET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n",
    )
    .await;
    let answer = read_to_close(&mut s).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(json_body(&answer)["id"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_are_not_http_answer_in_the_error_shape() {
    let server = start(config()).await;
    let malformed: [&[u8]; 4] = [
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /admin/apps/\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
    ];
    for request in malformed {
        let mut s = send(server.addr, request).await;
        let answer = read_to_close(&mut s).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        let body = json_body(&answer);
        assert_eq!(body["id"], "invalid_request", "{answer}");
        assert_eq!(body["code"], 10, "{answer}");
    }

    // After answered requests on a kept-alive connection, the same: every
    // answer of the service keeps its own head, the refusal gets the shape.
    let mut s = send(
        server.addr,
        b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await;
    let mut first = vec![0u8; 4096];
    let mut seen = String::new();
    while seen.matches("HTTP/1.1 200").count() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut first))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&first[..n]));
    }
    assert!(seen.ends_with("hi"), "{seen}");
    s.write_all(b"GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut s).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(json_body(&answer)["id"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_meets_its_deadline_despite_slow_clients() {
    let mut server = start(HttpConfig {
        header_read_timeout_secs: 60,
        idle_timeout_secs: 60,
        request_timeout_secs: 60,
        shutdown_timeout_secs: 1,
        ..config()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(send(server.addr, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await);
    }
    for _ in 0..10 {
        held.push(send(server.addr, b"GET /ok HTTP/1.1\r\n").await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = server.stop.take().unwrap().send(());
    let ended = tokio::time::timeout(Duration::from_secs(10), &mut server.task).await;
    assert!(ended.is_ok(), "serve returned after its shutdown deadline");
    ended.unwrap().unwrap().unwrap();
    for s in &mut held {
        assert!(read_to_close(s).await.is_some(), "every connection closed");
    }
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_over_its_own_caps_hears_429_and_slow_bodies_hold_no_shared_slot() {
    let server = start(HttpConfig {
        max_in_flight: 2,
        max_connections_per_client: 6,
        max_in_flight_per_client: 4,
        ..config()
    })
    .await;
    // Four slow bodies: the client's four requests, none of the two shared slots.
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(
            send(
                server.addr,
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
            )
            .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fifth request of the same client: 429, its own cap.
    let mut fifth = send(
        server.addr,
        b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let answer = read_to_close(&mut fifth).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert_eq!(json_body(&answer)["id"], "rate_limit_exceeded");
    // Another client is answered: the slow bodies hold none of the two
    // shared slots.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = socket.connect(server.addr).await.unwrap();
    other
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut other).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Past its connections, the client hears 429 as it connects.
    let _held = [
        TcpStream::connect(server.addr).await.unwrap(),
        TcpStream::connect(server.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = TcpStream::connect(server.addr).await.unwrap();
    let answer = read_to_close(&mut over).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    drop(slow);
}
