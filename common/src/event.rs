//! Records the eBPF programs send to user space through the event ring buffer.
//!
//! Every record starts with a `u32` [`EventKind`], so the consumer can tell
//! records apart before it knows their size.

/// Maximum payload bytes in one [`ChunkHeader`] record. A TLS call that moves
/// more bytes is split into several records.
pub const MAX_CHUNK_DATA: usize = 4096;

/// Maximum records one TLS call is split into. Bytes past
/// `MAX_CHUNKS_PER_CALL * MAX_CHUNK_DATA` (or the configured smaller cap) are
/// counted as truncated, not sent.
pub const MAX_CHUNKS_PER_CALL: u32 = 16;

/// Length of the kernel's task command name (`TASK_COMM_LEN`).
pub const COMM_LEN: usize = 16;

/// Kind tag at the start of every ring-buffer record.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A [`ChunkHeader`] followed by `data_len` payload bytes.
    TlsChunk = 1,
    /// A [`SessionEnd`]: the TLS session object was freed.
    TlsSessionEnd = 2,
    /// A [`SessionSocket`]: the TCP socket a TLS session reads and writes.
    TlsSessionSocket = 3,
}

impl EventKind {
    pub fn from_u32(value: u32) -> Option<Self> {
        match value {
            1 => Some(Self::TlsChunk),
            2 => Some(Self::TlsSessionEnd),
            3 => Some(Self::TlsSessionSocket),
            _ => None,
        }
    }
}

/// Which way plaintext moved, seen from the process that made the TLS call.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The process sent these bytes (`SSL_write`, `SSL_write_ex`).
    Egress = 0,
    /// The process received these bytes (`SSL_read`, `SSL_read_ex`).
    Ingress = 1,
}

impl Direction {
    pub fn from_u32(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::Egress),
            1 => Some(Self::Ingress),
            _ => None,
        }
    }
}

/// The OpenSSL function whose call is in progress on a thread.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsCallKind {
    Write = 0,
    Read = 1,
    WriteEx = 2,
    ReadEx = 3,
    Handshake = 4,
}

/// Header of a plaintext chunk record; `data_len` payload bytes follow it in
/// the same record.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ChunkHeader {
    /// Always `EventKind::TlsChunk as u32`.
    pub kind: u32,
    /// Process id (thread group id).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// A [`Direction`] value.
    pub direction: u32,
    /// `CLOCK_MONOTONIC` time of the call's return, in nanoseconds.
    pub timestamp_ns: u64,
    /// Address of the `SSL` object: with `pid`, it identifies one TLS session.
    pub ssl: u64,
    /// Socket file descriptor the session was last seen using, or -1.
    pub fd: i32,
    /// Bytes of payload in this record.
    pub data_len: u32,
    /// Offset of this record's payload within the call's bytes.
    pub call_offset: u32,
    /// Bytes the call moved in total, as the library returned.
    pub call_len: u32,
    /// Bytes of the call not sent because of the per-call cap.
    pub truncated_len: u32,
    /// Process command name, NUL-padded.
    pub comm: [u8; COMM_LEN],
    /// Explicit padding so the struct has no hidden bytes; always zero.
    pub reserved: u32,
}

/// Record sent when `SSL_free` releases a session object.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SessionEnd {
    /// Always `EventKind::TlsSessionEnd as u32`.
    pub kind: u32,
    pub pid: u32,
    pub timestamp_ns: u64,
    pub ssl: u64,
}

/// Record sent the first time a TLS session is seen using a socket fd, with
/// the socket's addresses read from the kernel's `struct sock`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SessionSocket {
    /// Always `EventKind::TlsSessionSocket as u32`.
    pub kind: u32,
    pub pid: u32,
    pub timestamp_ns: u64,
    pub ssl: u64,
    pub fd: i32,
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u16,
    /// Local port, host byte order.
    pub local_port: u16,
    /// Remote port, host byte order.
    pub remote_port: u16,
    /// Explicit padding; always zero.
    pub reserved: u16,
    /// Local address: 4 bytes for IPv4 (network order), else 16.
    pub local_addr: [u8; 16],
    /// Remote address, laid out as `local_addr`.
    pub remote_addr: [u8; 16],
    /// Explicit padding; always zero.
    pub reserved2: u32,
}

/// Size of the largest record: the ring buffer must hold many of these.
pub const MAX_RECORD_LEN: usize = core::mem::size_of::<ChunkHeader>() + MAX_CHUNK_DATA;

/// Per-CPU scratch space where a chunk record is assembled before it is copied
/// into the ring buffer with its real length.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ChunkScratch {
    pub header: ChunkHeader,
    pub data: [u8; MAX_CHUNK_DATA],
}
