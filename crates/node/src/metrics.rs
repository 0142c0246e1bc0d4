//! The node's Prometheus metrics (`node.metrics()`, [`Metrics`]), in the
//! OpenMetrics text format of the `prometheus-client` crate.
//!
//! Two kinds, kept apart on purpose:
//!
//! - counters and histograms of work, counted where the work happens:
//!   jobs started and ended by kind (`jobs.rs`), audits by result
//!   (`network/repair.rs`), amounts moved in the ledger (`tokens.rs`,
//!   `accounts.rs`, `paid/`), and whatever a door registers
//!   ([`Metrics::register`]: the HTTP layer's requests and bytes);
//! - gauges of state, read when scraped from what the node already keeps
//!   cheaply (`Gauges`, filled by [`crate::Node::scrape`]): the catalog's kept
//!   counts, the network's traffic counters, the last audit round, the
//!   media and torrent services, and the process itself (`/proc/self`,
//!   tokio's runtime). A scrape scans no table and stats no blob file, so
//!   scraping every second costs the node next to nothing (BENCHMARKS.md,
//!   "Metrics").

use std::sync::Mutex;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

/// The content type of a scrape: OpenMetrics 1.0, which a Prometheus
/// server asks for first.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a job metric: its kind (`upload`, `download`, `repair`…).
pub(crate) type KindLabel = [(&'static str, &'static str); 1];
/// Labels of a job's end: its kind and how it ended.
pub(crate) type EndLabels = [(&'static str, &'static str); 2];

/// The job registry's metrics, counted by the registry as jobs start and
/// end.
#[derive(Clone)]
pub(crate) struct JobMetrics {
    /// Jobs started, by kind.
    pub(crate) started: Family<KindLabel, Counter>,
    /// Jobs ended, by kind and state (`done`, `failed`, `cancelled`).
    pub(crate) ended: Family<EndLabels, Counter>,
    /// Seconds from a job's start to its end, by kind.
    pub(crate) seconds: Family<KindLabel, Histogram>,
    /// Bytes ended jobs moved (their progress counter), by kind.
    pub(crate) bytes: Family<KindLabel, Counter>,
}

impl Default for JobMetrics {
    fn default() -> Self {
        Self {
            started: Family::default(),
            ended: Family::default(),
            // 10 ms to about 3 hours.
            seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.01, 4.0, 11))
            }),
            bytes: Family::default(),
        }
    }
}

impl JobMetrics {
    /// A job of `kind` started.
    pub(crate) fn started(&self, kind: &'static str) {
        self.started.get_or_create(&[("kind", kind)]).inc();
    }

    /// A job of `kind` ended in `state` after `millis`, having moved
    /// `bytes`.
    pub(crate) fn ended(&self, kind: &'static str, state: &str, millis: i64, bytes: u64) {
        let state = match state {
            "done" => "done",
            "cancelled" => "cancelled",
            _ => "failed",
        };
        self.ended
            .get_or_create(&[("kind", kind), ("state", state)])
            .inc();
        let seconds = millis.max(0) as f64 / 1000.0;
        self.seconds
            .get_or_create(&[("kind", kind)])
            .observe(seconds);
        self.bytes.get_or_create(&[("kind", kind)]).inc_by(bytes);
    }
}

/// The node's metrics: the registry every counter is in, and the engine's
/// own counters. Held by `Shared`; a door reaches it by `node.metrics()`.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Audited positions, by what the audit found (`healthy`, `offline`,
    /// `damaged`).
    pub(crate) audits: Family<[(&'static str, &'static str); 1], Counter>,
    /// Amounts moved in the ledger, by unit and kind of move (`deposit`,
    /// `spend`, `promo`, `purchase`).
    pub(crate) ledger: Family<[(&'static str, &'static str); 2], Counter>,
}

impl Metrics {
    /// The registry, with the job registry's metrics in it.
    pub(crate) fn new(jobs: &JobMetrics) -> Self {
        let mut registry = Registry::with_prefix("cairn");
        registry.register("jobs_started", "Jobs started", jobs.started.clone());
        registry.register("jobs_ended", "Jobs ended, by how", jobs.ended.clone());
        registry.register(
            "job_duration_seconds",
            "Seconds from a job's start to its end",
            jobs.seconds.clone(),
        );
        registry.register(
            "job_bytes",
            "Bytes ended jobs moved (uploaded, downloaded, imported, rebuilt)",
            jobs.bytes.clone(),
        );
        let audits = Family::default();
        registry.register(
            "audits",
            "Supplier positions audited, by what the audit found",
            audits.clone(),
        );
        let ledger = Family::default();
        registry.register(
            "ledger_moved",
            "Amounts moved in the ledger, by unit and kind of move",
            ledger.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            audits,
            ledger,
        }
    }

    /// Adds `metric` as `cairn_<name>` (a door's own counters: the HTTP
    /// layer's requests). A counter's name is given without `_total`.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.lock().register(name, help, metric);
    }

    /// A supplier position audited, with what the audit found.
    pub(crate) fn audited(&self, result: &'static str) {
        self.audits.get_or_create(&[("result", result)]).inc();
    }

    /// An amount moved in the ledger.
    pub(crate) fn ledger_moved(&self, unit: cairn_store::ledger::Unit, kind: &'static str, n: i64) {
        let unit = match unit {
            cairn_store::ledger::Unit::Bytes => "bytes",
            cairn_store::ledger::Unit::Credits => "credits",
        };
        self.ledger
            .get_or_create(&[("unit", unit), ("kind", kind)])
            .inc_by(n.max(0) as u64);
    }

    /// The scrape: every registered metric, then `gauges`, then the
    /// OpenMetrics end marker.
    pub(crate) fn encode(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(16 << 10);
        let state = gauges.registry();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.lock());
        let _ = encode_registry(&mut out, &state);
        let _ = encode_eof(&mut out);
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads the state a scrape shows from `node`'s services (`jobs`: the
/// jobs running by kind).
pub(crate) async fn gather(
    node: &crate::Node,
    jobs_running: Vec<(&'static str, u64)>,
) -> Result<Gauges, crate::NodeError> {
    let status = node.status().await?;
    Ok(Gauges {
        counts: status.counts,
        storage_used: status.storage_used,
        storage_capacity: status.storage_capacity,
        jobs_running,
        encoders_running: status.media.encoders_running as u64,
        hls_heads: status.media.hls_heads as u64,
        torrents: torrents(node).await,
        network: network(node.network()).await,
        process: Process::now(),
    })
}

/// Torrents by state (none when torrents are off).
async fn torrents(node: &crate::Node) -> Vec<(String, u64)> {
    let mut states = std::collections::BTreeMap::new();
    for t in node.torrents().list().await.unwrap_or_default() {
        let state = serde_json::to_value(t.state).ok();
        let state = state.as_ref().and_then(|s| s.as_str()).unwrap_or("unknown");
        *states.entry(state.to_owned()).or_insert(0) += 1;
    }
    states.into_iter().collect()
}

/// The network's gauges, when it is on.
async fn network(network: &crate::Network) -> Option<NetGauges> {
    if !network.is_on() {
        return None;
    }
    let status = network.status().await.ok()?;
    let traffic = network.traffic().ok()?;
    let connected = status.suppliers.iter().filter(|s| s.connected).count() as u64;
    Some(NetGauges {
        peers: status.peers as u64,
        suppliers_connected: connected,
        suppliers_disconnected: status.suppliers.len() as u64 - connected,
        last_audit: network.repair_status(),
        space: status.space,
        lanes: status.lanes,
        bytes: (traffic.bytes_sent, traffic.bytes_received),
        lane_bytes: (traffic.lane_bytes_sent, traffic.lane_bytes_received),
        protocols: traffic.protocols,
    })
}

/// State read at scrape time.
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    /// Entry and blob counts (the catalog's kept counters).
    pub(crate) counts: cairn_store::catalog::Counts,
    /// Bytes of blob files on this disk.
    pub(crate) storage_used: u64,
    /// Capacity.
    pub(crate) storage_capacity: u64,
    /// Jobs running, by kind.
    pub(crate) jobs_running: Vec<(&'static str, u64)>,
    /// ffmpeg encoders running now.
    pub(crate) encoders_running: u64,
    /// HLS heads running or starting.
    pub(crate) hls_heads: u64,
    /// Torrents, by state.
    pub(crate) torrents: Vec<(String, u64)>,
    /// The network's part, when it is on.
    pub(crate) network: Option<NetGauges>,
    /// The process itself.
    pub(crate) process: Process,
}

/// The network's state at scrape time.
#[derive(Debug, Default)]
pub(crate) struct NetGauges {
    /// Peers connected now.
    pub(crate) peers: u64,
    /// Our suppliers connected now and not.
    pub(crate) suppliers_connected: u64,
    /// Our suppliers not connected now.
    pub(crate) suppliers_disconnected: u64,
    /// The last audit round.
    pub(crate) last_audit: crate::network::repair::RepairStatus,
    /// Space donated to customers, and what their shards take.
    pub(crate) space: cairn_store::shards::ShardSpace,
    /// Lanes' counters.
    pub(crate) lanes: cairn_net::LaneStats,
    /// Every byte sent and received (sockets and lanes).
    pub(crate) bytes: (u64, u64),
    /// Of those, lane frames' bytes sent and received.
    pub(crate) lane_bytes: (u64, u64),
    /// Requests by protocol.
    pub(crate) protocols: Vec<cairn_net::ProtocolTraffic>,
}

/// The process's resources.
#[derive(Debug, Default)]
pub(crate) struct Process {
    /// Resident memory, bytes.
    pub(crate) rss: u64,
    /// Open file descriptors.
    pub(crate) fds: u64,
    /// Tokio tasks alive.
    pub(crate) tasks: u64,
}

impl Process {
    /// Reads `/proc/self` and the current tokio runtime (zeros where
    /// unavailable).
    pub(crate) fn now() -> Self {
        let tasks = tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_alive_tasks() as u64)
            .unwrap_or(0);
        Self {
            rss: std::fs::read_to_string("/proc/self/statm")
                .ok()
                .and_then(|s| resident_pages(&s))
                .map_or(0, |pages| pages * page_size()),
            fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64),
            tasks,
        }
    }
}

/// The resident pages in `/proc/self/statm`'s text (its second field).
fn resident_pages(statm: &str) -> Option<u64> {
    statm.split_ascii_whitespace().nth(1)?.parse().ok()
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

/// One label's families of gauges, filled and registered at once.
fn labelled<'a>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) {
    let family =
        Family::<[(&'static str, String); 1], Gauge<u64, std::sync::atomic::AtomicU64>>::default();
    for (value, n) in values {
        family.get_or_create(&[(label, value.to_owned())]).set(n);
    }
    registry.register(name, help, family);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, n: u64) {
    registry.register(name, help, ConstGauge::new(n));
}

fn counter(registry: &mut Registry, name: &str, help: &str, n: u64) {
    registry.register(name, help, ConstCounter::new(n));
}

impl Gauges {
    /// A registry of this state, made for one scrape.
    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("cairn");
        let c = &self.counts;
        labelled(
            &mut r,
            "entries",
            "Catalog entries, by type",
            "type",
            [("file", c.files), ("folder", c.folders)],
        );
        gauge(&mut r, "blobs", "Distinct blobs in the catalog", c.blobs);
        gauge(
            &mut r,
            "blob_bytes",
            "Plaintext bytes of distinct blobs",
            c.blob_bytes,
        );
        gauge(
            &mut r,
            "storage_used_bytes",
            "Bytes of blob files on this disk",
            self.storage_used,
        );
        gauge(
            &mut r,
            "storage_capacity_bytes",
            "Storage capacity",
            self.storage_capacity,
        );
        labelled(
            &mut r,
            "jobs_running",
            "Jobs running now, by kind",
            "kind",
            self.jobs_running.iter().copied(),
        );
        gauge(
            &mut r,
            "transcodes_running",
            "ffmpeg encoders running now",
            self.encoders_running,
        );
        gauge(
            &mut r,
            "hls_heads",
            "HLS heads running or starting now",
            self.hls_heads,
        );
        labelled(
            &mut r,
            "torrents",
            "Torrents, by state",
            "state",
            self.torrents.iter().map(|(s, n)| (s.as_str(), *n)),
        );
        if let Some(net) = &self.network {
            net.register(&mut r);
        }
        self.process.register(&mut r);
        r
    }
}

impl NetGauges {
    fn register(&self, r: &mut Registry) {
        gauge(r, "network_peers", "Peers connected now", self.peers);
        labelled(
            r,
            "suppliers",
            "Our suppliers, by whether they are connected now",
            "state",
            [
                ("connected", self.suppliers_connected),
                ("disconnected", self.suppliers_disconnected),
            ],
        );
        let a = &self.last_audit;
        labelled(
            r,
            "last_audit_positions",
            "Supplier positions in the last audit round, by what it found",
            "result",
            [
                ("healthy", a.healthy as u64),
                ("offline", a.offline as u64),
                ("damaged", a.damaged as u64),
            ],
        );
        gauge(
            r,
            "customer_shard_bytes",
            "Bytes of customers' shards stored here",
            self.space.used,
        );
        gauge(
            r,
            "customers",
            "Customers with shards stored here",
            self.space.customers,
        );
        gauge(
            r,
            "donated_bytes",
            "Space donated to customers",
            self.space.donated,
        );
        self.register_traffic(r);
    }

    /// Bytes by path (lane frames, or libp2p's sockets) and requests by
    /// protocol: the network's own counters (`cairn-net`'s `traffic.rs`),
    /// read, not counted twice.
    fn register_traffic(&self, r: &mut Registry) {
        let libp2p = (
            self.bytes.0.saturating_sub(self.lane_bytes.0),
            self.bytes.1.saturating_sub(self.lane_bytes.1),
        );
        let bytes = Family::<[(&'static str, &'static str); 2], Counter>::default();
        for (path, direction, n) in [
            ("lane", "sent", self.lane_bytes.0),
            ("lane", "received", self.lane_bytes.1),
            ("libp2p", "sent", libp2p.0),
            ("libp2p", "received", libp2p.1),
        ] {
            let labels = [("path", path), ("direction", direction)];
            bytes.get_or_create(&labels).inc_by(n);
        }
        r.register(
            "network_bytes",
            "Bytes the network carried, by path and direction",
            bytes,
        );
        let requests = Family::<[(&'static str, String); 2], Counter>::default();
        for p in &self.protocols {
            for (direction, n) in [
                ("sent", p.sent),
                ("received", p.received),
                ("failed_sent", p.failed_sent),
                ("failed_received", p.failed_received),
            ] {
                let labels = [
                    ("protocol", p.protocol.clone()),
                    ("direction", direction.to_owned()),
                ];
                requests.get_or_create(&labels).inc_by(n);
            }
        }
        r.register(
            "network_requests",
            "Requests and messages by protocol and direction",
            requests,
        );
        let l = &self.lanes;
        counter(r, "lane_requests_sent", "Requests sent by lane", l.requests);
        counter(
            r,
            "lane_requests_served",
            "Requests answered by lane",
            l.served,
        );
        counter(
            r,
            "lane_fallbacks",
            "Bulk requests sent over libp2p instead of a lane",
            l.fallbacks,
        );
    }
}

impl Process {
    fn register(&self, r: &mut Registry) {
        gauge(
            r,
            "process_resident_memory_bytes",
            "Resident memory",
            self.rss,
        );
        gauge(r, "process_open_fds", "Open file descriptors", self.fds);
        gauge(r, "tokio_tasks", "Tokio tasks alive", self.tasks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_pages_are_statm_second_field() {
        assert_eq!(resident_pages("5000 1234 300 1 0 900 0\n"), Some(1234));
        assert_eq!(resident_pages("5000"), None);
        assert_eq!(resident_pages(""), None);
    }

    /// A job's end moves its kind's counters and histogram, any state that
    /// is not done or cancelled counts as failed, and the scrape ends with
    /// OpenMetrics' end marker after the state's gauges.
    #[test]
    fn a_scrape_shows_counters_then_state_then_eof() {
        let jobs = JobMetrics::default();
        let metrics = Metrics::new(&jobs);
        jobs.started("upload");
        jobs.ended("upload", "done", 1500, 4096);
        jobs.ended("upload", "interrupted", 10, 0);
        metrics.audited("offline");
        metrics.ledger_moved(cairn_store::ledger::Unit::Credits, "purchase", 7);
        let gauges = Gauges {
            counts: cairn_store::catalog::Counts {
                files: 3,
                folders: 1,
                blobs: 2,
                blob_bytes: 99,
            },
            jobs_running: vec![("download", 2)],
            ..Gauges::default()
        };
        let text = metrics.encode(&gauges);
        for line in [
            "cairn_jobs_started_total{kind=\"upload\"} 1",
            "cairn_jobs_ended_total{kind=\"upload\",state=\"done\"} 1",
            "cairn_jobs_ended_total{kind=\"upload\",state=\"failed\"} 1",
            "cairn_job_duration_seconds_count{kind=\"upload\"} 2",
            "cairn_job_bytes_total{kind=\"upload\"} 4096",
            "cairn_audits_total{result=\"offline\"} 1",
            "cairn_ledger_moved_total{unit=\"credits\",kind=\"purchase\"} 7",
            "cairn_entries{type=\"file\"} 3",
            "cairn_blob_bytes 99",
            "cairn_jobs_running{kind=\"download\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
    }
}
