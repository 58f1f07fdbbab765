//! ztapi's user-space side: the stages between the eBPF sensor's ring buffer
//! and the `ztapi` command line.
//!
//! Each stage is a plain module with typed input and output, so it can be
//! driven from captured chunks in a test as well as from the live sensor.

pub mod api;
pub mod attribution;
pub mod capture;
pub mod classify;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod flows;
pub mod inventory;
pub mod pipeline;
pub mod preflight;
pub mod protocols;
pub mod reassembly;
pub mod sensitive;
pub mod stats;
pub mod store;
pub mod streams;
pub mod transaction;
pub mod workload;

/// mimalloc instead of glibc's allocator: the pipeline allocates and frees
/// many short-lived buffers per transaction, and glibc spent about a
/// quarter of the pipeline benchmark's time in `malloc` and `free` (with
/// `malloc_consolidate` among the top symbols). Declared here so that the
/// daemon, the benchmarks and the tests measure the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
