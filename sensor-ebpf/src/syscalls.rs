//! `sys_enter` raw tracepoint: while a thread is inside a hooked TLS call,
//! the first argument of its socket read or write syscall is the session's
//! fd. The first time a session uses an fd, the hook sends the socket's
//! addresses, so short-lived clients are attributed before they exit.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use common::maps::SessionKey;

use crate::{
    emit::send_socket,
    maps::{config, ACTIVE_CALLS, SESSION_FDS},
    socket::read_session_socket,
};

/// x86_64 syscall numbers of the calls OpenSSL's socket BIO uses, plus their
/// vectored and message variants (arch/x86/entry/syscalls/syscall_64.tbl).
#[cfg(bpf_target_arch = "x86_64")]
const SOCKET_IO_SYSCALLS: [u64; 8] = [0, 1, 19, 20, 44, 45, 46, 47];
/// Offset of `di`, the first syscall argument, in x86_64 `struct pt_regs`
/// (arch/x86/include/asm/ptrace.h): fifteen 8-byte registers come before it.
#[cfg(bpf_target_arch = "x86_64")]
const FIRST_ARGUMENT_OFFSET: usize = 14 * 8;

/// aarch64 numbers from include/uapi/asm-generic/unistd.h: read, write,
/// readv, writev, sendto, recvfrom, sendmsg, recvmsg.
#[cfg(bpf_target_arch = "aarch64")]
const SOCKET_IO_SYSCALLS: [u64; 8] = [63, 64, 65, 66, 206, 207, 211, 212];
/// `regs[0]` starts aarch64 `struct pt_regs` (arch/arm64/include/asm/ptrace.h).
#[cfg(bpf_target_arch = "aarch64")]
const FIRST_ARGUMENT_OFFSET: usize = 0;

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(struct pt_regs *regs, long id)
    let syscall: u64 = ctx.arg(1);
    if !SOCKET_IO_SYSCALLS.contains(&syscall) {
        return 0;
    }

    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(call) = ACTIVE_CALLS.get_ptr_mut(pid_tgid) else {
        return 0;
    };

    let regs: u64 = ctx.arg(0);
    // SAFETY: kernel pointer read with fault handling.
    let Ok(fd) =
        (unsafe { bpf_probe_read_kernel((regs as usize + FIRST_ARGUMENT_OFFSET) as *const u64) })
    else {
        return 0;
    };
    let fd = fd as i32;

    // SAFETY: the entry belongs to the current thread, which is inside this
    // syscall and so not running the return probe that removes it.
    let ssl = unsafe {
        (*call).fd = fd;
        (*call).ssl
    };
    let pid = (pid_tgid >> 32) as u32;
    let key = SessionKey {
        pid,
        reserved: 0,
        ssl,
    };
    // SAFETY: copied out at once; the LRU may evict the entry afterwards.
    let known_fd = unsafe { SESSION_FDS.get(key) }.copied();
    if known_fd == Some(fd) {
        return 0;
    }
    let _ = SESSION_FDS.insert(key, fd, 0);

    // First time this session uses this fd: tell the daemon which TCP
    // connection it is, while the socket certainly still exists.
    let config = config();
    if let Some(record) = read_session_socket(&config.offsets, pid, ssl, fd) {
        send_socket(&config, &record);
    }
    0
}
