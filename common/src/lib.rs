//! Types shared by the ztapi eBPF programs and the user-space daemon.
//!
//! Everything here is `#[repr(C)]`, `Copy` and free of padding, so the kernel
//! side can write it with plain stores and the daemon can read it from ring
//! buffers and maps byte for byte. Event kinds and counter indexes are stable
//! once shipped: add new ones at the end.
#![no_std]

pub mod counters;
pub mod event;
pub mod maps;

pub use counters::Counter;
pub use event::{
    ChunkHeader, Direction, EventKind, FlowKey, SegmentHeader, SessionEnd, SessionSocket,
    TcpStateChange, TlsCallKind,
};
