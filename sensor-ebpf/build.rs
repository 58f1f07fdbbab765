//! Sets `cfg(bpf_target_arch)` when the crate is built or linted directly,
//! as `cargo xtask build-ebpf` and clippy do; aya-build passes it itself.

fn main() -> aya_build::Result<()> {
    aya_build::emit_bpf_target_arch_cfg()
}
