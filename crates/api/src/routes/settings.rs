//! Settings: the node's config read and changed at run time
//! (`node.settings()`), kept across restarts.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use cairn_node::Setting;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams};
use crate::routes::SettingKey;

/// Every setting, by its dotted TOML key.
#[utoipa::path(get, path = "/settings", tag = "settings",
    responses((status = 200, description = "The settings.", body = Vec<Setting>)))]
pub(crate) async fn h_settings(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.settings().list().await?).into_response())
}

/// One setting.
#[utoipa::path(get, path = "/settings/{key}", tag = "settings", params(SettingKey),
    responses(
        (status = 200, description = "The setting.", body = Setting),
        (status = 404, description = "No setting has that key.", body = ErrorBody),
    ))]
pub(crate) async fn h_setting(
    State(s): State<AppState>,
    PathParams(key): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.settings().get(&key).await?).into_response())
}

/// A new value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingBody {
    /// The value, of the setting's kind (as in config.toml).
    value: serde_json::Value,
}

/// Sets a setting: checked as config.toml is, kept across restarts, and
/// applied now where the running node can (else at the next start:
/// `restart_needed`).
#[utoipa::path(put, path = "/settings/{key}", tag = "settings", params(SettingKey),
    request_body = SettingBody,
    responses(
        (status = 200, description = "The setting.", body = Setting),
        (status = 400, description = "A value of the wrong kind or out of range, or a read-only setting.", body = ErrorBody),
        (status = 404, description = "No setting has that key.", body = ErrorBody),
    ))]
pub(crate) async fn h_set_setting(
    State(s): State<AppState>,
    PathParams(key): PathParams<String>,
    JsonBody(b): JsonBody<SettingBody>,
) -> ApiResult<Response> {
    Ok(Json(s.node.settings().set(&key, b.value).await?).into_response())
}
