//! Live: what a workload sees from inside its namespaces (as root).
//! Run: `cargo test --test launch_ns` (root; skips otherwise).

mod common;
mod launch_util;

use std::collections::BTreeSet;
use std::time::Duration;

use launch_util::{cgdash, unique, Cleanup};

/// One script prints every fact, each on a `key=` line; only sh builtins,
/// `cat` and `ls` (present in busybox too, for the v2 VM).
const PROBE: &str = r#"
echo "pid=$$"
echo "hostname=$(cat /proc/sys/kernel/hostname)"
echo "net=$(ls /sys/class/net)"
echo "procs=$(ls /proc)"
echo "cgroup=$(cat /proc/self/cgroup)"
echo "shm=$(cat /proc/sysvipc/shm)"
echo "msg=$(cat /proc/sysvipc/msg)"
echo "init=$(cat /proc/1/comm)"
"#;

fn field(out: &str, key: &str) -> String {
    // Values may span lines (`$(ls)` keeps newlines): take until the next key=.
    let keys = [
        "pid=",
        "hostname=",
        "net=",
        "procs=",
        "cgroup=",
        "shm=",
        "msg=",
        "init=",
    ];
    let start = out
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key} in {out}"));
    let rest = &out[start + key.len() + 1..];
    let end = rest
        .match_indices('\n')
        .find(|(i, _)| keys.iter().any(|k| rest[i + 1..].starts_with(k)))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    rest[..end].trim().to_string()
}

/// Host SysV IPC objects, created for the test and removed after it.
struct HostIpc {
    shm: i32,
    msg: i32,
}

impl HostIpc {
    fn new() -> HostIpc {
        let key = 0x6364_0000 + (std::process::id() as i32 & 0xffff);
        // SAFETY: plain SysV IPC calls with constant arguments.
        let shm = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | 0o600) };
        let msg = unsafe { libc::msgget(key, libc::IPC_CREAT | 0o600) };
        assert!(shm >= 0 && msg >= 0, "creating host IPC objects failed");
        HostIpc { shm, msg }
    }
}

impl Drop for HostIpc {
    fn drop(&mut self) {
        // SAFETY: removing the objects this test created.
        unsafe {
            libc::shmctl(self.shm, libc::IPC_RMID, std::ptr::null_mut());
            libc::msgctl(self.msg, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}

fn ids(table: &str) -> BTreeSet<String> {
    // /proc/sysvipc/*: a header line, then one object per line (2nd column = id).
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

#[test]
fn workload_sees_only_its_own_namespaces() {
    let Some(layout) = common::live("workload_sees_only_its_own_namespaces") else {
        return;
    };
    let name = unique("ns");
    let _cleanup = Cleanup::new(&layout, &name);
    let ipc = HostIpc::new();
    let host_shm = std::fs::read_to_string("/proc/sysvipc/shm").unwrap();
    assert!(
        ids(&host_shm).contains(&ipc.shm.to_string()),
        "host sees its own shm"
    );

    let out = cgdash(
        &["run", "--name", &name, "--", "sh", "-c", PROBE],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let o = &out.stdout;
    eprintln!("observed inside:\n{o}");

    // pid namespace: the shell is pid 2 (our init is pid 1), /proc is fresh.
    assert_eq!(field(o, "pid"), "2", "{out:?}");
    assert_eq!(field(o, "init"), "cgdash-init");
    let pids: Vec<u32> = field(o, "procs")
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(pids.contains(&1) && pids.contains(&2), "{pids:?}");
    assert!(
        pids.iter().all(|p| *p < 50),
        "host processes visible: {pids:?}"
    );
    assert!(!pids.contains(&std::process::id()));
    // uts: hostname defaults to the name.
    assert_eq!(field(o, "hostname"), name);
    // net: only lo.
    assert_eq!(field(o, "net"), "lo");
    // cgroup: every hierarchy shows the workload's group as `/`.
    let cg = field(o, "cgroup");
    assert!(!cg.is_empty());
    for line in cg.lines() {
        assert!(line.ends_with(":/"), "cgroup line not `/`: {line}");
    }
    // ipc: the host's objects are not there.
    assert!(ids(&field(o, "shm")).is_empty(), "{}", field(o, "shm"));
    assert!(ids(&field(o, "msg")).is_empty(), "{}", field(o, "msg"));
    drop(ipc);
    // And the group is gone afterwards.
    assert!(!layout.group_exists(&format!("cgdash/{name}")));
}

#[test]
fn hostname_flag_and_shared_namespaces() {
    let Some(layout) = common::live("hostname_flag_and_shared_namespaces") else {
        return;
    };
    let name = unique("share");
    let _cleanup = Cleanup::new(&layout, &name);
    let host_net: BTreeSet<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let out = cgdash(
        &[
            "run",
            "--name",
            &name,
            "--hostname",
            "box",
            "--share",
            "net,ipc",
            "--",
            "sh",
            "-c",
            PROBE,
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(field(&out.stdout, "hostname"), "box");
    let inside: BTreeSet<String> = field(&out.stdout, "net")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(inside, host_net, "--share net shows the host's interfaces");
    assert_eq!(field(&out.stdout, "pid"), "2");

    // --hostname without a uts namespace is refused before anything starts.
    let out = cgdash(
        &[
            "run",
            "--name",
            &name,
            "--hostname",
            "x",
            "--share",
            "uts",
            "--",
            "true",
        ],
        Duration::from_secs(10),
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("uts"), "{out:?}");
    assert!(!layout.group_exists(&format!("cgdash/{name}")));
}
