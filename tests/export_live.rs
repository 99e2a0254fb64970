//! Live: `cgdash export` on the host's real hierarchy (v1 here, v2 in the
//! test VM): a limited, throttled test group appears with cAdvisor's names,
//! the limits it was given, counters that move forward, and a recreated
//! group restarting its series. Run: `cargo test --test export_live` (root).

mod common;
mod export_util;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{cgdash_bin, TestGroup};
use export_util::{value, Server};

#[test]
fn export_live_limited_group_has_cadvisor_metrics() {
    let Some(layout) = common::live("export_live_limited_group_has_cadvisor_metrics") else {
        return;
    };
    let mut g = TestGroup::new(&layout, "export-cpu");
    g.apply(&["cpu=20%", "memory=64M", "pids=50"])
        .expect("set limits");
    let mut burner = Command::new(cgdash_bin());
    burner.args(["stress", "cpu", "--duration", "40s"]);
    g.spawn(burner);
    let s = Server::start(&["--group", &g.path, "--min-interval", "50ms"]);
    let sel = format!("id=\"/{}\"", g.path);
    let m0 = s.metrics();
    let t0 = Instant::now();
    let v = |m: &str, name: &str| value(m, name, &sel);
    assert_eq!(v(&m0, "container_spec_cpu_quota"), Some(20000.0), "{m0}");
    assert_eq!(v(&m0, "container_spec_cpu_period"), Some(100000.0));
    assert_eq!(
        v(&m0, "container_spec_memory_limit_bytes"),
        Some(64.0 * 1024.0 * 1024.0)
    );
    assert_eq!(v(&m0, "container_threads_max"), Some(50.0));
    assert!(
        v(&m0, "container_processes").is_some_and(|n| n >= 1.0),
        "{m0}"
    );
    assert!(v(&m0, "container_memory_usage_bytes").is_some());
    assert!(v(&m0, "container_memory_working_set_bytes").is_some());
    assert_eq!(
        m0.lines()
            .filter(|l| l.starts_with("container_cpu_usage_seconds_total{"))
            .count(),
        1,
        "--group: this group only (it has none below)\n{m0}"
    );
    std::thread::sleep(Duration::from_secs(3));
    let m1 = s.metrics();
    let dt = t0.elapsed().as_secs_f64();
    let d = |name: &str| v(&m1, name).unwrap_or(0.0) - v(&m0, name).unwrap_or(f64::NAN);
    let cpu = d("container_cpu_usage_seconds_total") / dt;
    eprintln!("cpu {cpu:.3} cores over {dt:.1}s");
    assert!((0.1..=0.3).contains(&cpu), "cpu {cpu} cores, want ≈ 0.2");
    assert!(d("container_cpu_cfs_periods_total") >= 10.0);
    assert!(
        d("container_cpu_cfs_throttled_periods_total") >= 5.0,
        "{m1}"
    );
    assert!(d("container_cpu_cfs_throttled_seconds_total") > 0.0);
    let ratio = v(&m1, "cgdash_cpu_throttled_periods_ratio").expect("ratio");
    assert!(
        ratio > 0.5,
        "a 100% burner under 20%: most periods throttled ({ratio})"
    );
}

/// The same path, removed and made again with a workload of its own: the
/// series restarts (same labels, counter from zero, new inode).
#[test]
fn export_live_recreated_group_restarts() {
    let Some(layout) = common::live("export_live_recreated_group_restarts") else {
        return;
    };
    let mut g = TestGroup::new(&layout, "export-again");
    // Bounded by time, not work: the VM's emulated CPU is slow.
    let mut burn = Command::new(cgdash_bin());
    burn.args(["stress", "cpu", "--duration", "1s"]);
    g.spawn(burn);
    assert!(
        g.wait_first(Duration::from_secs(60)).is_some(),
        "burn did not end"
    );
    let s = Server::start(&["--group", &g.path, "--min-interval", "50ms"]);
    let sel = format!("id=\"/{}\"", g.path);
    let m0 = s.metrics();
    let cpu0 = value(&m0, "container_cpu_usage_seconds_total", &sel).expect("cpu");
    let ino0 = value(&m0, "cgdash_group_inode", &sel).expect("inode");
    assert!(cpu0 > 0.05, "the shell burned {cpu0} s");
    let path = g.path.clone();
    drop(g);
    let again = TestGroup::new(&layout, "export-again");
    assert_eq!(again.path, path);
    let mut seen = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let m = s.metrics();
        if let Some(ino) = value(&m, "cgdash_group_inode", &sel).filter(|&i| i != ino0) {
            seen = Some((ino, value(&m, "container_cpu_usage_seconds_total", &sel)));
            break;
        }
    }
    let (_, cpu1) = seen.expect("the recreated group (new inode) never showed");
    let cpu1 = cpu1.expect("cpu of the new group");
    assert!(
        cpu1 < cpu0,
        "restarted from the new group's counter: {cpu1} < {cpu0}"
    );
}
