//! The one reader of the `Authorization` header: its credentials, the
//! scheme compared case-insensitively (RFC 9110, §11.1).

use axum::http::{header, HeaderMap};

/// What an `Authorization` header presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Credentials<'a> {
    /// `Bearer <token>`: a session token, or the admin token.
    Bearer(&'a str),
    /// `Layer session-token="<token>"`: a session token, Layer's way.
    LayerSession(&'a str),
}

impl<'a> Credentials<'a> {
    /// The request's credentials; `None` without an `Authorization` header,
    /// or with one in no known form or with an empty token.
    pub fn of(headers: &'a HeaderMap) -> Option<Self> {
        parse(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
    }

    /// The session token, in either form.
    pub fn session_token(self) -> &'a str {
        match self {
            Credentials::Bearer(token) | Credentials::LayerSession(token) => token,
        }
    }

    /// The token of the bearer form alone.
    pub fn bearer(self) -> Option<&'a str> {
        match self {
            Credentials::Bearer(token) => Some(token),
            Credentials::LayerSession(_) => None,
        }
    }
}

/// Whether the request has an `Authorization` header at all.
pub(super) fn present(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
}

/// `Layer session-token="…"` or `Bearer …`.
fn parse(value: &str) -> Option<Credentials<'_>> {
    let value = value.trim();
    let credentials = if let Some(rest) = strip_prefix_ignore_case(value, "Layer ") {
        let rest = rest.trim_start();
        let token = strip_prefix_ignore_case(rest, "session-token=")?
            .strip_prefix('"')?
            .strip_suffix('"')?;
        Credentials::LayerSession(token)
    } else {
        Credentials::Bearer(strip_prefix_ignore_case(value, "Bearer ")?.trim())
    };
    (!credentials.session_token().is_empty()).then_some(credentials)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_token(value: &str) -> Option<&str> {
        parse(value).map(Credentials::session_token)
    }

    #[test]
    fn reads_both_authorization_forms() {
        assert_eq!(session_token("Layer session-token=\"abc\""), Some("abc"));
        assert_eq!(session_token("layer  session-token=\"abc\""), Some("abc"));
        assert_eq!(session_token("Bearer abc"), Some("abc"));
        assert_eq!(session_token("bearer   abc "), Some("abc"));
        assert_eq!(session_token("Layer session-token=abc"), None);
        assert_eq!(session_token("Basic abc"), None);
        assert_eq!(session_token("Bearer "), None);
        assert_eq!(session_token("Layer session-token=\"\""), None);
        assert_eq!(session_token("é"), None);
    }

    #[test]
    fn the_admin_token_is_a_bearer_token_in_any_case() {
        let bearer = |v| parse(v).and_then(Credentials::bearer);
        assert_eq!(bearer("Bearer admin-token"), Some("admin-token"));
        assert_eq!(bearer("BEARER admin-token"), Some("admin-token"));
        assert_eq!(bearer("Layer session-token=\"admin-token\""), None);
    }
}
