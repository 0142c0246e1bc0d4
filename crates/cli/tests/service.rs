//! cairn as a system service: the unit in `dist/cairn.service` run as
//! systemd would run its `ExecStart` line, with a `$NOTIFY_SOCKET` the
//! test listens on. Ready only once the API answers, a SIGHUP reloads
//! the log level, a SIGTERM says it stops; `/healthz` and `/readyz`.

mod common;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `ExecStart` line of the unit, as words.
fn exec_start() -> Vec<String> {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/cairn.service"),
    )
    .expect("the unit file");
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    line.split_whitespace().map(str::to_owned).collect()
}

/// The next datagram on `socket`, as text (within 30 s).
fn next(socket: &UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("a notification in time");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A GET to the node over a plain socket: status and body.
fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

#[test]
fn the_unit_starts_notifies_reloads_and_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(
        state.join("config.toml"),
        "listen = \"127.0.0.1:0\"\nlog = \"warn\"\n[network]\nenabled = false\n\
         [layers]\ncacaoweb = []\npowder = []\nbitdust = []\n[torrents]\nenabled = false\n",
    )
    .unwrap();
    let notify_path = tmp.path().join("notify");
    let socket = UnixDatagram::bind(&notify_path).unwrap();

    // ExecStart as systemd runs it: the binary installed, the state
    // directory in $STATE_DIRECTORY.
    let words = exec_start();
    assert_eq!(words[0], "/usr/local/bin/cairn", "{words:?}");
    let args: Vec<String> = words[1..]
        .iter()
        .map(|w| w.replace("${STATE_DIRECTORY}", state.to_str().unwrap()))
        .collect();
    let log = tmp.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(&args)
        .env("STATE_DIRECTORY", &state)
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // READY=1 only once the API answers.
    let ready = next(&socket);
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert!(
        ready.contains(&format!("MAINPID={}", child.id())),
        "{ready:?}"
    );
    let addr = std::fs::read_to_string(state.join("api.addr")).unwrap();
    let addr = addr.trim();
    assert_eq!(get(addr, "/readyz"), (200, "ready\n".to_owned()));
    assert_eq!(get(addr, "/healthz"), (200, "ok\n".to_owned()));

    // A SIGHUP: RELOADING=1 (with the monotonic clock), the log level
    // read again, then READY=1.
    std::fs::write(
        state.join("config.toml"),
        "listen = \"127.0.0.1:0\"\nlog = \"info\"\n[network]\nenabled = false\n\
         [layers]\ncacaoweb = []\npowder = []\nbitdust = []\n[torrents]\nenabled = false\n",
    )
    .unwrap();
    let pid = child.id() as i32;
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let reloading = next(&socket);
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    assert_eq!(next(&socket), "READY=1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("configuration reloaded")
    {
        assert!(Instant::now() < deadline, "the reload was never logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    // At the level now in force: an info line is written.
    assert_eq!(get(addr, "/readyz").0, 200);

    // A SIGTERM: STOPPING=1, and a clean exit.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_eq!(next(&socket), "STOPPING=1");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "never stopped");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_unit_is_hardened() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/cairn.service"),
    )
    .unwrap();
    for line in [
        "Type=notify",
        "DynamicUser=yes",
        "StateDirectory=cairn",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
}

/// Waits (bounded) until `check` holds.
fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not in 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a connection to `addr` that sends nothing is closed by the
/// node within `within`.
fn idle_closed(addr: &str, within: Duration) -> bool {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf), Ok(0))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_moves_listeners_and_limits() {
    let node = common::TestNode::start().await;
    let config = node.dir.join("config.toml");
    let base = std::fs::read_to_string(&config).unwrap();
    let off = "[layers]\ncacaoweb = []\npowder = []\nbitdust = []\n";
    assert!(base.contains(off), "{base}");
    let on = base.replace(off, "[layers]\ncacaoweb = []\npowder = [\"127.0.0.1:0\"]\nbitdust = []\n[s3]\nenabled = true\nlisten = \"127.0.0.1:0\"\n[http]\nidle_timeout_secs = 1\n");
    // Before: no S3, no Powder listener, idle connections kept 30 s.
    assert!(!node.dir.join("s3.addr").exists());
    assert!(!node.dir.join("powder.addr").exists());
    assert!(!idle_closed(&node.addr, Duration::from_secs(3)));

    std::fs::write(&config, on).unwrap();
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(node.pid(), libc::SIGHUP) }, 0);
    until("s3.addr and powder.addr", || {
        node.dir.join("s3.addr").exists() && node.dir.join("powder.addr").exists()
    });
    let s3 = std::fs::read_to_string(node.dir.join("s3.addr")).unwrap();
    let (status, body) = get(s3.trim(), "/");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    let powder = std::fs::read_to_string(node.dir.join("powder.addr")).unwrap();
    assert_ne!(get(powder.trim(), "/").0, 0);
    // New connections get the new limits.
    assert!(idle_closed(&node.addr, Duration::from_secs(5)));
    // The API itself went on serving throughout.
    assert_eq!(get(&node.addr, "/readyz").0, 200);

    std::fs::write(&config, &base).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(node.pid(), libc::SIGHUP) }, 0);
    until("s3.addr and powder.addr gone", || {
        !node.dir.join("s3.addr").exists() && !node.dir.join("powder.addr").exists()
    });
    until("the S3 port closed", || {
        std::net::TcpStream::connect(s3.trim()).is_err()
    });
    assert!(!idle_closed(&node.addr, Duration::from_secs(3)));
}
