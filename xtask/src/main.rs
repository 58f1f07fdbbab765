//! Project tasks cargo cannot do alone. `cargo xtask --help` lists them.

mod bench;
mod build_ebpf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "ztapi project tasks")]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build the eBPF sensor object with the nightly toolchain and
    /// bpf-linker into target/ebpf, for inspection with bpftool or llvm-objdump.
    /// (ztapid's build script builds and embeds the same object itself.)
    BuildEbpf(build_ebpf::Options),
    /// Run clippy with -D warnings on the eBPF crate for its target.
    ClippyEbpf,
    /// Run the whole-system benchmarks and write target/bench/report.md
    /// and report.json (as root).
    Bench(bench::Options),
}

fn main() -> anyhow::Result<()> {
    match Args::parse().task {
        Task::BuildEbpf(options) => build_ebpf::build(&options).map(|_| ()),
        Task::ClippyEbpf => build_ebpf::clippy(),
        Task::Bench(options) => bench::run(&options),
    }
}
