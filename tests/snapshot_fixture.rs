//! `cgdash snapshot --root DIR` on fixture trees (v2 and separate v1): the
//! documented JSON fields with the values in the files; the table; errors.

mod common;

use std::fs;
use std::path::Path;

use serde_json::Value;

fn write(dir: &Path, file: &str, text: &str) {
    fs::create_dir_all(dir).expect("mkdir");
    fs::write(dir.join(file), text).expect("write");
}

fn v2_tree(root: &Path) {
    write(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
    write(root, "cgroup.procs", "1\n");
    write(
        root,
        "cpu.stat",
        "usage_usec 5000000\nuser_usec 1\nsystem_usec 1\n",
    );
    let g = root.join("cgdash/demo");
    write(&g, "cgroup.procs", "100\n101\n");
    write(&g, "cgroup.controllers", "cpu memory pids\n");
    write(
        &g,
        "cpu.stat",
        "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\nnr_periods 50\nnr_throttled 40\nthrottled_usec 3000000\n",
    );
    write(&g, "cpu.max", "20000 100000\n");
    write(&g, "cpu.weight", "200\n");
    write(&g, "memory.current", "33554432\n");
    write(&g, "memory.peak", "40000000\n");
    write(&g, "memory.max", "67108864\n");
    write(&g, "memory.high", "max\n");
    write(
        &g,
        "memory.events",
        "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n",
    );
    write(&g, "pids.current", "2\n");
    write(&g, "pids.max", "64\n");
    write(&g, "pids.events", "max 3\n");
    write(&g, "cgroup.freeze", "0\n");
    write(
        &g,
        "cpu.pressure",
        "some avg10=1.50 avg60=0.00 avg300=0.00 total=100\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=50\n",
    );
    write(&root.join("cgdash"), "cgroup.procs", "");
    write(&root.join("other"), "cgroup.procs", "");
}

fn v1_tree(root: &Path) {
    for c in ["cpu", "cpuacct", "memory", "pids"] {
        write(&root.join(c), "cgroup.procs", "1\n");
        write(&root.join(c).join("box"), "cgroup.procs", "42\n");
    }
    let cpu = root.join("cpu/box");
    write(&cpu, "cpu.cfs_quota_us", "150000\n");
    write(&cpu, "cpu.cfs_period_us", "100000\n");
    write(&cpu, "cpu.shares", "1024\n");
    write(
        &cpu,
        "cpu.stat",
        "nr_periods 10\nnr_throttled 4\nthrottled_time 123456789\n",
    );
    write(&root.join("cpuacct/box"), "cpuacct.usage", "987654321\n");
    let mem = root.join("memory/box");
    write(&mem, "memory.usage_in_bytes", "1048576\n");
    write(&mem, "memory.max_usage_in_bytes", "2097152\n");
    write(&mem, "memory.limit_in_bytes", "33554432\n");
    write(&mem, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
    write(&mem, "memory.failcnt", "5\n");
    write(
        &mem,
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    );
    let pids = root.join("pids/box");
    write(&pids, "pids.current", "1\n");
    write(&pids, "pids.max", "max\n");
    write(&pids, "pids.events", "max 0\n");
}

fn snapshot_json(args: &[&str]) -> Value {
    let (code, out, err) = common::cgdash(args);
    assert_eq!(code, 0, "cgdash {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn group<'a>(snap: &'a Value, path: &str) -> &'a Value {
    snap["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["path"] == path))
        .unwrap_or_else(|| panic!("no group {path} in {snap}"))
}

#[test]
fn v2_tree_json_has_the_documented_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    v2_tree(dir.path());
    let root = dir.path().to_str().expect("utf-8 path");
    let snap = snapshot_json(&["snapshot", "--json", "--root", root, "--interval", "100ms"]);
    assert_eq!(snap["schema"], 1);
    assert_eq!(snap["mode"], "v2");
    assert!(
        snap["interval_ms"].as_u64().is_some_and(|ms| ms >= 100),
        "{}",
        snap["interval_ms"]
    );
    assert!(snap["cpus"].as_u64().is_some_and(|n| n >= 1));
    // --root: the tree isn't the host's, so no processes.
    assert_eq!(snap["processes"], Value::Array(vec![]));

    let paths: Vec<&str> = snap["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["path"].as_str())
        .collect();
    assert_eq!(paths, vec!["/", "cgdash", "cgdash/demo", "other"]);

    let g = group(&snap, "cgdash/demo");
    // Counters did not move between the reads: 0 %, not null.
    assert_eq!(g["cpu"]["usage_percent"], 0.0);
    assert_eq!(g["cpu"]["usage_total_ns"], 2_000_000_000u64);
    assert_eq!(g["cpu"]["limit_percent"], 20.0);
    assert_eq!(g["cpu"]["quota_us"], 20000);
    assert_eq!(g["cpu"]["period_us"], 100000);
    assert_eq!(g["cpu"]["weight"], 200);
    assert_eq!(g["cpu"]["nr_periods"], 50);
    assert_eq!(g["cpu"]["nr_throttled"], 40);
    assert_eq!(g["cpu"]["throttled_total_ns"], 3_000_000_000u64);
    assert_eq!(g["cpu"]["throttled_percent"], 0.0);
    assert_eq!(g["memory"]["current_bytes"], 33554432);
    assert_eq!(g["memory"]["peak_bytes"], 40000000);
    assert_eq!(g["memory"]["max_bytes"], 67108864);
    assert_eq!(g["memory"]["high_bytes"], Value::Null);
    assert_eq!(g["memory"]["oom_kills"], 2);
    assert_eq!(g["memory"]["oom_kills_delta"], 0);
    assert_eq!(g["memory"]["max_events"], 7);
    assert_eq!(g["pids"]["current"], 2);
    assert_eq!(g["pids"]["max"], 64);
    assert_eq!(g["pids"]["max_events"], 3);
    assert_eq!(g["nprocs"], 2);
    assert_eq!(g["frozen"], false);
    assert_eq!(g["pressure"]["cpu"]["some"]["avg10"], 1.5);
    assert!(g["id"].as_u64().is_some());

    // Unlimited is null, never 0 or u64::MAX.
    let other = group(&snap, "other");
    assert_eq!(other["cpu"]["limit_percent"], Value::Null);
    assert_eq!(other["memory"]["max_bytes"], Value::Null);
}

#[test]
fn separate_v1_tree_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    v1_tree(dir.path());
    let root = dir.path().to_str().expect("utf-8 path");
    let snap = snapshot_json(&[
        "snapshot",
        "--json",
        "--root",
        root,
        "--interval",
        "100ms",
        "--group",
        "box",
    ]);
    assert_eq!(snap["mode"], "v1");
    assert_eq!(snap["groups"].as_array().map(Vec::len), Some(1));
    let g = group(&snap, "box");
    assert_eq!(g["cpu"]["limit_percent"], 150.0);
    assert_eq!(g["cpu"]["usage_total_ns"], 987654321);
    assert_eq!(g["cpu"]["usage_percent"], 0.0);
    assert_eq!(g["cpu"]["nr_throttled"], 4);
    assert_eq!(g["cpu"]["throttled_total_ns"], 123456789);
    assert_eq!(g["cpu"]["weight"], 100);
    assert_eq!(g["memory"]["current_bytes"], 1048576);
    assert_eq!(g["memory"]["max_bytes"], 33554432);
    assert_eq!(g["memory"]["swap_max_bytes"], Value::Null);
    assert_eq!(g["memory"]["max_events"], 5);
    assert_eq!(g["memory"]["oom_kills"], 1);
    assert_eq!(g["pids"]["current"], 1);
    assert_eq!(g["pids"]["max"], Value::Null);
}

#[test]
fn table_shows_groups_and_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    v2_tree(dir.path());
    let root = dir.path().to_str().expect("utf-8 path");
    let (code, out, err) = common::cgdash(&["snapshot", "--root", root, "--interval", "100ms"]);
    assert_eq!(code, 0, "{err}");
    let header = out
        .lines()
        .find(|l| l.starts_with("PATH"))
        .unwrap_or_else(|| panic!("{out}"));
    for col in [
        "NAME",
        "CPU%",
        "LIMIT",
        "THR%",
        "MEM",
        "MEM LIMIT",
        "PIDS",
        "OOM",
        "NET RX/s",
        "NET TX/s",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let row = out
        .lines()
        .find(|l| l.starts_with("cgdash/demo"))
        .unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        vec![
            "cgdash/demo",
            "cgdash:demo",
            "0.0",
            "20%",
            "0.0",
            "32M",
            "64M",
            "2/64",
            "2",
            // IO R/s, W/s: the fixture has no io files (unknown, not 0).
            "-",
            "-",
            // NET RX/s, TX/s: a --root tree's groups have no network reading.
            "-",
            "-"
        ],
        "{row}"
    );
}

#[test]
fn errors_are_clear_and_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    v2_tree(dir.path());
    let root = dir.path().to_str().expect("utf-8 path");
    let cases: &[(&[&str], &str)] = &[
        (
            &["snapshot", "--root", "/nonexistent/cgroup"],
            "/nonexistent/cgroup",
        ),
        (&["snapshot", "--root", root, "--group", "nosuch"], "nosuch"),
        (
            &["snapshot", "--root", root, "--group", "../etc"],
            "invalid group name",
        ),
        (&["snapshot", "--interval", "soon"], "soon"),
        // The dashboard, the demo and `run --tui` without a terminal (the
        // test's stdin/stdout): said at once, nothing started.
        (&[], "needs a terminal"),
        (&["demo"], "needs a terminal"),
    ];
    for (args, needle) in cases {
        let (code, out, err) = common::cgdash(args);
        assert_ne!(code, 0, "{args:?} should fail: {out}");
        assert!(
            err.contains(needle),
            "{args:?}: stderr {err:?} should mention {needle:?}"
        );
        assert!(
            out.is_empty(),
            "{args:?}: nothing on stdout on error: {out}"
        );
    }
}
