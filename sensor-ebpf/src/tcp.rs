//! cgroup_skb hooks on the cgroup v2 root: TCP payloads of every socket on
//! the node, in both directions, for cleartext protocol parsing.
//!
//! The cgroup hooks see packets at the socket, so loopback and traffic
//! between network namespaces are covered. Packets start at the IP header.
//! A flow the daemon has marked `FLOW_IGNORE` (TLS ciphertext, protocols it
//! does not parse) costs one map lookup and sends nothing.

use aya_ebpf::{
    bindings::__sk_buff,
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_socket_cookie, bpf_ktime_get_ns,
        bpf_skb_cgroup_id, generated::bpf_skb_load_bytes,
    },
    macros::cgroup_skb,
    programs::SkBuffContext,
};
use common::{
    event::{SegmentScratch, FLOW_IGNORE, MAX_CHUNKS_PER_CALL, MAX_CHUNK_DATA},
    Counter, EventKind, FlowKey, SegmentHeader,
};

use crate::{
    emit::output_record,
    maps::{config, count, FLOWS, SEGMENT_SCRATCH},
};

const IPPROTO_TCP: u8 = 6;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const EGRESS: u32 = 0;
const INGRESS: u32 = 1;
/// The loopback device is interface 1 in every network namespace.
const LOOPBACK_IFINDEX: u32 = 1;
/// cgroup_skb programs return 1 to let the packet pass.
const PASS: i32 = 1;
const MAX_PACKET_BYTES: u32 = MAX_CHUNKS_PER_CALL * MAX_CHUNK_DATA as u32;

#[cgroup_skb]
pub fn tcp_egress(ctx: SkBuffContext) -> i32 {
    capture(&ctx, EGRESS);
    PASS
}

#[cgroup_skb]
pub fn tcp_ingress(ctx: SkBuffContext) -> i32 {
    // A packet arriving on loopback was already captured at its sender's
    // egress, so only its first packet per flow is sent, header only, to
    // tell the daemon which socket receives the flow.
    capture(&ctx, INGRESS);
    PASS
}

/// Reads `N` bytes at `offset` of the packet.
#[inline(always)]
fn load<const N: usize>(ctx: &SkBuffContext, offset: u32) -> Option<[u8; N]> {
    let mut bytes = [0u8; N];
    // SAFETY: the destination is a stack array of exactly N bytes; the
    // helper checks the packet bounds itself.
    let result = unsafe {
        bpf_skb_load_bytes(
            ctx.skb.skb as *const _,
            offset,
            bytes.as_mut_ptr().cast(),
            N as u32,
        )
    };
    if result == 0 {
        Some(bytes)
    } else {
        None
    }
}

/// Addresses, ports and offsets of a TCP packet.
struct TcpPacket {
    family: u16,
    source: [u8; 16],
    destination: [u8; 16],
    source_port: u16,
    destination_port: u16,
    seq: u32,
    flags: u8,
    payload_offset: u32,
    payload_len: u32,
}

#[inline(always)]
fn parse(ctx: &SkBuffContext) -> Option<TcpPacket> {
    let skb: *const __sk_buff = ctx.skb.skb;
    // SAFETY: the context pointer is valid for the program's run.
    let packet_len = unsafe { (*skb).len };
    let first: [u8; 1] = load(ctx, 0)?;

    let mut source = [0u8; 16];
    let mut destination = [0u8; 16];
    let (family, tcp_offset) = match first[0] >> 4 {
        4 => {
            let header: [u8; 20] = load(ctx, 0)?;
            if header[9] != IPPROTO_TCP {
                return None;
            }
            // More-fragments flag or a fragment offset: not a whole segment.
            if header[6] & 0x3f != 0 || header[7] != 0 {
                count(Counter::UnparsedPackets, 1);
                return None;
            }
            source[..4].copy_from_slice(&header[12..16]);
            destination[..4].copy_from_slice(&header[16..20]);
            (AF_INET, ((header[0] & 0x0f) as u32) * 4)
        }
        6 => {
            let header: [u8; 40] = load(ctx, 0)?;
            // NOTE: IPv6 extension headers before TCP are not walked; such
            // packets are counted as unparsed.
            if header[6] != IPPROTO_TCP {
                if header[6] != 17 && header[6] != 58 {
                    count(Counter::UnparsedPackets, 1);
                }
                return None;
            }
            source.copy_from_slice(&header[8..24]);
            destination.copy_from_slice(&header[24..40]);
            (AF_INET6, 40)
        }
        _ => return None,
    };

    let tcp: [u8; 14] = load(ctx, tcp_offset)?;
    let data_offset = ((tcp[12] >> 4) as u32) * 4;
    let payload_offset = tcp_offset + data_offset;
    Some(TcpPacket {
        family,
        source,
        destination,
        source_port: u16::from_be_bytes([tcp[0], tcp[1]]),
        destination_port: u16::from_be_bytes([tcp[2], tcp[3]]),
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        flags: tcp[13],
        payload_offset,
        payload_len: packet_len.saturating_sub(payload_offset),
    })
}

#[inline(always)]
fn capture(ctx: &SkBuffContext, hook: u32) {
    let Some(packet) = parse(ctx) else {
        return;
    };
    if packet.payload_len == 0 {
        return;
    }
    let (flow, a_to_b) = FlowKey::new(
        packet.family,
        &packet.source,
        packet.source_port,
        &packet.destination,
        packet.destination_port,
    );

    // SAFETY: the verdict is copied out at once.
    let verdict = unsafe { FLOWS.get(flow) }.copied();
    if verdict == Some(FLOW_IGNORE) {
        count(Counter::IgnoredBytes, packet.payload_len as u64);
        return;
    }

    // SAFETY: the context pointer is valid for the program's run.
    let ingress_ifindex = unsafe { (*ctx.skb.skb).ingress_ifindex };
    let header_only = hook == INGRESS && ingress_ifindex == LOOPBACK_IFINDEX;
    if header_only && verdict.is_some() {
        return;
    }
    if verdict.is_none() {
        // Remember the flow, so later loopback ingress packets are skipped.
        let _ = FLOWS.insert(flow, 0u32, 0);
    }

    let config = config();
    let mut cap = config.max_packet_bytes;
    if cap == 0 || cap > MAX_PACKET_BYTES {
        cap = MAX_PACKET_BYTES;
    }
    let sent_len = if header_only {
        0
    } else if packet.payload_len > cap {
        count(
            Counter::TruncatedSegmentBytes,
            (packet.payload_len - cap) as u64,
        );
        cap
    } else {
        packet.payload_len
    };

    let Some(scratch) = SEGMENT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: the per-CPU scratch slot belongs to this program run alone.
    let scratch: &mut SegmentScratch = unsafe { &mut *scratch };
    let skb = ctx.skb.skb;
    // Ingress runs in softirq context, where the current task is whatever
    // was interrupted; only egress carries the sending process.
    let (pid, comm) = if hook == EGRESS {
        (
            (bpf_get_current_pid_tgid() >> 32) as u32,
            bpf_get_current_comm().unwrap_or_default(),
        )
    } else {
        (0, [0u8; 16])
    };
    scratch.header = SegmentHeader {
        kind: EventKind::TcpSegment as u32,
        hook,
        // SAFETY: the helpers below have no preconditions beyond a valid
        // context pointer.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        flow,
        a_to_b: a_to_b as u32,
        seq: packet.seq,
        wire_len: packet.payload_len,
        data_len: 0,
        packet_offset: 0,
        tcp_flags: packet.flags as u32,
        // SAFETY: as above.
        cgroup_id: unsafe { bpf_skb_cgroup_id(skb) },
        // SAFETY: as above.
        socket_cookie: unsafe { bpf_get_socket_cookie(skb.cast()) },
        pid,
        captured_len: sent_len,
        comm,
    };

    if sent_len == 0 {
        output_record(
            &config,
            scratch as *const SegmentScratch as *const u8,
            core::mem::size_of::<SegmentHeader>(),
        );
        return;
    }
    for index in 0..MAX_CHUNKS_PER_CALL {
        let offset = index * MAX_CHUNK_DATA as u32;
        if offset >= sent_len {
            break;
        }
        let remaining = sent_len - offset;
        // A length in 1..=MAX_CHUNK_DATA that the verifier can prove.
        let chunk_len = if remaining > MAX_CHUNK_DATA as u32 {
            MAX_CHUNK_DATA as u32
        } else {
            ((remaining - 1) & (MAX_CHUNK_DATA as u32 - 1)) + 1
        };
        // SAFETY: the destination is the scratch data array, at least
        // chunk_len bytes long; the helper checks the packet bounds.
        let loaded = unsafe {
            bpf_skb_load_bytes(
                skb as *const _,
                packet.payload_offset + offset,
                scratch.data.as_mut_ptr().cast(),
                chunk_len,
            )
        };
        if loaded != 0 {
            count(Counter::ReadFaults, 1);
            return;
        }
        scratch.header.seq = packet.seq.wrapping_add(offset);
        scratch.header.packet_offset = offset;
        scratch.header.data_len = chunk_len;
        count(Counter::SegmentsSent, 1);
        output_record(
            &config,
            scratch as *const SegmentScratch as *const u8,
            core::mem::size_of::<SegmentHeader>() + chunk_len as usize,
        );
    }
}
