//! The kernel side of the daemon: loading the eBPF sensor, finding and
//! hooking TLS libraries, and decoding what the sensor sends.

pub mod kernel_btf;
pub mod libraries;
pub mod listeners;
pub mod reader;
pub mod records;
pub mod sensor;
