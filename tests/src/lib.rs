//! Helpers for ztapi's integration tests: privilege checks, a `ztapid` under
//! test, TLS peers with throwaway certificates, and polling.
//!
//! Every helper that starts a process stops it on drop, by pid, so a failed
//! assertion leaves nothing running.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

/// Setting this variable to 1 skips tests that need root and the kernel.
pub const SKIP_PRIVILEGED_VARIABLE: &str = "ZTAPI_SKIP_PRIVILEGED";

/// Returns false, after a loud notice, when privileged tests are opted out;
/// panics when they are not opted out but cannot run.
pub fn privileged(test: &str) -> bool {
    if std::env::var(SKIP_PRIVILEGED_VARIABLE).as_deref() == Ok("1") {
        eprintln!(
            "\n!!! SKIPPED privileged test {test}: {SKIP_PRIVILEGED_VARIABLE}=1 is set !!!\n"
        );
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "{test} loads eBPF programs and must run as root; set {SKIP_PRIVILEGED_VARIABLE}=1 to skip it"
    );
    true
}

/// Directory of the workspace's built binaries (`target/debug`), found from
/// the test executable's own path (`target/debug/deps/NAME`).
pub fn binary(name: &str) -> PathBuf {
    let test_executable = std::env::current_exe().expect("test executable path");
    let directory = test_executable
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/PROFILE/deps");
    let path = directory.join(name);
    assert!(
        path.exists(),
        "{} not found; build the binaries first (cargo build -p ztapi --bins)",
        path.display()
    );
    path
}

/// Path of a file under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Polls `condition` every 100 ms until it returns `Some`, or panics with
/// `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut condition: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("ztapi-test-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temporary directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process terminated with SIGTERM, then SIGKILL, on drop.
pub struct Process {
    child: Child,
    name: String,
}

impl Process {
    pub fn spawn(name: &str, command: &mut Command) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        Self {
            child,
            name: name.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends SIGTERM and waits up to `timeout`; returns the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if self.terminate(Duration::from_secs(10)).is_none() {
                eprintln!("{} did not stop on SIGTERM; killing it", self.name);
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// A `ztapid` with its own data directory and socket.
pub struct Daemon {
    pub process: Process,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Daemon {
    /// Starts `ztapid` with `extra` options and waits until its API answers.
    pub fn start(label: &str, extra: &[&str]) -> Self {
        let dir = TempDir::new(label);
        let data_dir = dir.path().join("data");
        Self::start_with_data(dir, data_dir, extra)
    }

    /// Starts `ztapid` on an existing data directory, as after a restart.
    pub fn start_with_data(dir: TempDir, data_dir: PathBuf, extra: &[&str]) -> Self {
        let socket = dir.path().join("ztapid.sock");
        let log = dir.path().join(format!(
            "ztapid-{}.log",
            std::time::UNIX_EPOCH.elapsed().map_or(0, |t| t.as_nanos())
        ));
        let log_file = std::fs::File::create(&log).expect("create daemon log");

        let mut command = Command::new(binary("ztapid"));
        command
            .arg("--socket")
            .arg(&socket)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file);
        let mut process = Process::spawn("ztapid", &mut command);

        let daemon_log = log.clone();
        wait_for(
            "ztapid to answer on its socket",
            Duration::from_secs(60),
            || {
                if let Ok(Some(status)) = process.child().try_wait() {
                    let output = std::fs::read_to_string(&daemon_log).unwrap_or_default();
                    panic!("ztapid exited with {status} during start:\n{output}");
                }
                ztapi_json(&socket, &["status"]).ok()
            },
        );

        Self {
            process,
            socket,
            data_dir,
            log,
            _dir: dir,
        }
    }

    /// Runs `ztapi --json ARGS` against this daemon.
    pub fn query(&self, args: &[&str]) -> Value {
        ztapi_json(&self.socket, args)
            .unwrap_or_else(|error| panic!("ztapi {args:?} failed: {error}\n{}", self.log_text()))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the daemon with SIGTERM, asserts a clean exit, and hands back
    /// its directory and data directory for a restart.
    pub fn stop(mut self) -> (TempDir, PathBuf) {
        let status = self.process.terminate(Duration::from_secs(20));
        let log = self.log_text();
        assert!(
            status.is_some_and(|status| status.success()),
            "ztapid must exit cleanly on SIGTERM, got {status:?}:\n{log}"
        );
        assert!(
            !self.socket.exists(),
            "the socket must be removed at shutdown"
        );
        let Daemon { _dir, data_dir, .. } = self;
        (_dir, data_dir)
    }
}

/// Runs `ztapi --socket SOCKET --json ARGS` and parses its output.
pub fn ztapi_json(socket: &Path, args: &[&str]) -> Result<Value, String> {
    let output = Command::new(binary("ztapi"))
        .arg("--socket")
        .arg(socket)
        .arg("--json")
        .args(args)
        .output()
        .map_err(|error| format!("cannot run ztapi: {error}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("invalid JSON from ztapi: {error}"))
}

/// A self-signed certificate and key for `localhost` and 127.0.0.1.
pub fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl must be installed (scripts/setup.sh)");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// The demo API server, over TLS when a certificate is given. Returns the
/// process and its port.
pub fn start_api_server(tls: Option<(&Path, &Path)>) -> (Process, u16) {
    let mut command = Command::new("/usr/bin/python3");
    command.arg(fixture("api_server.py"));
    spawn_api_server(command, tls)
}

/// The demo API server inside network namespace `netns`, listening on
/// `bind`, in cleartext.
pub fn start_api_server_in(netns: &NetNs, bind: &str) -> (Process, u16) {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", &netns.name, "/usr/bin/python3"])
        .arg(fixture("api_server.py"))
        .args(["--bind", bind]);
    spawn_api_server(command, None)
}

/// Another fixture server script, over TLS. Returns the process and its
/// port.
pub fn start_tls_fixture(script: &str, cert: &Path, key: &Path) -> (Process, u16) {
    let mut command = Command::new("/usr/bin/python3");
    command.arg(fixture(script));
    spawn_api_server(command, Some((cert, key)))
}

/// Runs curl quietly against a test server (certificates not checked) and
/// asserts that it succeeded.
pub fn curl(args: &[&str]) {
    let status = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "--max-time", "10"])
        .args(args)
        .status()
        .expect("curl must be installed (scripts/setup.sh)");
    assert!(status.success(), "curl {args:?} failed with {status}");
}

/// Waits until the daemon has hooked a library mapped by `pid`.
pub fn wait_until_hooked(daemon: &Daemon, pid: u32) {
    wait_for(
        "the server's libssl to be hooked",
        Duration::from_secs(30),
        || {
            let status = daemon.query(&["status"]);
            let hooked = status["libraries"].as_array()?.iter().any(|library| {
                library["pids"]
                    .as_array()
                    .is_some_and(|pids| pids.iter().any(|p| p.as_u64() == Some(pid as u64)))
            });
            hooked.then_some(())
        },
    );
}

fn spawn_api_server(mut command: Command, tls: Option<(&Path, &Path)>) -> (Process, u16) {
    use std::io::BufRead as _;

    if let Some((cert, key)) = tls {
        command.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut process = Process::spawn("api_server.py", &mut command);

    let stdout = process.child().stdout.take().expect("piped stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the server's READY line");
    let port = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("api_server.py printed {line:?} instead of READY <port>"));
    (process, port)
}

/// Finds the endpoint with `method` and `path_template` in `ztapi endpoints`
/// JSON output.
pub fn find_endpoint<'a>(
    endpoints: &'a Value,
    method: &str,
    path_template: &str,
) -> Option<&'a Value> {
    endpoints.as_array()?.iter().find(|endpoint| {
        endpoint["method"].as_str() == Some(method)
            && endpoint["path_template"].as_str() == Some(path_template)
    })
}

/// A network namespace deleted on drop, with its veth ends.
pub struct NetNs {
    pub name: String,
}

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .expect("iproute2 must be installed (scripts/setup.sh)");
    assert!(status.success(), "ip {args:?} failed with {status}");
}

impl NetNs {
    /// Creates namespace `ztapi-LABEL-PID` with its loopback up.
    pub fn new(label: &str) -> Self {
        let name = format!("ztapi-{label}-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let namespace = Self { name };
        namespace.exec_ok(&["ip", "link", "set", "lo", "up"]);
        namespace
    }

    /// Runs a command inside the namespace and asserts success.
    pub fn exec_ok(&self, command: &[&str]) {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(command);
        ip(&args);
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Joins `self` and `peer` with a veth pair, `address`/24 on this side
    /// and `peer_address`/24 on the other.
    pub fn link(&self, peer: &NetNs, tag: &str, address: &str, peer_address: &str) {
        let here = format!("zt{tag}a{}", std::process::id() % 100_000);
        let there = format!("zt{tag}b{}", std::process::id() % 100_000);
        ip(&["link", "add", &here, "type", "veth", "peer", "name", &there]);
        ip(&["link", "set", &here, "netns", &self.name]);
        ip(&["link", "set", &there, "netns", &peer.name]);
        self.exec_ok(&["ip", "addr", "add", &format!("{address}/24"), "dev", &here]);
        peer.exec_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{peer_address}/24"),
            "dev",
            &there,
        ]);
        self.exec_ok(&["ip", "link", "set", &here, "up"]);
        peer.exec_ok(&["ip", "link", "set", &there, "up"]);
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth ends inside it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
