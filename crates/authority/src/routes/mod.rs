//! The HTTP API of SPEC §3.

mod admin;
mod audit;
mod identities;
mod nonces;
mod sessions;
mod users;
mod validate;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::{middleware, Json, Router};
use tessera_api::authority::Health;
use tessera_api::server::{with_common_layers, Limits};
use tessera_api::ApiError;
use tessera_claims::AppId;

use crate::store::App;
use crate::AppState;

/// The authority's router over its state.
pub fn router(state: AppState) -> Router {
    let limits = Limits {
        body_bytes: state.config.body_limit_bytes,
    };
    let routes = Router::new()
        .route("/nonces", post(nonces::create))
        .route("/sessions", post(sessions::create))
        .route("/sessions/current", delete(sessions::delete_current))
        .route(
            "/identities/me",
            get(sessions::me).patch(identities::update_me),
        )
        .route("/validate", post(validate::validate))
        .route("/admin/apps", post(admin::create_app).get(admin::list_apps))
        .route(
            "/admin/apps/{app_id}",
            get(admin::get_app).patch(admin::update_app),
        )
        .route("/admin/apps/{app_id}/keys", post(admin::add_key))
        .route(
            "/admin/apps/{app_id}/revoke-before",
            put(admin::set_app_revoke_before).delete(admin::clear_app_revoke_before),
        )
        .route("/admin/apps/{app_id}/users/{user_id}", get(users::get_user))
        .route(
            "/admin/apps/{app_id}/users/{user_id}/sessions",
            delete(users::end_sessions),
        )
        .route(
            "/admin/apps/{app_id}/users/{user_id}/suspension",
            put(users::suspend).delete(users::lift_suspension),
        )
        .route(
            "/admin/apps/{app_id}/users/{user_id}/revoke-before",
            put(users::set_user_revoke_before).delete(users::clear_user_revoke_before),
        )
        .route(
            "/admin/apps/{app_id}/identities/{user_id}",
            get(identities::get).patch(identities::update),
        )
        .route("/admin/audit", get(audit::list))
        .route("/admin/keys/{kid}", delete(admin::revoke_key))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state);
    with_common_layers(routes, limits)
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.health().await?;
    Ok(Json(Health {
        status: "ok".into(),
    }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
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
