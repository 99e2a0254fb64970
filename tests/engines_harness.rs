//! The private-engine harness itself (tests/common/engines.rs): a dockerd and
//! a podman of our own start, run a busybox image made offline with limits
//! the kernel sees, and leave nothing behind (no process, mount or directory).

mod common;

use std::path::PathBuf;

use common::engines::{import_image, Dockerd, Engine, Podman};

/// The v1 `cpu` (or v2 unified) directory of a container's group, found by id.
fn cpu_max_of(id: &str) -> Option<String> {
    let v1 = ["docker", "libpod_parent"]
        .iter()
        .flat_map(|p| {
            [
                PathBuf::from(format!("/sys/fs/cgroup/cpu/{p}/{id}/cpu.cfs_quota_us")),
                PathBuf::from(format!(
                    "/sys/fs/cgroup/cpu/{p}/libpod-{id}/cpu.cfs_quota_us"
                )),
            ]
        })
        .find(|p| p.exists());
    v1.and_then(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
}

#[test]
fn engines_harness_docker() {
    let Some(_layout) = common::live("engines_harness_docker") else {
        return;
    };
    let Some(d) = Dockerd::start("hd") else {
        return;
    };
    let dir = d.dir.clone();
    let img = import_image(&d, "cgdash-t/bb:1", &["sleep", "300"], &["CGDASH_T=1"]);
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "cgdash-t-hd-web",
        "--cpus",
        "0.5",
        "--memory",
        "64m",
        &img,
    ]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.Name}}", &id]),
        "/cgdash-t-hd-web"
    );
    assert!(d
        .data_root
        .join("containers")
        .join(&id)
        .join("config.v2.json")
        .exists());
    if let Some(q) = cpu_max_of(&id) {
        assert_eq!(q, "50000", "docker --cpus 0.5 in the kernel");
    }
    let pid: i32 = d
        .ok(&["inspect", "-f", "{{.State.Pid}}", &id])
        .parse()
        .unwrap();
    let daemon: i32 = std::fs::read_to_string(&d.pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    drop(d);
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "container process gone"
    );
    assert!(
        !PathBuf::from(format!("/proc/{daemon}")).exists(),
        "dockerd gone"
    );
    assert!(!dir.exists(), "{} removed", dir.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&*dir.to_string_lossy()), "no mount left");
}

#[test]
fn engines_harness_podman() {
    let Some(_layout) = common::live("engines_harness_podman") else {
        return;
    };
    let Some(p) = Podman::new("hp") else {
        return;
    };
    let dir = p.dir.clone();
    let img = import_image(&p, "localhost/cgdash-t/bb:1", &["sleep", "300"], &[]);
    let mut args = vec![
        "run",
        "-d",
        "--name",
        "cgdash-t-hp-api",
        "--cpus",
        "0.3",
        "--memory",
        "64m",
    ];
    args.extend(Podman::run_flags());
    args.push(&img);
    let id = p.ok(&args);
    assert_eq!(
        p.ok(&["inspect", "-f", "{{.Name}}", &id]),
        "cgdash-t-hp-api"
    );
    if let Some(q) = cpu_max_of(&id) {
        assert_eq!(q, "30000", "podman --cpus 0.3 in the kernel");
    }
    let pid: i32 = p
        .ok(&["inspect", "-f", "{{.State.Pid}}", &id])
        .parse()
        .unwrap();
    drop(p);
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "container process gone"
    );
    assert!(!dir.exists(), "{} removed", dir.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&*dir.to_string_lossy()), "no mount left");
}
