//! Loading the embedded eBPF object, configuring it, and attaching its
//! programs: the syscall tracepoint once, the uprobes once per TLS library.

use std::{
    collections::BTreeMap,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context as _};
use aya::{
    maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf},
    programs::{
        uprobe::UProbeScope, CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, RawTracePoint,
        UProbe,
    },
    Ebpf, EbpfLoader,
};
use common::{
    maps::{SensorConfig, CONFIG_MAP, COUNTERS_MAP, EVENTS_MAP, FLOWS_MAP, PID_FILTER_MAP},
    Counter, FlowKey,
};
use serde::Serialize;
use tracing::{info, warn};

use super::{kernel_btf::KernelBtf, libraries::FileId};

/// The eBPF object built by `build.rs` from the `sensor-ebpf` crate.
static SENSOR_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor"));

/// Each uprobe as (program name, libssl symbol); the program type decides
/// whether it runs at the function entry or at its return.
const OPENSSL_HOOKS: &[(&str, &str)] = &[
    ("ssl_write_entry", "SSL_write"),
    ("ssl_write_return", "SSL_write"),
    ("ssl_write_ex_entry", "SSL_write_ex"),
    ("ssl_write_return", "SSL_write_ex"),
    ("ssl_read_entry", "SSL_read"),
    ("ssl_read_return", "SSL_read"),
    ("ssl_read_ex_entry", "SSL_read_ex"),
    ("ssl_read_return", "SSL_read_ex"),
    ("ssl_handshake_entry", "SSL_do_handshake"),
    ("ssl_handshake_return", "SSL_do_handshake"),
    ("ssl_free_entry", "SSL_free"),
];

/// Symbols a library must export for its data to be captured at all.
const REQUIRED_SYMBOLS: &[&str] = &["SSL_write", "SSL_read"];

/// Settings the sensor is loaded with.
#[derive(Clone, Debug)]
pub struct SensorSettings {
    pub ring_buffer_bytes: u32,
    pub max_call_bytes: u32,
    pub max_packet_bytes: u32,
    pub pids: Vec<u32>,
    /// cgroup v2 mount where the cleartext TCP hooks attach; `None`
    /// disables cleartext capture.
    pub cgroup_root: Option<std::path::PathBuf>,
}

/// A hooked library, as `ztapi status` shows it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct HookedLibrary {
    pub path: String,
    pub file: String,
    /// Processes seen mapping it in the latest scan.
    pub pids: Vec<u32>,
    /// Uprobes attached to it.
    pub probes: usize,
    /// Symbols it lacks; their calls are not captured.
    pub missing_symbols: Vec<String>,
    pub attached_at_ms: u64,
}

/// The loaded sensor: programs, configuration and counter maps.
pub struct Sensor {
    ebpf: Ebpf,
    counters: PerCpuArray<MapData, u64>,
    libraries: BTreeMap<FileId, HookedLibrary>,
    /// Libraries that failed to attach, so each is tried and logged once.
    failed: BTreeMap<FileId, String>,
    pub socket_offsets_found: bool,
}

/// The pieces the capture thread takes from the sensor.
pub struct SensorStreams {
    pub events: RingBuf<MapData>,
    /// Flow verdicts the pipeline writes (see `common::event::FLOW_IGNORE`);
    /// taken by the daemon when it builds the pipeline.
    pub flows_for_pipeline: Option<BpfHashMap<MapData, FlowKey, u32>>,
    pub logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

impl Sensor {
    /// Loads the sensor into the kernel and attaches the syscall hook. No
    /// library is hooked yet: see [`Sensor::attach_library`].
    pub fn load(settings: &SensorSettings) -> anyhow::Result<(Self, SensorStreams)> {
        if SENSOR_OBJECT.is_empty() {
            bail!("this ztapid was built with AYA_BUILD_SKIP, without its eBPF sensor; rebuild without it");
        }

        let log_level = if tracing::enabled!(tracing::Level::DEBUG) {
            aya_log::Level::Debug
        } else {
            aya_log::Level::Warn
        } as u8;
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(EVENTS_MAP, settings.ring_buffer_bytes)
            .override_global("AYA_LOG_LEVEL", &log_level, false)
            .load(SENSOR_OBJECT)
            .context("loading the eBPF sensor into the kernel failed")?;

        let logger = match aya_log::EbpfLogger::init(&mut ebpf) {
            Ok(logger) => Some(logger),
            Err(error) => {
                // A build whose programs log nothing has no log map, which
                // is normal, so this is not worth a warning.
                tracing::debug!(%error, "eBPF log forwarding is off; the sensor runs without it");
                None
            }
        };

        let offsets = match KernelBtf::load().and_then(|btf| btf.socket_offsets()) {
            Ok(offsets) => Some(offsets),
            Err(error) => {
                warn!(%error, "kernel BTF lacks socket fields; connections are resolved through /proc instead");
                None
            }
        };

        let config = SensorConfig {
            pid_filter: u32::from(!settings.pids.is_empty()),
            daemon_pid: std::process::id(),
            max_call_bytes: settings.max_call_bytes,
            max_packet_bytes: settings.max_packet_bytes,
            // Wake the daemon early once an eighth of the buffer is pending,
            // so a burst is drained before the buffer fills.
            wakeup_threshold: settings.ring_buffer_bytes / 8,
            offsets: offsets.unwrap_or_default(),
        };
        let mut config_map: Array<_, SensorConfig> =
            Array::try_from(ebpf.map_mut(CONFIG_MAP).context("CONFIG map missing")?)?;
        config_map
            .set(0, config, 0)
            .context("writing the sensor configuration failed")?;

        if !settings.pids.is_empty() {
            let mut filter: BpfHashMap<_, u32, u8> = BpfHashMap::try_from(
                ebpf.map_mut(PID_FILTER_MAP)
                    .context("PID_FILTER map missing")?,
            )?;
            for &pid in &settings.pids {
                filter
                    .insert(pid, 1, 0)
                    .with_context(|| format!("adding pid {pid} to the capture filter failed"))?;
            }
        }

        let program: &mut RawTracePoint = ebpf
            .program_mut("sys_enter")
            .context("sys_enter program missing")?
            .try_into()?;
        program.load().context("the verifier rejected sys_enter")?;
        program
            .attach("sys_enter")
            .context("attaching the sys_enter raw tracepoint failed")?;
        info!(program = "sys_enter", "attached raw tracepoint");

        let program: &mut RawTracePoint = ebpf
            .program_mut("inet_sock_set_state")
            .context("inet_sock_set_state program missing")?
            .try_into()?;
        program
            .load()
            .context("the verifier rejected inet_sock_set_state")?;
        program
            .attach("inet_sock_set_state")
            .context("attaching the inet_sock_set_state raw tracepoint failed")?;
        info!(program = "inet_sock_set_state", "attached raw tracepoint");

        if let Some(root) = &settings.cgroup_root {
            let cgroup = std::fs::File::open(root)
                .with_context(|| format!("cannot open the cgroup v2 root {}", root.display()))?;
            for (name, attach_type) in [
                ("tcp_egress", CgroupSkbAttachType::Egress),
                ("tcp_ingress", CgroupSkbAttachType::Ingress),
            ] {
                let program: &mut CgroupSkb = ebpf
                    .program_mut(name)
                    .context("cgroup_skb program missing")?
                    .try_into()?;
                program
                    .load()
                    .with_context(|| format!("the verifier rejected {name}"))?;
                program
                    .attach(&cgroup, attach_type, CgroupAttachMode::Single)
                    .with_context(|| format!("attaching {name} to {} failed", root.display()))?;
                info!(program = name, cgroup = %root.display(), "attached cgroup_skb");
            }
        } else {
            info!("cleartext TCP capture is disabled");
        }

        let mut loaded = std::collections::BTreeSet::new();
        for (name, _) in OPENSSL_HOOKS {
            if loaded.insert(*name) {
                let program: &mut UProbe = ebpf
                    .program_mut(name)
                    .context("uprobe missing")?
                    .try_into()?;
                program
                    .load()
                    .with_context(|| format!("the verifier rejected {name}"))?;
            }
        }

        let events = RingBuf::try_from(ebpf.take_map(EVENTS_MAP).context("EVENTS map missing")?)?;
        let flows = BpfHashMap::try_from(ebpf.take_map(FLOWS_MAP).context("FLOWS map missing")?)?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map(COUNTERS_MAP)
                .context("COUNTERS map missing")?,
        )?;

        let sensor = Sensor {
            ebpf,
            counters,
            libraries: BTreeMap::new(),
            failed: BTreeMap::new(),
            socket_offsets_found: offsets.is_some(),
        };
        Ok((
            sensor,
            SensorStreams {
                events,
                flows_for_pipeline: Some(flows),
                logger,
            },
        ))
    }

    /// Whether `id` is hooked already or failed before.
    pub fn knows(&self, id: &FileId) -> bool {
        self.libraries.contains_key(id) || self.failed.contains_key(id)
    }

    /// Attaches every uprobe to the library at `path`, for all processes.
    /// Symbols the library lacks are recorded, not fatal, unless the library
    /// has neither `SSL_read` nor `SSL_write`.
    pub fn attach_library(&mut self, id: FileId, display_path: &str, path: &Path, pids: Vec<u32>) {
        let mut probes = 0;
        let mut missing = Vec::new();
        let mut last_error = None;
        for (name, symbol) in OPENSSL_HOOKS {
            let program: &mut UProbe = match self.ebpf.program_mut(name).map(TryInto::try_into) {
                Some(Ok(program)) => program,
                _ => continue,
            };
            match program.attach(*symbol, path, UProbeScope::AllProcesses) {
                Ok(_link) => probes += 1,
                Err(error) => {
                    if !missing.iter().any(|known| known == symbol) {
                        missing.push((*symbol).to_owned());
                    }
                    last_error = Some(format!("{error:#}"));
                }
            }
        }

        let lacks_required = REQUIRED_SYMBOLS
            .iter()
            .all(|symbol| missing.iter().any(|m| m == symbol));
        if probes == 0 && !path.exists() {
            // The process the scan found it through exited before the
            // attach, so its /proc/PID/root path is gone. Another process
            // may still map the file: the next scan tries again, instead of
            // marking the library as unhookable for good.
            tracing::debug!(library = display_path, file = %id, "library path gone before attaching; retrying on the next scan");
            return;
        }
        if probes == 0 || lacks_required {
            let reason = last_error.unwrap_or_else(|| "no probe attached".to_owned());
            warn!(library = display_path, file = %id, %reason, "cannot hook TLS library");
            self.failed.insert(id, reason);
            return;
        }
        if missing.is_empty() {
            info!(library = display_path, file = %id, probes, ?pids, "hooked TLS library");
        } else {
            warn!(library = display_path, file = %id, probes, ?missing, "hooked TLS library partially");
        }
        self.libraries.insert(
            id,
            HookedLibrary {
                path: display_path.to_owned(),
                file: id.to_string(),
                pids,
                probes,
                missing_symbols: missing,
                attached_at_ms: unix_ms(),
            },
        );
    }

    /// Records which processes map an already hooked library.
    pub fn update_pids(&mut self, id: &FileId, pids: Vec<u32>) {
        if let Some(library) = self.libraries.get_mut(id) {
            library.pids = pids;
        }
    }

    pub fn libraries(&self) -> Vec<HookedLibrary> {
        self.libraries.values().cloned().collect()
    }

    /// Names of loaded programs with their attachment count.
    pub fn programs(&self) -> Vec<String> {
        // The object also carries programs this daemon never loads (the
        // benchmark's no-op probes), so only loaded ones are listed.
        let mut names: Vec<String> = self
            .ebpf
            .programs()
            .filter(|(_, program)| program.fd().is_ok())
            .map(|(name, _)| name.to_owned())
            .collect();
        names.sort();
        names
    }

    /// Kernel-side counters summed over CPUs, by name.
    pub fn counters(&self) -> BTreeMap<&'static str, u64> {
        let mut totals = BTreeMap::new();
        for counter in Counter::ALL {
            let sum = self
                .counters
                .get(&(counter as u32), 0)
                .map(|values| values.iter().sum())
                .unwrap_or(0);
            totals.insert(counter.name(), sum);
        }
        totals
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// Finds the cgroup v2 mount in `/proc/self/mountinfo`: the unified
/// hierarchy is `/sys/fs/cgroup` on most current systems and
/// `/sys/fs/cgroup/unified` on hybrid ones.
pub fn find_cgroup2_root() -> Option<std::path::PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_cgroup2_mount(&mountinfo)
}

/// The mount point of the first cgroup2 file system in mountinfo text.
pub fn parse_cgroup2_mount(mountinfo: &str) -> Option<std::path::PathBuf> {
    mountinfo.lines().find_map(|line| {
        // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
        let (before, after) = line.split_once(" - ")?;
        if after.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        before
            .split_whitespace()
            .nth(4)
            .map(std::path::PathBuf::from)
    })
}
