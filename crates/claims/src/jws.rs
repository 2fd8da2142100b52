//! JWS compact serialization: building the signing input, assembling a token,
//! and splitting one apart under the rules of SPEC §2.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The largest token accepted, in bytes; larger ones are refused unread.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// A JSON object as decoded from a token segment.
pub type JsonObject = Map<String, Value>;

/// Why a token could not be split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedToken {
    /// Over [`MAX_TOKEN_BYTES`].
    #[error("the token is {0} bytes long; at most 8192 are accepted")]
    TooLarge(usize),
    /// Not exactly three dot-separated segments.
    #[error("the token has {0} segments; a JWS compact token has 3")]
    Segments(usize),
    /// A segment is not unpadded base64url.
    #[error("the {0} segment is not unpadded base64url")]
    Base64(Segment),
    /// A segment is not a JSON object (or repeats a member name).
    #[error("the {segment} segment is not a JSON object: {detail}")]
    Json {
        /// Which segment.
        segment: Segment,
        /// What the JSON parser said.
        detail: String,
    },
}

/// One of the three segments of a compact JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// The protected header.
    Header,
    /// The claims (payload).
    Claims,
    /// The signature.
    Signature,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Segment::Header => "header",
            Segment::Claims => "claims",
            Segment::Signature => "signature",
        })
    }
}

/// A token split into its decoded parts; nothing about it is verified yet.
#[derive(Debug, Clone)]
pub struct DecodedToken<'t> {
    /// The header object.
    pub header: JsonObject,
    /// The claims object.
    pub claims: JsonObject,
    /// `b64url(header) "." b64url(claims)`: what the signature covers.
    pub signing_input: &'t str,
    /// The raw signature bytes.
    pub signature: Vec<u8>,
}

/// `b64url(header_json) "." b64url(claims_json)`.
pub fn signing_input(header_json: &[u8], claims_json: &[u8]) -> String {
    let mut out = URL_SAFE_NO_PAD.encode(header_json);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(claims_json, &mut out);
    out
}

/// Appends the encoded signature to a signing input, giving the compact token.
pub fn assemble(signing_input: &str, signature: &[u8]) -> String {
    let mut out = String::with_capacity(signing_input.len() + 1 + signature.len() * 4 / 3 + 2);
    out.push_str(signing_input);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut out);
    out
}

/// Splits and decodes a compact token: size cap first, then three unpadded
/// base64url segments, then header and claims as JSON objects without
/// duplicate member names (at any depth).
pub fn decode(token: &str) -> Result<DecodedToken<'_>, MalformedToken> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(MalformedToken::TooLarge(token.len()));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MalformedToken::Segments(token.split('.').count()));
    };
    let header = decode_object(h, Segment::Header)?;
    let claims = decode_object(c, Segment::Claims)?;
    let signature = decode_segment(s, Segment::Signature)?;
    Ok(DecodedToken {
        header,
        claims,
        signing_input: &token[..h.len() + 1 + c.len()],
        signature,
    })
}

/// The `kid` of a token's header, read without any other check: for
/// choosing which key to check the token against. `None` when the header
/// does not decode or carries no well-formed key id.
pub fn peek_kid(token: &str) -> Option<crate::KeyId> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let header = decode_object(token.split('.').next()?, Segment::Header).ok()?;
    header.get("kid")?.as_str()?.parse().ok()
}

fn decode_segment(segment: &str, which: Segment) -> Result<Vec<u8>, MalformedToken> {
    // The engine refuses padding, `+`, `/` and non-canonical trailing bits.
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| MalformedToken::Base64(which))
}

fn decode_object(segment: &str, which: Segment) -> Result<JsonObject, MalformedToken> {
    let bytes = decode_segment(segment, which)?;
    parse_object(&bytes).map_err(|e| MalformedToken::Json {
        segment: which,
        detail: e.to_string(),
    })
}

/// Parses a JSON object, refusing duplicate member names at any depth.
pub fn parse_object(bytes: &[u8]) -> Result<JsonObject, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let object = StrictObject::deserialize(&mut de)?;
    de.end()?;
    Ok(object.0)
}

struct StrictObject(JsonObject);
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectVisitor)
            .map(StrictObject)
    }
}

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(StrictValue)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = JsonObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<JsonObject, A::Error> {
        let mut map = JsonObject::new();
        while let Some(key) = access.next_key::<String>()? {
            let StrictValue(value) = access.next_value()?;
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member name `{key}`"
                )));
            }
            map.insert(key, value);
        }
        Ok(map)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = access.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Value, A::Error> {
        ObjectVisitor.visit_map(access).map(Value::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn assemble_and_decode_roundtrip() {
        let input = signing_input(br#"{"a":1}"#, br#"{"b":[1,{"c":null}]}"#);
        let token = assemble(&input, &[1, 2, 3]);
        let decoded = decode(&token).unwrap();
        assert_eq!(decoded.signing_input, input);
        assert_eq!(decoded.signature, vec![1, 2, 3]);
        assert_eq!(decoded.header["a"], 1);
    }

    #[test]
    fn refuses_what_the_spec_calls_malformed() {
        let h = b64(r#"{"a":1}"#);
        let cases = [
            format!("{h}.{h}"),
            format!("{h}.{h}.AA.AA"),
            format!("{h}=.{h}.AA"),
            format!("{h}.{h}.A+/"),
            format!("{}.{h}.AA", b64("[1]")),
            format!("{}.{h}.AA", b64("not json")),
            format!("{}.{h}.AA", b64(r#"{"a":1,"a":2}"#)),
            format!("{}.{h}.AA", b64(r#"{"a":{"b":1,"b":1}}"#)),
            format!("{}.{h}.AA", b64(r#"{"a":1} x"#)),
            format!("{h}.{h}.{}", "A".repeat(MAX_TOKEN_BYTES)),
        ];
        for token in cases {
            assert!(decode(&token).is_err(), "{token}");
        }
    }

    #[test]
    fn size_cap_is_checked_before_anything_else() {
        let token = "!".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            decode(&token).unwrap_err(),
            MalformedToken::TooLarge(MAX_TOKEN_BYTES + 1)
        );
    }
}
