//! BitDust's REST routes (bitdust-details.md §2, §4): every method under
//! its canonical path (`/x/y/v1`), its prefixed one (`/v1/x/y`) and its
//! short alias, with its verb; parameters read from the query string or
//! the JSON body under BitDust's REST names and handed to the method
//! under its API names; every answer 200 with the envelope, `execution`,
//! sorted keys and BitDust's CORS headers; a wrong verb, or a secret
//! that does not match, is an error envelope too.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value};

use crate::BitDust;
use crate::envelope::Envelope;

/// Where a parameter is read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum From {
    /// The query string (always text).
    Query,
    /// The JSON body (its JSON type kept).
    Body,
    /// A path segment (or several, joined by `/`).
    Path,
}

/// How a parameter's text becomes the method's argument.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// As it comes.
    Raw,
    /// BitDust's truth (`1`, `true`, `yes`…).
    Flag,
    /// A whole number (text parsed).
    Int,
}

/// One parameter of a REST route.
pub(crate) struct Param {
    /// Its REST names: the first present wins.
    pub(crate) names: &'static [&'static str],
    /// The method's argument it fills.
    pub(crate) arg: &'static str,
    pub(crate) from: From,
    /// Its default (as the route's text), when absent.
    pub(crate) default: Option<&'static str>,
    /// Whether the route refuses a call without it.
    pub(crate) mandatory: bool,
    pub(crate) kind: Kind,
}

/// One REST route: a verb, its spellings, its method, its parameters.
pub(crate) struct Route {
    pub(crate) verb: &'static str,
    pub(crate) paths: &'static [&'static str],
    pub(crate) method: &'static str,
    pub(crate) params: &'static [Param],
}

macro_rules! p {
    ($from:ident [$($name:literal),*] => $arg:literal $(= $d:literal)? $(; $flag:ident)* ) => {
        $crate::rest::Param {
            names: &[$($name),*],
            arg: $arg,
            from: $crate::rest::From::$from,
            default: p!(@d $($d)?),
            mandatory: p!(@m $($flag)*),
            kind: p!(@k $($flag)*),
        }
    };
    (@d) => { None };
    (@d $d:literal) => { Some($d) };
    (@m) => { false };
    (@m mandatory $($rest:ident)*) => { true };
    (@m $other:ident $($rest:ident)*) => { p!(@m $($rest)*) };
    (@k) => { $crate::rest::Kind::Raw };
    (@k flag $($rest:ident)*) => { $crate::rest::Kind::Flag };
    (@k int $($rest:ident)*) => { $crate::rest::Kind::Int };
    (@k $other:ident $($rest:ident)*) => { p!(@k $($rest)*) };
}

/// A route of no parameters.
macro_rules! bare {
    ($verb:literal, $method:literal, [$($path:literal),*]) => {
        $crate::rest::Route {
            verb: $verb,
            paths: &[$($path),*],
            method: $method,
            params: &[],
        }
    };
}

/// Every module's routes, in BitDust's order of matching.
const TABLES: &[&[Route]] = &[
    ROUTES,
    crate::files::ROUTES,
    crate::services::ROUTES,
    crate::config::ROUTES,
    crate::netviews::ROUTES,
    crate::queues::ROUTES,
    crate::others::ROUTES,
];

/// The routes of the methods in `methods.rs` and the modules before the
/// table split.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        verb: "GET",
        paths: &["/process/health/v1", "/v1/process/health", "/p/h"],
        method: "process_health",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/process/info/v1", "/v1/process/info"],
        method: "process_info",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/process/debug/v1", "/v1/process/debug", "/p/d"],
        method: "process_debug",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/process/stop/v1", "/v1/process/stop", "/p/st"],
        method: "process_stop",
        params: &[p!(Query ["instant"] => "instant" = "1"; flag)],
    },
    Route {
        verb: "GET",
        paths: &["/identity/get/v1", "/v1/identity/get", "/i/g"],
        method: "identity_get",
        params: &[p!(Query ["xml_source"] => "include_xml_source" = "0"; flag)],
    },
    Route {
        verb: "GET",
        paths: &[
            "/identity/cache/list/v1",
            "/v1/identity/cache/list",
            "/i/ch/l",
        ],
        method: "identity_cache_list",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/key/get/v1", "/v1/key/get", "/k/g"],
        method: "key_get",
        params: &[
            p!(Query ["key_id"] => "key_id"; mandatory),
            p!(Query ["include_private"] => "include_private" = "0"; flag),
            p!(Query ["include_signature"] => "include_signature" = "0"; flag),
            p!(Query ["generate_signature"] => "generate_signature" = "0"; flag),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/key/list/v1", "/v1/key/list", "/k/l"],
        method: "keys_list",
        params: &[
            p!(Query ["sort"] => "sort" = "0"; flag),
            p!(Query ["include_private"] => "include_private" = "0"; flag),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/key/create/v1", "/v1/key/create", "/k/c"],
        method: "key_create",
        params: &[
            p!(Body ["alias"] => "key_alias"; mandatory),
            p!(Body ["key_size"] => "key_size"),
            p!(Body ["label"] => "label" = ""),
            p!(Body ["active"] => "active" = "1"; flag),
            p!(Body ["include_private"] => "include_private" = "0"; flag),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/key/label/v1", "/v1/key/label", "/k/lb"],
        method: "key_label",
        params: &[
            p!(Body ["key_id"] => "key_id"; mandatory),
            p!(Body ["label"] => "label"; mandatory),
        ],
    },
    Route {
        verb: "DELETE",
        paths: &["/key/erase/v1", "/v1/key/erase", "/k/d"],
        method: "key_erase",
        params: &[p!(Body ["key_id"] => "key_id"; mandatory)],
    },
    Route {
        verb: "PUT",
        paths: &["/key/share/v1", "/v1/key/share", "/k/s"],
        method: "key_share",
        params: &[
            p!(Body ["key_id"] => "key_id"; mandatory),
            p!(Body ["trusted_user_id", "trusted_global_id", "trusted_idurl", "trusted_id"] => "trusted_user_id"; mandatory),
            p!(Body ["include_private"] => "include_private" = "0"; flag),
            p!(Body ["include_signature"] => "include_signature" = "0"; flag),
            p!(Body ["include_label"] => "include_label" = "0"; flag),
            p!(Body ["timeout"] => "timeout" = "30"; int),
        ],
    },
    // Broken in BitDust 0.1.24 (a misspelt argument); it works here.
    Route {
        verb: "POST",
        paths: &["/key/audit/v1", "/v1/key/audit", "/k/a"],
        method: "key_audit",
        params: &[
            p!(Body ["key_id"] => "key_id"; mandatory),
            p!(Body ["untrusted_user_id", "untrusted_global_id", "untrusted_idurl", "untrusted_id"] => "untrusted_user_id"; mandatory),
            p!(Body ["is_private"] => "is_private" = "0"; flag),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/friend/list/v1", "/v1/friend/list", "/fr/l"],
        method: "friends_list",
        params: &[],
    },
    Route {
        verb: "POST",
        paths: &["/friend/add/v1", "/v1/friend/add", "/fr/a"],
        method: "friend_add",
        params: &[
            p!(Body ["trusted_user_id", "global_id", "idurl", "id"] => "trusted_user_id"; mandatory),
            p!(Body ["alias"] => "alias" = ""),
        ],
    },
    Route {
        verb: "DELETE",
        paths: &["/friend/remove/v1", "/v1/friend/remove", "/fr/d"],
        method: "friend_remove",
        params: &[p!(Body ["user_id", "global_id", "idurl", "id"] => "user_id"; mandatory)],
    },
    Route {
        verb: "GET",
        paths: &[
            "/user/search/{nickname}/v1",
            "/v1/user/search/{nickname}",
            "/us/s/{nickname}/",
        ],
        method: "user_search",
        params: &[p!(Path ["nickname"] => "nickname")],
    },
    Route {
        verb: "GET",
        paths: &["/user/search/v1", "/v1/user/search", "/us/s"],
        method: "user_search",
        params: &[p!(Query ["nickname"] => "nickname" = "")],
    },
    Route {
        verb: "GET",
        paths: &["/user/status/v1", "/v1/user/status", "/us/st"],
        method: "user_status",
        params: &[p!(Query ["global_id", "idurl", "id"] => "user_id" = "")],
    },
    Route {
        verb: "POST",
        paths: &["/message/send/v1", "/v1/message/send", "/msg/s"],
        method: "message_send",
        params: &[
            p!(Body ["recipient_id", "global_id", "idurl", "id"] => "recipient_id"; mandatory),
            p!(Body ["data"] => "data"; mandatory),
            p!(Body ["ping_timeout"] => "ping_timeout" = "30"; int),
            p!(Body ["message_ack_timeout"] => "message_ack_timeout" = "15"; int),
        ],
    },
    Route {
        verb: "POST",
        paths: &[
            "/event/send/{event_id}/v1",
            "/v1/event/send/{event_id}",
            "/ev/s/{event_id}/",
        ],
        method: "event_send",
        params: &[
            p!(Path ["event_id"] => "event_id"),
            // The whole body is the event's data (bitdust-details.md §4.17).
            p!(Body ["*"] => "data"),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/identity/create/v1", "/v1/identity/create", "/i/c"],
        method: "identity_create",
        params: &[
            p!(Body ["username"] => "username"; mandatory),
            p!(Body ["join_network"] => "join_network" = "0"; flag),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/identity/backup/v1", "/identity/backup", "/i/b"],
        method: "identity_backup",
        params: &[p!(Body ["destination_filepath"] => "destination_filepath" = "")],
    },
    Route {
        verb: "POST",
        paths: &["/identity/recover/v1", "/v1/identity/recover", "/i/r"],
        method: "identity_recover",
        params: &[
            p!(Body ["private_key_source", "private_key_local_file"] => "private_key_source" = ""),
            p!(Body ["known_idurl"] => "known_idurl"),
            p!(Body ["join_network"] => "join_network" = "0"; flag),
        ],
    },
    Route {
        verb: "PUT",
        paths: &["/identity/rotate/v1", "/v1/identity/rotate", "/i/rot"],
        method: "identity_rotate",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/process/restart/v1", "/v1/process/restart", "/p/rst"],
        method: "process_restart",
        params: &[],
    },
    Route {
        verb: "DELETE",
        paths: &["/identity/erase/v1", "/v1/identity/erase", "/i/d"],
        method: "identity_erase",
        params: &[p!(Body ["erase_private_key"] => "erase_private_key" = "0"; flag)],
    },
    Route {
        verb: "GET",
        paths: &["/user/ping/v1", "/v1/user/ping", "/us/png"],
        method: "user_ping",
        params: &[
            p!(Query ["user_id", "global_id", "idurl", "id"] => "user_id" = ""),
            p!(Query ["timeout"] => "timeout" = "15"; int),
            p!(Query ["retries"] => "retries" = "2"; int),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/user/ping/v1", "/v1/user/ping", "/us/png"],
        method: "user_ping",
        params: &[
            p!(Body ["user_id", "global_id", "idurl", "id"] => "user_id" = ""),
            p!(Body ["timeout"] => "timeout" = "15"; int),
            p!(Body ["retries"] => "retries" = "2"; int),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/user/status/check/v1", "/v1/user/status/check", "/us/st/c"],
        method: "user_status_check",
        params: &[
            p!(Query ["user_id", "global_id", "idurl", "id"] => "user_id" = ""),
            p!(Query ["timeout"] => "timeout" = "15"; int),
        ],
    },
    Route {
        verb: "GET",
        paths: &[
            "/user/observe/{nickname}/v1",
            "/v1/user/observe/{nickname}",
            "/us/o/{nickname}/",
        ],
        method: "user_observe",
        params: &[
            p!(Path ["nickname"] => "nickname"),
            p!(Query ["attempts"] => "attempts" = "3"; int),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/user/observe/v1", "/v1/user/observe", "/us/o"],
        method: "user_observe",
        params: &[
            p!(Query ["nickname"] => "nickname" = ""),
            p!(Query ["attempts"] => "attempts" = "3"; int),
        ],
    },
    Route {
        verb: "GET",
        paths: &[
            "/automat/list/v1",
            "/state/list/v1",
            "/v1/automat/list",
            "/v1/state/list",
            "/st/l",
        ],
        method: "automats_list",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/supplier/list/v1", "/v1/supplier/list", "/su/l"],
        method: "suppliers_list",
        params: &[
            p!(Query ["customer_id", "customer_idurl", "id"] => "customer_id"),
            p!(Query ["verbose"] => "verbose" = "0"; flag),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/customer/list/v1", "/v1/customer/list", "/cu/l"],
        method: "customers_list",
        params: &[],
    },
    Route {
        verb: "DELETE",
        paths: &["/customer/reject/v1", "/v1/customer/reject", "/cu/d"],
        method: "customer_reject",
        params: &[
            p!(Body ["customer_id", "global_id", "idurl", "id"] => "customer_id"; mandatory),
            p!(Query ["erase_customer_key"] => "erase_customer_key" = "1"; flag),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/space/donated/v1", "/v1/space/donated", "/sp/d"],
        method: "space_donated",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/space/consumed/v1", "/v1/space/consumed", "/sp/c"],
        method: "space_consumed",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/space/local/v1", "/v1/space/local", "/sp/l"],
        method: "space_local",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/network/status/v1", "/v1/network/status", "/nw/st"],
        method: "network_status",
        params: &[
            p!(Query ["suppliers"] => "show_suppliers" = "0"; flag),
            p!(Query ["customers"] => "show_customers" = "0"; flag),
            p!(Query ["cache"] => "show_cache" = "0"; flag),
            p!(Query ["tcp"] => "show_tcp" = "0"; flag),
            p!(Query ["udp"] => "show_udp" = "0"; flag),
            p!(Query ["proxy"] => "show_proxy" = "0"; flag),
            p!(Query ["dht"] => "show_dht" = "0"; flag),
        ],
    },
    Route {
        verb: "GET",
        paths: &[
            "/network/info/v1",
            "/network/details/v1",
            "/v1/network/info",
            "/nw/i",
        ],
        method: "network_status",
        params: &[
            p!(Query ["suppliers"] => "show_suppliers" = "1"; flag),
            p!(Query ["customers"] => "show_customers" = "1"; flag),
            p!(Query ["cache"] => "show_cache" = "1"; flag),
            p!(Query ["tcp"] => "show_tcp" = "1"; flag),
            p!(Query ["udp"] => "show_udp" = "1"; flag),
            p!(Query ["proxy"] => "show_proxy" = "1"; flag),
            p!(Query ["dht"] => "show_dht" = "1"; flag),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/network/connected/v1", "/v1/network/connected", "/nw/con"],
        method: "network_connected",
        params: &[p!(Query ["wait_timeout"] => "wait_timeout" = "10"; int)],
    },
    Route {
        verb: "GET",
        paths: &["/dht/value/get/v1", "/v1/dht/value/get", "/d/v/g"],
        method: "dht_value_get",
        params: &[
            p!(Query ["key"] => "key"; mandatory),
            p!(Query ["record_type"] => "record_type" = "skip_validation"),
            p!(Query ["layer_id"] => "layer_id" = "0"; int),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/dht/value/set/v1", "/v1/dht/value/set", "/d/v/s"],
        method: "dht_value_set",
        params: &[
            p!(Body ["key"] => "key"; mandatory),
            p!(Body ["value"] => "value"; mandatory),
            p!(Body ["expire"] => "expire"),
            p!(Body ["record_type"] => "record_type" = "skip_validation"),
            p!(Body ["layer_id"] => "layer_id" = "0"; int),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/dht/node/find/v1", "/v1/dht/node/find", "/d/n/f"],
        method: "dht_node_find",
        params: &[
            p!(Query ["node_id_64", "dht_id"] => "node_id_64"),
            p!(Query ["layer_id"] => "layer_id" = "0"; int),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/event/list/v1", "/v1/event/list", "/ev/l"],
        method: "events_list",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &[
            "/event/listen/{consumer_callback_id}/v1",
            "/v1/event/listen/{consumer_callback_id}",
            "/ev/l/{consumer_callback_id}/",
        ],
        method: "event_listen",
        params: &[p!(Path ["consumer_callback_id"] => "consumer_callback_id")],
    },
    Route {
        verb: "GET",
        paths: &["/message/history/v1", "/v1/message/history", "/msg/h"],
        method: "message_history",
        params: &[
            p!(Query ["id"] => "recipient_id"; mandatory),
            p!(Query ["sender_id"] => "sender_id"),
            p!(Query ["message_type"] => "message_type" = "private_message"),
            p!(Query ["offset"] => "offset" = "0"; int),
            p!(Query ["limit"] => "limit" = "100"; int),
        ],
    },
    Route {
        verb: "GET",
        paths: &[
            "/message/conversation/v1",
            "/v1/message/conversation",
            "/msg/c",
        ],
        method: "message_conversations_list",
        params: &[
            p!(Query ["message_types"] => "message_types" = ""),
            p!(Query ["offset"] => "offset" = "0"; int),
            p!(Query ["limit"] => "limit" = "100"; int),
        ],
    },
    Route {
        verb: "GET",
        paths: &[
            "/message/receive/{consumer_callback_id}/v1",
            "/v1/message/receive/{consumer_callback_id}",
            "/msg/r/{consumer_callback_id}/",
        ],
        method: "message_receive",
        params: &[
            p!(Path ["consumer_callback_id"] => "consumer_callback_id"),
            p!(Query ["direction"] => "direction" = "incoming"),
            p!(Query ["message_types"] => "message_types" = "private_message,group_message"),
            p!(Query ["polling_timeout"] => "polling_timeout" = "60"; int),
        ],
    },
    Route {
        verb: "POST",
        paths: &[
            "/message/send/group/v1",
            "/v1/message/send/group",
            "/msg/sg",
        ],
        method: "message_send_group",
        params: &[
            p!(Body ["group_key_id"] => "group_key_id"; mandatory),
            p!(Body ["data"] => "data"; mandatory),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/share/list/v1", "/v1/share/list", "/sh/l"],
        method: "shares_list",
        params: &[
            p!(Query ["active"] => "only_active" = "0"; flag),
            p!(Query ["mine"] => "include_mine" = "1"; flag),
            p!(Query ["granted"] => "include_granted" = "1"; flag),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/share/info/v1", "/v1/share/info", "/sh/i"],
        method: "share_info",
        params: &[p!(Query ["key_id"] => "key_id"; mandatory)],
    },
    Route {
        verb: "POST",
        paths: &["/share/create/v1", "/v1/share/create", "/sh/c"],
        method: "share_create",
        params: &[
            p!(Body ["owner_id"] => "owner_id"),
            p!(Body ["key_size"] => "key_size"),
            p!(Body ["label"] => "label" = ""),
            p!(Body ["active"] => "active" = "1"; flag),
        ],
    },
    Route {
        verb: "DELETE",
        paths: &["/share/delete/v1", "/v1/share/delete", "/sh/d"],
        method: "share_delete",
        params: &[p!(Body ["key_id"] => "key_id"; mandatory)],
    },
    Route {
        verb: "PUT",
        paths: &["/share/grant/v1", "/v1/share/grant", "/sh/g"],
        method: "share_grant",
        params: &[
            p!(Body ["key_id"] => "key_id"; mandatory),
            p!(Body ["trusted_user_id", "trusted_global_id", "trusted_idurl", "trusted_id"] => "trusted_user_id"; mandatory),
            p!(Body ["timeout"] => "timeout" = "30"; int),
            p!(Body ["publish_events"] => "publish_events" = "0"; flag),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/share/open/v1", "/v1/share/open", "/sh/o"],
        method: "share_open",
        params: &[
            p!(Body ["key_id"] => "key_id"; mandatory),
            p!(Body ["publish_events"] => "publish_events" = "0"; flag),
        ],
    },
    Route {
        verb: "DELETE",
        paths: &["/share/close/v1", "/v1/share/close", "/sh/cl"],
        method: "share_close",
        params: &[p!(Body ["key_id"] => "key_id"; mandatory)],
    },
    Route {
        verb: "GET",
        paths: &["/group/list/v1", "/v1/group/list", "/gr/l"],
        method: "groups_list",
        params: &[],
    },
    Route {
        verb: "POST",
        paths: &["/group/create/v1", "/v1/group/create", "/gr/c"],
        method: "group_create",
        params: &[
            p!(Body ["creator_id"] => "creator_id"),
            p!(Body ["key_size"] => "key_size"),
            p!(Body ["label"] => "label" = ""),
            p!(Body ["timeout"] => "timeout" = "20"; int),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/group/info/v1", "/v1/group/info", "/gr/i"],
        method: "group_info",
        params: &[p!(Query ["group_key_id"] => "group_key_id"; mandatory)],
    },
    Route {
        verb: "POST",
        paths: &["/group/join/v1", "/v1/group/join", "/gr/j"],
        method: "group_join",
        params: &[
            p!(Body ["group_key_id"] => "group_key_id"; mandatory),
            p!(Body ["publish_events"] => "publish_events" = "0"; flag),
            p!(Body ["use_dht_cache"] => "use_dht_cache" = "0"; flag),
            p!(Body ["wait_result"] => "wait_result" = "1"; flag),
        ],
    },
    Route {
        verb: "DELETE",
        paths: &["/group/leave/v1", "/v1/group/leave", "/gr/lv"],
        method: "group_leave",
        params: &[
            p!(Body ["group_key_id"] => "group_key_id"; mandatory),
            p!(Body ["erase_key"] => "erase_key"),
        ],
    },
    Route {
        verb: "PUT",
        paths: &["/group/share/v1", "/v1/group/share", "/gr/sh"],
        method: "group_share",
        params: &[
            p!(Body ["group_key_id"] => "group_key_id"; mandatory),
            p!(Body ["trusted_user_id", "trusted_global_id", "trusted_idurl", "trusted_id"] => "trusted_user_id"; mandatory),
            p!(Body ["timeout"] => "timeout" = "45"; int),
            p!(Body ["publish_events"] => "publish_events" = "0"; flag),
        ],
    },
];

/// The routes for the main listener: each spelling of each route.
pub(crate) fn router(layer: BitDust) -> Router {
    let mut by_path: BTreeMap<&'static str, Vec<&'static Route>> = BTreeMap::new();
    for route in TABLES.iter().flat_map(|t| t.iter()) {
        for path in route.paths {
            by_path.entry(path).or_default().push(route);
        }
    }
    let mut router = Router::new();
    for (path, routes) in by_path {
        let handler = if path.contains('{') {
            any(
                move |State(layer): State<BitDust>,
                      method: Method,
                      uri: Uri,
                      headers: HeaderMap,
                      Path(params): Path<BTreeMap<String, String>>,
                      body: Bytes| {
                    let routes = routes.clone();
                    async move { answer(&layer, &routes, method, uri, headers, params, body).await }
                },
            )
        } else {
            any(
                move |State(layer): State<BitDust>,
                      method: Method,
                      uri: Uri,
                      headers: HeaderMap,
                      body: Bytes| {
                    let routes = routes.clone();
                    async move {
                        answer(&layer, &routes, method, uri, headers, BTreeMap::new(), body).await
                    }
                },
            )
        };
        router = router.route(path, handler);
    }
    router.with_state(layer)
}

/// Answers one REST call.
async fn answer(
    layer: &BitDust,
    routes: &[&'static Route],
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    path: BTreeMap<String, String>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let envelope = if !layer.secret_matches(headers.get("api_secret").map(HeaderValue::as_bytes)) {
        Envelope::error("access denied")
    } else {
        match route_for(routes, method.as_str()) {
            None => Envelope::error(format!(
                "method b'{}':b'{}' was not found",
                method.as_str(),
                uri.path()
            )),
            Some(route) => match kwargs(route, uri.query().unwrap_or(""), &path, &body) {
                Err(text) => Envelope::error(text),
                Ok(kwargs) => match layer.call(route.method, kwargs).await {
                    Ok(envelope) => envelope,
                    Err(e) => Envelope::error(e.0),
                },
            },
        }
    };
    respond(envelope, started)
}

/// An envelope as BitDust's REST server sends it.
pub(crate) fn respond(envelope: Envelope, started: Instant) -> Response {
    let mut value = envelope.into_value();
    value["execution"] = Value::String(format!("{:.6}", started.elapsed().as_secs_f64()));
    let body = crate::json::pretty(&value);
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, PUT, DELETE"),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("x-prototype-version,x-requested-with"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("2520"));
    response
}

/// Python's repr of a route's mandatory parameters: a name, or a tuple
/// of alternatives.
fn mandatory_repr(route: &Route) -> String {
    let items: Vec<String> = route
        .params
        .iter()
        .filter(|p| p.mandatory)
        .map(|p| match p.names {
            [one] => format!("'{one}'"),
            many => format!(
                "({})",
                many.iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Parameter names the seed's examples use where BitDust's server read
/// another (bitdust-details.md §4.0): a client written from the seed
/// works too, and the real server's names and error texts stay as they
/// were. By method and the name BitDust read.
const SEED_SPELLINGS: &[(&str, &str, &str)] = &[
    ("key_create", "alias", "key_alias"),
    ("file_download_start", "destination_folder", "local_path"),
    ("user_status", "global_id", "user_id"),
    ("message_history", "id", "recipient_id"),
];

/// Verbs the seed's examples use on a route BitDust served with another:
/// by the verb, the method of the route's own verb, and the method (with
/// its route's parameters) the seed meant. PUT on share open and close,
/// DELETE on `/friend/add/v1` for `friend_remove`.
const SEED_VERBS: &[(&str, &str, &str)] = &[
    ("PUT", "share_open", "share_open"),
    ("PUT", "share_close", "share_close"),
    ("DELETE", "friend_add", "friend_remove"),
];

/// The route a call with verb `verb` on a path served by `routes` takes:
/// the path's own for that verb, else the one the seed meant.
fn route_for(routes: &[&'static Route], verb: &str) -> Option<&'static Route> {
    if let Some(route) = routes.iter().find(|r| r.verb == verb) {
        return Some(route);
    }
    let (_, _, meant) = SEED_VERBS
        .iter()
        .find(|(v, at, _)| *v == verb && routes.iter().any(|r| r.method == *at))?;
    TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|r| r.method == *meant)
}

/// The seed's name for parameter `name` of `method`, if it has another.
fn seed_spelling(method: &str, name: &str) -> Option<&'static str> {
    SEED_SPELLINGS
        .iter()
        .find(|(m, n, _)| *m == method && *n == name)
        .map(|(_, _, seed)| *seed)
}

/// The method's arguments from a REST call, or the error text BitDust's
/// server answered for a missing or malformed one.
fn kwargs(
    route: &Route,
    query: &str,
    path: &BTreeMap<String, String>,
    body: &[u8],
) -> Result<Map<String, Value>, String> {
    let query: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let reads_body = route.params.iter().any(|p| p.from == From::Body);
    let body: Option<Map<String, Value>> =
        if reads_body && !body.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => Some(m),
                Ok(Value::Null) => return Err("argument of type 'NoneType' is not iterable".into()),
                Ok(_) | Err(_) => return Err("invalid json input".into()),
            }
        } else {
            None
        };
    let body_mandatory = route
        .params
        .iter()
        .any(|p| p.mandatory && p.from == From::Body);
    if body_mandatory && body.is_none() {
        return Err(format!(
            "mandatory json input missed: {}",
            mandatory_repr(route)
        ));
    }
    let mut out = Map::new();
    for param in route.params {
        let seed = seed_spelling(route.method, param.names[0]);
        let names = param.names.iter().copied().chain(seed);
        let found: Option<Value> = match param.from {
            From::Query => names.clone().find_map(|n| {
                query
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| Value::String(v.clone()))
            }),
            // Several path names are one value over several segments
            // (config's `{key1}/{key2}/{key3}`), joined by `/`.
            From::Path => {
                let parts: Vec<&str> = param
                    .names
                    .iter()
                    .filter_map(|n| path.get(*n).map(String::as_str))
                    .collect();
                (!parts.is_empty()).then(|| Value::String(parts.join("/")))
            }
            From::Body if param.names == ["*"] => body.clone().map(Value::Object),
            From::Body => body.as_ref().and_then(|b| {
                names.clone().find_map(|n| {
                    b.get(n)
                        .filter(|v| !v.is_null() && v.as_str() != Some(""))
                        .cloned()
                })
            }),
        };
        let value = match (found, param.default) {
            (Some(v), _) => v,
            (None, _) if param.mandatory => {
                return Err(match (param.from, param.names.len()) {
                    (From::Query, _) => {
                        format!("mandatory url query argument missed: {}", param.names[0])
                    }
                    (_, 1) => format!(
                        "one of mandatory parameters missed: {}",
                        mandatory_repr(route)
                    ),
                    _ if route.params.iter().filter(|p| p.mandatory).count() == 1 => {
                        "not all arguments converted during string formatting".into()
                    }
                    _ => format!(
                        "one of mandatory parameters missed: {}",
                        mandatory_repr(route)
                    ),
                });
            }
            (None, Some(default)) => Value::String(default.into()),
            (None, None) => continue,
        };
        let value = match param.kind {
            Kind::Raw => value,
            Kind::Flag => Value::Bool(crate::methods::truthy(&value)),
            Kind::Int => match &value {
                Value::Number(_) => value,
                Value::String(s) => match s.trim().parse::<i64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => return Err(format!("invalid literal for int() with base 10: '{s}'")),
                },
                _ => {
                    return Err(format!(
                        "int() argument must be a string or a number, not '{value}'"
                    ));
                }
            },
        };
        out.insert(param.arg.into(), value);
    }
    Ok(out)
}
