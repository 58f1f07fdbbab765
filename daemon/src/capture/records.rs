//! Decoding of ring-buffer records into owned events.
//!
//! The kernel side is trusted to write well-formed records, but the decoder
//! still checks every length, because a bad record must cost one counter,
//! never the daemon.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use common::{
    ChunkHeader, Direction, EventKind, FlowKey, SegmentHeader, SessionEnd, SessionSocket,
    TcpStateChange,
};

/// Plaintext moved by one TLS call, or one part of it.
#[derive(Clone, Debug)]
pub struct Chunk {
    pub pid: u32,
    pub tid: u32,
    pub direction: Direction,
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub timestamp_ns: u64,
    pub ssl: u64,
    pub fd: i32,
    pub call_offset: u32,
    pub call_len: u32,
    pub truncated_len: u32,
    pub process: String,
    pub data: Vec<u8>,
}

/// The TCP connection a TLS session uses, as the kernel saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    pub pid: u32,
    pub ssl: u64,
    pub fd: i32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// One decoded record.
#[derive(Clone, Debug)]
pub enum CaptureEvent {
    Chunk(Chunk),
    SessionSocket(SocketInfo),
    SessionEnd {
        pid: u32,
        ssl: u64,
        timestamp_ns: u64,
    },
    Segment(Segment),
    TcpState(TcpState),
}

/// A TCP connection's two endpoints, in the order of [`FlowKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    pub a: SocketAddr,
    pub b: SocketAddr,
}

impl Flow {
    /// Decodes a kernel flow key.
    pub fn from_key(key: &FlowKey) -> Result<Self, RecordError> {
        Ok(Self {
            a: socket_address(key.family, &key.addr_a, key.port_a)?,
            b: socket_address(key.family, &key.addr_b, key.port_b)?,
        })
    }

    /// The kernel key of this flow, for verdicts written to the `FLOWS` map.
    pub fn to_key(&self) -> FlowKey {
        fn parts(address: SocketAddr) -> (u16, [u8; 16]) {
            let mut bytes = [0u8; 16];
            match address.ip() {
                IpAddr::V4(ip) => {
                    bytes[..4].copy_from_slice(&ip.octets());
                    (2, bytes)
                }
                IpAddr::V6(ip) => (10, ip.octets()),
            }
        }
        let (family, addr_a) = parts(self.a);
        let (_, addr_b) = parts(self.b);
        FlowKey {
            addr_a,
            addr_b,
            port_a: self.a.port(),
            port_b: self.b.port(),
            family,
            reserved: 0,
        }
    }
}

/// TCP payload captured at a socket hook.
#[derive(Clone, Debug)]
pub struct Segment {
    /// The packet left a local socket (true) or arrived at one.
    pub egress: bool,
    pub timestamp_ns: u64,
    pub flow: Flow,
    pub a_to_b: bool,
    pub seq: u32,
    /// Payload bytes of this record's part of the packet on the wire.
    pub wire_len: u32,
    pub tcp_flags: u8,
    pub cgroup_id: u64,
    pub socket_cookie: u64,
    /// Sending process, for egress records; 0 otherwise.
    pub pid: u32,
    pub process: String,
    pub data: Vec<u8>,
}

/// A TCP connection reached ESTABLISHED or CLOSE.
#[derive(Clone, Copy, Debug)]
pub struct TcpState {
    pub established: bool,
    pub timestamp_ns: u64,
    pub flow: Flow,
    pub local_is_a: bool,
    pub bytes_received: u64,
    pub bytes_acked: u64,
}

/// Why a record was rejected.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record of {0} bytes is too short")]
    TooShort(usize),
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
    #[error("record declares {declared} payload bytes but carries {carried}")]
    BadLength { declared: u32, carried: usize },
    #[error("invalid direction {0}")]
    BadDirection(u32),
    #[error("unknown address family {0}")]
    BadFamily(u16),
}

/// Copies a `repr(C)` record out of an unaligned byte buffer.
fn read_struct<T: Copy>(bytes: &[u8]) -> Result<T, RecordError> {
    if bytes.len() < std::mem::size_of::<T>() {
        return Err(RecordError::TooShort(bytes.len()));
    }
    // SAFETY: the length is checked above, read_unaligned has no alignment
    // requirement, and T is one of common's integer-only records, for which
    // every bit pattern is valid.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

fn process_name(comm: &[u8]) -> String {
    let end = comm
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

fn socket_address(family: u16, address: &[u8; 16], port: u16) -> Result<SocketAddr, RecordError> {
    let ip = match family {
        2 => IpAddr::V4(Ipv4Addr::new(
            address[0], address[1], address[2], address[3],
        )),
        10 => IpAddr::V6(Ipv6Addr::from(*address)),
        other => return Err(RecordError::BadFamily(other)),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Decodes one record.
pub fn decode(bytes: &[u8]) -> Result<CaptureEvent, RecordError> {
    let kind: u32 = read_struct(bytes)?;
    match EventKind::from_u32(kind).ok_or(RecordError::UnknownKind(kind))? {
        EventKind::TlsChunk => {
            let header: ChunkHeader = read_struct(bytes)?;
            let payload = &bytes[std::mem::size_of::<ChunkHeader>()..];
            if header.data_len as usize > payload.len() {
                return Err(RecordError::BadLength {
                    declared: header.data_len,
                    carried: payload.len(),
                });
            }
            let direction = Direction::from_u32(header.direction)
                .ok_or(RecordError::BadDirection(header.direction))?;
            Ok(CaptureEvent::Chunk(Chunk {
                pid: header.pid,
                tid: header.tid,
                direction,
                timestamp_ns: header.timestamp_ns,
                ssl: header.ssl,
                fd: header.fd,
                call_offset: header.call_offset,
                call_len: header.call_len,
                truncated_len: header.truncated_len,
                process: process_name(&header.comm),
                data: payload[..header.data_len as usize].to_vec(),
            }))
        }
        EventKind::TlsSessionEnd => {
            let record: SessionEnd = read_struct(bytes)?;
            Ok(CaptureEvent::SessionEnd {
                pid: record.pid,
                ssl: record.ssl,
                timestamp_ns: record.timestamp_ns,
            })
        }
        EventKind::TcpSegment => {
            let header: SegmentHeader = read_struct(bytes)?;
            let payload = &bytes[std::mem::size_of::<SegmentHeader>()..];
            if header.data_len as usize > payload.len() {
                return Err(RecordError::BadLength {
                    declared: header.data_len,
                    carried: payload.len(),
                });
            }
            // The record's share of the packet: its own bytes, plus the cut
            // tail when it is the packet's last record.
            let after_offset = header.wire_len.saturating_sub(header.packet_offset);
            let is_last = header.packet_offset + header.data_len >= header.captured_len;
            let wire_len = if is_last {
                after_offset
            } else {
                header.data_len
            };
            Ok(CaptureEvent::Segment(Segment {
                egress: header.hook == 0,
                timestamp_ns: header.timestamp_ns,
                flow: Flow::from_key(&header.flow)?,
                a_to_b: header.a_to_b != 0,
                seq: header.seq,
                wire_len,
                tcp_flags: header.tcp_flags as u8,
                cgroup_id: header.cgroup_id,
                socket_cookie: header.socket_cookie,
                pid: header.pid,
                process: process_name(&header.comm),
                data: payload[..header.data_len as usize].to_vec(),
            }))
        }
        EventKind::TcpState => {
            let record: TcpStateChange = read_struct(bytes)?;
            Ok(CaptureEvent::TcpState(TcpState {
                established: record.new_state == 1,
                timestamp_ns: record.timestamp_ns,
                flow: Flow::from_key(&record.flow)?,
                local_is_a: record.local_is_a != 0,
                bytes_received: record.bytes_received,
                bytes_acked: record.bytes_acked,
            }))
        }
        EventKind::TlsSessionSocket => {
            let record: SessionSocket = read_struct(bytes)?;
            Ok(CaptureEvent::SessionSocket(SocketInfo {
                pid: record.pid,
                ssl: record.ssl,
                fd: record.fd,
                local: socket_address(record.family, &record.local_addr, record.local_port)?,
                remote: socket_address(record.family, &record.remote_addr, record.remote_port)?,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_bytes<T>(value: &T) -> Vec<u8> {
        // SAFETY: test records are repr(C) integer structs without padding.
        unsafe {
            std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>())
        }
        .to_vec()
    }

    fn chunk_header(data_len: u32) -> ChunkHeader {
        ChunkHeader {
            kind: EventKind::TlsChunk as u32,
            pid: 42,
            tid: 43,
            direction: Direction::Ingress as u32,
            timestamp_ns: 7,
            ssl: 0xdead_beef,
            fd: 5,
            data_len,
            call_offset: 0,
            call_len: data_len,
            truncated_len: 0,
            comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0",
            reserved: 0,
        }
    }

    #[test]
    fn chunk_decoded() {
        let mut bytes = as_bytes(&chunk_header(5));
        bytes.extend_from_slice(b"hello");
        let CaptureEvent::Chunk(chunk) = decode(&bytes).unwrap() else {
            panic!("expected a chunk");
        };
        assert_eq!(chunk.data, b"hello");
        assert_eq!(chunk.process, "curl");
        assert_eq!(chunk.direction, Direction::Ingress);
        assert_eq!(chunk.pid, 42);
    }

    #[test]
    fn chunk_longer_than_record_rejected() {
        let mut bytes = as_bytes(&chunk_header(100));
        bytes.extend_from_slice(b"short");
        assert_eq!(
            decode(&bytes).unwrap_err(),
            RecordError::BadLength {
                declared: 100,
                carried: 5
            }
        );
    }

    #[test]
    fn truncated_and_unknown_records_rejected() {
        assert_eq!(decode(&[1, 0]).unwrap_err(), RecordError::TooShort(2));
        assert_eq!(
            decode(&[9, 0, 0, 0]).unwrap_err(),
            RecordError::UnknownKind(9)
        );
        let bytes = as_bytes(&chunk_header(0));
        assert!(matches!(
            decode(&bytes[..20]),
            Err(RecordError::TooShort(20))
        ));
    }

    #[test]
    fn ipv4_socket_decoded() {
        let record = SessionSocket {
            kind: EventKind::TlsSessionSocket as u32,
            pid: 1,
            timestamp_ns: 2,
            ssl: 3,
            fd: 4,
            family: 2,
            local_port: 443,
            remote_port: 50_000,
            reserved: 0,
            local_addr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            remote_addr: [10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            reserved2: 0,
        };
        let CaptureEvent::SessionSocket(info) = decode(&as_bytes(&record)).unwrap() else {
            panic!("expected a socket record");
        };
        assert_eq!(info.local, "127.0.0.1:443".parse().unwrap());
        assert_eq!(info.remote, "10.1.2.3:50000".parse().unwrap());
    }
}
