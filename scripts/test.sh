#!/usr/bin/env bash
# Runs every check of the project: formatting, clippy on the host crates and
# on the eBPF crate, unit tests, and the privileged integration tests against
# the running kernel (as root), and the benchmark harness in quick mode. Set
# ZTAPI_SKIP_PRIVILEGED=1 to skip the privileged tests and benchmarks; each
# skipped one says so.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy on the host crates (-D warnings)"
cargo clippy --all-targets -- -D warnings

step "clippy on the eBPF crate (-D warnings)"
cargo xtask clippy-ebpf

step "unit tests"
cargo test -p ztapi -p ztapi-common -p xtask

# The integration tests run the ztapid and ztapi binaries of the debug
# profile, which `cargo test` does not build for another package.
step "building ztapid and ztapi for the integration tests"
cargo build -p ztapi --bins

step "integration tests (one at a time: each daemon hooks the whole node)"
cargo test -p integration-tests -- --test-threads=1

# Last, because it is the slowest: the benchmark harness in quick mode. It
# checks that the report has every figure and that each is finite, never
# how fast anything is. With ZTAPI_SKIP_PRIVILEGED=1 only the pipeline
# benchmark runs and the others are reported as skipped.
step "benchmark harness (cargo xtask bench --quick)"
cargo xtask bench --quick
