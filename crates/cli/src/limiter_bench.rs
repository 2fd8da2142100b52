//! `tessera authority bench-limiter`: the rate limiter's cost per request
//! with a table full of tracked clients against an empty one, in
//! alternating rounds on this thread, as medians and their ratio.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tessera_api::server::limit::{Limiter, DEFAULT_CAPACITY};

#[derive(Debug, Clone, clap::Args)]
pub struct LimiterBenchArgs {
    /// Clients tracked in the full table (half IPv4, half IPv6 /64s).
    #[arg(long, default_value_t = DEFAULT_CAPACITY)]
    clients: usize,
    /// Requests measured per round and table.
    #[arg(long, default_value_t = 1_000_000)]
    requests: usize,
    /// Rounds, alternating the tables.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// The `i`th of many distinct clients: even ones IPv4, odd ones IPv6 /64s
/// of distinct /48s.
fn client(i: usize) -> IpAddr {
    let n = i as u32;
    if i % 2 == 0 {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (n >> 1)))
    } else {
        let net = (0x2001_0db8_u128 << 96) | (u128::from(n >> 1) << 80);
        IpAddr::V6(Ipv6Addr::from(net | 1))
    }
}

/// Nanoseconds per request for `requests` hits from `active` clients in turn
/// (clients from `from` on), each a fresh client when `active` is `None`.
fn measure(limiter: &Limiter, requests: usize, from: usize, active: Option<usize>) -> f64 {
    let started = Instant::now();
    for r in 0..requests {
        let who = match active {
            Some(n) => from + (r.wrapping_mul(7919) % n),
            None => from + r,
        };
        let _ = black_box(limiter.hit_client(black_box(client(who))));
    }
    started.elapsed().as_nanos() as f64 / requests as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(args: LimiterBenchArgs) -> ExitCode {
    let window = Duration::from_secs(3600);
    let capacity = DEFAULT_CAPACITY.max(args.clients);
    let new_limiter = || Limiter::new(u32::MAX, window, capacity);
    let full = new_limiter();
    for i in 0..args.clients {
        let _ = full.hit_client(client(i));
    }
    let tracked = full.len();
    // Clients beyond the full table's, so that both tables see the same stream.
    let base = args.clients;
    let active = 1_000;
    let (mut empty_known, mut full_known, mut empty_new, mut full_new) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut fresh = base + active;
    for _ in 0..args.rounds.max(1) {
        let empty = new_limiter();
        empty_known.push(measure(&empty, args.requests, base, Some(active)));
        full_known.push(measure(&full, args.requests, base, Some(active)));
        // Every request a client never seen: an insert (the full table
        // evicts its least recently used window for each).
        let empty = new_limiter();
        empty_new.push(measure(&empty, args.requests, fresh, None));
        fresh += args.requests;
        full_new.push(measure(&full, args.requests, fresh, None));
        fresh += args.requests;
    }
    let (ek, fk, en, fnew) = (
        median(empty_known),
        median(full_known),
        median(empty_new),
        median(full_new),
    );
    println!(
        "limiter, {} rounds of {} requests, {tracked} windows in the full table ({} after):",
        args.rounds.max(1),
        args.requests,
        full.len()
    );
    println!(
        "  {active} active clients: empty table {ek:.0} ns/request, full table {fk:.0} ns/request, full/empty {:.2}",
        fk / ek
    );
    println!(
        "  a new client each request: empty table {en:.0} ns/request, full table (evicting) {fnew:.0} ns/request, full/empty {:.2}",
        fnew / en
    );
    ExitCode::SUCCESS
}
