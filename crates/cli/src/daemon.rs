//! `cairn node`: parse → load config → open the node → bind → serve until
//! ctrl-c, SIGTERM or the admin call → shut down.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

use crate::listeners::Listeners;

/// Answers whether the node stopped to restart.
pub(crate) async fn run(
    data_dir: &Path,
    listen: Option<SocketAddr>,
    p2p_listen: Vec<String>,
    bootstrap: Vec<String>,
) -> Result<bool> {
    keep_segment_buffers_on_the_heap();
    keep_new_files_private();
    let mut config = cairn_node::Config::load(data_dir)?;
    if let Some(addr) = listen {
        config.listen = addr;
    }
    if !p2p_listen.is_empty() {
        config.network.listen = p2p_listen;
    }
    config.network.bootstrap.extend(bootstrap);
    let from_env = EnvFilter::try_from_default_env().ok();
    let logging = from_env.is_none();
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(&config.log));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_filter_reloading();
    let log_filter = builder.reload_handle();
    builder.init();
    raise_open_files_limit();
    fix_mmap_threshold();
    // The node takes the data dir's lock first (a second node is refused
    // there, before it touches anything). The address files are written
    // only while it is held, and removed (`Listeners::remove_addr_files`,
    // or when the listeners drop) while it still holds the lock.
    let node = cairn_node::Node::start(data_dir, config.clone()).await?;
    // A `log` set at run time (`cairn config set log debug`) is applied
    // by the node over the file; `RUST_LOG` still wins.
    if logging && node.config().log != config.log {
        let _ = log_filter.reload(EnvFilter::new(&node.config().log));
    }
    let seeds = cairn_cli::seed_layers(&node, &config);
    let http = cairn_api::metrics::Http::register(&node);
    let listeners =
        std::sync::Arc::new(Listeners::new(&node, data_dir.to_path_buf(), &seeds, &http));
    let listener = cairn_api::listen(config.listen, config.http.backlog)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    listeners.write_addr("api", &addr)?;
    println!("cairn node {} listening on http://{addr}", node.node_id());
    println!("data dir {}", data_dir.display());
    println!(
        "web UI: sign in at http://{}/ui/login?token={}",
        browsable(addr),
        node.web().login_link()
    );
    let stop = node.clone();
    let reload = Reload {
        data_dir: data_dir.to_path_buf(),
        node: node.clone(),
        listeners: listeners.clone(),
        set_log: logging.then(|| -> SetLog {
            Box::new(move |level: &str| {
                log_filter
                    .reload(EnvFilter::new(level))
                    .map_err(|e| e.to_string())
            })
        }),
    };
    tokio::spawn(async move {
        wait_for_signal(&reload).await;
        tracing::info!("signal received, stopping");
        notify("STOPPING=1");
        stop.request_shutdown();
    });
    tokio::spawn(notify_when_ready(addr));
    listeners.apply(node.config(), true)?;
    let media = cairn_api::media_inputs(&node).context("cannot listen for media inputs")?;
    let media = tokio::spawn(media);
    if let Some(listen) = config.metrics.listen {
        tokio::spawn(serve_metrics(&node, listen, &listeners)?);
    }
    let main = cairn_api::main_app(
        http.count(cairn_api::router(node.clone()), "native"),
        seeds
            .iter()
            .map(|(layer, _)| http.count(layer.router(), layer.name())),
    );
    let serving = listeners.serving(tokio_util::sync::CancellationToken::new());
    cairn_api::serve_app_with(node.clone(), listener, main, serving).await?;
    listeners.ended().await;
    if let Ok(Err(e)) = media.await {
        tracing::warn!(error = %e, "the media inputs' listener failed");
    }
    node.shutdown().await;
    // The address files go while the node still holds the data dir.
    listeners.remove_addr_files();
    Ok(node.restart_requested())
}

/// The address a browser on this machine reaches `addr` at (a wildcard
/// listener is reached at loopback).
fn browsable(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            (std::net::Ipv4Addr::LOCALHOST, addr.port()).into()
        }
        ip if ip.is_unspecified() => (std::net::Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// Runs this program again in this process (same arguments, environment
/// and process id): a node restart asked for over the API. Returns only
/// when that fails.
pub(crate) fn exec_again() -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let Some(program) = args.next() else {
        return anyhow::anyhow!("cannot restart: no program name");
    };
    tracing::info!("restarting");
    let error = std::process::Command::new(&program).args(args).exec();
    anyhow::Error::new(error).context(format!(
        "cannot start {} again",
        std::path::Path::new(&program).display()
    ))
}

/// Binds `[metrics] listen` (loopback unless the config allows more) and
/// returns its loop: `/metrics` without the secret. Its address goes to
/// `<data dir>/metrics.addr`.
fn serve_metrics(
    node: &cairn_node::Node,
    listen: SocketAddr,
    listeners: &Listeners,
) -> Result<impl std::future::Future<Output = std::io::Result<()>> + use<>> {
    let listener = cairn_api::listen(listen, node.config().http.backlog)
        .with_context(|| format!("cannot listen on {listen} for metrics"))?;
    let addr = listener.local_addr()?;
    listeners.write_addr("metrics", &addr)?;
    println!("metrics listening on http://{addr}/metrics");
    let app = cairn_api::metrics::app(node.clone());
    Ok(cairn_api::serve_app(node.clone(), listener, app))
}

/// Segment buffers are 1 MiB, above glibc's default mmap threshold, so
/// every one would be a fresh mmap whose pages the kernel faults in and
/// zeroes, then unmaps when the HTTP writer drops it: a few percent of a
/// download's CPU. Raising the threshold keeps them on the heap, reused.
fn keep_segment_buffers_on_the_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes the allocator; called before any thread
    // of ours allocates large buffers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// umask 077: whatever the node or a child of it (ffmpeg) creates is its
/// user's alone, even where a call does not ask for a mode. The engine
/// asks for 0600/0700 where it creates files itself; this is the second
/// line, for what it does not know of.
fn keep_new_files_private() {
    // SAFETY: umask only sets the process's file creation mask; it cannot
    // fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Makes glibc's malloc map every block of 256 KiB or more on its own
/// (its default threshold grows with the largest block freed, up to 32
/// MiB): the read budget's 1 MiB segment buffers then go back to the
/// system when freed instead of staying in a thread's arena, so the
/// memory of a burst of downloads is given back (BENCHMARKS.md, "Load").
/// The buffers are reused while in use, so they are mapped rarely.
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's parameters; it is called once,
    // before the runtime's threads allocate much.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

/// Raises the soft limit on open files to the hard one: each connection
/// and each open blob or shard is a descriptor, and the usual soft limit
/// (1024) is far below what a node serving many clients holds.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`, a valid
    // rlimit struct owned by this frame.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let was = limit.rlim_cur;
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                tracing::info!(from = was, to = limit.rlim_max, "open files limit raised");
            }
        }
    }
}

/// What a SIGHUP reloads from `config.toml` (with the settings kept in
/// the catalog over it, as at a start): the log level (unless `RUST_LOG`
/// set it), the `[http]` limits, and the layers' and the S3 API's
/// listeners.
struct Reload {
    data_dir: std::path::PathBuf,
    node: cairn_node::Node,
    listeners: std::sync::Arc<Listeners>,
    /// Sets the log level (`None`: `RUST_LOG` set it).
    set_log: Option<SetLog>,
}

/// Changes the running log filter.
type SetLog = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

impl Reload {
    /// Reads `config.toml` again and applies what can change while the
    /// node runs, telling the service manager (`RELOADING=1`, then
    /// `READY=1`).
    async fn reload(&self) {
        notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
        let loaded = match cairn_node::Config::load(&self.data_dir) {
            Ok(config) => self
                .node
                .settings()
                .over(config)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        match loaded {
            Ok(config) => {
                match &self.set_log {
                    Some(set_log) => {
                        if let Err(e) = set_log(&config.log) {
                            tracing::warn!(error = %e, "cannot change the log level");
                        }
                    }
                    None => tracing::info!("RUST_LOG keeps the log level"),
                }
                self.listeners.reload(&config);
                tracing::info!(
                    log = %config.log,
                    "configuration reloaded: the log level, [http] limits and the layers' and S3 listeners applied; other changes apply at the next start"
                );
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "configuration not reloaded"),
        }
        notify("READY=1");
    }
}

/// Waits for ctrl-c or SIGTERM; a SIGHUP in between reloads.
async fn wait_for_signal(reload: &Reload) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hup.recv() => reload.reload().await,
        }
    }
}

/// Tells systemd (`$NOTIFY_SOCKET`, when set: a path, or `@` and an
/// abstract name) `state`; a failure is logged, never fatal.
fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = std::os::unix::net::UnixDatagram::unbound().and_then(|socket| {
        use std::os::unix::ffi::OsStrExt;
        match target.as_bytes().strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(state.as_bytes(), &addr)
            }
            None => socket.send_to(state.as_bytes(), Path::new(&target)),
        }
    });
    if let Err(e) = sent {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// `CLOCK_MONOTONIC` in microseconds, as `RELOADING=1` wants it.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1000
}

/// Sends `READY=1` once the API at `addr` answers `/readyz` with 200
/// (asked over loopback, within a minute), so a unit of `Type=notify`
/// counts as started only when the node takes requests.
async fn notify_when_ready(addr: std::net::SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let mut at = addr;
    if at.ip().is_unspecified() {
        at.set_ip(if at.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    for _ in 0..600 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(at).await {
            let asked = stream
                .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await;
            let mut head = [0u8; 12];
            if asked.is_ok()
                && stream.read_exact(&mut head).await.is_ok()
                && head.ends_with(b" 200")
            {
                notify(&format!(
                    "READY=1\nMAINPID={}\nSTATUS=serving on http://{addr}",
                    std::process::id()
                ));
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tracing::warn!("the API never answered /readyz: not telling the service manager ready");
}
