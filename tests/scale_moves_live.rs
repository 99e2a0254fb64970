//! A process moved from one group to another while the sampler reads both
//! every 300 ms: its row must name the new group from the first sample after
//! the move, and its CPU time must follow the kernel's while it burns there.
//!
//! Both failed on v1 before: the group reader and the quiet-group skipper
//! kept each group's `cgroup.procs` open, and the kernel hands a kept v1
//! `cgroup.procs` the list it built at its first read for as long as it is
//! read again within a second. The moved process stayed listed in its old
//! (quiet) group: placed there, and taken from the cache on that group's
//! word while it burned elsewhere (`net_read_live`'s veth test found it: a
//! group that was empty at its first read never got a member).
//!
//! Exact, not timed: the sampler's CPU time must lie between two direct
//! reads of the process's own `/proc/PID/stat` taken around the sample.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use cgdash::sampler::Sampler;
use common::quiet_load::{nap, spawn_bash};
use common::TestGroup;

/// utime + stime of `pid` in clock ticks, from its own `stat`.
fn ticks(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let f: Vec<&str> = s.rsplit_once(") ").unwrap().1.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// The only child of `parent`.
fn child_of(parent: u32) -> Option<i32> {
    let out = Command::new("pgrep")
        .args(["-P", &parent.to_string()])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn a_moved_process_is_placed_and_read_in_its_new_group() {
    let Some(layout) = common::live("a_moved_process_is_placed_and_read_in_its_new_group") else {
        return;
    };
    let mut a = TestGroup::new(&layout, "moves-a");
    let b = TestGroup::new(&layout, "moves-b");
    // bash alone (no child while it naps, so its group stays quiet): naps
    // 2.5 s, burns 3 s on builtins, naps again.
    let timeout_pid = spawn_bash(
        &mut a,
        &format!(
            "{}; end=$((SECONDS+3)); while [ $SECONDS -lt $end ]; do :; done; {}",
            nap("2.5"),
            nap("30")
        ),
    );
    let start = Instant::now();
    let mut bash = None;
    while bash.is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "bash did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
        bash = child_of(timeout_pid);
    }
    let bash = bash.unwrap();
    let parent = a.path.rsplit_once('/').unwrap().0.to_string();
    let mut s = Sampler::new(layout.clone(), "/proc".into()).expect("sampler");
    s.set_group_filter(Some(&parent));
    // Long enough for group `a` to be quiet and its files kept.
    for _ in 0..4 {
        s.sample();
        std::thread::sleep(Duration::from_millis(300));
    }
    for p in layout.procs_files(&b.path) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .and_then(|mut f| f.write_all(bash.to_string().as_bytes()))
            .unwrap_or_else(|e| panic!("move {bash} into {}: {e}", p.display()));
    }
    let hz_ns = 10_000_000u64; // USER_HZ = 100: `stat`'s clock ticks
    let mut burned = 0;
    let mut last = ticks(bash);
    while start.elapsed() < Duration::from_secs(7) {
        let k0 = ticks(bash);
        let snap = s.sample();
        let k1 = ticks(bash);
        let row = snap
            .processes
            .iter()
            .find(|p| p.pid == bash)
            .unwrap_or_else(|| panic!("no row for {bash} after the move"));
        assert_eq!(
            &*row.cgroup, b.path,
            "{bash} moved into {} but its row says {}",
            b.path, row.cgroup
        );
        assert!(
            k0 * hz_ns <= row.cpu_time_ns && row.cpu_time_ns <= k1 * hz_ns,
            "{bash}'s CPU time {} ns, its stat said {k0} then {k1} ticks around the sample",
            row.cpu_time_ns
        );
        // It ran since the last sample: a row taken from the cache would
        // be below k0.
        if k0 > last {
            burned += 1;
        }
        last = k1;
        std::thread::sleep(Duration::from_millis(300));
    }
    // The check above is only worth something if it burned while sampled.
    assert!(burned >= 3, "bash burned during only {burned} samples");
    drop(a);
}
