#!/usr/bin/env bash
# Installs what building and testing ztapi needs on a fresh Debian 12 machine:
# Debian packages (LLVM 22 for bpf-linker, TLS peers, network tools), the
# nightly rust-src component for the eBPF target, and bpf-linker.
# Idempotent: each step checks first and prints only what it installs.
set -euo pipefail

say() { printf 'setup: %s\n' "$*"; }

if [[ $EUID -ne 0 ]]; then
  say "must run as root, because it installs Debian packages; rerun with sudo"
  exit 1
fi

APT_PACKAGES=(
  llvm-22-dev libpolly-22-dev libzstd-dev zlib1g-dev
  nginx curl openssl ca-certificates iproute2 procps
  nghttp2-client wrk python3 python3-grpcio
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The nginx package starts a system service on port 80; tests run their own.
  if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
    systemctl stop nginx || true
  fi
fi

if ! command -v rustup >/dev/null 2>&1 || ! rustup toolchain list | grep -q '^nightly'; then
  say "rustup with a nightly toolchain is required for the eBPF crate, and none was found"
  say "install it with: rustup toolchain install nightly --component rust-src"
  exit 1
fi

if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  say "installing the nightly rust-src component (the eBPF crate builds core from source)"
  rustup component add rust-src --toolchain nightly
fi

if ! command -v bpf-linker >/dev/null 2>&1; then
  say "building bpf-linker against Debian's LLVM 22 (about one minute)"
  PATH=/usr/lib/llvm-22/bin:$PATH cargo install --locked bpf-linker --no-default-features --features llvm-22
fi

say "toolchain ready"
