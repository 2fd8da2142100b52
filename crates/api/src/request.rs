//! Request bodies: which string properties each requires, checked the same
//! way by both services before the body is decoded.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object request body.
///
/// Both services check the properties named here before decoding, so that a
/// missing, empty or non-string property gets the same answer everywhere:
/// 422 `missing_property` or `invalid_property`, with `data.property`.
pub trait RequestBody: DeserializeOwned {
    /// String properties that must be present, strings, and not empty.
    const REQUIRED: &'static [&'static str] = &[];
    /// String properties that may be absent or null, and are strings otherwise.
    const OPTIONAL: &'static [&'static str] = &[];
}

/// Any JSON object, for handlers that choose the request type by its members.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct JsonObject(pub Map<String, Value>);

impl RequestBody for JsonObject {}

impl JsonObject {
    /// Whether a member is present and not null.
    pub fn has(&self, property: &str) -> bool {
        !matches!(self.0.get(property), None | Some(Value::Null))
    }

    /// Checks the properties `T` names and decodes it.
    pub fn into_request<T: RequestBody>(self) -> Result<T, ApiError> {
        check::<T>(&self.0)?;
        serde_json::from_value(Value::Object(self.0))
            .map_err(|e| ApiError::invalid_request(format!("the body has the wrong shape: {e}")))
    }
}

/// The checks of [`RequestBody::REQUIRED`] and [`RequestBody::OPTIONAL`].
fn check<T: RequestBody>(object: &Map<String, Value>) -> Result<(), ApiError> {
    let not_a_string = |p: &str| ApiError::invalid_property(p, format!("`{p}` must be a string"));
    for &p in T::REQUIRED {
        match object.get(p) {
            None | Some(Value::Null) => return Err(ApiError::missing_property(p)),
            Some(Value::String(s)) if s.is_empty() => {
                return Err(ApiError::invalid_property(
                    p,
                    format!("`{p}` must not be empty"),
                ))
            }
            Some(Value::String(_)) => {}
            Some(_) => return Err(not_a_string(p)),
        }
    }
    for &p in T::OPTIONAL {
        match object.get(p) {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(_) => return Err(not_a_string(p)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorId;

    #[derive(Debug, Deserialize)]
    struct Pair {
        a: String,
        b: Option<String>,
    }

    impl RequestBody for Pair {
        const REQUIRED: &'static [&'static str] = &["a"];
        const OPTIONAL: &'static [&'static str] = &["b"];
    }

    fn parse(v: Value) -> Result<Pair, ApiError> {
        let Value::Object(map) = v else { panic!() };
        JsonObject(map).into_request()
    }

    #[test]
    fn required_and_optional_strings() {
        let ok = parse(json!({"a": "x", "b": null, "other": 1})).unwrap();
        assert_eq!((ok.a.as_str(), ok.b), ("x", None));
        let e = parse(json!({"b": "y"})).unwrap_err();
        assert_eq!(
            (e.id(), e.message()),
            (ErrorId::MissingProperty, "`a` is required")
        );
        let e = parse(json!({"a": ""})).unwrap_err();
        assert_eq!(
            (e.id(), e.message()),
            (ErrorId::InvalidProperty, "`a` must not be empty")
        );
        let e = parse(json!({"a": 1})).unwrap_err();
        assert_eq!(e.message(), "`a` must be a string");
        let e = parse(json!({"a": "x", "b": []})).unwrap_err();
        assert_eq!(e.message(), "`b` must be a string");
        assert_eq!(e.body().property(), Some("b"));
    }
}
