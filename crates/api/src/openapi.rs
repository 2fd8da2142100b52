//! The OpenAPI 3.1 description both services publish at `/openapi.json`
//! (feature `openapi`).
//!
//! Each service describes its own routes with `#[utoipa::path]` on its
//! handlers, over the `ToSchema` types of this crate; [`complete`] then adds
//! what every route shares: the error envelope [`ErrorBody`], the error
//! answers the shared layers and extractors give (400, 403, 406, 408, 413,
//! 414, 431, 500, 503; 415 and 422 where a body is read; 401 where a token is
//! required), and the two security schemes.

use serde_json::Value;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Components, InfoBuilder, License, OpenApi, Ref, RefOr, Required, Response};
use utoipa::{PartialSchema, ToSchema};

use crate::error::{ErrorBody, ErrorId};

/// The security scheme of the admin API: `Authorization: Bearer <admin token>`.
pub const ADMIN_TOKEN: &str = "admin_token";
/// The security scheme of a user's requests: `Authorization: Bearer
/// <session token>` (or Layer's `Layer session-token="…"`).
pub const SESSION: &str = "session";

/// Where both services publish their description.
pub const PATH: &str = "/openapi.json";

/// An error answer shared by many operations, kept once under
/// `components.responses`.
struct Shared {
    /// The component's name.
    name: &'static str,
    /// The HTTP status.
    status: u16,
    /// The error ids it carries.
    ids: &'static [ErrorId],
    /// When it happens.
    when: &'static str,
    /// Whether it carries `Retry-After`.
    retry_after: bool,
}

const INVALID_REQUEST: Shared = Shared {
    name: "InvalidRequest",
    status: 400,
    ids: &[ErrorId::InvalidRequest],
    when: "The request is unusable: a malformed path, query, header or JSON body.",
    retry_after: false,
};
const REQUEST_TIMEOUT: Shared = Shared {
    name: "RequestTimeout",
    status: 408,
    ids: &[ErrorId::InvalidRequest],
    when: "The request (its headers or its body) took too long to arrive.",
    retry_after: false,
};
const BODY_TOO_LARGE: Shared = Shared {
    name: "BodyTooLarge",
    status: 413,
    ids: &[ErrorId::InvalidRequest],
    when: "The body is larger than the service's `body_limit_bytes`.",
    retry_after: false,
};
const URI_TOO_LONG: Shared = Shared {
    name: "UriTooLong",
    status: 414,
    ids: &[ErrorId::InvalidRequest],
    when: "The request's URI is too long.",
    retry_after: false,
};
const HEADERS_TOO_LARGE: Shared = Shared {
    name: "HeadersTooLarge",
    status: 431,
    ids: &[ErrorId::InvalidRequest],
    when: "The request's headers are too large.",
    retry_after: false,
};
const NOT_ACCEPTABLE: Shared = Shared {
    name: "NotAcceptable",
    status: 406,
    ids: &[ErrorId::InvalidRequest],
    when: "`Accept` names only Layer's `application/vnd.layer+json` at a version other than 1.0 to 3.0.",
    retry_after: false,
};
const ORIGIN_NOT_ALLOWED: Shared = Shared {
    name: "OriginNotAllowed",
    status: 403,
    ids: &[ErrorId::OriginNotAllowed],
    when: "A browser sent the request (or its preflight) from a web origin that is not listed; it was not acted on.",
    retry_after: false,
};
const INTERNAL: Shared = Shared {
    name: "InternalServerError",
    status: 500,
    ids: &[ErrorId::InternalServerError],
    when: "Something failed inside the service (the cause is logged, never sent).",
    retry_after: false,
};
const UNAVAILABLE: Shared = Shared {
    name: "ServiceUnavailable",
    status: 503,
    ids: &[ErrorId::ServiceUnavailable],
    when: "A dependency (storage, the signer) is unavailable, or the service is over capacity.",
    retry_after: true,
};
const UNSUPPORTED_MEDIA_TYPE: Shared = Shared {
    name: "UnsupportedMediaType",
    status: 415,
    ids: &[ErrorId::InvalidRequest],
    when: "A body was sent without `Content-Type: application/json`.",
    retry_after: false,
};
const INVALID_PROPERTY: Shared = Shared {
    name: "InvalidProperty",
    status: 422,
    ids: &[ErrorId::MissingProperty, ErrorId::InvalidProperty],
    when: "A property of the body is absent or has a bad value; `data.property` names it.",
    retry_after: false,
};
const ACCESS_DENIED: Shared = Shared {
    name: "AccessDenied",
    status: 401,
    ids: &[ErrorId::AccessDenied],
    when: "The admin token is missing or wrong, or the admin API is disabled.",
    retry_after: false,
};
const AUTHENTICATION_REQUIRED: Shared = Shared {
    name: "AuthenticationRequired",
    status: 401,
    ids: &[ErrorId::AuthenticationRequired],
    when: "No usable session: answer the challenge `data.nonce` with an identity token.",
    retry_after: false,
};
const RATE_LIMITED: Shared = Shared {
    name: "RateLimited",
    status: 429,
    ids: &[ErrorId::RateLimitExceeded],
    when: "Too many requests from this client (over a rate limit, or over its own caps of connections and of requests in flight); retry after `Retry-After` seconds.",
    retry_after: true,
};

/// Answers every operation may get from the shared layers (429: a client
/// over its own caps of connections and requests in flight).
const EVERY_OPERATION: [&Shared; 10] = [
    &RATE_LIMITED,
    &INVALID_REQUEST,
    &ORIGIN_NOT_ALLOWED,
    &NOT_ACCEPTABLE,
    &REQUEST_TIMEOUT,
    &BODY_TOO_LARGE,
    &URI_TOO_LONG,
    &HEADERS_TOO_LARGE,
    &INTERNAL,
    &UNAVAILABLE,
];
/// Answers of an operation that reads a JSON body.
const WITH_BODY: [&Shared; 2] = [&UNSUPPORTED_MEDIA_TYPE, &INVALID_PROPERTY];

impl Shared {
    fn response(&self) -> Response {
        let ids: Vec<String> = self
            .ids
            .iter()
            .map(|id| format!("`{id}` (code {})", id.code()))
            .collect();
        let mut response = ResponseBuilder::new()
            .description(format!("{} Error id: {}.", self.when, ids.join(", ")))
            .content("application/json", error_content());
        if self.retry_after {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(u64::schema())
                    .description(Some("Seconds to wait before retrying."))
                    .build(),
            );
        }
        response.build()
    }
}

fn error_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build()
}

/// 404 of a route naming an app (path or body).
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "No app with this id. Error id: `invalid_app_id` (code 2)."
)]
pub struct NoApp(pub ErrorBody);

/// 404 of a route naming an app and one of its users.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "No app with this id (`invalid_app_id`, code 2), or the user id is not one (`not_found`, code 102)."
)]
pub struct NoAppOrUser(pub ErrorBody);

/// 429 of a route limited per client (the same answer as the shared
/// `RateLimited` response).
#[derive(utoipa::IntoResponses)]
#[response(
    status = 429,
    description = "Too many requests from this client (over a rate limit, or over its own caps of connections and of requests in flight); retry after `Retry-After` seconds. Error id: `rate_limit_exceeded` (code 7).",
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying."))
)]
pub struct RateLimited(pub ErrorBody);

/// The start of a service's description: its title, version, what it does
/// and its license, before its routes are added.
pub fn document(title: &str, version: &str, description: &str) -> OpenApi {
    let mut doc = OpenApi::default();
    doc.info = InfoBuilder::new()
        .title(title)
        .version(version)
        .description(Some(format!(
            "{description} Every error is `{{id, code, message, data}}`."
        )))
        .license(Some(License::new("Apache-2.0")))
        .build();
    doc
}

/// Completes a service's description: the error envelope and the shared
/// error answers on every operation that does not describe that status
/// itself, the security schemes, and `GET /openapi.json`.
pub fn complete(mut doc: OpenApi) -> OpenApi {
    doc.paths.paths.insert(PATH.to_owned(), description_path());
    let every: Vec<&Shared> = EVERY_OPERATION
        .iter()
        .chain(WITH_BODY.iter())
        .chain([&ACCESS_DENIED, &AUTHENTICATION_REQUIRED, &RATE_LIMITED].iter())
        .copied()
        .collect();
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(body) = &mut operation.request_body {
                optional_body(body);
            }
            let schemes = security_schemes(operation);
            let mut shared: Vec<&Shared> = EVERY_OPERATION.to_vec();
            if operation.request_body.is_some() {
                shared.extend(WITH_BODY);
            }
            if schemes.iter().any(|s| s == ADMIN_TOKEN) {
                shared.push(&ACCESS_DENIED);
            }
            if schemes.iter().any(|s| s == SESSION) {
                // A challenge is rate-limited per client.
                shared.extend([&AUTHENTICATION_REQUIRED, &RATE_LIMITED]);
            }
            for answer in shared {
                operation
                    .responses
                    .responses
                    .entry(answer.status.to_string())
                    .or_insert_with(|| Ref::from_response_name(answer.name).into());
            }
        }
    }
    let components = doc.components.get_or_insert_with(Components::new);
    components
        .schemas
        .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
    for answer in every {
        components
            .responses
            .insert(answer.name.to_owned(), answer.response().into());
    }
    components.add_security_scheme(
        ADMIN_TOKEN,
        SecurityScheme::Http(bearer(
            "The authority's admin token (`admin.token` or `admin.token_file`).",
        )),
    );
    components.add_security_scheme(
        SESSION,
        SecurityScheme::Http(bearer(
            "A session token from `POST /sessions`; Layer's `Authorization: Layer \
             session-token=\"…\"` is read too.",
        )),
    );
    doc
}

fn bearer(description: &str) -> Http {
    let mut http = Http::new(HttpAuthScheme::Bearer);
    http.description = Some(description.to_owned());
    http
}

/// A body the operation may go without (`Option<T>` in its description)
/// is described as a body that is not required, not as a JSON `null`:
/// the services take no body, or an object.
fn optional_body(body: &mut RequestBody) {
    let null = serde_json::json!({ "type": "null" });
    for content in body.content.values_mut() {
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };
        let (nulls, others): (Vec<_>, Vec<_>) = one_of
            .items
            .iter()
            .cloned()
            .partition(|item| serde_json::to_value(item).ok().as_ref() == Some(&null));
        if let ([_], [only]) = (nulls.as_slice(), others.as_slice()) {
            content.schema = Some(only.clone());
            body.required = Some(Required::False);
        }
    }
}

/// The names of the security schemes an operation accepts.
fn security_schemes(operation: &utoipa::openapi::path::Operation) -> Vec<String> {
    let mut names = Vec::new();
    for requirement in operation.security.iter().flatten() {
        if let Ok(Value::Object(map)) = serde_json::to_value(requirement) {
            names.extend(map.keys().cloned());
        }
    }
    names
}

/// `GET /openapi.json` itself.
fn description_path() -> PathItem {
    let operation = OperationBuilder::new()
        .operation_id(Some("openapi"))
        .tag("meta")
        .summary(Some("This description (OpenAPI 3.1)"))
        .response(
            "200",
            ResponseBuilder::new()
                .description("The service's OpenAPI 3.1 description.")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                        .build(),
                ),
        )
        .build();
    PathItem::new(HttpMethod::Get, operation)
}

/// The description as served and checked in: pretty JSON with a final newline.
pub fn to_json(doc: &OpenApi) -> String {
    let mut json = serde_json::to_string_pretty(doc).expect("an OpenAPI description is plain JSON");
    json.push('\n');
    json
}

/// A service's routes and its completed description (see [`complete`]),
/// with `GET /openapi.json` answering that description.
#[cfg(feature = "server")]
pub fn split<S: Clone + Send + Sync + 'static>(
    described: utoipa_axum::router::OpenApiRouter<S>,
) -> (axum::Router<S>, OpenApi) {
    let (routes, doc) = described.split_for_parts();
    let doc = complete(doc);
    let body = axum::body::Bytes::from(to_json(&doc));
    let description = axum::routing::get(move || {
        let body = body.clone();
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
        }
    });
    (routes.route(PATH, description), doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_gets_the_shared_answers_it_can_meet() {
        let mut doc = OpenApi::default();
        let admin = OperationBuilder::new()
            .security(utoipa::openapi::security::SecurityRequirement::new::<
                &str,
                [&str; 0],
                &str,
            >(ADMIN_TOKEN, []))
            .response("204", ResponseBuilder::new().description("done"))
            .response("503", ResponseBuilder::new().description("its own"))
            .build();
        doc.paths
            .paths
            .insert("/admin/x".into(), PathItem::new(HttpMethod::Delete, admin));
        let doc = complete(doc);
        let json = serde_json::to_value(&doc).unwrap();
        let responses = &json["paths"]["/admin/x"]["delete"]["responses"];
        assert_eq!(
            responses["401"]["$ref"],
            "#/components/responses/AccessDenied"
        );
        assert_eq!(
            responses["408"]["$ref"],
            "#/components/responses/RequestTimeout"
        );
        // An operation's own description of a status wins.
        assert_eq!(responses["503"]["description"], "its own");
        // No body, no 415 or 422; no session, no challenge; but a client
        // over its own caps hears 429 anywhere.
        assert!(responses.get("415").is_none() && responses.get("422").is_none());
        assert_eq!(
            responses["429"]["$ref"],
            "#/components/responses/RateLimited"
        );
        let components = &json["components"];
        assert!(components["schemas"]["ErrorBody"]["properties"]["code"].is_object());
        assert!(components["responses"]["RateLimited"]["headers"]["Retry-After"].is_object());
        assert!(json["paths"][PATH]["get"]["responses"]["200"].is_object());
        assert_eq!(
            components["securitySchemes"][ADMIN_TOKEN]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn a_route_s_own_429_is_the_shared_one() {
        use utoipa::IntoResponses as _;
        let own = serde_json::to_value(&RateLimited::responses()["429"]).unwrap();
        let shared = serde_json::to_value(RATE_LIMITED.response()).unwrap();
        assert_eq!(own, shared);
    }
}
