//! issue 12 #4: a refused multi-write `set` is undone newest first, the
//! reverse of the order that kept every step valid. Against the real kernel
//! (root): lowering the CPU quota and its burst writes the burst first
//! (burst ≤ quota at every step); when a later write is refused, the quota
//! must go back up before the burst does — the other way round the kernel
//! refuses the old burst (above the still-lowered quota).

mod common;

use std::fs;

use cgdash::cgroup::Version;
use common::TestGroup;

#[test]
fn hc_rollback_restores_newest_first() {
    let Some(l) = common::live("hc_rollback_restores_newest_first") else {
        return;
    };
    let h = l.hierarchy("cpu").expect("cpu controller");
    let (quota_file, burst_file) = match h.version {
        Version::V1 => ("cpu.cfs_quota_us", "cpu.cfs_burst_us"),
        Version::V2 => ("cpu.max", "cpu.max.burst"),
    };
    let g = TestGroup::new(&l, "rollback");
    let dir = h.dir(&g.path);
    if !dir.join(burst_file).exists() {
        eprintln!("no {burst_file} (Linux < 5.14): the burst's order can't be checked here");
        return;
    }
    let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap().trim().to_string();
    g.apply(&["cpu=50%", "cpu.burst=40ms"]).expect("setup");
    let (quota, burst) = (read(quota_file), read(burst_file));
    assert_eq!(burst, "40000");
    // burst 40→10ms, quota 50→20ms, then a CPU this machine doesn't have:
    // the kernel refuses the last write (ERANGE or EINVAL).
    let e = g
        .apply(&["cpu=20%", "cpu.burst=10ms", "cpuset.cpus=1000"])
        .expect_err("cpuset.cpus=1000 is refused");
    let msg = e.to_string();
    assert!(msg.contains("cpuset.cpus"), "{msg}");
    assert!(e.left_changed().is_empty(), "undo failed: {msg}");
    assert_eq!(read(quota_file), quota, "{msg}");
    assert_eq!(read(burst_file), burst, "{msg}");
    assert!(msg.contains("earlier writes were undone"), "{msg}");
    // Newest first: the quota, then the burst.
    let q = msg.find(quota_file).unwrap();
    let b = msg.rfind(burst_file).unwrap();
    assert!(q < b, "{msg}");
}
