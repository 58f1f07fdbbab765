//! ztapi's user-space side: the stages between the eBPF sensor's ring buffer
//! and the `ztapi` command line.
//!
//! Each stage is a plain module with typed input and output, so it can be
//! driven from captured chunks in a test as well as from the live sensor.

pub mod inventory;
pub mod protocols;
pub mod transaction;
