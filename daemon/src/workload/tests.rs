//! Unit tests for workload identity and traffic direction, on cgroup, pod
//! and proc trees created under the temporary directory, plus this test
//! process's own entries in the real `/proc` and cgroup2 mount.

use std::{net::IpAddr, os::unix::fs::symlink, thread, time::Duration};

use super::*;

const CONTAINER: &str = "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";
const POD_UID: &str = "0f8a3b9c-1d2e-4f5a-8b7c-6d5e4f3a2b1c";
const POD_UID_SYSTEMD: &str = "0f8a3b9c_1d2e_4f5a_8b7c_6d5e4f3a2b1c";
const STATIC_POD_HASH: &str = "9a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// Creates an empty directory for one test, removing what an earlier run
/// left there.
fn temporary_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ztapi-workload-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the test directory");
    dir
}

fn inode(path: &Path) -> u64 {
    fs::metadata(path).expect("stat a test directory").ino()
}

/// Finds the cgroup2 mount of this machine at one of the usual places.
fn cgroup2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .find(|root| root.join("cgroup.controllers").exists())
}

// ---------------------------------------------------------------------------
// Cgroup paths
// ---------------------------------------------------------------------------

#[test]
fn cgroup_path_table() {
    let systemd_pod = format!("kubepods-burstable-pod{POD_UID_SYSTEMD}.slice");
    let cases: Vec<(&str, String, Option<&str>, Option<&str>)> = vec![
        (
            "systemd containerd",
            format!("/kubepods.slice/kubepods-burstable.slice/{systemd_pod}/cri-containerd-{CONTAINER}.scope"),
            Some(CONTAINER),
            Some(POD_UID),
        ),
        (
            "systemd guaranteed",
            format!("/kubepods.slice/kubepods-pod{POD_UID_SYSTEMD}.slice/cri-containerd-{CONTAINER}.scope"),
            Some(CONTAINER),
            Some(POD_UID),
        ),
        (
            "systemd docker",
            format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_UID_SYSTEMD}.slice/docker-{CONTAINER}.scope"),
            Some(CONTAINER),
            Some(POD_UID),
        ),
        (
            "systemd crio",
            format!("/kubepods.slice/kubepods-burstable.slice/{systemd_pod}/crio-{CONTAINER}.scope"),
            Some(CONTAINER),
            Some(POD_UID),
        ),
        (
            "crio conmon",
            format!("/kubepods.slice/kubepods-burstable.slice/{systemd_pod}/crio-conmon-{CONTAINER}.scope"),
            None,
            Some(POD_UID),
        ),
        (
            "systemd pod slice",
            format!("/kubepods.slice/kubepods-burstable.slice/{systemd_pod}"),
            None,
            Some(POD_UID),
        ),
        (
            "systemd static pod",
            format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{STATIC_POD_HASH}.slice/cri-containerd-{CONTAINER}.scope"),
            Some(CONTAINER),
            Some(STATIC_POD_HASH),
        ),
        (
            "cgroupfs burstable",
            format!("/kubepods/burstable/pod{POD_UID}/{CONTAINER}"),
            Some(CONTAINER),
            Some(POD_UID),
        ),
        (
            "cgroupfs guaranteed",
            format!("/kubepods/pod{POD_UID}/{CONTAINER}"),
            Some(CONTAINER),
            Some(POD_UID),
        ),
        (
            "cgroupfs crio",
            format!("/kubepods/besteffort/pod{POD_UID}/crio-{CONTAINER}"),
            Some(CONTAINER),
            Some(POD_UID),
        ),
        ("plain docker", format!("/docker/{CONTAINER}"), Some(CONTAINER), None),
        (
            "systemd docker outside kubernetes",
            format!("/system.slice/docker-{CONTAINER}.scope"),
            Some(CONTAINER),
            None,
        ),
        ("user session", "/user.slice/user-0.slice/session-1.scope".to_owned(), None, None),
        ("root", "/".to_owned(), None, None),
        ("empty", String::new(), None, None),
        ("words", "not a cgroup path".to_owned(), None, None),
        ("short id", format!("/docker/{}", &CONTAINER[1..]), None, None),
        ("non-hex id", format!("/docker/{}g", &CONTAINER[1..]), None, None),
        ("bad pod uid", format!("/kubepods/burstable/podnot-a-uid/{CONTAINER}"), Some(CONTAINER), None),
        ("pod outside kubepods", format!("/other/pod{POD_UID}/x"), None, None),
        ("empty scope", "/\u{fffd}/cri-containerd-.scope//".to_owned(), None, None),
    ];

    for (name, path, container_id, pod_uid) in cases {
        let (parsed_container, parsed_pod) = parse_cgroup_path(&path);
        assert_eq!(
            parsed_container.as_deref(),
            container_id,
            "{name}: container id of {path}"
        );
        assert_eq!(parsed_pod.as_deref(), pod_uid, "{name}: pod uid of {path}");
    }
}

#[test]
fn workload_label() {
    let full = Workload {
        pid: Some(42),
        executable: Some("/usr/bin/python3".to_owned()),
        container_id: Some(CONTAINER.to_owned()),
        namespace: Some("shop".to_owned()),
        pod: Some("cart-7d4b9c".to_owned()),
        ..Workload::default()
    };
    let no_pod = Workload {
        pod: None,
        ..full.clone()
    };
    let no_container = Workload {
        container_id: None,
        ..no_pod.clone()
    };
    let no_executable = Workload {
        executable: None,
        ..no_container.clone()
    };
    let root_executable = Workload {
        executable: Some("/".to_owned()),
        ..no_container.clone()
    };

    assert_eq!(full.label(), "shop/cart-7d4b9c", "namespace and pod");
    assert_eq!(no_pod.label(), "3f2a1b0c9d8e", "container id cut to 12");
    assert_eq!(no_container.label(), "python3", "executable file name");
    assert_eq!(
        root_executable.label(),
        "pid 42",
        "an executable without a name falls through"
    );
    assert_eq!(no_executable.label(), "pid 42", "pid");
    assert_eq!(Workload::default().label(), "-", "nothing known");
}

// ---------------------------------------------------------------------------
// Cgroup resolver
// ---------------------------------------------------------------------------

#[test]
fn resolver_fake_tree() {
    let root = temporary_dir("cgroup-tree");
    let pod = root
        .join("kubepods.slice")
        .join(format!("kubepods-pod{POD_UID_SYSTEMD}.slice"));
    let container = pod.join(format!("cri-containerd-{CONTAINER}.scope"));
    let other = root.join("system.slice");
    fs::create_dir_all(&container).expect("create the container cgroup");
    fs::create_dir_all(&other).expect("create a sibling cgroup");
    let file = pod.join("cgroup.procs");
    fs::write(&file, "").expect("create a control file");

    let mut resolver = CgroupResolver::new(root.clone());
    let container_path = format!(
        "/kubepods.slice/kubepods-pod{POD_UID_SYSTEMD}.slice/cri-containerd-{CONTAINER}.scope"
    );
    assert_eq!(
        resolver.path(inode(&container)),
        Some(container_path),
        "container cgroup"
    );
    assert_eq!(
        resolver.path(inode(&root)),
        Some("/".to_owned()),
        "root cgroup"
    );
    assert_eq!(
        resolver.path(inode(&other)),
        Some("/system.slice".to_owned()),
        "sibling cgroup"
    );
    assert_eq!(resolver.path(inode(&file)), None, "a file is not a cgroup");
    assert_eq!(resolver.path(u64::MAX), None, "unknown id");

    let _ = fs::remove_dir_all(&root);
}

#[test]
fn resolver_refresh_on_miss() {
    let root = temporary_dir("cgroup-refresh");
    let first = root.join("first");
    fs::create_dir(&first).expect("create a cgroup");

    let mut resolver = CgroupResolver::new(root.clone());
    assert_eq!(
        resolver.path(inode(&first)),
        Some("/first".to_owned()),
        "existing cgroup"
    );

    let second = root.join("second");
    fs::create_dir(&second).expect("create a cgroup after the walk");
    assert_eq!(
        resolver.path(inode(&second)),
        None,
        "no second walk within a second"
    );

    thread::sleep(CGROUP_REFRESH_INTERVAL + Duration::from_millis(100));
    assert_eq!(
        resolver.path(inode(&second)),
        Some("/second".to_owned()),
        "a miss after a second walks again"
    );
    assert_eq!(
        resolver.path(inode(&first)),
        Some("/first".to_owned()),
        "the new walk keeps existing cgroups"
    );

    let _ = fs::remove_dir_all(&root);
}

#[test]
fn resolver_missing_root() {
    let root = temporary_dir("cgroup-missing").join("absent");
    let mut resolver = CgroupResolver::new(root);
    assert_eq!(resolver.path(1), None, "a missing root resolves nothing");
}

#[test]
fn resolver_own_cgroup() {
    let Some(root) = cgroup2_root() else {
        eprintln!("skipped: no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified");
        return;
    };
    let own = process_cgroup(Path::new("/proc"), std::process::id())
        .expect("this process has a cgroup v2 line");
    let directory = root.join(own.trim_start_matches('/'));
    let id = inode(&directory);

    let mut resolver = CgroupResolver::new(root);
    assert_eq!(
        resolver.path(id),
        Some(own),
        "own cgroup id maps back to its path"
    );
}

// ---------------------------------------------------------------------------
// Pod directory
// ---------------------------------------------------------------------------

#[test]
fn pod_directory_lookup() {
    let root = temporary_dir("pods");
    let other_uid = "11111111-2222-3333-4444-555555555555";
    for name in [
        format!("shop_cart-7d4b9c-x2x9z_{POD_UID}"),
        format!("kube-system_kube-apiserver-node1_{STATIC_POD_HASH}"),
        format!("two_parts{other_uid}"),
        format!("a_b_c_{other_uid}"),
        format!("_nameless_{other_uid}"),
    ] {
        fs::create_dir(root.join(name)).expect("create a pod log directory");
    }

    let mut pods = PodDirectory::new(root.clone());
    let cart = Some(("shop".to_owned(), "cart-7d4b9c-x2x9z".to_owned()));
    let apiserver = Some(("kube-system".to_owned(), "kube-apiserver-node1".to_owned()));
    assert_eq!(pods.lookup(POD_UID), cart, "API pod");
    assert_eq!(pods.lookup(STATIC_POD_HASH), apiserver, "static pod");
    assert_eq!(pods.lookup(other_uid), None, "malformed names are skipped");
    assert_eq!(pods.lookup(""), None, "empty uid");

    let _ = fs::remove_dir_all(&root);
}

#[test]
fn pod_directory_refresh() {
    let root = temporary_dir("pods-refresh");
    let mut pods = PodDirectory::new(root.clone());
    assert_eq!(pods.lookup(POD_UID), None, "empty directory");

    fs::create_dir(root.join(format!("shop_cart_{POD_UID}"))).expect("create a pod log directory");
    assert_eq!(
        pods.lookup(POD_UID),
        None,
        "no second read within 5 seconds"
    );

    thread::sleep(POD_REFRESH_INTERVAL + Duration::from_millis(100));
    let cart = Some(("shop".to_owned(), "cart".to_owned()));
    assert_eq!(
        pods.lookup(POD_UID),
        cart,
        "a miss after 5 seconds reads again"
    );

    let _ = fs::remove_dir_all(&root);
}

#[test]
fn pod_directory_missing_root() {
    let root = temporary_dir("pods-missing").join("absent");
    let mut pods = PodDirectory::new(root);
    assert_eq!(
        pods.lookup(POD_UID),
        None,
        "a missing root resolves nothing"
    );
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

#[test]
fn executable_of_self() {
    let expected = std::env::current_exe().expect("this test's executable");
    let found = executable(Path::new("/proc"), std::process::id());
    assert_eq!(
        found,
        Some(expected.to_string_lossy().into_owned()),
        "this process's executable"
    );
}

#[test]
fn executable_fake_proc() {
    let proc_root = temporary_dir("proc-exe");
    fs::create_dir(proc_root.join("42")).expect("create a process directory");
    symlink("/opt/shop/cart", proc_root.join("42").join("exe")).expect("create the exe link");

    assert_eq!(
        executable(&proc_root, 42),
        Some("/opt/shop/cart".to_owned()),
        "link target"
    );
    assert_eq!(executable(&proc_root, 43), None, "process gone");

    let _ = fs::remove_dir_all(&proc_root);
}

#[test]
fn process_cgroup_lines() {
    let proc_root = temporary_dir("proc-cgroup");
    let cases = [
        (
            "hybrid",
            "12:pids:/x\n1:name=systemd:/y\n0::/kubepods/pod1/abc\n",
            Some("/kubepods/pod1/abc"),
        ),
        ("unified", "0::/\n", Some("/")),
        ("v1 only", "4:memory:/a\n3:cpu:/b\n", None),
        ("empty path", "0::\n", None),
        ("empty file", "", None),
    ];

    for (pid, (name, contents, expected)) in (100u32..).zip(cases) {
        let directory = proc_root.join(pid.to_string());
        fs::create_dir(&directory).expect("create a process directory");
        fs::write(directory.join("cgroup"), contents).expect("write a cgroup file");
        assert_eq!(
            process_cgroup(&proc_root, pid).as_deref(),
            expected,
            "{name}"
        );
    }
    assert_eq!(process_cgroup(&proc_root, 1), None, "process gone");

    let own = process_cgroup(Path::new("/proc"), std::process::id());
    if cgroup2_root().is_some() {
        assert!(
            own.is_some_and(|path| path.starts_with('/')),
            "own cgroup is an absolute path"
        );
    }

    let _ = fs::remove_dir_all(&proc_root);
}

// ---------------------------------------------------------------------------
// Network scope
// ---------------------------------------------------------------------------

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

#[test]
fn scope_internal_table() {
    let extra = [
        "100.64.0.0/10".to_owned(),
        " 203.0.113.7 ".to_owned(),
        "2001:db8:1::/48".to_owned(),
    ];
    let scope = NetworkScope::new(&extra).expect("valid networks");
    let cases = [
        ("10.1.2.3", true),
        ("10.255.255.255", true),
        ("11.0.0.1", false),
        ("172.16.0.1", true),
        ("172.31.255.254", true),
        ("172.32.0.1", false),
        ("192.168.1.1", true),
        ("192.169.0.1", false),
        ("127.0.0.1", true),
        ("8.8.8.8", false),
        ("0.0.0.0", false),
        ("::1", true),
        ("::2", false),
        ("fd00::1", true),
        ("fc00::1", true),
        ("fe80::1", true),
        ("fec0::1", false),
        ("2001:db8::1", false),
        ("::ffff:10.0.0.1", true),
        ("::ffff:127.0.0.1", true),
        ("::ffff:8.8.8.8", false),
        ("100.64.1.1", true),
        ("100.128.0.1", false),
        ("203.0.113.7", true),
        ("203.0.113.8", false),
        ("::ffff:203.0.113.7", true),
        ("2001:db8:1::5", true),
        ("2001:db8:2::5", false),
    ];

    for (address, internal) in cases {
        assert_eq!(scope.is_internal(ip(address)), internal, "{address}");
    }
}

#[test]
fn scope_defaults_only() {
    let scope = NetworkScope::new(&[]).expect("defaults are valid");
    assert_eq!(
        scope.networks.len(),
        DEFAULT_INTERNAL_NETWORKS.len(),
        "every default network parses"
    );
    assert!(
        !scope.is_internal(ip("100.64.1.1")),
        "carrier-grade NAT is not internal by default"
    );
}

#[test]
fn scope_bad_cidr() {
    for bad in [
        "10.0.0.0/33",
        "not-a-network",
        "",
        "10.0.0/8",
        "fd00::/129",
        "10.0.0.0/8/8",
    ] {
        let extra = ["10.0.0.0/8".to_owned(), bad.to_owned()];
        let error = NetworkScope::new(&extra).expect_err(bad);
        let expected = ScopeError::InvalidCidr {
            value: bad.to_owned(),
        };
        assert_eq!(error, expected, "{bad:?} is rejected by name");
        assert!(
            error.to_string().contains(&format!("{bad:?}")),
            "the message for {bad:?} names it"
        );
    }
}

#[test]
fn scope_direction_table() {
    let scope = NetworkScope::new(&[]).expect("defaults are valid");
    let cases = [
        ("10.0.0.1", "10.0.0.2", TrafficDirection::EastWest),
        ("::ffff:10.0.0.1", "fd00::2", TrafficDirection::EastWest),
        ("10.0.0.1", "93.184.216.34", TrafficDirection::ThirdParty),
        ("fd00::1", "2001:db8::1", TrafficDirection::ThirdParty),
        ("93.184.216.34", "10.0.0.2", TrafficDirection::NorthSouth),
        (
            "::ffff:93.184.216.34",
            "10.0.0.2",
            TrafficDirection::NorthSouth,
        ),
        ("93.184.216.34", "8.8.8.8", TrafficDirection::NorthSouth),
    ];

    for (client, server, expected) in cases {
        assert_eq!(
            scope.direction(ip(client), ip(server)),
            expected,
            "{client} -> {server}"
        );
    }
}

#[test]
fn direction_serde_names() {
    let names = [
        (TrafficDirection::EastWest, "\"east_west\""),
        (TrafficDirection::NorthSouth, "\"north_south\""),
        (TrafficDirection::ThirdParty, "\"third_party\""),
    ];
    for (direction, name) in names {
        let json = serde_json::to_string(&direction).expect("serialize a direction");
        assert_eq!(json, name, "{direction:?}");
    }
}
