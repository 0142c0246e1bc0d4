//! The node's long-running subsystems as services (`node.services()`):
//! each a background loop (serving customers' shards, staying connected,
//! audits and repair, the catalog's backups, shares, messages, groups)
//! that can really be stopped (its loop cancelled and awaited) and
//! started again, after the services it needs. Whether each is wanted is
//! kept in the catalog's settings (`services/<name>/enabled`), so a
//! stopped service stays stopped across restarts.
//!
//! The swarm and the catalog are listed too, as required: everything
//! else stands on them, and they live exactly as long as the node.
//!
//! A loop ends at the next point where it waits (between rounds), never
//! in the middle of one: a round that places or repairs finishes what it
//! started. A stop waits [`STOP_WAIT`] for that; a loop still busy then
//! is `STOPPING` until it ends.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::NodeError;
use crate::shared::Shared;
use crate::tasks::blocking;

type Result<T> = std::result::Result<T, NodeError>;

/// A service's loop, running until its token is cancelled.
pub(crate) type Loop = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// What starts a service's loop again, each time with a new token.
pub(crate) type Maker = Arc<dyn Fn(CancellationToken) -> Loop + Send + Sync>;

/// How long a stop waits for a loop to end before it answers `STOPPING`.
pub const STOP_WAIT: Duration = Duration::from_secs(30);

/// Where a service stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum ServiceState {
    /// Running.
    On,
    /// Not running.
    Off,
    /// Being started.
    Starting,
    /// Asked to stop; its loop has not ended yet.
    Stopping,
}

impl ServiceState {
    /// As BitDust and the CLI write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "ON",
            Self::Off => "OFF",
            Self::Starting => "STARTING",
            Self::Stopping => "STOPPING",
        }
    }
}

/// One service, as listed.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceInfo {
    /// Its name (`repair`, `shards`, …).
    pub name: String,
    /// What it does.
    pub about: String,
    /// Where it stands.
    pub state: ServiceState,
    /// Whether it is wanted (kept across restarts).
    pub enabled: bool,
    /// Whether it runs as long as the node and cannot be stopped.
    pub required: bool,
    /// Whether this node has it (the network's services need the network
    /// on).
    pub installed: bool,
    /// The services it needs running.
    pub depends: Vec<String>,
    /// The key of its enabled flag in the settings.
    pub config_path: String,
    /// How many times its loop was started since the node started.
    pub starts: u64,
}

/// One registered service.
struct Slot {
    name: &'static str,
    about: &'static str,
    depends: &'static [&'static str],
    /// `None`: required (it runs with the node), or not installed.
    maker: Option<Maker>,
    required: bool,
    installed: bool,
    state: ServiceState,
    running: Option<(CancellationToken, JoinHandle<()>)>,
    starts: u64,
}

impl Slot {
    /// Its state, a loop that ended by itself (failed) being `OFF`.
    fn state(&mut self) -> ServiceState {
        let ended = self.running.as_ref().is_some_and(|(_, h)| h.is_finished());
        if ended {
            self.running = None;
            self.state = ServiceState::Off;
        }
        self.state
    }
}

/// The registry of the node's services. Cheap to clone.
#[derive(Clone)]
pub struct Services(Arc<Inner>);

struct Inner {
    shared: Arc<Shared>,
    slots: Mutex<Vec<Slot>>,
    /// One start, stop or restart at a time.
    ops: tokio::sync::Mutex<()>,
}

/// The settings key of service `name`'s enabled flag.
pub fn enabled_key(name: &str) -> String {
    format!("services/{name}/enabled")
}

impl Services {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self(Arc::new(Inner {
            shared,
            slots: Mutex::new(Vec::new()),
            ops: tokio::sync::Mutex::new(()),
        }))
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.0.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lists a part that runs as long as the node (`installed`: whether
    /// this node has it).
    pub(crate) fn required(&self, name: &'static str, about: &'static str, installed: bool) {
        self.slots().push(Slot {
            name,
            about,
            depends: &[],
            maker: None,
            required: true,
            installed,
            state: if installed {
                ServiceState::On
            } else {
                ServiceState::Off
            },
            running: None,
            starts: u64::from(installed),
        });
    }

    /// Registers service `name`, after the services it `depends` on;
    /// `maker` is `None` where this node cannot run it (the network off).
    pub(crate) fn add(
        &self,
        name: &'static str,
        about: &'static str,
        depends: &'static [&'static str],
        maker: Option<Maker>,
    ) {
        self.slots().push(Slot {
            name,
            about,
            depends,
            installed: maker.is_some(),
            maker,
            required: false,
            state: ServiceState::Off,
            running: None,
            starts: 0,
        });
    }

    /// Starts every installed service that is enabled (all are, unless
    /// stopped by the operator), in the order they were registered.
    pub(crate) fn start_enabled(&self) -> Result<()> {
        let disabled = self.disabled()?;
        let names: Vec<&'static str> = self
            .slots()
            .iter()
            .filter(|s| s.maker.is_some() && !disabled.iter().any(|d| d == s.name))
            .map(|s| s.name)
            .collect();
        for name in names {
            if self.depends_on(name).is_none() {
                self.spawn(name);
            }
        }
        Ok(())
    }

    /// The services whose flag says disabled.
    fn disabled(&self) -> Result<Vec<String>> {
        let kept = self.0.shared.catalog.settings()?;
        Ok(kept
            .into_iter()
            .filter(|(_, v)| v == "false")
            .filter_map(|(k, _)| {
                k.strip_prefix("services/")?
                    .strip_suffix("/enabled")
                    .map(str::to_owned)
            })
            .collect())
    }

    /// Every service, in the order they were registered.
    pub async fn list(&self) -> Result<Vec<ServiceInfo>> {
        let shared = self.0.shared.clone();
        let disabled = blocking(move || {
            Ok(shared
                .catalog
                .settings()?
                .into_iter()
                .filter(|(_, v)| v == "false")
                .map(|(k, _)| k)
                .collect::<Vec<_>>())
        })
        .await?;
        let mut slots = self.slots();
        Ok(slots
            .iter_mut()
            .map(|s| {
                let config_path = enabled_key(s.name);
                ServiceInfo {
                    name: s.name.to_owned(),
                    about: s.about.to_owned(),
                    state: s.state(),
                    enabled: s.required || !disabled.contains(&config_path),
                    required: s.required,
                    installed: s.installed,
                    depends: s.depends.iter().map(|d| (*d).to_owned()).collect(),
                    config_path,
                    starts: s.starts,
                }
            })
            .collect())
    }

    /// Service `name`.
    pub async fn info(&self, name: &str) -> Result<ServiceInfo> {
        self.list()
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| NodeError::NotFound(format!("no service called '{name}'")))
    }

    /// Stops service `name` and, first, the services that need it (which
    /// stay enabled, and start again with it); `name` stays stopped,
    /// across restarts too, until started. Stopping a stopped service
    /// changes nothing.
    pub async fn stop(&self, name: &str) -> Result<ServiceInfo> {
        let _op = self.0.ops.lock().await;
        let info = self.info(name).await?;
        if info.required {
            return Err(NodeError::Invalid(format!(
                "service {name} is required: it runs as long as the node and cannot be stopped"
            )));
        }
        self.set_enabled(name, false).await?;
        for dependent in self.dependents(name) {
            self.halt(dependent).await;
        }
        self.halt(&info.name).await;
        self.info(name).await
    }

    /// Starts service `name` (kept enabled across restarts), and then the
    /// enabled services that need it. Starting a running service changes
    /// nothing.
    pub async fn start(&self, name: &str) -> Result<ServiceInfo> {
        let _op = self.0.ops.lock().await;
        let info = self.startable(name).await?;
        self.set_enabled(name, true).await?;
        self.launch(&info.name).await?;
        self.info(name).await
    }

    /// Stops service `name` and the services that need it, and starts
    /// them again; its flag is left as it is, and a disabled service is
    /// refused.
    pub async fn restart(&self, name: &str) -> Result<ServiceInfo> {
        let _op = self.0.ops.lock().await;
        let info = self.startable(name).await?;
        if !info.enabled {
            return Err(NodeError::Conflict(format!("service {name} is disabled")));
        }
        for dependent in self.dependents(name) {
            self.halt(dependent).await;
        }
        self.halt(&info.name).await;
        self.launch(&info.name).await?;
        self.info(name).await
    }

    /// Service `name`, if it can be started here.
    async fn startable(&self, name: &str) -> Result<ServiceInfo> {
        let info = self.info(name).await?;
        if info.required {
            return Err(NodeError::Invalid(format!(
                "service {name} is required: it runs as long as the node"
            )));
        }
        if !info.installed {
            return Err(NodeError::Invalid(format!(
                "service {name} needs the network, which is off ([network] enabled = false)"
            )));
        }
        if info.state == ServiceState::Stopping {
            return Err(NodeError::Conflict(format!(
                "service {name} is still stopping"
            )));
        }
        Ok(info)
    }

    /// Starts `name` (its dependencies must run), then the enabled
    /// services that need it and are stopped.
    async fn launch(&self, name: &str) -> Result<()> {
        if let Some(off) = self.depends_on(name) {
            return Err(NodeError::Conflict(format!(
                "service {name} needs service {off}, which is not running"
            )));
        }
        self.spawn(name);
        let disabled = self.disabled()?;
        for dependent in self.dependents(name).into_iter().rev() {
            let wanted = !disabled.iter().any(|d| d == dependent);
            if wanted && self.depends_on(dependent).is_none() {
                self.spawn(dependent);
            }
        }
        Ok(())
    }

    /// A service `name` needs that is not running, if any.
    fn depends_on(&self, name: &str) -> Option<&'static str> {
        let mut slots = self.slots();
        let depends = slots.iter().find(|s| s.name == name)?.depends;
        depends.iter().copied().find(|d| {
            !slots
                .iter_mut()
                .any(|s| s.name == *d && s.state() == ServiceState::On)
        })
    }

    /// The services that need `name`, directly or not, the nearest last.
    fn dependents(&self, name: &str) -> Vec<&'static str> {
        let slots = self.slots();
        let mut found: Vec<&'static str> = Vec::new();
        let mut frontier = vec![name.to_owned()];
        while let Some(n) = frontier.pop() {
            for s in slots.iter().filter(|s| s.depends.contains(&n.as_str())) {
                if !found.contains(&s.name) {
                    found.push(s.name);
                    frontier.push(s.name.to_owned());
                }
            }
        }
        found.reverse();
        found
    }

    /// Spawns `name`'s loop, unless it runs.
    fn spawn(&self, name: &str) {
        let mut slots = self.slots();
        let Some(slot) = slots.iter_mut().find(|s| s.name == name) else {
            return;
        };
        let Some(maker) = slot.maker.clone() else {
            return;
        };
        if slot.state() != ServiceState::Off {
            return;
        }
        slot.state = ServiceState::Starting;
        let token = self.0.shared.shutdown.child_token();
        let task = self.0.shared.spawn(slot.name, maker(token.clone()));
        slot.running = Some((token, task));
        slot.state = ServiceState::On;
        slot.starts += 1;
        tracing::info!(service = slot.name, "service started");
    }

    /// Cancels `name`'s loop and waits for it (at most [`STOP_WAIT`]).
    async fn halt(&self, name: &str) {
        let running = {
            let mut slots = self.slots();
            let Some(slot) = slots.iter_mut().find(|s| s.name == name) else {
                return;
            };
            if slot.state() != ServiceState::On {
                return;
            }
            slot.state = ServiceState::Stopping;
            slot.running.take()
        };
        let Some((token, mut task)) = running else {
            return;
        };
        token.cancel();
        let ended = tokio::time::timeout(STOP_WAIT, &mut task).await.is_ok();
        let mut slots = self.slots();
        if let Some(slot) = slots.iter_mut().find(|s| s.name == name) {
            if ended {
                slot.state = ServiceState::Off;
                tracing::info!(service = name, "service stopped");
            } else {
                // Still busy: it turns OFF when it ends (`Slot::state`).
                slot.running = Some((token, task));
                tracing::warn!(service = name, "service still stopping");
            }
        }
    }

    async fn set_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        let shared = self.0.shared.clone();
        let key = enabled_key(name);
        blocking(move || Ok(shared.catalog.set_setting(&key, &enabled.to_string())?)).await
    }

    /// Whether service `name` is running (a name not registered is not).
    pub fn is_on(&self, name: &str) -> bool {
        self.slots()
            .iter_mut()
            .any(|s| s.name == name && s.state() == ServiceState::On)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A registry over a fresh catalog in `dir`.
    fn registry(dir: &std::path::Path) -> Services {
        let catalog = Arc::new(cairn_store::Catalog::open(&dir.join("catalog.db")).unwrap());
        let events = crate::events::Events::new();
        let jobs = crate::jobs::Registry::new(catalog.clone(), events.clone(), 10).unwrap();
        let config = crate::Config::default();
        Services::new(Arc::new(Shared::new(
            config,
            catalog,
            jobs,
            events,
            [7; 32],
            dir.join("downloads"),
        )))
    }

    /// A loop that counts its rounds in `rounds` until stopped.
    fn counting(rounds: Arc<AtomicU64>) -> Maker {
        Arc::new(move |stop: CancellationToken| {
            let rounds = rounds.clone();
            Box::pin(async move {
                loop {
                    rounds.fetch_add(1, Ordering::SeqCst);
                    tokio::select! {
                        _ = stop.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                    }
                }
            })
        })
    }

    #[tokio::test]
    async fn a_stopped_loop_runs_no_more_rounds_and_stays_stopped_until_started() {
        let dir = tempfile::tempdir().unwrap();
        let (base, top) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let services = registry(dir.path());
        services.required("swarm", "the swarm", true);
        services.add("base", "a loop", &["swarm"], Some(counting(base.clone())));
        services.add("top", "needs base", &["base"], Some(counting(top.clone())));
        services.start_enabled().unwrap();
        assert!(services.is_on("base") && services.is_on("top"));

        let stopped = services.stop("base").await.unwrap();
        assert_eq!((stopped.state, stopped.enabled), (ServiceState::Off, false));
        let top_info = services.info("top").await.unwrap();
        assert_eq!(
            (top_info.state, top_info.enabled),
            (ServiceState::Off, true)
        );
        let (b, t) = (base.load(Ordering::SeqCst), top.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(base.load(Ordering::SeqCst), b, "no round after the stop");
        assert_eq!(top.load(Ordering::SeqCst), t, "its dependent stopped too");

        // A registry made again (a restart) leaves it stopped.
        let again = Services::new(services.0.shared.clone());
        again.required("swarm", "the swarm", true);
        again.add("base", "a loop", &["swarm"], Some(counting(base.clone())));
        again.start_enabled().unwrap();
        assert!(!again.is_on("base"));

        let started = services.start("base").await.unwrap();
        assert_eq!((started.state, started.starts), (ServiceState::On, 2));
        assert!(services.is_on("top"), "its dependent started again with it");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(base.load(Ordering::SeqCst) > b);

        let restarted = services.restart("base").await.unwrap();
        assert_eq!(restarted.starts, 3);
        let refused = services.stop("swarm").await.unwrap_err();
        assert_eq!(refused.kind(), crate::ErrorKind::Invalid);
        let unknown = services.info("nothing").await.unwrap_err();
        assert_eq!(unknown.kind(), crate::ErrorKind::NotFound);
        services.0.shared.shutdown.cancel();
    }
}
