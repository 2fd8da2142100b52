//! The signer benchmark: EITs signed (or verified) per second, and latency.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use tessera_claims::{verify, Claims, Clock, ProviderId, TrustedKey, UserId};
use tessera_signer::{sign_token, DynSigner};

use tessera_claims::unix_now as now;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Sign,
    Verify,
}

#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    pub mode: Mode,
    pub seconds: f64,
    pub concurrency: usize,
}

#[derive(Debug, Serialize)]
pub struct BenchResult {
    backend: &'static str,
    mode: Mode,
    concurrency: usize,
    seconds: f64,
    ops: u64,
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    key_bits: usize,
    token_bytes: usize,
}

impl fmt::Display for BenchResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.mode {
            Mode::Sign => "signed",
            Mode::Verify => "verified",
        };
        write!(
            f,
            "{} backend, RSA-{}: {} tokens {what} in {:.2} s at concurrency {}\n  {:.1} tokens/s, p50 {:.3} ms, p99 {:.3} ms ({}-byte tokens)",
            self.backend,
            self.key_bits,
            self.ops,
            self.seconds,
            self.concurrency,
            self.ops_per_sec,
            self.p50_ms,
            self.p99_ms,
            self.token_bytes
        )
    }
}

fn claims(iss: ProviderId, i: u64) -> Claims {
    Claims::builder(
        iss,
        UserId::new(format!("bench-user-{i}")).expect("valid user id"),
        "q5lH0mJ2c8Vx1NwYt3ZkR9aB7eD4fG6hJ0kL2mN4pQ8",
    )
    .issued_at(now())
    .ttl_secs(120)
    .display_name("Bench User")
    .build()
    .expect("valid claims")
}

pub async fn run(signer: DynSigner, options: BenchOptions) -> Result<BenchResult> {
    let iss = ProviderId::generate();
    let sample = sign_token(signer.as_ref(), &claims(iss, 0)).await?;
    let key = TrustedKey {
        kid: *signer.key_id(),
        provider_id: iss,
        public_key: signer.public_key().clone(),
        revoked: false,
    };
    let duration = Duration::from_secs_f64(options.seconds);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(options.concurrency);
    for t in 0..options.concurrency {
        let signer = signer.clone();
        let key = key.clone();
        let token = sample.clone();
        let mode = options.mode;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut i = t as u64;
            loop {
                let begin = Instant::now();
                if begin >= deadline {
                    break;
                }
                match mode {
                    Mode::Sign => {
                        sign_token(signer.as_ref(), &claims(iss, i)).await?;
                        // A signer that never waits must still share the workers.
                        tokio::task::yield_now().await;
                    }
                    Mode::Verify => {
                        verify(token.as_str(), &key, Clock::at(now()))?;
                        if i % 64 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                }
                latencies.push(begin.elapsed());
                i += options.concurrency as u64;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e3
    };
    Ok(BenchResult {
        backend: signer.backend(),
        mode: options.mode,
        concurrency: options.concurrency,
        seconds: elapsed,
        ops: latencies.len() as u64,
        ops_per_sec: latencies.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        key_bits: signer.public_key().bits(),
        token_bytes: sample.as_str().len(),
    })
}
