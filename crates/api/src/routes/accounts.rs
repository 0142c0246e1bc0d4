//! Gateway accounts (admin): creation, limits, deposits.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams};

pub(crate) async fn h_create_account(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<cairn_node::NewAccount>,
) -> ApiResult<Response> {
    Ok((
        StatusCode::CREATED,
        Json(s.node.accounts().create(b).await?),
    )
        .into_response())
}

pub(crate) async fn h_accounts(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(json!({ "accounts": s.node.accounts().list().await? })).into_response())
}

pub(crate) async fn h_account(
    State(s): State<AppState>,
    PathParams(login): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.accounts().get(&login).await?).into_response())
}

/// Limits to change: a number sets one, `null` lifts it, absent leaves it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsBody {
    #[serde(default, deserialize_with = "present")]
    storage_limit: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    traffic_limit: Option<Option<u64>>,
}

/// A field that is present (maybe `null`); absent fields stay `None`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

pub(crate) async fn h_update_account(
    State(s): State<AppState>,
    PathParams(login): PathParams<String>,
    JsonBody(b): JsonBody<LimitsBody>,
) -> ApiResult<Response> {
    let info = s
        .node
        .accounts()
        .set_limits(&login, b.storage_limit, b.traffic_limit)
        .await?;
    Ok(Json(info).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DepositBody {
    unit: String,
    /// Read as any JSON, so that a string, a fraction or an exponent is
    /// refused by name rather than by the extractor.
    #[serde(default)]
    amount: Option<Value>,
}

pub(crate) async fn h_account_deposit(
    State(s): State<AppState>,
    PathParams(login): PathParams<String>,
    JsonBody(b): JsonBody<DepositBody>,
) -> ApiResult<Response> {
    let unit = match b.unit.as_str() {
        "credits" => cairn_node::Unit::Credits,
        "bytes" => cairn_node::Unit::Bytes,
        other => {
            return Err(ApiError::invalid(format!(
                "unit '{other}' is not credits or bytes"
            )));
        }
    };
    let amount = crate::amount::positive(b.amount.as_ref())
        .ok_or_else(|| ApiError::invalid(crate::amount::rule("amount")))?;
    Ok(Json(s.node.accounts().deposit(&login, unit, amount).await?).into_response())
}
