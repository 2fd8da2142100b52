//! The HTTP API of SPEC §3: one file per group of routes, each handler
//! taking its guards (`guards`) and the state, and calling the stores once
//! per step; [`router`] and [`openapi`] over all of them.
//!
//! Imports the state, the guards and the domain modules; imported by the
//! crate's root only (which exports `router` and `openapi`).

mod admin;
mod audit;
mod identities;
mod nonces;
mod sessions;
mod users;
mod validate;

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::{middleware, Json, Router};
use tessera_api::authority::Health;
use tessera_api::openapi;
use tessera_api::server::{with_common_layers, Cors, CrossOrigin, Limits};
use tessera_api::{ApiError, ErrorBody};
use tessera_claims::AppId;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;
use crate::store::App;

/// Every route with its description.
fn described() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(info())
        .routes(routes!(nonces::create))
        .routes(routes!(sessions::create))
        .routes(routes!(sessions::delete_current))
        .routes(routes!(sessions::delete))
        .routes(routes!(sessions::me, identities::update_me))
        .routes(routes!(identities::get_of_app))
        .routes(routes!(ping))
        .routes(routes!(validate::validate))
        .routes(routes!(admin::create_app, admin::list_apps))
        .routes(routes!(admin::get_app, admin::update_app))
        .routes(routes!(admin::add_key))
        .routes(routes!(
            admin::set_app_revoke_before,
            admin::clear_app_revoke_before
        ))
        .routes(routes!(users::get_user))
        .routes(routes!(users::end_sessions))
        .routes(routes!(users::suspend, users::lift_suspension))
        .routes(routes!(
            users::set_user_revoke_before,
            users::clear_user_revoke_before
        ))
        .routes(routes!(identities::get, identities::update))
        .routes(routes!(audit::list))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(healthz))
        .routes(routes!(metrics))
}

/// The authority's router over its state.
pub fn router(state: AppState) -> Router {
    let limits = Limits {
        body_bytes: state.config.body_limit_bytes,
    };
    let cors = Cors::new(Arc::new(state.clone()), state.config.cors.max_age_secs)
        .same_origin_only(&["/admin/", "/dashboard"])
        .own_origin(state.config.public_origin());
    let (mut routes, _) = openapi::split(described());
    if state.config.dashboard.enabled {
        routes = routes.merge(crate::dashboard::router());
    }
    let routes = routes
        .route_layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .with_state(state);
    with_common_layers(routes, limits, cors)
}

/// The authority's OpenAPI 3.1 description, as served at `/openapi.json`.
pub fn openapi() -> OpenApi {
    openapi::split(described()).1
}

fn info() -> OpenApi {
    openapi::document(
        "Tessera authority",
        env!("CARGO_PKG_VERSION"),
        "Nonces, sessions from identity tokens (Layer's EIT v1), the validation tool, \
             and the admin API: apps, keys, users, identities and the audit trail.",
    )
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    operation_id = "health",
    responses(
        (status = 200, description = "The authority and its storage answer.", body = Health),
        (status = 503, description = "The storage is unavailable. Error id: `service_unavailable` (code 1).", body = ErrorBody)
    )
)]
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.health().await?;
    Ok(Json(Health {
        status: "ok".into(),
    }))
}

#[utoipa::path(
    get,
    path = "/ping",
    tag = "meta",
    operation_id = "ping",
    responses((status = 204, description = "The authority answers (Layer clients' online check, sent as `HEAD`, also answered); nothing is read or written."))
)]
async fn ping() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus metrics.", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")
    )
)]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// The app a request names, when the request's origin may call for it:
/// 404 `invalid_app_id` as [`find_app`], 403 `origin_not_allowed` for a
/// page whose origin the app does not list.
pub(crate) async fn find_app_from(
    state: &AppState,
    app_id: &str,
    origin: &CrossOrigin,
) -> Result<App, ApiError> {
    let app = find_app(state, app_id).await?;
    state.check_origin(&app, origin)?;
    Ok(app)
}

/// The app a request names: 404 `invalid_app_id` when the id is malformed
/// or unknown.
pub(crate) async fn find_app(state: &AppState, app_id: &str) -> Result<App, ApiError> {
    let app_id: AppId = app_id.parse().map_err(|_| ApiError::invalid_app_id())?;
    state
        .app(&app_id)
        .await?
        .ok_or_else(ApiError::invalid_app_id)
}
