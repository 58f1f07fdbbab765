//! TLS pieces of the benchmarks: a throwaway certificate, the libssl this
//! process maps, and a loopback TLS client and server that exchange many
//! short messages through OpenSSL.
//!
//! The `openssl` crate links the system `libssl.so.3` dynamically, so every
//! `SSL_write_ex` and `SSL_read_ex` call here passes the uprobes that the
//! sensor, or the benchmark's no-op probes, attach to that file.

use std::{
    io::ErrorKind,
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use openssl::ssl::{
    ErrorCode, SslAcceptor, SslConnector, SslFiletype, SslMethod, SslStream, SslVerifyMode,
};

use super::system::run_bounded;

/// Size of every request and every response, so each call moves one small
/// TLS record.
pub const MESSAGE_BYTES: usize = 64;

/// Time the server waits for its one client to connect.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);

/// A self-signed certificate and its key, in PEM files.
pub struct Certificate {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl Certificate {
    /// Makes a P-256 certificate for `localhost`, valid one day, with the
    /// openssl command-line tool.
    pub fn create(directory: &Path) -> anyhow::Result<Self> {
        let certificate = directory.join("localhost.crt");
        let key = directory.join("localhost.key");
        let mut command = Command::new("openssl");
        command
            .args(["req", "-x509", "-nodes", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(["-days", "1", "-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&certificate);
        run_bounded("openssl req", &mut command, Duration::from_secs(30)).context(
            "making the self-signed certificate failed; is the openssl package installed?",
        )?;
        Ok(Self { certificate, key })
    }
}

/// The libssl file this process maps, which the benchmarks hook.
pub struct MappedLibrary {
    pub path: PathBuf,
    /// `MAJOR:MINOR:INODE` in hexadecimal device numbers, as ztapid reports
    /// hooked files in `ztapi status`.
    pub file_id: String,
}

impl MappedLibrary {
    /// Finds `libssl.so*` in `/proc/self/maps`.
    pub fn find() -> anyhow::Result<Self> {
        // Loads libssl's symbols before the maps are read.
        openssl::init();
        let maps =
            std::fs::read_to_string("/proc/self/maps").context("cannot read /proc/self/maps")?;
        for line in maps.lines() {
            // address perms offset dev inode pathname
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, _, _, device, inode, path] = fields[..] else {
                continue;
            };
            let name = path.rsplit('/').next().unwrap_or(path);
            if !name.starts_with("libssl.so") {
                continue;
            }
            let (major, minor) = device
                .split_once(':')
                .with_context(|| format!("unexpected device {device} in /proc/self/maps"))?;
            let major = u32::from_str_radix(major, 16)?;
            let minor = u32::from_str_radix(minor, 16)?;
            return Ok(Self {
                path: PathBuf::from(path),
                file_id: format!("{major:02x}:{minor:02x}:{inode}"),
            });
        }
        bail!("this process maps no libssl.so; the openssl crate must link libssl dynamically")
    }
}

/// The request every client call sends: a complete HTTP/1.1 request of
/// exactly [`MESSAGE_BYTES`], so ztapid parses real transactions.
fn request() -> [u8; MESSAGE_BYTES] {
    padded(
        b"GET /bench/items/42 HTTP/1.1\r\nHost: bench.local\r\nX-Pad: ",
        b"\r\n\r\n",
    )
}

/// The response to every request, also exactly [`MESSAGE_BYTES`].
fn response() -> [u8; MESSAGE_BYTES] {
    padded(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: ",
        b"\r\n\r\nok",
    )
}

/// `head`, then `x` padding, then `tail`, [`MESSAGE_BYTES`] in all.
fn padded(head: &[u8], tail: &[u8]) -> [u8; MESSAGE_BYTES] {
    let mut message = [b'x'; MESSAGE_BYTES];
    message[..head.len()].copy_from_slice(head);
    message[MESSAGE_BYTES - tail.len()..].copy_from_slice(tail);
    message
}

/// A TLS server on 127.0.0.1 that serves one client: it answers every
/// 64-byte request with one 64-byte response until the client closes.
pub struct Server {
    pub address: SocketAddr,
    thread: JoinHandle<anyhow::Result<u64>>,
}

impl Server {
    pub fn start(certificate: &Certificate) -> anyhow::Result<Self> {
        let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
        builder.set_certificate_chain_file(&certificate.certificate)?;
        builder.set_private_key_file(&certificate.key, SslFiletype::PEM)?;
        let acceptor = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let thread = std::thread::Builder::new()
            .name("tls-server".to_owned())
            .spawn(move || serve(&listener, &acceptor))
            .context("cannot start the TLS server thread")?;
        Ok(Self { address, thread })
    }

    /// Waits for the server to finish and returns the requests it answered.
    pub fn join(self) -> anyhow::Result<u64> {
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the TLS server thread panicked"))?
    }
}

fn serve(listener: &TcpListener, acceptor: &SslAcceptor) -> anyhow::Result<u64> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + ACCEPT_TIMEOUT;
    let socket = loop {
        match listener.accept() {
            Ok((socket, _)) => break socket,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    bail!("no client connected within {ACCEPT_TIMEOUT:?}");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => return Err(error).context("accepting the TLS client failed"),
        }
    };
    socket.set_nonblocking(false)?;
    socket.set_nodelay(true)?;
    let mut stream = acceptor
        .accept(socket)
        .map_err(|error| anyhow::anyhow!("TLS handshake failed on the server: {error}"))?;

    let response = response();
    let mut answered = 0;
    let mut buffer = [0u8; MESSAGE_BYTES];
    let mut filled = 0;
    loop {
        match stream.ssl_read(&mut buffer[filled..]) {
            Ok(read) => filled += read,
            Err(error) if error.code() == ErrorCode::ZERO_RETURN => return Ok(answered),
            Err(error) if error.code() == ErrorCode::SYSCALL && error.io_error().is_none() => {
                // The client closed without close_notify.
                return Ok(answered);
            }
            Err(error) => return Err(anyhow::anyhow!("SSL_read on the server failed: {error}")),
        }
        if filled == MESSAGE_BYTES {
            filled = 0;
            write_all(&mut stream, &response)?;
            answered += 1;
        }
    }
}

fn write_all(stream: &mut SslStream<TcpStream>, message: &[u8]) -> anyhow::Result<()> {
    let written = stream
        .ssl_write(message)
        .map_err(|error| anyhow::anyhow!("SSL_write failed: {error}"))?;
    // Without partial writes enabled, SSL_write_ex writes all or fails.
    if written != message.len() {
        bail!("SSL_write wrote {written} of {} bytes", message.len());
    }
    Ok(())
}

/// Connects to `address`, then times `calls` client calls in bursts: the
/// client writes `burst` requests, then reads the `burst` responses.
/// Returns microseconds of wall time per client call.
///
/// The client and server run on different threads, so on a machine with
/// two or more cores the server's calls overlap the client's.
pub fn time_calls(address: SocketAddr, calls: u64, burst: usize) -> anyhow::Result<f64> {
    let mut builder = SslConnector::builder(SslMethod::tls())?;
    // The server's certificate is self-signed, and only its cost matters.
    builder.set_verify(SslVerifyMode::NONE);
    let connector = builder.build();
    let socket = TcpStream::connect(address)
        .with_context(|| format!("cannot connect to the TLS server at {address}"))?;
    socket.set_nodelay(true)?;
    let mut stream = connector
        .connect("localhost", socket)
        .map_err(|error| anyhow::anyhow!("TLS handshake failed on the client: {error}"))?;

    let request = request();
    let exchange_burst = |stream: &mut SslStream<TcpStream>| -> anyhow::Result<u64> {
        for _ in 0..burst {
            write_all(stream, &request)?;
        }
        let mut reads = 0;
        let mut remaining = burst * MESSAGE_BYTES;
        let mut buffer = [0u8; MESSAGE_BYTES];
        while remaining > 0 {
            let wanted = remaining.min(MESSAGE_BYTES);
            let read = stream
                .ssl_read(&mut buffer[..wanted])
                .map_err(|error| anyhow::anyhow!("SSL_read on the client failed: {error}"))?;
            remaining -= read;
            reads += 1;
        }
        Ok(burst as u64 + reads)
    };

    // The first exchange also reads the TLS 1.3 session tickets, and faults
    // in the code paths; neither belongs in the timing.
    exchange_burst(&mut stream)?;

    let started = Instant::now();
    let mut done = 0;
    while done < calls {
        done += exchange_burst(&mut stream)?;
    }
    let elapsed = started.elapsed();

    let _ = stream.shutdown();
    Ok(elapsed.as_secs_f64() * 1e6 / done as f64)
}
