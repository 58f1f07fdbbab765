//! Cleartext HTTP/1.1 on 127.0.0.1: a small server, a client load paced to
//! a request rate, and a holder of many idle keep-alive connections.
//!
//! Each request and each response goes out in its own `write` on a socket
//! with `TCP_NODELAY`, so on loopback each becomes one TCP segment, and one
//! record of the sensor's socket hooks. Both ends run in this process, on
//! the benchmark's tokio runtime.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    runtime::Runtime,
    sync::{watch, Semaphore},
    task::JoinSet,
};

/// The request of every client: a small REST call.
pub const REQUEST: &[u8] =
    b"GET /api/items/42 HTTP/1.1\r\nHost: bench.local\r\nAccept: application/json\r\n\r\n";

/// The response to every request.
pub const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";

/// Extra time a load gets beyond its duration before it counts as hung.
const LOAD_GRACE: Duration = Duration::from_secs(15);

/// An HTTP server on 127.0.0.1 that answers every request with
/// [`RESPONSE`], after an optional delay; it stops when dropped.
pub struct Server {
    pub address: SocketAddr,
    shutdown: watch::Sender<bool>,
}

impl Server {
    /// Starts the server. With `delay`, each response waits that long on
    /// tokio's timer, which has millisecond granularity, so 1 ms lasts 1 to
    /// 2 ms.
    pub fn start(runtime: &Runtime, delay: Option<Duration>) -> anyhow::Result<Self> {
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .context("cannot bind the HTTP server to 127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let (shutdown, stopped) = watch::channel(false);
        runtime.spawn(accept_loop(listener, delay, stopped));
        Ok(Self { address, shutdown })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    delay: Option<Duration>,
    stopped: watch::Receiver<bool>,
) {
    let mut shutdown = stopped.clone();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let _ = socket.set_nodelay(true);
                tokio::spawn(serve_connection(socket, delay, stopped.clone()));
            }
        }
    }
}

/// Answers each request head (up to its empty line) on one connection. The
/// clients send no bodies.
async fn serve_connection(
    mut socket: TcpStream,
    delay: Option<Duration>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let read = tokio::select! {
            _ = shutdown.changed() => return,
            read = socket.read(&mut chunk) => read,
        };
        let Ok(read) = read else { return };
        if read == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..read]);
        while let Some(end) = find_head_end(&buffer) {
            buffer.drain(..end);
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if socket.write_all(RESPONSE).await.is_err() {
                return;
            }
        }
    }
}

/// The index just past the first `\r\n\r\n` in `bytes`.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|start| start + 4)
}

/// A client load spread over keep-alive connections.
#[derive(Clone, Copy, Debug)]
pub struct PacedLoad {
    pub connections: usize,
    /// Requests per second over all connections.
    pub requests_per_second: f64,
    pub duration: Duration,
    /// Requests a connection sends before reading their responses.
    pub max_batch: usize,
}

/// What a load achieved.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct LoadOutcome {
    pub requests: u64,
    pub seconds: f64,
}

impl LoadOutcome {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// Runs `load` against `address` and returns what was sent. Each
/// connection keeps to its share of the rate; when the machine cannot keep
/// up, the load runs as fast as it can and the outcome shows the rate
/// achieved.
pub fn run_paced(
    runtime: &Runtime,
    address: SocketAddr,
    load: PacedLoad,
) -> anyhow::Result<LoadOutcome> {
    runtime.block_on(async move {
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        for _ in 0..load.connections {
            tasks.spawn(paced_connection(address, load));
        }
        let mut requests = 0;
        let run = async {
            while let Some(result) = tasks.join_next().await {
                requests += result.context("a load connection panicked")??;
            }
            anyhow::Ok(())
        };
        tokio::time::timeout(load.duration + LOAD_GRACE, run)
            .await
            .context("the HTTP load did not finish in time")??;
        Ok(LoadOutcome {
            requests,
            seconds: started.elapsed().as_secs_f64(),
        })
    })
}

/// One connection's share of a paced load: each millisecond it sends the
/// requests that have come due, in batches of at most `max_batch`.
async fn paced_connection(address: SocketAddr, load: PacedLoad) -> anyhow::Result<u64> {
    let mut socket = TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    socket.set_nodelay(true)?;
    let rate = load.requests_per_second / load.connections as f64;
    let mut responses = vec![0u8; RESPONSE.len() * load.max_batch];
    let started = Instant::now();
    let mut sent: u64 = 0;
    loop {
        let elapsed = started.elapsed();
        if elapsed >= load.duration {
            return Ok(sent);
        }
        let due = (rate * elapsed.as_secs_f64()) as u64;
        if due <= sent {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let batch = ((due - sent) as usize).min(load.max_batch);
        for _ in 0..batch {
            socket.write_all(REQUEST).await?;
        }
        socket
            .read_exact(&mut responses[..batch * RESPONSE.len()])
            .await
            .context("reading HTTP responses failed")?;
        sent += batch as u64;
    }
}

/// Reads one response whose body length is given by `Content-Length`.
async fn read_response(socket: &mut TcpStream) -> anyhow::Result<()> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(end) = find_head_end(&buffer) {
            break end;
        }
        if buffer.len() > 64 * 1024 {
            bail!("response head longer than 64 KiB");
        }
        let read = socket.read(&mut chunk).await?;
        if read == 0 {
            bail!("the server closed the connection before its response");
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let body_len: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .context("response without Content-Length")?;
    let mut remaining = (head_end + body_len).saturating_sub(buffer.len());
    while remaining > 0 {
        let read = socket.read(&mut chunk[..remaining.min(1024)]).await?;
        if read == 0 {
            bail!("the server closed the connection inside a response body");
        }
        remaining -= read;
    }
    Ok(())
}

/// Idle keep-alive connections, each after one request and its response.
pub struct OpenConnections {
    sockets: Vec<TcpStream>,
}

impl OpenConnections {
    /// Opens `count` connections to `address`, at most 256 at a time, and
    /// sends `request` on each and reads its response, because ztapid
    /// tracks a connection once bytes flow on it.
    pub fn open(
        runtime: &Runtime,
        address: SocketAddr,
        request: &'static [u8],
        count: usize,
    ) -> anyhow::Result<Self> {
        runtime.block_on(async move {
            let limit = Arc::new(Semaphore::new(256));
            let mut tasks = JoinSet::new();
            for _ in 0..count {
                let limit = Arc::clone(&limit);
                tasks.spawn(async move {
                    let _permit = limit.acquire_owned().await?;
                    let mut socket = TcpStream::connect(address).await?;
                    socket.set_nodelay(true)?;
                    socket.write_all(request).await?;
                    read_response(&mut socket).await?;
                    anyhow::Ok(socket)
                });
            }
            let mut sockets = Vec::with_capacity(count);
            let run = async {
                while let Some(result) = tasks.join_next().await {
                    sockets.push(result.context("a connecting task panicked")??);
                }
                anyhow::Ok(())
            };
            tokio::time::timeout(Duration::from_secs(120), run)
                .await
                .context("opening the connections did not finish within 120 s")?
                .context("opening a keep-alive connection failed")?;
            if sockets.len() != count {
                bail!("opened {} of {count} connections", sockets.len());
            }
            Ok(Self { sockets })
        })
    }

    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Closes every connection inside the runtime that owns the sockets.
    pub fn close(self, runtime: &Runtime) {
        runtime.block_on(async move { drop(self.sockets) });
    }
}
