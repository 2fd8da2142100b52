//! Dashboard sign-ins: kept in memory as digests of their cookie, each with
//! its CSRF token, ended by sign-out, idleness or age; at most
//! `dashboard.max_sessions` at once (signing in beyond ends the oldest).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use tessera_api::ApiError;

use crate::bearer::{SessionToken, SessionTokenHash};
use crate::config::DashboardConfig;
use crate::error::access_denied;

/// The cookie holding a dashboard sign-in.
pub const COOKIE: &str = "tessera_dashboard";

/// The header a page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// One sign-in.
#[derive(Debug, Clone)]
struct Entry {
    csrf: String,
    created_at: i64,
    last_seen: i64,
}

/// A sign-in as a request presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The token pages send back in [`CSRF_HEADER`].
    pub csrf: String,
    /// When it ends at the latest, in seconds since the epoch.
    pub expires_at: i64,
}

/// The signed-in browsers.
#[derive(Debug)]
pub struct SignIns {
    ttl: i64,
    idle: i64,
    max: usize,
    entries: Mutex<HashMap<SessionTokenHash, Entry>>,
}

impl SignIns {
    /// No one signed in yet.
    pub fn new(config: &DashboardConfig) -> Self {
        Self {
            ttl: config.session_ttl_secs as i64,
            idle: config.idle_timeout_secs as i64,
            max: config.max_sessions,
            entries: Mutex::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<SessionTokenHash, Entry>> {
        // A panic elsewhere cannot leave the map half-written: every
        // change is one insert or remove.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self, entry: &Entry, now: i64) -> bool {
        now < entry.created_at + self.ttl && now < entry.last_seen + self.idle
    }

    /// A new sign-in: its cookie value, to set once, and its CSRF token.
    pub fn open(&self, now: i64) -> (SessionToken, SignIn) {
        let token = SessionToken::generate();
        let csrf = SessionToken::generate().as_str().to_owned();
        let mut entries = self.entries();
        entries.retain(|_, e| self.live(e, now));
        while entries.len() >= self.max {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.created_at)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => entries.remove(&k),
                None => break,
            };
        }
        entries.insert(
            token.hash(),
            Entry {
                csrf: csrf.clone(),
                created_at: now,
                last_seen: now,
            },
        );
        let expires_at = now + self.ttl;
        (token, SignIn { csrf, expires_at })
    }

    /// The live sign-in `cookie` names, its idle time restarted.
    pub fn check(&self, cookie: &str, now: i64) -> Option<SignIn> {
        let key = SessionTokenHash::of(cookie);
        let mut entries = self.entries();
        let entry = entries.get_mut(&key)?;
        if !self.live(entry, now) {
            entries.remove(&key);
            return None;
        }
        entry.last_seen = now;
        Some(SignIn {
            csrf: entry.csrf.clone(),
            expires_at: entry.created_at + self.ttl,
        })
    }

    /// Ends the sign-in `cookie` names.
    pub fn close(&self, cookie: &str) {
        self.entries().remove(&SessionTokenHash::of(cookie));
    }
}

/// The value of the dashboard's cookie in a request, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// Whether a request changes state (anything but `GET`, `HEAD`, `OPTIONS`).
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a state-changing request that does not carry the sign-in's CSRF
/// token, or that a browser says came from another site. Cross-origin
/// requests are refused before this by the same-origin rule of the common
/// layers.
pub fn check_csrf(parts: &Parts, sign_in: &SignIn) -> Result<(), ApiError> {
    if !changes_state(&parts.method) {
        return Ok(());
    }
    let site = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| !matches!(s, "same-origin" | "none")) {
        return Err(forbidden(
            "the dashboard accepts changes from its own pages only",
        ));
    }
    let presented = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let equal = presented.len() == sign_in.csrf.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(
            presented.as_bytes(),
            sign_in.csrf.as_bytes(),
        )
        .is_ok();
    if equal {
        Ok(())
    } else {
        Err(forbidden(
            "the dashboard's CSRF token is missing or wrong; reload the page",
        ))
    }
}

fn forbidden(why: &'static str) -> ApiError {
    access_denied(why).with_status(403)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max: usize) -> DashboardConfig {
        DashboardConfig {
            session_ttl_secs: 3600,
            idle_timeout_secs: 600,
            max_sessions: max,
            ..DashboardConfig::default()
        }
    }

    #[test]
    fn sign_ins_end_by_idleness_age_and_sign_out() {
        let s = SignIns::new(&config(10));
        let (token, sign_in) = s.open(1000);
        assert_eq!(sign_in.expires_at, 4600);
        assert_eq!(s.check(token.as_str(), 1500), Some(sign_in.clone()));
        // Each request restarts the idle time, not the age.
        assert!(s.check(token.as_str(), 2050).is_some());
        assert!(s.check(token.as_str(), 2600).is_some());
        assert!(s.check(token.as_str(), 3250).is_none(), "idle for 600 s");
        let (token, _) = s.open(5000);
        for t in (5500..8600).step_by(500) {
            assert!(s.check(token.as_str(), t).is_some());
        }
        assert!(s.check(token.as_str(), 8600).is_none(), "an hour old");
        let (token, _) = s.open(9000);
        s.close(token.as_str());
        assert!(s.check(token.as_str(), 9001).is_none());
        assert!(s.check("not a cookie", 9001).is_none());
    }

    #[test]
    fn the_oldest_sign_in_ends_when_full() {
        let s = SignIns::new(&config(2));
        let (a, _) = s.open(1);
        let (b, _) = s.open(2);
        let (c, _) = s.open(3);
        assert!(s.check(a.as_str(), 4).is_none());
        assert!(s.check(b.as_str(), 4).is_some());
        assert!(s.check(c.as_str(), 4).is_some());
        assert_eq!(s.entries().len(), 2);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; tessera_dashboardx=2".parse().unwrap());
        assert_eq!(cookie(&h), None);
        h.append(
            header::COOKIE,
            "b=3;  tessera_dashboard=abc ; c=4".parse().unwrap(),
        );
        assert_eq!(cookie(&h), Some("abc"));
    }
}
