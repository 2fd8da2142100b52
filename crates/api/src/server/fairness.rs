//! Caps per client, so that one client cannot take what every client
//! shares: its open connections (by peer address, unless the peer is a
//! trusted proxy, whose connections are its clients') and its requests
//! being handled (by client address, `X-Forwarded-For` behind a proxy).
//! Clients are keyed as the rate limits key them (IPv4 whole, IPv6 by /64);
//! a client's entry lives only while it holds something.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use super::windows::client_key;

/// At most `cap` of something per client.
#[derive(Debug)]
pub(crate) struct PerClient {
    cap: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One of a client's `cap`, given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    owner: Arc<PerClient>,
    client: IpAddr,
}

impl PerClient {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap,
            held: Mutex::default(),
        })
    }

    /// One more for the client of `ip`; `None` when it holds its cap.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Held> {
        let client = client_key(ip);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry(client).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Held {
            owner: self.clone(),
            client,
        })
    }

    /// Clients holding something now.
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self
            .owner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_has_its_cap_and_entries_go_with_what_they_held() {
        let caps = PerClient::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::2".parse().unwrap();
        let (a1, a2) = (caps.take(a).unwrap(), caps.take(a).unwrap());
        assert!(caps.take(a).is_none());
        let b1 = caps.take(b).unwrap();
        let _b2 = caps.take(same_64).unwrap();
        assert!(caps.take(b).is_none(), "one /64 is one client");
        drop(a1);
        assert!(caps.take(a).is_some());
        drop((a2, b1));
        assert_eq!(caps.clients(), 1);
    }
}
