//! A TCP proxy that loses answers: put between a service and its database
//! (or Redis), it forwards every byte the service sends, and drops a chunk
//! of the server's answer now and then, resetting both connections at that
//! point, as a network that fails after the server did the work would. The
//! loss rate can be changed while it runs (none at first, so that services
//! start cleanly).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy has done so far.
#[derive(Debug, Default)]
struct Counters {
    /// Answers (chunks read from the server) passed on.
    forwarded: AtomicU64,
    /// Answers dropped, each with its connection reset.
    dropped: AtomicU64,
    /// Connections opened through the proxy.
    connections: AtomicU64,
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    /// Where services connect instead of the server.
    pub addr: SocketAddr,
    loss_per_million: Arc<AtomicU32>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream`, losing nothing yet.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let loss_per_million = Arc::new(AtomicU32::new(0));
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn({
            let (loss, counters) = (loss_per_million.clone(), counters.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    counters.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(relay(client, upstream, loss.clone(), counters.clone()));
                }
            }
        });
        Self {
            addr,
            loss_per_million,
            counters,
            task,
        }
    }

    /// From now on, drops this share of the server's answers (0.03: 3 %).
    pub fn set_loss(&self, share: f64) {
        let per_million = (share.clamp(0.0, 1.0) * 1e6) as u32;
        self.loss_per_million.store(per_million, Ordering::Relaxed);
    }

    /// Starts counting again from zero.
    pub fn reset_counts(&self) {
        self.counters.forwarded.store(0, Ordering::Relaxed);
        self.counters.dropped.store(0, Ordering::Relaxed);
        self.counters.connections.store(0, Ordering::Relaxed);
    }

    /// Answers passed on, answers dropped, and connections opened.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.counters.forwarded.load(Ordering::Relaxed),
            self.counters.dropped.load(Ordering::Relaxed),
            self.counters.connections.load(Ordering::Relaxed),
        )
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Carries one connection both ways until either side closes, or until an
/// answer is dropped: then both sides are reset (no FIN, no answer).
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    loss: Arc<AtomicU32>,
    counters: Arc<Counters>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let dice = RandomState::new();
    let mut rolls = 0u64;
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        tokio::select! {
            read = client.read(&mut up) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                if server.write_all(&up[..n]).await.is_err() {
                    return;
                }
            }
            read = server.read(&mut down) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                rolls += 1;
                let roll = (dice.hash_one(rolls) % 1_000_000) as u32;
                if roll < loss.load(Ordering::Relaxed) {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    // Closed with a zero linger: a reset, the answer lost.
                    let _ = client.set_zero_linger();
                    let _ = server.set_zero_linger();
                    return;
                }
                counters.forwarded.fetch_add(1, Ordering::Relaxed);
                if client.write_all(&down[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
