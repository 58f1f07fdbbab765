//! The ztapi sensor's eBPF programs.
//!
//! - `openssl`: uprobes on libssl that copy plaintext out of `SSL_read*` and
//!   `SSL_write*` calls into the event ring buffer.
//! - `syscalls`: a `sys_enter` raw tracepoint that learns which socket file
//!   descriptor each TLS session reads and writes, while a TLS call is in
//!   progress on that thread, and `socket` reads that socket's addresses.
//! - `tcp`: cgroup_skb hooks that copy TCP payloads of every socket, for
//!   cleartext protocols.
//! - `tcp_state`: an `inet_sock_set_state` raw tracepoint that reports TCP
//!   connections opening and closing.
//! - `emit`: record assembly and ring-buffer output shared by both.
#![no_std]
#![no_main]

mod bench_probes;
mod emit;
mod maps;
mod openssl;
mod socket;
mod syscalls;
mod tcp;
mod tcp_state;

/// Makes any reachable panic an infinite loop, which the verifier rejects at
/// load time, so a program that could panic never runs.
#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The probe-read and ring-buffer helpers are GPL-only.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
