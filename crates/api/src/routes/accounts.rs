//! Gateway accounts (admin): creation, limits, deposits.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_node::{AccountInfo, CreatedAccount, NewAccount};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Login;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams};

/// An account to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountBody {
    /// Its login (made up when absent or `null`): 1 to 64 of
    /// `a-z A-Z 0-9 _ - . @`; case-blind.
    #[schema(pattern = r"^[A-Za-z0-9_.@-]{1,64}$")]
    login: Option<String>,
    /// A contact address.
    #[serde(default)]
    email: String,
    /// Storage quota in bytes (absent or `null`: unlimited).
    #[serde(default, deserialize_with = "crate::extract::whole_u64")]
    #[schema(minimum = 0)]
    storage_limit: Option<u64>,
    /// Traffic allowed per 24 hours, in bytes (absent or `null`:
    /// unlimited).
    #[serde(default, deserialize_with = "crate::extract::whole_u64")]
    #[schema(minimum = 0)]
    traffic_limit: Option<u64>,
    /// A password to sign in with the email at the doors made for people
    /// (Powder Web): 8 to 1024 characters; needs an email that no other
    /// account with a password has.
    #[schema(min_length = 8, max_length = 1024)]
    password: Option<String>,
}

/// Creates a gateway account; its key is shown in this answer only.
#[utoipa::path(post, path = "/accounts", tag = "accounts", request_body = AccountBody,
    responses(
        (status = 201, description = "The account, with its key.", body = CreatedAccount),
        (status = 409, description = "The login (or the email, with a password) is taken, or a password comes without an email.", body = ErrorBody),
    ))]
pub(crate) async fn h_create_account(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AccountBody>,
) -> ApiResult<Response> {
    let b = NewAccount {
        login: b.login,
        email: b.email,
        storage_limit: b.storage_limit,
        traffic_limit: b.traffic_limit,
        password: b.password,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.node.accounts().create(b).await?),
    )
        .into_response())
}

/// Every gateway account.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountList {
    /// The accounts, by login.
    accounts: Vec<AccountInfo>,
}

/// Every gateway account.
#[utoipa::path(get, path = "/accounts", tag = "accounts",
    responses((status = 200, description = "The accounts.", body = AccountList)))]
pub(crate) async fn h_accounts(State(s): State<AppState>) -> ApiResult<Response> {
    let accounts = s.node.accounts().list().await?;
    Ok(Json(AccountList { accounts }).into_response())
}

/// One account: limits, traffic, balances.
#[utoipa::path(get, path = "/accounts/{login}", tag = "accounts", params(Login),
    responses(
        (status = 200, description = "The account.", body = AccountInfo),
        (status = 404, description = "No such account.", body = ErrorBody),
    ))]
pub(crate) async fn h_account(
    State(s): State<AppState>,
    PathParams(login): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.accounts().get(&login).await?).into_response())
}

/// Limits to change: a number sets one, `null` lifts it, absent leaves it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsBody {
    /// Storage quota in bytes.
    #[serde(default, deserialize_with = "crate::extract::present_whole_u64")]
    #[schema(value_type = Option<u64>, minimum = 0)]
    storage_limit: Option<Option<u64>>,
    /// Traffic allowed per 24 hours, in bytes.
    #[serde(default, deserialize_with = "crate::extract::present_whole_u64")]
    #[schema(value_type = Option<u64>, minimum = 0)]
    traffic_limit: Option<Option<u64>>,
}

/// Changes an account's limits.
#[utoipa::path(patch, path = "/accounts/{login}", tag = "accounts", params(Login),
    request_body = LimitsBody,
    responses(
        (status = 200, description = "The account as it is now.", body = AccountInfo),
        (status = 404, description = "No such account.", body = ErrorBody),
    ))]
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

/// What a deposit is in.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DepositUnit {
    /// Credits, which buy paid files.
    Credits,
    /// Bytes of transfer.
    Bytes,
}

/// A deposit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DepositBody {
    /// What it is in.
    unit: DepositUnit,
    /// How much: a whole number from 1 to 2^53 − 1 (in any of JSON's
    /// notations: `5`, `5.0`, `5e0`). Read as its text, so a number that
    /// is not whole is refused by name and nothing is ever rounded.
    #[serde(default)]
    #[schema(value_type = u64, required = true, minimum = 1, maximum = 9007199254740991_f64)]
    amount: Option<Box<serde_json::value::RawValue>>,
}

/// Adds credits or bytes to an account (minted by the operator).
#[utoipa::path(post, path = "/accounts/{login}/deposit", tag = "accounts", params(Login),
    request_body = DepositBody,
    responses(
        (status = 200, description = "The account after the deposit.", body = AccountInfo),
        (status = 404, description = "No such account.", body = ErrorBody),
    ))]
pub(crate) async fn h_account_deposit(
    State(s): State<AppState>,
    PathParams(login): PathParams<String>,
    JsonBody(b): JsonBody<DepositBody>,
) -> ApiResult<Response> {
    let unit = match b.unit {
        DepositUnit::Credits => cairn_node::Unit::Credits,
        DepositUnit::Bytes => cairn_node::Unit::Bytes,
    };
    let amount = b
        .amount
        .as_deref()
        .and_then(|raw| crate::extract::whole(raw.get()))
        .filter(|n| (1..=cairn_node::MAX_AMOUNT as u64).contains(n))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "amount must be a whole number from 1 to {} (not a string nor a fraction)",
                cairn_node::MAX_AMOUNT
            ))
        })?;
    Ok(Json(s.node.accounts().deposit(&login, unit, amount).await?).into_response())
}

/// A password to set, or `null` to remove it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordBody {
    /// The new password (8 to 1024 characters), or `null`: no password,
    /// and the account's sessions closed.
    #[schema(min_length = 8, max_length = 1024)]
    password: Option<String>,
}

/// Sets or removes the password an account signs in with by its email.
#[utoipa::path(put, path = "/accounts/{login}/password", tag = "accounts", params(Login),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "The account.", body = AccountInfo),
        (status = 404, description = "No such account.", body = ErrorBody),
        (status = 409, description = "Another account signs in with this email, or the account has none.", body = ErrorBody),
    ))]
pub(crate) async fn h_account_password(
    State(s): State<AppState>,
    PathParams(login): PathParams<String>,
    JsonBody(b): JsonBody<PasswordBody>,
) -> ApiResult<Response> {
    s.node.accounts().set_password(&login, b.password).await?;
    Ok(Json(s.node.accounts().get(&login).await?).into_response())
}

/// What an access key call asks.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessKeyBody {
    /// Remove the keys made before and make a new one.
    #[serde(default)]
    rotate: bool,
}

/// The access key an account signs S3 requests with (made when it has
/// none): its id and secret.
#[utoipa::path(post, path = "/accounts/{login}/access-key", tag = "accounts", params(Login),
    request_body = AccessKeyBody,
    responses(
        (status = 200, description = "The key and its secret.", body = cairn_node::AccessKey),
        (status = 404, description = "No such account.", body = ErrorBody),
    ))]
pub(crate) async fn h_account_access_key(
    State(s): State<AppState>,
    PathParams(login): PathParams<String>,
    JsonBody(b): JsonBody<AccessKeyBody>,
) -> ApiResult<Response> {
    let key = s.node.accounts().access_key(Some(&login), b.rotate).await?;
    Ok(Json(key).into_response())
}

/// The operator's access key for S3 (made when there is none): it sees
/// the node's root folder.
#[utoipa::path(post, path = "/node/access-key", tag = "accounts",
    request_body = AccessKeyBody,
    responses(
        (status = 200, description = "The key and its secret.", body = cairn_node::AccessKey),
    ))]
pub(crate) async fn h_node_access_key(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AccessKeyBody>,
) -> ApiResult<Response> {
    let key = s.node.accounts().access_key(None, b.rotate).await?;
    Ok(Json(key).into_response())
}
