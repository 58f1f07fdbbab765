//! Workload identity and traffic direction: who is on each end of a
//! connection.
//!
//! A local end is identified from what this node exposes. The process's
//! executable comes from `/proc`, and its cgroup v2 path from the cgroup id
//! that `bpf_skb_cgroup_id` returns or from `/proc/PID/cgroup`. Container
//! runtimes encode the container id and pod uid in that path, and the
//! kubelet's log directory names give the pod's namespace and name. Every
//! source is optional, so a field the node cannot supply stays `None`.
//!
//! The direction of a call follows from which ends lie in the configured
//! internal networks ([`NetworkScope`]).

use std::{
    collections::HashMap,
    fs,
    net::IpAddr,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    str::FromStr,
    time::{Duration, Instant},
};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[cfg(test)]
mod tests;

/// Identity of a local end of a connection, as far as this node can tell.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Workload {
    pub pid: Option<u32>,
    /// Path of the executable, as `/proc/PID/exe` links to it.
    pub executable: Option<String>,
    /// Command name of the process (its main thread), from
    /// `/proc/PID/comm`. The sensor reports the name of the thread that
    /// made the call, which in threaded servers is a worker's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Path under the cgroup2 root, such as
    /// `/kubepods.slice/.../cri-containerd-<id>.scope`.
    pub cgroup: Option<String>,
    /// Full 64-hex-digit container id.
    pub container_id: Option<String>,
    /// Pod uid with dashes, as Kubernetes prints it.
    pub pod_uid: Option<String>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
}

impl Workload {
    /// Builds a short label for tables: `namespace/pod`, else the container
    /// id cut to 12 characters, else the executable's file name, else
    /// `pid N`, else `-`.
    pub fn label(&self) -> String {
        if let (Some(namespace), Some(pod)) = (&self.namespace, &self.pod) {
            return format!("{namespace}/{pod}");
        }
        if let Some(container_id) = &self.container_id {
            return container_id.chars().take(12).collect();
        }
        if let Some(executable) = &self.executable {
            let name = executable.rsplit('/').next().unwrap_or(executable);
            if !name.is_empty() {
                return name.to_owned();
            }
        }
        if let Some(pid) = self.pid {
            return format!("pid {pid}");
        }
        "-".to_owned()
    }
}

/// Length of a container id in hexadecimal digits (a SHA-256 digest).
const CONTAINER_ID_LEN: usize = 64;

/// Prefixes that container runtimes put before the container id in a
/// cgroup directory name: containerd's CRI plugin, Docker, CRI-O and Podman.
const CONTAINER_PREFIXES: [&str; 4] = ["cri-containerd-", "docker-", "crio-", "libpod-"];

/// Parses the container id and the pod uid (with dashes) out of a cgroup
/// path.
///
/// Recognised layouts:
/// - systemd cgroup driver:
///   `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope`,
///   also with `docker-` and `crio-` scopes, and `/system.slice/docker-<id>.scope`;
/// - cgroupfs driver: `/kubepods/burstable/pod<uid>/<id>`, optionally with
///   a runtime prefix on the last component;
/// - plain Docker: `/docker/<id>`.
///
/// The container id is taken from the last component that carries one.
/// CRI-O's `crio-conmon-<id>` monitor scope is not a container, so it is
/// skipped.
pub fn parse_cgroup_path(path: &str) -> (Option<String>, Option<String>) {
    let mut container_id = None;
    let mut pod_uid = None;
    let mut under_kubepods = false;

    for component in path.split('/').filter(|c| !c.is_empty()) {
        if let Some(id) = container_id_of(component) {
            container_id = Some(id.to_owned());
        } else if let Some(uid) = systemd_pod_uid(component) {
            pod_uid = Some(uid);
        } else if under_kubepods {
            if let Some(uid) = component.strip_prefix("pod").and_then(validated_pod_uid) {
                pod_uid = Some(uid);
            }
        }
        under_kubepods |= component.starts_with("kubepods");
    }

    (container_id, pod_uid)
}

/// Returns the container id of one path component, if it names a container.
fn container_id_of(component: &str) -> Option<&str> {
    let name = component.strip_suffix(".scope").unwrap_or(component);
    let id = CONTAINER_PREFIXES
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))
        .unwrap_or(name);
    let is_id = id.len() == CONTAINER_ID_LEN && id.bytes().all(|b| b.is_ascii_hexdigit());
    is_id.then_some(id)
}

/// Returns the pod uid of a systemd-driver slice such as
/// `kubepods-besteffort-pod<uid with _>.slice`.
fn systemd_pod_uid(component: &str) -> Option<String> {
    let name = component.strip_suffix(".slice")?;
    if !name.starts_with("kubepods") {
        return None;
    }

    // Slice names join their ancestors with '-', so the pod part is last.
    // Because '-' is reserved for that, the kubelet writes the uid with '_'.
    let pod_part = name.rsplit('-').next()?;
    let uid = pod_part.strip_prefix("pod")?;
    validated_pod_uid(&uid.replace('_', "-"))
}

/// Validates a pod uid and returns it: an RFC 4122 UUID for API pods, or 32
/// hex digits (the config hash) for static pods.
fn validated_pod_uid(uid: &str) -> Option<String> {
    let is_hex = |part: &str| part.bytes().all(|b| b.is_ascii_hexdigit());
    let group_lengths: Vec<usize> = uid.split('-').map(str::len).collect();
    let is_uuid = group_lengths == [8, 4, 4, 4, 12] && uid.split('-').all(is_hex);
    let is_static_pod_hash = uid.len() == 32 && is_hex(uid);
    (is_uuid || is_static_pod_hash).then(|| uid.to_owned())
}

/// Maximum number of cgroups a [`CgroupResolver`] keeps. A node usually has
/// far fewer, so this only bounds memory against a runaway hierarchy.
const MAX_CGROUPS: usize = 65_536;

/// Minimum time between two walks of the cgroup tree.
const CGROUP_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Resolver of cgroup ids to paths under the cgroup2 mount.
///
/// In cgroup v2 the id that `bpf_skb_cgroup_id` returns is the inode number
/// of the cgroup's directory. The resolver walks the mount to build the map,
/// and walks again on a miss at most once per second. A cgroup created after
/// a walk is therefore found by the first lookup one second or more later.
#[derive(Debug)]
pub struct CgroupResolver {
    root: PathBuf,
    paths: HashMap<u64, String>,
    last_walk: Option<Instant>,
    root_error_logged: bool,
}

impl CgroupResolver {
    /// Creates a resolver for the cgroup2 hierarchy mounted at `cgroup_root`
    /// (usually `/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid
    /// hosts). Nothing is read until the first lookup.
    pub fn new(cgroup_root: PathBuf) -> Self {
        Self {
            root: cgroup_root,
            paths: HashMap::new(),
            last_walk: None,
            root_error_logged: false,
        }
    }

    /// Returns the path of a cgroup id relative to the root, starting with
    /// `/` (the root itself is `/`), or `None` when no cgroup has that id.
    pub fn path(&mut self, cgroup_id: u64) -> Option<String> {
        if let Some(path) = self.paths.get(&cgroup_id) {
            return Some(path.clone());
        }
        let walked_recently = self
            .last_walk
            .is_some_and(|last| last.elapsed() < CGROUP_REFRESH_INTERVAL);
        if walked_recently {
            return None;
        }
        self.walk();
        self.paths.get(&cgroup_id).cloned()
    }

    /// Rebuilds the map from the directory tree, so removed cgroups drop
    /// out.
    fn walk(&mut self) {
        self.last_walk = Some(Instant::now());
        let root_inode = match fs::metadata(&self.root) {
            Ok(metadata) => metadata.ino(),
            Err(error) => {
                if !self.root_error_logged {
                    self.root_error_logged = true;
                    tracing::warn!(
                        root = %self.root.display(),
                        %error,
                        "failed to read the cgroup2 root, so cgroup ids stay unresolved"
                    );
                }
                self.paths.clear();
                return;
            }
        };

        let mut paths = HashMap::from([(root_inode, "/".to_owned())]);
        // An explicit stack rather than recursion, because the depth of the
        // hierarchy is not under this program's control.
        let mut pending = vec![(self.root.clone(), String::new())];
        while let Some((directory, relative)) = pending.pop() {
            // A cgroup can disappear during the walk, and then its subtree
            // is skipped.
            let Ok(entries) = fs::read_dir(&directory) else {
                continue;
            };
            for entry in entries.flatten() {
                if paths.len() >= MAX_CGROUPS {
                    // NOTE: on a node with more cgroups than this, the ones
                    // walked last stay unresolved.
                    self.paths = paths;
                    return;
                }
                let Ok(file_type) = entry.file_type() else {
                    continue;
                };
                if !file_type.is_dir() {
                    continue;
                }
                let Ok(metadata) = entry.metadata() else {
                    continue;
                };
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = format!("{relative}/{name}");
                paths.insert(metadata.ino(), child.clone());
                pending.push((entry.path(), child));
            }
        }
        self.paths = paths;
    }
}

/// Maximum number of pods a [`PodDirectory`] keeps; far above the kubelet's
/// default of 110 pods per node.
const MAX_PODS: usize = 16_384;

/// Minimum time between two reads of the pod log directory.
const POD_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// Map of pod uid to namespace and name, read from the kubelet's log
/// directory, whose entries are named `<namespace>_<pod-name>_<pod-uid>`.
///
/// Namespace and pod names are DNS names, which cannot contain `_`, so the
/// split is unambiguous. The directory is read again on a miss at most every
/// 5 seconds.
#[derive(Debug)]
pub struct PodDirectory {
    root: PathBuf,
    pods: HashMap<String, (String, String)>,
    last_read: Option<Instant>,
    root_error_logged: bool,
}

impl PodDirectory {
    /// Creates a directory reader for `root`, usually `/var/log/pods`.
    /// Nothing is read until the first lookup.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            pods: HashMap::new(),
            last_read: None,
            root_error_logged: false,
        }
    }

    /// Returns the namespace and name of the pod with uid `pod_uid`.
    pub fn lookup(&mut self, pod_uid: &str) -> Option<(String, String)> {
        if let Some(pod) = self.pods.get(pod_uid) {
            return Some(pod.clone());
        }
        let read_recently = self
            .last_read
            .is_some_and(|last| last.elapsed() < POD_REFRESH_INTERVAL);
        if read_recently {
            return None;
        }
        self.read();
        self.pods.get(pod_uid).cloned()
    }

    fn read(&mut self) {
        self.last_read = Some(Instant::now());
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(error) => {
                // Expected on hosts without Kubernetes, so logged once at
                // debug level.
                if !self.root_error_logged {
                    self.root_error_logged = true;
                    tracing::debug!(
                        root = %self.root.display(),
                        %error,
                        "failed to read the pod log directory, so pod names stay unresolved"
                    );
                }
                self.pods.clear();
                return;
            }
        };

        let mut pods = HashMap::new();
        for entry in entries.flatten() {
            if pods.len() >= MAX_PODS {
                break;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let parts: Vec<&str> = name.split('_').collect();
            let [namespace, pod, uid] = parts[..] else {
                continue;
            };
            if namespace.is_empty() || pod.is_empty() || uid.is_empty() {
                continue;
            }
            pods.insert(uid.to_owned(), (namespace.to_owned(), pod.to_owned()));
        }
        self.pods = pods;
    }
}

/// Returns the executable of a process from `PROC_ROOT/PID/exe`, or `None`
/// when the process is gone or the link cannot be read.
///
/// A binary deleted since the process started keeps the kernel's
/// ` (deleted)` suffix.
pub fn executable(proc_root: &Path, pid: u32) -> Option<String> {
    let target = fs::read_link(proc_root.join(pid.to_string()).join("exe")).ok()?;
    Some(target.to_string_lossy().into_owned())
}

/// Returns the command name of a process from `PROC_ROOT/PID/comm`, or
/// `None` when the process is gone.
pub fn command(proc_root: &Path, pid: u32) -> Option<String> {
    let name = fs::read_to_string(proc_root.join(pid.to_string()).join("comm")).ok()?;
    Some(name.trim_end_matches('\n').to_owned()).filter(|name| !name.is_empty())
}

/// Returns the cgroup v2 path of a process from the `0::` line of
/// `PROC_ROOT/PID/cgroup`, or `None` when the process is gone or has no
/// cgroup v2 membership.
pub fn process_cgroup(proc_root: &Path, pid: u32) -> Option<String> {
    let contents = fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
    contents
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::trim)
        .filter(|path| !path.is_empty())
        .map(str::to_owned)
}

/// Direction of a call relative to the internal networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrafficDirection {
    /// Both ends are internal.
    EastWest,
    /// The client is external.
    NorthSouth,
    /// An internal client calls an external server.
    ThirdParty,
}

/// Error building a [`NetworkScope`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScopeError {
    #[error("invalid internal network {value:?}: expected an address or a CIDR such as 10.0.0.0/8 or fd00::/8")]
    InvalidCidr { value: String },
}

/// Networks that count as internal: the private, loopback and link-local
/// ranges by default, plus the pod and service CIDRs from the configuration.
#[derive(Clone, Debug)]
pub struct NetworkScope {
    networks: Vec<IpNet>,
}

/// Internal by default: RFC 1918 private IPv4, IPv4 loopback, IPv6 loopback,
/// unique local (RFC 4193) and link-local IPv6 addresses.
const DEFAULT_INTERNAL_NETWORKS: [&str; 7] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

impl NetworkScope {
    /// Builds the scope from the default internal networks plus `extra`,
    /// where each entry is a CIDR (`10.96.0.0/12`) or a single address.
    ///
    /// Returns [`ScopeError::InvalidCidr`] naming the first entry that is
    /// neither.
    pub fn new(extra: &[String]) -> Result<Self, ScopeError> {
        let mut networks: Vec<IpNet> = DEFAULT_INTERNAL_NETWORKS
            .iter()
            .filter_map(|cidr| IpNet::from_str(cidr).ok())
            .collect();

        for value in extra {
            let trimmed = value.trim();
            let network = IpNet::from_str(trimmed)
                .or_else(|_| IpAddr::from_str(trimmed).map(IpNet::from))
                .map_err(|_| ScopeError::InvalidCidr {
                    value: value.clone(),
                })?;
            networks.push(network);
        }

        Ok(Self { networks })
    }

    /// Tells whether `ip` lies in an internal network. An IPv4-mapped IPv6
    /// address (`::ffff:a.b.c.d`, as dual-stack sockets report IPv4 peers)
    /// is checked as its IPv4 address.
    pub fn is_internal(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        self.networks.iter().any(|network| network.contains(&ip))
    }

    /// Classifies a call: `EastWest` when both ends are internal,
    /// `ThirdParty` when an internal client calls an external server, and
    /// `NorthSouth` when the client is external.
    pub fn direction(&self, client: IpAddr, server: IpAddr) -> TrafficDirection {
        match (self.is_internal(client), self.is_internal(server)) {
            (false, _) => TrafficDirection::NorthSouth,
            (true, true) => TrafficDirection::EastWest,
            (true, false) => TrafficDirection::ThirdParty,
        }
    }
}
