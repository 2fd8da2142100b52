//! Web origins, as browsers send them in `Origin` and as apps list the
//! pages allowed to call the services (CORS).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest origin accepted.
const MAX_LEN: usize = 253 + 32;

/// A web origin: `http` or `https`, a host and a port, nothing else, in the
/// form browsers serialize it (`https://app.example.com`,
/// `http://127.0.0.1:8080`): scheme and host in lower case, the scheme's
/// default port left out. Two origins are the same origin when their
/// strings are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(String);

/// Why a string is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a web origin ({why}); write it as scheme://host[:port], e.g. https://app.example.com")]
pub struct InvalidOrigin {
    value: String,
    why: &'static str,
}

impl Origin {
    /// The origin as sent in `Origin` and `Access-Control-Allow-Origin`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The origin of a page served at `http://{host}` (`host` as a `Host`
    /// header names it), or `None` when `host` is not a host and port.
    pub fn http(host: &str) -> Option<Origin> {
        format!("http://{host}").parse().ok()
    }

    /// This origin's `host[:port]`, as a `Host` header names it.
    pub fn authority(&self) -> &str {
        self.0
            .split_once("://")
            .map_or(self.0.as_str(), |(_, authority)| authority)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Origin {
    type Err = InvalidOrigin;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let refuse = |why| InvalidOrigin {
            value: value.chars().take(100).collect(),
            why,
        };
        if value.len() > MAX_LEN {
            return Err(refuse("too long"));
        }
        if value == "*" {
            return Err(refuse(
                "`*` is not accepted: session requests carry credentials, so every origin must be listed",
            ));
        }
        if value == "null" {
            return Err(refuse("`null` is the origin of sandboxed and local pages"));
        }
        let (scheme, authority) = value.split_once("://").ok_or_else(|| refuse("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => "80",
            "https" => "443",
            _ => return Err(refuse("the scheme must be http or https")),
        };
        if authority.is_empty() {
            return Err(refuse("no host"));
        }
        if authority.contains(['/', '?', '#']) {
            return Err(refuse("an origin has no path, query or fragment"));
        }
        if authority.contains('@') {
            return Err(refuse("an origin has no user name or password"));
        }
        let (host, port) = split_port(authority).ok_or_else(|| refuse("bad port"))?;
        if !valid_host(host) {
            return Err(refuse("bad host"));
        }
        let host = host.to_ascii_lowercase();
        Ok(Origin(match port {
            Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
            _ => format!("{scheme}://{host}"),
        }))
    }
}

/// `host[:port]` into the host and the port (digits, 1..=65535, leading
/// zeros dropped); `None` when the port is bad.
fn split_port(authority: &str) -> Option<(&str, Option<String>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let (host, after) = authority.split_at(end + 2);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u32 = p.parse().ok()?;
            if n == 0 || n > 65_535 {
                return None;
            }
            Some(n.to_string())
        }
        Some(_) => return None,
    };
    Some((host, port))
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

impl Serialize for Origin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Result<String, InvalidOrigin> {
        s.parse::<Origin>().map(|o| o.to_string())
    }

    #[test]
    fn origins_are_normalized_as_browsers_send_them() {
        assert_eq!(
            origin("https://App.Example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            origin("HTTPS://a.example:443").unwrap(),
            "https://a.example"
        );
        assert_eq!(origin("http://127.0.0.1:80").unwrap(), "http://127.0.0.1");
        assert_eq!(
            origin("http://127.0.0.1:08080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("http://[::1]:7702").unwrap(), "http://[::1]:7702");
        assert_eq!(origin("http://localhost").unwrap(), "http://localhost");
        assert_eq!(
            Origin::http("127.0.0.2:7700").unwrap().authority(),
            "127.0.0.2:7700"
        );
    }

    #[test]
    fn what_is_not_an_origin_is_refused_with_the_reason() {
        for bad in [
            "*",
            "null",
            "",
            "app.example.com",
            "ftp://a.example",
            "https://",
            "https://a.example/",
            "https://a.example/path",
            "https://a.example?x",
            "https://user@a.example",
            "https://a.example:0",
            "https://a.example:65536",
            "https://a.example:",
            "https://a..example",
            "https://a_b.example",
            "https://[::1",
            "https://[zz]:1",
        ] {
            assert!(origin(bad).is_err(), "{bad:?} accepted");
        }
        let star = origin("*").unwrap_err().to_string();
        assert!(star.contains("credentials"), "{star}");
    }
}
