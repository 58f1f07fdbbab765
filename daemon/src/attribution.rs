//! Attribution of transaction ends to workloads on this node, and of
//! transactions to a traffic direction.
//!
//! Workloads are resolved once per process or cgroup and cached, because a
//! busy connection produces many transactions from the same two ends.

use std::{
    net::SocketAddr,
    num::NonZeroUsize,
    path::{Path, PathBuf},
};

use lru::LruCache;

use crate::{
    streams::EndpointInfo,
    workload::{self, CgroupResolver, NetworkScope, PodDirectory, TrafficDirection, Workload},
};

/// Workloads cached at most.
const CACHE_ENTRIES: usize = 4096;

/// Where attribution reads the node's state.
#[derive(Clone, Debug)]
pub struct AttributionSettings {
    pub proc_root: PathBuf,
    /// cgroup v2 mount, `None` when the node has none.
    pub cgroup_root: Option<PathBuf>,
    /// The kubelet's pod log directory, whose entry names give pod
    /// namespaces and names.
    pub pod_log_root: PathBuf,
    pub scope: NetworkScope,
}

pub struct Attribution {
    proc_root: PathBuf,
    cgroups: Option<CgroupResolver>,
    pods: PodDirectory,
    scope: NetworkScope,
    cache: LruCache<(Option<u32>, Option<u64>), Workload>,
}

impl Attribution {
    pub fn new(settings: AttributionSettings) -> Self {
        Self {
            cgroups: settings.cgroup_root.map(CgroupResolver::new),
            pods: PodDirectory::new(settings.pod_log_root),
            proc_root: settings.proc_root,
            scope: settings.scope,
            cache: LruCache::new(NonZeroUsize::new(CACHE_ENTRIES).expect("non-zero constant")),
        }
    }

    /// The workload of a local end, or `None` for a remote one.
    pub fn workload(&mut self, endpoint: &EndpointInfo) -> Option<Workload> {
        if endpoint.pid.is_none() && endpoint.cgroup_id.is_none() {
            return None;
        }
        let key = (endpoint.pid, endpoint.cgroup_id);
        if let Some(workload) = self.cache.get(&key) {
            return Some(workload.clone());
        }

        let cgroup = match (endpoint.cgroup_id, &mut self.cgroups) {
            (Some(id), Some(resolver)) => resolver.path(id),
            _ => None,
        }
        .or_else(|| {
            endpoint
                .pid
                .and_then(|pid| workload::process_cgroup(&self.proc_root, pid))
        });
        let (container_id, pod_uid) = cgroup
            .as_deref()
            .map(workload::parse_cgroup_path)
            .unwrap_or((None, None));
        let (namespace, pod) = match pod_uid.as_deref().and_then(|uid| self.pods.lookup(uid)) {
            Some((namespace, pod)) => (Some(namespace), Some(pod)),
            None => (None, None),
        };
        let resolved = Workload {
            pid: endpoint.pid,
            executable: endpoint
                .pid
                .and_then(|pid| workload::executable(&self.proc_root, pid)),
            command: endpoint
                .pid
                .and_then(|pid| workload::command(&self.proc_root, pid)),
            cgroup,
            container_id,
            pod_uid,
            namespace,
            pod,
        };
        self.cache.put(key, resolved.clone());
        Some(resolved)
    }

    /// The direction of a call between `client` and `server`.
    pub fn direction(
        &self,
        client: Option<SocketAddr>,
        server: Option<SocketAddr>,
    ) -> Option<TrafficDirection> {
        Some(self.scope.direction(client?.ip(), server?.ip()))
    }
}

/// The default attribution settings for a live node.
pub fn node_settings(
    cgroup_root: Option<PathBuf>,
    pod_log_root: &Path,
    scope: NetworkScope,
) -> AttributionSettings {
    AttributionSettings {
        proc_root: PathBuf::from("/proc"),
        cgroup_root,
        pod_log_root: pod_log_root.to_owned(),
        scope,
    }
}
