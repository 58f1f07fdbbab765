//! The blocking client the `ztapi` command line uses.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use super::{Request, Response};

/// How long the client waits for the daemon's answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("ztapid is not running: no API socket at {path}. Start it with `sudo ztapid`, or pass --socket if it uses another path")]
    NotRunning { path: String },
    #[error("no ztapid is listening on {path} (the socket is left over from a stopped daemon). Start ztapid again")]
    Refused { path: String },
    #[error("permission denied on {path}: the API socket is for root only. Run ztapi as root, for example with sudo")]
    PermissionDenied { path: String },
    #[error("talking to ztapid on {path} failed: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("ztapid sent an invalid reply: {0}")]
    BadReply(String),
    #[error("ztapid rejected the request: {0}")]
    Rejected(String),
}

/// Sends `request` to the daemon at `socket` and returns its data.
pub fn call(socket: &Path, request: &Request) -> Result<serde_json::Value, ClientError> {
    let path = socket.display().to_string();
    let io_error = |source: std::io::Error| ClientError::Io {
        path: path.clone(),
        source,
    };

    let mut stream = UnixStream::connect(socket).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => ClientError::NotRunning { path: path.clone() },
        std::io::ErrorKind::ConnectionRefused => ClientError::Refused { path: path.clone() },
        std::io::ErrorKind::PermissionDenied => {
            ClientError::PermissionDenied { path: path.clone() }
        }
        _ => io_error(error),
    })?;
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(io_error)?;

    let mut line =
        serde_json::to_vec(request).map_err(|error| ClientError::BadReply(error.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io_error)?;

    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .map_err(io_error)?;
    let response: Response = serde_json::from_str(&reply)
        .map_err(|error| ClientError::BadReply(format!("{error}: {reply:.200}")))?;
    if response.ok {
        Ok(response.data.unwrap_or(serde_json::Value::Null))
    } else {
        Err(ClientError::Rejected(response.error.unwrap_or_default()))
    }
}
