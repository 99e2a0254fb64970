//! The built-in workloads through the CLI (no root needed): they stop by
//! themselves after --duration, report progress, and the fork storm's
//! children die with their parent.

mod common;
mod launch_util;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use launch_util::{alive, cgdash, wait_for};

#[test]
fn cpu_burner_stops_after_duration() {
    let t = Instant::now();
    let out = cgdash(
        &["stress", "cpu", "--workers", "2", "--duration", "1s"],
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert!(
        out.stdout.contains("2 worker(s)") && out.stdout.contains("done"),
        "{out:?}"
    );
}

#[test]
fn memory_ramp_reports_progress_and_holds() {
    let out = cgdash(
        &[
            "stress",
            "memory",
            "--rate",
            "32M",
            "--ceiling",
            "48M",
            "--duration",
            "2500ms",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("allocated"), "{out:?}");
    assert!(out.stdout.contains("holding 48M"), "{out:?}");
    let bad = cgdash(
        &["stress", "memory", "--rate", "lots", "--duration", "1s"],
        Duration::from_secs(10),
    );
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("--rate"), "{bad:?}");
}

#[test]
fn fork_storm_is_bounded_and_dies_with_its_parent() {
    let out = cgdash(
        &["stress", "fork", "--max", "8", "--duration", "1s"],
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("done: 8 children at most, 0 forks refused"),
        "{out:?}"
    );

    // SIGKILL the storm: its children (PDEATHSIG) must not outlive it, even
    // though their own deadline is far away.
    let mut child = Command::new(common::cgdash_bin())
        .args(["stress", "fork", "--max", "5", "--duration", "60s"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let kids = || -> Vec<i32> {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    assert!(
        wait_for(Duration::from_secs(10), || kids().len() == 5),
        "children did not appear"
    );
    let before = kids();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || before.iter().all(|p| !alive(*p))),
        "fork-storm children outlived their parent"
    );
}
