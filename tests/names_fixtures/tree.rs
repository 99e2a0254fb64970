//! The cgroup tree beside the metadata in tests/names_fixtures: one group
//! per layout cgdash names (both drivers), built in a temporary directory
//! laid out like a cgroup v2 mount (`snapshot --root` reads it). Shared by
//! src/names/tests.rs and tests/names_*.rs (`#[path]`), std only.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub const DOCKER_CGROUPFS: &str =
    "d412238661bb45bc362074403cd99444dbe398250d03bfb4ad550a08f9ec7044";
pub const DOCKER_SYSTEMD: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub const DOCKER_K8S: &str = "d3d3d3d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub const PODMAN_VFS: &str = "61e9120d4e5acce844238e98b8d10f83ffcf8de070b1af121d364f26a6dbd1a1";
pub const PODMAN_VOLATILE: &str =
    "b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1";
pub const CONTAINERD: &str = "c1c1c1c1e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub const SANDBOX: &str = "51515151e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub const CONTAINERD_CGROUPFS: &str =
    "c3c3c3c3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub const CRIO: &str = "e1e1e1e1e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub const CRIO_SANDBOX: &str = "e2e2e2e2e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub const TRUNCATED: &str = "bad0bad0e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub const NOT_JSON: &str = "bad1bad1e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
/// A docker group whose container's directory is gone (removed between
/// the walk and the read).
pub const REMOVED: &str = "bad2bad2e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

pub const POD1: &str = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e3d4c_5b6a_4789_9abc_def012345678.slice";
pub const POD2: &str = "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod2b2b2b2b_1234_4321_abcd_0123456789ab.slice";
pub const POD3: &str = "kubepods/besteffort/pod3c3c3c3c-aaaa-bbbb-cccc-ddddeeeeffff";
pub const POD4: &str = "kubepods.slice/kubepods-pod5a5a5a5a_1111_2222_3333_444455556666.slice";

/// Every group of the fixture tree, `(path, expected kind, expected name)`.
pub fn groups() -> Vec<(String, Option<&'static str>, Option<&'static str>)> {
    let mut g = vec![
        (
            format!("docker/{DOCKER_CGROUPFS}"),
            Some("docker"),
            Some("names-web"),
        ),
        (
            format!("system.slice/docker-{DOCKER_SYSTEMD}.scope"),
            Some("docker"),
            Some("api"),
        ),
        (
            format!("libpod_parent/libpod-{PODMAN_VFS}"),
            Some("podman"),
            Some("names-web"),
        ),
        (
            "libpod_parent/conmon".into(),
            Some("conmon"),
            Some("conmon"),
        ),
        (
            format!("machine.slice/libpod-{PODMAN_VOLATILE}.scope"),
            Some("podman"),
            Some("api"),
        ),
        (
            format!("machine.slice/libpod-{PODMAN_VOLATILE}.scope/container"),
            Some("podman"),
            Some("api/container"),
        ),
        (
            format!("machine.slice/libpod-conmon-{PODMAN_VOLATILE}.scope"),
            Some("conmon"),
            Some("api"),
        ),
        (POD1.into(), Some("k8s-pod"), Some("web-7d9f")),
        (
            format!("{POD1}/cri-containerd-{CONTAINERD}.scope"),
            Some("containerd"),
            Some("nginx"),
        ),
        (
            format!("{POD1}/cri-containerd-{SANDBOX}.scope"),
            Some("k8s-infra"),
            Some("web-7d9f"),
        ),
        (POD2.into(), Some("k8s-pod"), Some("cache-0")),
        (
            format!("{POD2}/crio-{CRIO}.scope"),
            Some("cri-o"),
            Some("redis"),
        ),
        (
            format!("{POD2}/crio-conmon-{CRIO}.scope"),
            Some("conmon"),
            Some("redis"),
        ),
        (
            format!("{POD2}/crio-{CRIO_SANDBOX}.scope"),
            Some("k8s-infra"),
            Some("cache-0"),
        ),
        (POD3.into(), Some("k8s-pod"), Some("batch-x1")),
        (
            format!("{POD3}/{CONTAINERD_CGROUPFS}"),
            Some("containerd"),
            Some("worker"),
        ),
        (POD4.into(), Some("k8s-pod"), Some("shop-0")),
        (
            format!("{POD4}/docker-{DOCKER_K8S}.scope"),
            Some("docker"),
            Some("php"),
        ),
        ("lxc.payload.web1".into(), Some("lxc"), Some("web1")),
        ("lxc.monitor.web1".into(), Some("lxc-monitor"), Some("web1")),
        (
            "lxc.payload.web1/system.slice/nginx.service".into(),
            Some("systemd-unit"),
            Some("nginx.service"),
        ),
        (
            r"machine.slice/machine-deb\x2dbox.scope".into(),
            Some("nspawn"),
            Some("deb-box"),
        ),
        (
            "system.slice/nginx.service".into(),
            Some("systemd-unit"),
            Some("nginx.service"),
        ),
        (
            "system.slice/cron.service".into(),
            Some("systemd-unit"),
            Some("cron.service"),
        ),
        (
            "user.slice/user-1000.slice/session-3.scope".into(),
            Some("systemd-scope"),
            Some("session-3.scope"),
        ),
        ("cgdash/demo".into(), Some("cgdash"), Some("demo")),
        ("plain/group".into(), None, None),
        (format!("docker/{TRUNCATED}"), Some("docker"), None),
        (format!("docker/{NOT_JSON}"), Some("docker"), None),
        (format!("docker/{REMOVED}"), Some("docker"), None),
    ];
    // Parents that are named by their own pattern only.
    g.push((
        "system.slice".into(),
        Some("systemd-slice"),
        Some("system.slice"),
    ));
    g
}

/// The metadata directory (tests/names_fixtures).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/names_fixtures")
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join(file), text).expect("write");
}

/// Builds the cgroup tree under `root`: a v2 mount with every group of
/// [`groups`] (and their parents), `podman:names-web` limited to 30 % CPU
/// and 64 MiB.
pub fn build(root: &Path) {
    write(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
    write(root, "cgroup.procs", "1\n");
    for (path, _, _) in groups() {
        let mut p = root.to_path_buf();
        for c in path.split('/') {
            p.push(c);
            write(&p, "cgroup.procs", "");
        }
    }
    let web = root.join(format!("libpod_parent/libpod-{PODMAN_VFS}"));
    write(&web, "cgroup.controllers", "cpu memory pids\n");
    write(&web, "cpu.max", "30000 100000\n");
    write(&web, "memory.max", "67108864\n");
    write(&web, "pids.max", "max\n");
    write(&web, "cpu.weight", "100\n");
}
