//! Live: limits given to `cgdash run` hold from the workload's first
//! instruction — CPU quota, memory (OOM kill), pids (fork storm) — and exit
//! codes pass through. Run: `cargo test --test launch_limits` (root).

mod common;
mod launch_util;

use std::time::{Duration, Instant};

use launch_util::{cgdash, said, spawn_cgdash, unique, wait_for, Cleanup};

#[test]
fn cpu_quota_20_percent_holds() {
    let Some(layout) = common::live("cpu_quota_20_percent_holds") else {
        return;
    };
    let name = unique("cpu");
    let mut cleanup = Cleanup::new(&layout, &name);
    let group = cleanup.group();
    let bin = common::cgdash_bin();
    // Two busy threads would take 200 % unlimited; the quota allows 20 %.
    let child = spawn_cgdash(&[
        "run",
        "--name",
        &name,
        "--cpu",
        "20%",
        "--",
        bin,
        "stress",
        "cpu",
        "--workers",
        "2",
        "--duration",
        "8s",
    ]);
    cleanup.children.push(child);
    assert!(
        wait_for(Duration::from_secs(10), || !layout.procs(&group).is_empty()),
        "workload did not appear in {group}; {}",
        said(&mut cleanup.children[0])
    );
    std::thread::sleep(Duration::from_millis(700)); // past start-up
    let read = || {
        layout
            .read_group(&group)
            .and_then(|g| g.cpu.usage_ns)
            .expect("cpu usage")
    };
    let (u0, t0) = (read(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let (u1, t1) = (read(), Instant::now());
    let percent = (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64 * 100.0;
    eprintln!("measured {percent:.1} % under --cpu 20%");
    assert!(
        (17.0..=23.0).contains(&percent),
        "measured {percent:.1} %, expected 20 ± 3"
    );
    let st = cleanup.children[0].wait().unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(!layout.group_exists(&group), "group left behind");
}

#[test]
fn memory_limit_oom_kills_with_137() {
    let Some(layout) = common::live("memory_limit_oom_kills_with_137") else {
        return;
    };
    let name = unique("mem");
    let cleanup = Cleanup::new(&layout, &name);
    let bin = common::cgdash_bin();
    let mut args = vec!["run", "--name", &name, "--memory", "64M"];
    // Without swap accounting a swap-backed host could page out instead of OOM.
    if std::fs::read_to_string("/proc/swaps")
        .map(|s| s.lines().count() > 1)
        .unwrap_or(false)
    {
        args.extend(["--memory-swap", "0"]);
    }
    args.extend([
        "--",
        bin,
        "stress",
        "memory",
        "--rate",
        "200M",
        "--ceiling",
        "200M",
        "--duration",
        "20s",
    ]);
    let out = cgdash(&args, Duration::from_secs(40));
    eprintln!("{out:?}");
    assert_eq!(out.code, 137, "{out:?}");
    assert!(
        out.stderr.contains("OOM killer"),
        "OOM kill not reported: {out:?}"
    );
    assert!(!layout.group_exists(&cleanup.group()));
}

#[test]
fn pids_limit_contains_a_fork_storm() {
    let Some(layout) = common::live("pids_limit_contains_a_fork_storm") else {
        return;
    };
    let name = unique("pids");
    let cleanup = Cleanup::new(&layout, &name);
    let bin = common::cgdash_bin();
    let out = cgdash(
        &[
            "run",
            "--name",
            &name,
            "--pids",
            "16",
            "--",
            bin,
            "stress",
            "fork",
            "--max",
            "200",
            "--duration",
            "3s",
        ],
        Duration::from_secs(30),
    );
    eprintln!("{out:?}");
    assert_eq!(out.code, 0, "{out:?}");
    let done = out
        .stdout
        .lines()
        .find(|l| l.contains("done:"))
        .expect("summary line");
    // "done: N children at most, M forks refused (EAGAIN)": helper, init and
    // the storm itself count too, so at most 13 children.
    let nums: Vec<u64> = done
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(nums[0] <= 13 && nums[0] >= 1, "{done}");
    assert!(nums[1] > 0, "no fork was refused: {done}");
    assert!(out.stderr.contains("refused by pids.max"), "{out:?}");
    // The host can still fork.
    assert!(std::process::Command::new("true")
        .status()
        .unwrap()
        .success());
    assert!(!layout.group_exists(&cleanup.group()));
}

#[test]
fn exit_codes_pass_through() {
    let Some(layout) = common::live("exit_codes_pass_through") else {
        return;
    };
    for (script, code) in [
        ("exit 7", 7),
        ("exit 0", 0),
        ("kill -9 $$", 137),
        ("kill -15 $$", 143),
    ] {
        let name = unique("exit");
        let cleanup = Cleanup::new(&layout, &name);
        let out = cgdash(
            &["run", "--name", &name, "--", "sh", "-c", script],
            Duration::from_secs(20),
        );
        assert_eq!(out.code, code, "{script}: {out:?}");
        assert!(!layout.group_exists(&cleanup.group()));
    }
}

#[test]
fn limits_are_in_place_when_the_workload_starts() {
    let Some(layout) = common::live("limits_are_in_place_when_the_workload_starts") else {
        return;
    };
    let name = unique("first");
    let cleanup = Cleanup::new(&layout, &name);
    // The workload's first command reads its own limits through the
    // read-only cgroupfs cgdash mounts inside (its group is the root there),
    // then tries to raise one.
    let script = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; \
                  (echo max > /sys/fs/cgroup/pids.max || echo max > /sys/fs/cgroup/pids/pids.max) 2>/dev/null \
                  && echo raised || echo refused";
    let out = cgdash(
        &[
            "run", "--name", &name, "--memory", "64M", "--pids", "20", "--", "sh", "-c", script,
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["67108864", "20", "refused"], "{out:?}");
    assert!(!layout.group_exists(&cleanup.group()));
}
