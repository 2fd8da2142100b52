//! One client cannot take what every client shares: 300 slow uploads from
//! one address (each a head, then a byte now and then) hold only that
//! client's connections and request slots, never the shared in-flight
//! slots, so that other clients are answered meanwhile, within a second.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tessera_tests::process::{start_authority, Server};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from `from` to `to`.
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    socket.connect(to).await
}

/// Sends a head promising 1,000 bytes of body, then a byte every 200 ms
/// for `hold`; the status the server answered with, if any.
async fn slow_upload(from: Ipv4Addr, to: SocketAddr, hold: Duration) -> Option<u16> {
    let mut stream = connect_from(from, to).await.ok()?;
    let head = "POST /nonces HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.ok()?;
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while started.elapsed() < hold {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if stream.write_all(b" ").await.is_err() {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.get(9..12).and_then(|s| s.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_s_slow_uploads_leave_others_answered() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}/authority.db\"\n[http]\nrequest_timeout_secs = 20\n",
        dir.path().display()
    );
    let server: Server = start_authority(dir.path(), "a", &config);
    let address: SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let hold = Duration::from_secs(8);
    let slow: Vec<_> = (0..300)
        .map(|_| tokio::spawn(slow_upload(Ipv4Addr::new(127, 0, 9, 9), address, hold)))
        .collect();
    // Let the uploads take what they can.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut slowest = Duration::ZERO;
    for i in 0..30u8 {
        let http = reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 10, 1 + i)))
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let started = Instant::now();
        let r = http
            .post(format!("{}/nonces", server.url))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("client {i} was not answered within 1 s: {e}"));
        assert_eq!(r.status().as_u16(), 201, "client {i}");
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answered = std::collections::BTreeMap::new();
    for upload in slow {
        *answered.entry(upload.await.unwrap()).or_insert(0) += 1;
    }
    println!("slow uploads answered: {answered:?}; the slowest other client waited {slowest:?}");
    // Past its own caps the slow client heard 429 at once (or, past the
    // refusals answered at once, was closed unanswered); none of its
    // uploads finished or took a shared slot's 503.
    assert!(
        answered.get(&Some(429)).copied().unwrap_or(0) >= 100,
        "{answered:?}"
    );
    assert!(
        answered.keys().all(|k| matches!(k, None | Some(429))),
        "{answered:?}"
    );
}
