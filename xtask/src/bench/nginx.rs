//! nginx for the benchmarks: one worker serving TLS and cleartext HTTP on
//! free ports of 127.0.0.1, with a tiny static response at `/static` and a
//! proxy to an upstream API under `/api/`.
//!
//! It runs as a separate process, so it is a real TLS server for ztapid to
//! hook, and the server ends of many connections take up its own file
//! table, not xtask's.

use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};

use super::{progress, system::ChildProcess, tls::Certificate, Context, TempDir};

/// Connections the worker accepts at once, and the open-file limit it
/// sets: both within the 20 000 hard limit seen in containers.
const WORKER_CONNECTIONS: u32 = 16_384;
const WORKER_OPEN_FILES: u32 = 19_000;

/// A running nginx; stopped by pid when dropped.
pub struct Nginx {
    /// The TLS listener.
    pub address: SocketAddr,
    /// The cleartext HTTP listener.
    pub plain_address: SocketAddr,
    _process: ChildProcess,
    _directory: TempDir,
}

impl Nginx {
    /// Starts nginx in front of `upstream` and waits until it listens.
    pub fn start(context: &Context, upstream: SocketAddr) -> anyhow::Result<Self> {
        let certificate = context.certificate()?;
        let directory = TempDir::new("nginx")?;
        let address = free_port()?;
        let plain_address = free_port()?;
        let config = directory.path().join("nginx.conf");
        let listeners = Listeners {
            tls: address,
            plain: plain_address,
            upstream,
        };
        std::fs::write(
            &config,
            config_text(directory.path(), &listeners, certificate),
        )
        .with_context(|| format!("cannot write {}", config.display()))?;

        let mut command = Command::new("nginx");
        command
            .arg("-p")
            .arg(directory.path())
            .arg("-c")
            .arg(&config)
            .arg("-e")
            .arg(directory.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut process = ChildProcess::spawn("nginx", &mut command)
            .context("starting nginx failed; is the nginx package installed?")?;

        let deadline = Instant::now() + Duration::from_secs(10);
        while [address, plain_address]
            .iter()
            .any(|listener| std::net::TcpStream::connect(listener).is_err())
        {
            if let Some(status) = process.exited() {
                let log =
                    std::fs::read_to_string(directory.path().join("error.log")).unwrap_or_default();
                bail!("nginx exited with {status}:\n{log}");
            }
            if Instant::now() >= deadline {
                bail!("nginx did not listen on {address} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        progress(format_args!(
            "  nginx (pid {}) listens on {address} (TLS) and {plain_address}",
            process.pid()
        ));
        Ok(Self {
            address,
            plain_address,
            _process: process,
            _directory: directory,
        })
    }

    pub fn tls_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.address)
    }
}

/// Finds a port of 127.0.0.1 that was free a moment ago.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// The listening addresses of nginx and its upstream.
struct Listeners {
    tls: SocketAddr,
    plain: SocketAddr,
    upstream: SocketAddr,
}

fn config_text(directory: &Path, listeners: &Listeners, certificate: &Certificate) -> String {
    let directory = directory.display();
    let Listeners {
        tls,
        plain,
        upstream,
    } = listeners;
    format!(
        r#"# Written by cargo xtask bench; removed with its directory.
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {WORKER_OPEN_FILES};
# The worker stays root so it can read the temporary directories.
user root;
pid {directory}/nginx.pid;
events {{ worker_connections {WORKER_CONNECTIONS}; }}
http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    keepalive_requests 1000000;
    upstream api {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen {tls} ssl;
        listen {plain};
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        location = /static {{
            default_type application/json;
            return 200 '{{"ok":true}}';
        }}
        location /api/ {{
            proxy_pass http://api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"#,
        certificate = certificate.certificate.display(),
        key = certificate.key.display(),
    )
}
