//! Uprobes on OpenSSL's libssl (1.1 and 3.x share these signatures).
//!
//! Entry probes save the arguments per thread; return probes read the result
//! and send the plaintext that actually moved. Sending at return means the
//! socket fd is known, because the syscall hook saw the call's I/O.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user},
    macros::{uprobe, uretprobe},
    programs::{ProbeContext, RetProbeContext},
};
use common::{maps::SessionKey, Counter, Direction, TlsCallKind};

use crate::{
    emit::{send_call, send_session_end, Call},
    maps::{config, count, is_captured, ActiveCall, ACTIVE_CALLS, SESSION_FDS},
};

/// Saves the arguments of a TLS call at its entry.
#[inline(always)]
fn enter(ctx: &ProbeContext, kind: TlsCallKind) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_captured(&config(), (pid_tgid >> 32) as u32) {
        return 0;
    }
    let ssl: u64 = ctx.arg(0).unwrap_or(0);
    let (buffer, length_out) = match kind {
        TlsCallKind::Handshake => (0, 0),
        TlsCallKind::Read | TlsCallKind::Write => (ctx.arg(1).unwrap_or(0), 0),
        // SSL_read_ex(ssl, buf, num, size_t *readbytes) and SSL_write_ex
        // (ssl, buf, num, size_t *written).
        TlsCallKind::ReadEx | TlsCallKind::WriteEx => {
            (ctx.arg(1).unwrap_or(0), ctx.arg(3).unwrap_or(0))
        }
    };
    let call = ActiveCall {
        ssl,
        buffer,
        length_out,
        kind: kind as u32,
        fd: -1,
    };
    // A full map only loses this call's fd and payload, which the return
    // probe counts as unmatched.
    let _ = ACTIVE_CALLS.insert(pid_tgid, call, 0);
    0
}

/// Sends the plaintext of a finished call, given its return value.
#[inline(always)]
fn leave(ctx: &RetProbeContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(saved) = ACTIVE_CALLS.get_ptr(pid_tgid) else {
        let config = config();
        if is_captured(&config, (pid_tgid >> 32) as u32) {
            count(Counter::UnmatchedReturns, 1);
        }
        return 0;
    };
    // SAFETY: the entry belongs to this thread, which is the only writer
    // besides the syscall hook of the same thread, and copying it out first
    // means the removal below cannot alias it.
    let call = unsafe { *saved };
    let _ = ACTIVE_CALLS.remove(pid_tgid);

    let pid = (pid_tgid >> 32) as u32;
    let key = SessionKey {
        pid,
        reserved: 0,
        ssl: call.ssl,
    };
    let fd = if call.fd >= 0 {
        call.fd
    } else {
        // SAFETY: copied out at once; the LRU may evict it afterwards.
        unsafe { SESSION_FDS.get(key) }.copied().unwrap_or(-1)
    };

    let kind = call.kind;
    let direction = if kind == TlsCallKind::Read as u32 || kind == TlsCallKind::ReadEx as u32 {
        Direction::Ingress
    } else if kind == TlsCallKind::Write as u32 || kind == TlsCallKind::WriteEx as u32 {
        Direction::Egress
    } else {
        return 0;
    };

    let length = if call.length_out != 0 {
        // The _ex variants return 1 on success and the byte count through
        // the out-parameter.
        let ok: i32 = ctx.ret();
        if ok != 1 {
            return 0;
        }
        // SAFETY: a user pointer read with fault handling.
        match unsafe { bpf_probe_read_user(call.length_out as *const u64) } {
            Ok(length) => length,
            Err(_) => {
                count(Counter::ReadFaults, 1);
                return 0;
            }
        }
    } else {
        let returned: i32 = ctx.ret();
        if returned <= 0 {
            return 0;
        }
        returned as u64
    };
    if length == 0 {
        return 0;
    }
    let length = if length > u32::MAX as u64 {
        u32::MAX
    } else {
        length as u32
    };

    let call = Call {
        pid_tgid,
        ssl: call.ssl,
        fd,
        direction,
        buffer: call.buffer,
        length,
    };
    send_call(&config(), &call);
    0
}

#[uprobe]
pub fn ssl_write_entry(ctx: ProbeContext) -> u32 {
    enter(&ctx, TlsCallKind::Write)
}

#[uretprobe]
pub fn ssl_write_return(ctx: RetProbeContext) -> u32 {
    leave(&ctx)
}

#[uprobe]
pub fn ssl_write_ex_entry(ctx: ProbeContext) -> u32 {
    enter(&ctx, TlsCallKind::WriteEx)
}

#[uprobe]
pub fn ssl_read_entry(ctx: ProbeContext) -> u32 {
    enter(&ctx, TlsCallKind::Read)
}

#[uprobe]
pub fn ssl_read_ex_entry(ctx: ProbeContext) -> u32 {
    enter(&ctx, TlsCallKind::ReadEx)
}

#[uretprobe]
pub fn ssl_read_return(ctx: RetProbeContext) -> u32 {
    leave(&ctx)
}

/// `SSL_do_handshake` does the first socket I/O of a session, which teaches
/// the syscall hook the session's fd before any data moves.
#[uprobe]
pub fn ssl_handshake_entry(ctx: ProbeContext) -> u32 {
    enter(&ctx, TlsCallKind::Handshake)
}

#[uretprobe]
pub fn ssl_handshake_return(_ctx: RetProbeContext) -> u32 {
    let _ = ACTIVE_CALLS.remove(bpf_get_current_pid_tgid());
    0
}

/// `SSL_free(ssl)`: the session is over; the daemon flushes its streams.
#[uprobe]
pub fn ssl_free_entry(ctx: ProbeContext) -> u32 {
    let pid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let config = config();
    if !is_captured(&config, pid) {
        return 0;
    }
    let ssl: u64 = ctx.arg(0).unwrap_or(0);
    let key = SessionKey {
        pid,
        reserved: 0,
        ssl,
    };
    let _ = SESSION_FDS.remove(key);
    send_session_end(&config, pid, ssl);
    0
}
