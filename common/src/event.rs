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
    /// A [`SegmentHeader`] followed by `data_len` bytes of TCP payload.
    TcpSegment = 4,
    /// A [`TcpStateChange`]: a TCP connection opened or closed.
    TcpState = 5,
}

impl EventKind {
    pub fn from_u32(value: u32) -> Option<Self> {
        match value {
            1 => Some(Self::TlsChunk),
            2 => Some(Self::TlsSessionEnd),
            3 => Some(Self::TlsSessionSocket),
            4 => Some(Self::TcpSegment),
            5 => Some(Self::TcpState),
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

/// Both endpoints of a TCP connection, ordered so that the two directions
/// of one connection have the same key: endpoint `a` is the one whose
/// address bytes, then port, compare lower.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Address of endpoint a: 4 bytes for IPv4 (network order), else 16.
    pub addr_a: [u8; 16],
    pub addr_b: [u8; 16],
    /// Ports, host byte order.
    pub port_a: u16,
    pub port_b: u16,
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u16,
    /// Explicit padding; always zero.
    pub reserved: u16,
}

impl FlowKey {
    /// Builds the key of a packet from `source` to `destination`; returns
    /// the key and whether the packet goes from a to b.
    #[inline(always)]
    pub fn new(
        family: u16,
        source: &[u8; 16],
        source_port: u16,
        destination: &[u8; 16],
        destination_port: u16,
    ) -> (Self, bool) {
        let mut source_is_a = source_port <= destination_port;
        let mut index = 0;
        while index < 16 {
            if source[index] != destination[index] {
                source_is_a = source[index] < destination[index];
                break;
            }
            index += 1;
        }
        let key = if source_is_a {
            FlowKey {
                addr_a: *source,
                addr_b: *destination,
                port_a: source_port,
                port_b: destination_port,
                family,
                reserved: 0,
            }
        } else {
            FlowKey {
                addr_a: *destination,
                addr_b: *source,
                port_a: destination_port,
                port_b: source_port,
                family,
                reserved: 0,
            }
        };
        (key, source_is_a)
    }
}

/// Header of a TCP payload record captured at a cgroup socket hook.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SegmentHeader {
    /// Always `EventKind::TcpSegment as u32`.
    pub kind: u32,
    /// 0: the packet left a local socket (egress); 1: it arrived (ingress).
    pub hook: u32,
    pub timestamp_ns: u64,
    pub flow: FlowKey,
    /// Non-zero when the packet goes from endpoint a to endpoint b.
    pub a_to_b: u32,
    /// TCP sequence number of the first byte of this record's payload.
    pub seq: u32,
    /// Payload bytes of the whole packet on the wire.
    pub wire_len: u32,
    /// Payload bytes in this record.
    pub data_len: u32,
    /// Offset of this record's payload in the packet's payload.
    pub packet_offset: u32,
    /// TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
    pub tcp_flags: u32,
    /// cgroup v2 id (the inode of its directory) of the local socket.
    pub cgroup_id: u64,
    /// Socket cookie of the local socket.
    pub socket_cookie: u64,
    /// Process id when the hook ran in the sending process's context,
    /// else 0 (ingress always runs in softirq context).
    pub pid: u32,
    /// Payload bytes of the packet sent in all its records; less than
    /// `wire_len` when the per-packet cap cut it.
    pub captured_len: u32,
    pub comm: [u8; COMM_LEN],
}

/// Record of a TCP state change that matters to the daemon.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TcpStateChange {
    /// Always `EventKind::TcpState as u32`.
    pub kind: u32,
    /// New state: 1 `TCP_ESTABLISHED`, 7 `TCP_CLOSE` (include/net/tcp_states.h).
    pub new_state: u32,
    pub timestamp_ns: u64,
    pub flow: FlowKey,
    /// Non-zero when endpoint a is the local socket.
    pub local_is_a: u32,
    /// Explicit padding; always zero.
    pub reserved: u32,
    /// Payload bytes received and acknowledged-as-sent by the local socket
    /// (`tcp_sock.bytes_received`, `tcp_sock.bytes_acked`); 0 when unknown.
    pub bytes_received: u64,
    pub bytes_acked: u64,
}

/// Per-CPU scratch space for a TCP payload record.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SegmentScratch {
    pub header: SegmentHeader,
    pub data: [u8; MAX_CHUNK_DATA],
}

/// Flow verdicts the daemon writes into the `FLOWS` map.
pub const FLOW_CAPTURE: u32 = 0;
/// Stop sending this flow's payload: ciphertext, or not a parsed protocol.
pub const FLOW_IGNORE: u32 = 1;

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
