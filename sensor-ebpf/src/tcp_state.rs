//! `inet_sock_set_state` raw tracepoint: TCP connections reaching
//! ESTABLISHED and CLOSE, with the bytes they moved, so the daemon can time
//! connections and free their state when they end.

use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, bpf_probe_read_kernel},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use common::{Counter, EventKind, FlowKey, TcpStateChange};

use crate::{
    emit::output_record,
    maps::{config, count, EstablishedFlow, ESTABLISHED},
};

const TCP_ESTABLISHED: i32 = 1;
const TCP_CLOSE: i32 = 7;
const IPPROTO_TCP: u16 = 6;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

#[inline(always)]
fn read<T>(base: u64, offset: u32) -> Option<T> {
    // SAFETY: a kernel read with fault handling.
    unsafe { bpf_probe_read_kernel((base + offset as u64) as *const T) }.ok()
}

#[raw_tracepoint(tracepoint = "inet_sock_set_state")]
pub fn inet_sock_set_state(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(const struct sock *sk, const int oldstate, const int newstate)
    let new_state: u64 = ctx.arg(2);
    let new_state = new_state as i32;
    if new_state != TCP_ESTABLISHED && new_state != TCP_CLOSE {
        return 0;
    }
    let sock: u64 = ctx.arg(0);
    let _ = send_state(sock, new_state);
    0
}

#[inline(always)]
fn send_state(sock: u64, new_state: i32) -> Option<()> {
    let config = config();
    let offsets = &config.offsets;
    if offsets.valid == 0 {
        return None;
    }
    // The tracepoint also fires for DCCP and SCTP sockets.
    let protocol: u16 = read(sock, offsets.sock_protocol)?;
    if protocol != IPPROTO_TCP {
        return None;
    }

    let family: u16 = read(sock, offsets.sock_family)?;
    let mut local = [0u8; 16];
    let mut remote = [0u8; 16];
    match family {
        AF_INET => {
            let local_v4: [u8; 4] = read(sock, offsets.sock_rcv_saddr)?;
            let remote_v4: [u8; 4] = read(sock, offsets.sock_daddr)?;
            local[..4].copy_from_slice(&local_v4);
            remote[..4].copy_from_slice(&remote_v4);
        }
        AF_INET6 => {
            local = read(sock, offsets.sock_v6_rcv_saddr)?;
            remote = read(sock, offsets.sock_v6_daddr)?;
        }
        _ => return None,
    }
    let local_port: u16 = read(sock, offsets.sock_num)?;
    let remote_port: u16 = u16::from_be(read(sock, offsets.sock_dport)?);
    let (mut flow, mut local_is_a) = FlowKey::new(family, &local, local_port, &remote, remote_port);

    if new_state == TCP_ESTABLISHED {
        let remembered = EstablishedFlow {
            flow,
            local_is_a: local_is_a as u32,
        };
        let _ = ESTABLISHED.insert(sock, remembered, 0);
    } else {
        // SAFETY: copied out before the entry is removed.
        if let Some(remembered) = unsafe { ESTABLISHED.get(sock) }.copied() {
            flow = remembered.flow;
            local_is_a = remembered.local_is_a != 0;
        }
        let _ = ESTABLISHED.remove(sock);
    }

    let (bytes_received, bytes_acked) = if new_state == TCP_CLOSE {
        (
            read(sock, offsets.tcp_bytes_received).unwrap_or(0),
            read(sock, offsets.tcp_bytes_acked).unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    let record = TcpStateChange {
        kind: EventKind::TcpState as u32,
        new_state: new_state as u32,
        // SAFETY: the helper has no preconditions.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        flow,
        local_is_a: local_is_a as u32,
        reserved: 0,
        bytes_received,
        bytes_acked,
    };
    count(Counter::StateChanges, 1);
    output_record(
        &config,
        (&record as *const TcpStateChange).cast(),
        core::mem::size_of::<TcpStateChange>(),
    );
    Some(())
}
