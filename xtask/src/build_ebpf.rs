//! Builds or lints the `sensor-ebpf` crate for the BPF target.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _};

/// Options of `cargo xtask build-ebpf`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Build without optimisations (the verifier usually rejects such code;
    /// useful only to inspect the output).
    #[arg(long)]
    pub debug: bool,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// The nightly cargo invocation shared by build and clippy: core is built
/// from source for the BPF target, and the target arch cfg is set the way
/// aya-build sets it.
fn ebpf_cargo(subcommand: &str) -> Command {
    let root = workspace_root();
    let mut command = Command::new("rustup");
    command
        .current_dir(&root)
        .args(["run", "nightly", "cargo", subcommand])
        .args(["--package", "sensor-ebpf", "--target", "bpfel-unknown-none"])
        .args(["-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(root.join("target/ebpf"))
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            [
                &format!("--cfg=bpf_target_arch=\"{}\"", std::env::consts::ARCH),
                "-Cdebuginfo=2",
                "-Clink-arg=--btf",
            ]
            .join("\x1f"),
        );
    command
}

fn run(mut command: Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}; is rustup installed?"))?;
    if !status.success() {
        bail!("{command:?} failed ({status}); scripts/setup.sh installs bpf-linker and the nightly rust-src");
    }
    Ok(())
}

/// Builds the object and returns its path.
pub fn build(options: &Options) -> anyhow::Result<PathBuf> {
    let mut command = ebpf_cargo("build");
    if !options.debug {
        command.arg("--release");
    }
    run(command)?;
    let profile = if options.debug { "debug" } else { "release" };
    let object = workspace_root()
        .join("target/ebpf/bpfel-unknown-none")
        .join(profile)
        .join("sensor");
    println!("eBPF object: {}", object.display());
    Ok(object)
}

/// Lints the eBPF crate; warnings fail.
pub fn clippy() -> anyhow::Result<()> {
    let mut command = ebpf_cargo("clippy");
    command.args(["--release", "--", "-D", "warnings"]);
    run(command)
}
