//! BitDust's services (bitdust-details.md §4.14, A.6) over the engine's
//! services (`node.services()`): each BitDust service name is mapped onto
//! the cairn service that does its work, and answers that service's real
//! state; stopping or starting it stops or starts that cairn service
//! (so two BitDust names over one cairn service go on and off together).
//! A BitDust name over a required part (the catalog, the swarm) refuses
//! to stop with the engine's reason.
//!
//! Names are accepted as BitDust did: `service_private_groups`,
//! `private-groups` or `private_groups`.

use serde_json::{Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::methods::{Args, Signature};
use crate::rest::{From, Kind, Param, Route};

/// One BitDust service: its name, the cairn service doing its work, and
/// the BitDust services it depends on (as BitDust 0.1.24 declared them,
/// among those listed here).
struct Mapped {
    name: &'static str,
    cairn: &'static str,
    depends: &'static [&'static str],
}

/// BitDust's services, by name.
const MAPPED: &[Mapped] = &[
    Mapped {
        name: "service_backup_db",
        cairn: "catalog-backup",
        depends: &["service_list_files", "service_data_motion"],
    },
    Mapped {
        name: "service_backups",
        cairn: "repair",
        depends: &[
            "service_list_files",
            "service_rebuilding",
            "service_backup_db",
        ],
    },
    Mapped {
        name: "service_customer",
        cairn: "repair",
        depends: &["service_p2p_hookups"],
    },
    Mapped {
        name: "service_data_motion",
        cairn: "repair",
        depends: &["service_customer"],
    },
    Mapped {
        name: "service_employer",
        cairn: "repair",
        depends: &["service_customer", "service_nodes_lookup"],
    },
    Mapped {
        name: "service_entangled_dht",
        cairn: "swarm",
        depends: &["service_network"],
    },
    Mapped {
        name: "service_gateway",
        cairn: "swarm",
        depends: &["service_network"],
    },
    Mapped {
        name: "service_list_files",
        cairn: "catalog",
        depends: &["service_customer"],
    },
    Mapped {
        name: "service_message_history",
        cairn: "catalog",
        depends: &["service_private_messages"],
    },
    Mapped {
        name: "service_my_data",
        cairn: "catalog",
        depends: &["service_keys_storage"],
    },
    Mapped {
        name: "service_keys_storage",
        cairn: "catalog",
        depends: &[],
    },
    Mapped {
        name: "service_network",
        cairn: "swarm",
        depends: &[],
    },
    Mapped {
        name: "service_nodes_lookup",
        cairn: "swarm",
        depends: &["service_entangled_dht"],
    },
    Mapped {
        name: "service_p2p_hookups",
        cairn: "bootstrap",
        depends: &["service_gateway"],
    },
    Mapped {
        name: "service_p2p_notifications",
        cairn: "messages",
        depends: &["service_p2p_hookups"],
    },
    Mapped {
        name: "service_private_groups",
        cairn: "groups",
        depends: &["service_private_messages"],
    },
    Mapped {
        name: "service_private_messages",
        cairn: "messages",
        depends: &["service_p2p_notifications"],
    },
    Mapped {
        name: "service_rebuilding",
        cairn: "repair",
        depends: &["service_data_motion"],
    },
    Mapped {
        name: "service_restores",
        cairn: "swarm",
        depends: &["service_data_motion"],
    },
    Mapped {
        name: "service_shared_data",
        cairn: "shares",
        depends: &["service_my_data"],
    },
    Mapped {
        name: "service_supplier",
        cairn: "shards",
        depends: &["service_p2p_hookups"],
    },
];

/// The services' methods.
pub(crate) const SIGNATURES: &[Signature] = &[
    Signature {
        name: "services_list",
        args: &[("with_configs", Some("false")), ("as_tree", Some("false"))],
    },
    Signature {
        name: "service_info",
        args: &[("service_name", None)],
    },
    Signature {
        name: "service_start",
        args: &[("service_name", None)],
    },
    Signature {
        name: "service_stop",
        args: &[("service_name", None)],
    },
    Signature {
        name: "service_restart",
        args: &[("service_name", None), ("wait_timeout", Some("10"))],
    },
    Signature {
        name: "service_health",
        args: &[("service_name", None)],
    },
];

macro_rules! by_name {
    ($verb:literal, $paths:expr, $method:literal) => {
        Route {
            verb: $verb,
            paths: $paths,
            method: $method,
            params: &[Param {
                names: &["service_name"],
                arg: "service_name",
                from: From::Path,
                default: None,
                mandatory: false,
                kind: Kind::Raw,
            }],
        }
    };
}

/// The services' routes.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        verb: "GET",
        paths: &["/service/list/v1", "/v1/service/list", "/svc/l"],
        method: "services_list",
        params: &[Param {
            names: &["with_configs"],
            arg: "with_configs",
            from: From::Query,
            default: Some("0"),
            mandatory: false,
            kind: Kind::Flag,
        }],
    },
    by_name!(
        "GET",
        &[
            "/service/info/{service_name}/v1",
            "/v1/service/info/{service_name}",
            "/svc/i/{service_name}/",
        ],
        "service_info"
    ),
    by_name!(
        "POST",
        &[
            "/service/start/{service_name}/v1",
            "/v1/service/start/{service_name}",
            "/svc/o/{service_name}/",
        ],
        "service_start"
    ),
    by_name!(
        "POST",
        &[
            "/service/stop/{service_name}/v1",
            "/v1/service/stop/{service_name}",
            "/svc/c/{service_name}/",
        ],
        "service_stop"
    ),
    Route {
        verb: "POST",
        paths: &[
            "/service/restart/{service_name}/v1",
            "/v1/service/restart/{service_name}",
            "/svc/r/{service_name}/",
        ],
        method: "service_restart",
        params: &[
            Param {
                names: &["service_name"],
                arg: "service_name",
                from: From::Path,
                default: None,
                mandatory: false,
                kind: Kind::Raw,
            },
            Param {
                names: &["wait_timeout"],
                arg: "wait_timeout",
                from: From::Body,
                default: Some("15"),
                mandatory: false,
                kind: Kind::Int,
            },
        ],
    },
    by_name!(
        "GET",
        &[
            "/service/health/{service_name}/v1",
            "/v1/service/health/{service_name}",
        ],
        "service_health"
    ),
];

/// BitDust's name for `input`: `service_x_y`, `x-y` and `x_y` alike.
fn canonical(input: &str) -> String {
    let bare = input
        .trim()
        .trim_start_matches("service_")
        .replace('-', "_");
    format!("service_{bare}")
}

fn mapped(input: &str) -> Option<&'static Mapped> {
    let name = canonical(input);
    MAPPED.iter().find(|m| m.name == name)
}

/// The settings path BitDust gives a service's enabled flag.
pub(crate) fn config_path(name: &str) -> String {
    format!(
        "services/{}/enabled",
        name.trim_start_matches("service_").replace('_', "-")
    )
}

impl BitDust {
    pub(crate) async fn run_services(&self, name: &str, a: &Args) -> Option<Envelope> {
        let service = a.text("service_name");
        Some(match name {
            "services_list" => self.services_list(a.flag("with_configs")).await,
            "service_info" => match self.service_object(&service).await {
                Some(s) => Envelope::ok_with(s),
                None => Envelope::error("service was not found"),
            },
            "service_start" => self.service_start(&service).await,
            "service_stop" => self.service_stop(&service).await,
            "service_restart" => self.service_restart(&service).await,
            "service_health" => self.service_health(&service).await,
            _ => return None,
        })
    }

    /// The A.6 object of BitDust service `input`, from its cairn
    /// service's state.
    async fn service_object(&self, input: &str) -> Option<Value> {
        let m = mapped(input)?;
        let info = self.node().services().info(m.cairn).await.ok()?;
        let index = MAPPED.iter().position(|x| x.name == m.name).unwrap_or(0);
        let state = if info.installed {
            info.state.as_str()
        } else {
            "NOT_INSTALLED"
        };
        Some(json!({
            "index": index,
            "id": m.name,
            "name": m.name,
            "state": state,
            "enabled": info.enabled,
            "installed": info.installed,
            "config_path": config_path(m.name),
            "depends": m.depends,
        }))
    }

    async fn services_list(&self, with_configs: bool) -> Envelope {
        let mut out = Vec::with_capacity(MAPPED.len());
        for m in MAPPED {
            let Some(mut object) = self.service_object(m.name).await else {
                continue;
            };
            if with_configs {
                object["configs"] = Value::Array(self.service_configs(m.name).await);
            }
            out.push(object);
        }
        out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        Envelope::result(Value::Array(out))
    }

    async fn service_start(&self, input: &str) -> Envelope {
        let Some(m) = mapped(input) else {
            return Envelope::error(format!("service {input} was not found"));
        };
        let services = self.node().services();
        let Ok(info) = services.info(m.cairn).await else {
            return Envelope::error(format!("service {} was not found", m.name));
        };
        if info.state == cairn_node::ServiceState::On && info.enabled {
            return Envelope::error(format!("service {} already started", m.name));
        }
        match services.start(m.cairn).await {
            Ok(_) => Envelope::ok().message(format!("service {} switched on", m.name)),
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    async fn service_stop(&self, input: &str) -> Envelope {
        let Some(m) = mapped(input) else {
            return Envelope::error(format!("service {input} was not found"));
        };
        let services = self.node().services();
        let Ok(info) = services.info(m.cairn).await else {
            return Envelope::error(format!("service {} was not found", m.name));
        };
        if !info.enabled {
            return Envelope::error(format!("service {} already disabled", m.name));
        }
        match services.stop(m.cairn).await {
            Ok(_) => Envelope::ok().message(format!("service {} switched off", m.name)),
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    async fn service_restart(&self, input: &str) -> Envelope {
        let Some(m) = mapped(input) else {
            return Envelope::error(format!("service {input} was not found"));
        };
        match self.node().services().restart(m.cairn).await {
            Ok(info) => Envelope::result(json!([
                {"stopped": true},
                {"started": info.state == cairn_node::ServiceState::On},
            ])),
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    async fn service_health(&self, input: &str) -> Envelope {
        let Some(m) = mapped(input) else {
            return Envelope::error(format!("service {input} not found"));
        };
        let Ok(info) = self.node().services().info(m.cairn).await else {
            return Envelope::error(format!("service {} not found", m.name));
        };
        if !info.installed {
            return Envelope::error(format!("service {} is not installed", m.name));
        }
        if !info.enabled {
            return Envelope::error(format!("service {} is disabled", m.name));
        }
        if info.state != cairn_node::ServiceState::On {
            return Envelope::error(format!("service {} is not started", m.name));
        }
        Envelope::result(json!(true))
    }

    /// The config options under BitDust service `name` (§4.2).
    async fn service_configs(&self, name: &str) -> Vec<Value> {
        let flag = config_path(name);
        let under = flag.trim_end_matches("enabled");
        let mut configs: Vec<Value> = self
            .options(false)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o["key"].as_str().is_some_and(|k| k.starts_with(under)))
            .collect();
        configs.sort_by_key(|o| o["key"] != json!(flag));
        configs
    }

    /// Each BitDust service's enabled flag, from its cairn service's.
    pub(crate) async fn service_flags(&self) -> Vec<(&'static str, bool)> {
        let services = self.node().services().list().await.unwrap_or_default();
        MAPPED
            .iter()
            .filter_map(|m| {
                let s = services.iter().find(|s| s.name == m.cairn)?;
                Some((m.name, s.enabled))
            })
            .collect()
    }
}

/// The BitDust services cairn service `cairn` does the work of.
pub(crate) fn bitdust_names_of(cairn: &str) -> impl Iterator<Item = &'static str> + '_ {
    MAPPED
        .iter()
        .filter(move |m| m.cairn == cairn)
        .map(|m| m.name)
}

/// The cairn service doing BitDust service `input`'s work.
pub(crate) fn cairn_of(input: &str) -> Option<&'static str> {
    mapped(input).map(|m| m.cairn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_names_the_same_service() {
        for input in ["service_private_groups", "private-groups", "private_groups"] {
            assert_eq!(
                mapped(input).map(|m| m.name),
                Some("service_private_groups")
            );
        }
        assert!(mapped("service_nothing").is_none());
        assert_eq!(
            config_path("service_private_groups"),
            "services/private-groups/enabled"
        );
    }

    #[test]
    fn every_dependency_is_a_listed_service() {
        for m in MAPPED {
            for d in m.depends {
                assert!(MAPPED.iter().any(|x| x.name == *d), "{} → {d}", m.name);
            }
        }
    }
}
