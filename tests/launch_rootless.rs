//! Live: the rootless path, as an unprivileged uid (65534).
//! A user namespace maps the caller to root inside; limits without a
//! delegated cgroup are refused, no limits → runs unlimited with a note.
//! Run: `cargo test --test launch_rootless` (needs root to switch uid).

mod common;
mod launch_util;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use launch_util::run_cmd;

/// The built binary, copied where uid 65534 can execute it (target/ may sit
/// below directories it cannot enter).
fn nobody_binary() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("cgdash");
    std::fs::copy(common::cgdash_bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = bin.to_str().unwrap().to_string();
    (dir, s)
}

/// Runs the binary as uid/gid 65534 with no supplementary groups (std drops
/// them when root sets a uid), like `setpriv --reuid=65534 --regid=65534
/// --clear-groups`, without needing setpriv (the v2 VM has only busybox).
fn as_nobody(bin: &str, args: &[&str]) -> launch_util::Out {
    let mut cmd = Command::new(bin);
    cmd.args(args).uid(65534).gid(65534);
    // Its state dir would be $XDG_RUNTIME_DIR/cgdash: not root's.
    cmd.env_remove("XDG_RUNTIME_DIR");
    run_cmd(cmd, Duration::from_secs(30))
}

#[test]
fn rootless_run_maps_caller_to_root_in_new_namespaces() {
    let Some(_layout) = common::live("rootless_run_maps_caller_to_root_in_new_namespaces") else {
        return;
    };
    let (_dir, bin) = nobody_binary();
    let script = "echo pid=$$; echo map=$(cat /proc/self/uid_map); \
                  echo host=$(cat /proc/sys/kernel/hostname); echo net=$(ls /sys/class/net); \
                  echo procs=$(ls /proc)";
    let out = as_nobody(
        &bin,
        &["run", "--hostname", "rootless", "--", "sh", "-c", script],
    );
    eprintln!("{out:?}");
    if out.code != 0 && out.stderr.contains("unshare") {
        panic!("user namespaces unavailable to uid 65534 here: {out:?}");
    }
    assert_eq!(out.code, 0, "{out:?}");
    let o = &out.stdout;
    assert!(o.contains("pid=2"), "{o}");
    // uid 0 inside is uid 65534 outside.
    let map = o.lines().find_map(|l| l.strip_prefix("map=")).unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "65534", "1"]
    );
    assert!(o.contains("host=rootless"), "{o}");
    assert!(o.contains("net=lo\n"), "{o}");
    let procs: Vec<u32> = o
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .unwrap()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(
        procs.iter().all(|p| *p < 50),
        "host processes visible: {procs:?}"
    );
    assert!(
        out.stderr.contains("no limits"),
        "the note is missing: {out:?}"
    );
    // Exit codes pass through here too.
    let out = as_nobody(&bin, &["run", "--", "sh", "-c", "exit 9"]);
    assert_eq!(out.code, 9, "{out:?}");
}

#[test]
fn rootless_limits_without_delegation_are_refused() {
    let Some(layout) = common::live("rootless_limits_without_delegation_are_refused") else {
        return;
    };
    let (_dir, bin) = nobody_binary();
    let name = launch_util::unique("rootless");
    let out = as_nobody(
        &bin,
        &[
            "run", "--name", &name, "--cpu", "20%", "--memory", "64M", "--", "true",
        ],
    );
    assert_eq!(out.code, 125, "{out:?}");
    assert!(
        out.stderr
            .contains("--cpu, --memory needs root or a delegated cgroup"),
        "{out:?}"
    );
    assert!(!layout.group_exists(&format!("cgdash/{name}")));
}
