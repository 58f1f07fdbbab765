//! Follows a file descriptor of the current task to its TCP socket's
//! addresses: `task->files->fdt->fd[fd]->private_data->sk`.
//!
//! The field offsets come from the daemon, which reads them from the running
//! kernel's BTF, because this crate is built without CO-RE relocations.
//! Every read goes through `bpf_probe_read_kernel`, so a stale or wrong
//! pointer yields an error, never a fault.

use aya_ebpf::helpers::{bpf_get_current_task, bpf_ktime_get_ns, bpf_probe_read_kernel};
use common::{maps::KernelOffsets, EventKind, SessionSocket};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
/// `S_IFMT` and `S_IFSOCK` from include/uapi/linux/stat.h.
const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
/// Upper bound on fds followed; larger ones are treated as not found.
const MAX_FD: u64 = 1 << 20;

#[inline(always)]
fn read_pointer(base: u64, offset: u32) -> Option<u64> {
    // SAFETY: a kernel read with fault handling; any address is allowed.
    let value = unsafe { bpf_probe_read_kernel((base + offset as u64) as *const u64) }.ok()?;
    if value == 0 {
        None
    } else {
        Some(value)
    }
}

#[inline(always)]
fn read<T>(base: u64, offset: u32) -> Option<T> {
    // SAFETY: as in read_pointer.
    unsafe { bpf_probe_read_kernel((base + offset as u64) as *const T) }.ok()
}

/// Builds the socket record for `fd` of the current task, or `None` when the
/// fd is not an IPv4 or IPv6 socket.
#[inline(always)]
pub fn read_session_socket(
    offsets: &KernelOffsets,
    pid: u32,
    ssl: u64,
    fd: i32,
) -> Option<SessionSocket> {
    if offsets.valid == 0 || fd < 0 || fd as u64 >= MAX_FD {
        return None;
    }
    // SAFETY: the helper has no preconditions.
    let task = unsafe { bpf_get_current_task() };
    let files = read_pointer(task, offsets.task_files)?;
    let fdt = read_pointer(files, offsets.files_fdt)?;
    let fd_array = read_pointer(fdt, offsets.fdtable_fd)?;
    let file = read_pointer(fd_array, (fd as u32) * 8)?;

    let inode = read_pointer(file, offsets.file_inode)?;
    let mode: u16 = read(inode, offsets.inode_mode)?;
    if mode & S_IFMT != S_IFSOCK {
        return None;
    }

    let socket = read_pointer(file, offsets.file_private_data)?;
    let sock = read_pointer(socket, offsets.socket_sk)?;
    let family: u16 = read(sock, offsets.sock_family)?;

    let mut record = SessionSocket {
        kind: EventKind::TlsSessionSocket as u32,
        pid,
        // SAFETY: the helper has no preconditions.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        ssl,
        fd,
        family,
        local_port: read(sock, offsets.sock_num)?,
        // skc_dport is in network byte order.
        remote_port: u16::from_be(read(sock, offsets.sock_dport)?),
        reserved: 0,
        local_addr: [0; 16],
        remote_addr: [0; 16],
        reserved2: 0,
    };
    match family {
        AF_INET => {
            let local: [u8; 4] = read(sock, offsets.sock_rcv_saddr)?;
            let remote: [u8; 4] = read(sock, offsets.sock_daddr)?;
            record.local_addr[..4].copy_from_slice(&local);
            record.remote_addr[..4].copy_from_slice(&remote);
        }
        AF_INET6 => {
            record.local_addr = read(sock, offsets.sock_v6_rcv_saddr)?;
            record.remote_addr = read(sock, offsets.sock_v6_daddr)?;
        }
        _ => return None,
    }
    Some(record)
}
