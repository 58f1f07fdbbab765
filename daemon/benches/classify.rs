//! Throughput of the sensitive-data classifier against a naive regex baseline.

fn main() {}
