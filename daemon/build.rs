//! Builds the sensor's eBPF object with the nightly toolchain and bpf-linker,
//! so `ztapid` can embed it. `AYA_BUILD_SKIP=1` skips the step for work on
//! the user-space stages alone; such a daemon refuses to start.

use std::path::Path;

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let sensor_dir = Path::new(&manifest_dir).join("../sensor-ebpf");
    let sensor_dir = sensor_dir
        .canonicalize()
        .map_err(|error| anyhow::anyhow!("{} not found: {error}", sensor_dir.display()))?;
    let root_dir = sensor_dir
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{} is not UTF-8", sensor_dir.display()))?;

    let sensor = aya_build::Package {
        name: "sensor-ebpf",
        root_dir,
        ..Default::default()
    };
    aya_build::build_ebpf([sensor], aya_build::Toolchain::default()).map_err(|error| {
        anyhow::anyhow!(
            "building the eBPF sensor failed: {error:#}\n\
             run scripts/setup.sh to install bpf-linker and the nightly rust-src component"
        )
    })?;

    // With AYA_BUILD_SKIP there is no object; an empty one lets the host
    // crates build and test, and the daemon rejects it at start.
    let object = Path::new(&std::env::var("OUT_DIR")?).join("sensor");
    if !object.exists() {
        std::fs::write(&object, [])?;
    }
    Ok(())
}
