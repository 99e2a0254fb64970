//! issue 14, "Measured, not assumed": the microscope's periods against the
//! kernel's own counters, live (v1 on the host, v2 in the VM). The scenario
//! of `demo throttle`: 8 threads × 12 ms of CPU every 250 ms under a 50 %
//! quota — every burst throttled though the average (38 %) is below the
//! quota; with a 50 ms burst set mid-run, the bursts fit in the next periods.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use cgdash::sampler::periods::{read_counters, Report, Watch, INTERVAL};
use common::{cgdash_bin, TestGroup};

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The periods closed between two reports (the ring holds a minute).
fn between<'a>(a: &Report, b: &'a Report) -> &'a [cgdash::sampler::periods::Period] {
    let n = (b.sums.periods - a.sums.periods) as usize;
    &b.periods[b.periods.len() - n..]
}

#[test]
fn micro_periods_match_the_kernel_and_show_a_burst() {
    let Some(l) = common::live("micro_periods_match_the_kernel_and_show_a_burst") else {
        return;
    };
    let mut g = TestGroup::new(&l, "periods");
    g.apply(&["cpu=50%"]).expect("cpu=50%");
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", "60", cgdash_bin()]);
    // `demo throttle`'s shape (src/cmd/demo.rs says why this one).
    cmd.args(["stress", "bursty", "--threads", "8", "--burst", "12ms"]);
    cmd.args(["--every", "250ms", "--duration", "40s"]);
    g.spawn(cmd);

    let watch = Watch::start(l.clone(), &g.path, INTERVAL);
    wait_for("a first boundary", Duration::from_secs(10), || {
        watch.report().base.is_some()
    });
    // Window 1: 6 s without burst.
    let r0 = watch.report();
    let k0 = read_counters(&l, &g.path).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let r1 = watch.report();
    let k1 = read_counters(&l, &g.path).unwrap();
    let periods = r1.sums.periods - r0.sums.periods;
    let throttled = r1.sums.throttled - r0.sums.throttled;
    let used = r1.sums.used_ns - r0.sums.used_ns;
    let k_periods = k1.nr_periods - k0.nr_periods;
    let k_throttled = k1.nr_throttled - k0.nr_throttled;
    let k_used = k1.usage_ns - k0.usage_ns;
    let window = between(&r0, &r1);
    let biggest = window.iter().map(|p| p.used_ns).max().unwrap_or(0);
    eprintln!(
        "no burst: {periods} periods ({k_periods} by the kernel), {throttled} throttled ({k_throttled}), \
         used {:.1} ms ({:.1} ms), average {:.0} % of a CPU",
        used as f64 / 1e6,
        k_used as f64 / 1e6,
        k_used as f64 / 6e9 * 100.0,
    );
    eprintln!("timed: {} ends precise/imprecise {:?}", r1.timed, r1.ends);
    let seq: Vec<String> = window
        .iter()
        .map(|p| {
            format!(
                "{}{}{}",
                p.used_ns / 1_000_000,
                if p.throttled { "T" } else { "" },
                if p.burst_ns > 0 { "B" } else { "" }
            )
        })
        .collect();
    eprintln!("periods: {}", seq.join(" "));
    // Against the kernel's counters as the sampler read them (its last
    // reading in each report): the same moments. The test's own reads come
    // a little later, and on a loaded VM a report can lag them by a few
    // periods (CI's once: 63 counted vs 60 by the test's reads).
    let (w0, w1) = (r0.last.unwrap(), r1.last.unwrap());
    let (w_periods, w_throttled) = (
        w1.nr_periods - w0.nr_periods,
        w1.nr_throttled - w0.nr_throttled,
    );
    assert!(w_periods.abs_diff(periods) <= 1, "{periods} vs {w_periods}");
    assert!(
        w_throttled.abs_diff(throttled) <= 1,
        "{throttled} vs {w_throttled}"
    );
    assert!(
        k_periods.abs_diff(periods) <= 10,
        "{periods} vs {k_periods} read by the test: the sampler a second behind"
    );
    // One period's usage either way (a period open at either end), plus
    // what ran between the report and the test's own read.
    assert!(
        k_used.abs_diff(used) <= 2 * biggest + 20_000_000,
        "used {used} vs the kernel's {k_used} (largest period {biggest})"
    );
    assert!(periods >= 40, "a period every 100 ms while busy: {periods}");
    // Every burst throttled: one period in 2.5 (≈ 20–24 of 60 on an idle
    // 2-CPU host); how many depends on what else runs (threads that wait
    // for a CPU use the quota more slowly): asserted loosely.
    // Under heavy load the workload may not even reach its quota: the
    // burst part then has nothing to show.
    if throttled < 5 {
        eprintln!("only {throttled} throttled periods (a busy machine): no burst part");
        return;
    }
    assert!(k_used < 3_000_000_000, "average below the 50 % quota");
    // Runnable threads are counted at the sampler's moments: on a loaded
    // VM (CI's, two test binaries at a time) it caught none once in 3 runs
    // while every period count matched. A miss is reported, not failed;
    // the counting itself has its unit tests (src/sampler/periods.rs).
    if !window.iter().any(|p| p.runnable >= 2) {
        eprintln!("note: no period caught 2+ runnable threads (timing imprecise: a busy machine)");
    }

    // A burst set mid-run shows in the next periods.
    let Some(h) = l.hierarchy("cpu") else { return };
    let burst_file = if h.version == cgdash::cgroup::Version::V1 {
        "cpu.cfs_burst_us"
    } else {
        "cpu.max.burst"
    };
    if !h.dir(&g.path).join(burst_file).exists() {
        eprintln!("no {burst_file}: a kernel before 5.14, no burst part");
        return;
    }
    g.apply(&["cpu.burst=50ms"]).expect("cpu.burst=50ms");
    let set_at = watch.report();
    // One 250 ms round lets the burst budget fill; then 6 s.
    std::thread::sleep(Duration::from_millis(700));
    let r2 = watch.report();
    let k2 = read_counters(&l, &g.path).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let r3 = watch.report();
    let k3 = read_counters(&l, &g.path).unwrap();
    let periods = r3.sums.periods - r2.sums.periods;
    let throttled = r3.sums.throttled - r2.sums.throttled;
    let burst: u64 = between(&r2, &r3).iter().map(|p| p.burst_ns).sum();
    eprintln!(
        "burst 50ms: {periods} periods ({} by the kernel), {throttled} throttled ({}), \
         burst {:.1} ms ({:.1} ms) in {} periods",
        k3.nr_periods - k2.nr_periods,
        k3.nr_throttled - k2.nr_throttled,
        burst as f64 / 1e6,
        (k3.burst_ns - k2.burst_ns) as f64 / 1e6,
        between(&r2, &r3).iter().filter(|p| p.burst_ns > 0).count(),
    );
    // (As above: against the sampler's own readings of the counters.)
    let (w2, w3) = (r2.last.unwrap(), r3.last.unwrap());
    assert!(
        (w3.nr_periods - w2.nr_periods).abs_diff(periods) <= 1,
        "{periods} vs {}",
        w3.nr_periods - w2.nr_periods
    );
    assert!(
        (w3.nr_throttled - w2.nr_throttled).abs_diff(throttled) <= 1,
        "{throttled} vs {}",
        w3.nr_throttled - w2.nr_throttled
    );
    assert!((k3.nr_periods - k2.nr_periods).abs_diff(periods) <= 10);
    // How far throttling falls depends on the unused quota there is to
    // carry over: on this 2-CPU host 40 of 60 → 0 or 1; in the v2 VM, where
    // the same workload uses 45 % of the 50 %, 44 → 44 (README). Measured,
    // not asserted; that the burst is used, is.
    assert!(burst > 0, "burst time shows in the periods");
    // The kernel's burst time agrees, but for a period's worth at either end.
    assert!(
        (k3.burst_ns - k2.burst_ns).abs_diff(burst) <= 60_000_000,
        "burst {burst} vs the kernel's {}",
        k3.burst_ns - k2.burst_ns
    );
    // Within the first second after the write the periods show it.
    let first = between(&set_at, &r2);
    assert!(
        first.iter().any(|p| p.burst_ns > 0),
        "a burst in the periods right after the write: {first:?}"
    );
    drop(watch);
}

/// `snapshot --json --periods`: the binding ancestor's quota, runnable
/// threads, and the periods of the interval (issue 14, item 5).
#[test]
fn micro_snapshot_json_periods_and_binding_quota() {
    let Some(l) = common::live("micro_snapshot_json_periods_and_binding_quota") else {
        return;
    };
    let parent = TestGroup::new(&l, "bind");
    parent.apply(&["cpu=30%"]).expect("cpu=30%");
    // No quota of its own (v1 refuses a child's above its parent's).
    let mut child = TestGroup::new(&l, "bind/child");
    let mut cmd = Command::new("timeout");
    cmd.args([
        "-s",
        "KILL",
        "30",
        cgdash_bin(),
        "stress",
        "cpu",
        "--workers",
        "2",
    ]);
    cmd.args(["--duration", "15s"]);
    child.spawn(cmd);
    std::thread::sleep(Duration::from_millis(500));
    let (code, out, err) = common::cgdash(&[
        "snapshot",
        "--json",
        "--periods",
        "--interval",
        "1500ms",
        "--group",
        &parent.path,
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let g = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"] == child.path.as_str())
        .unwrap_or_else(|| panic!("{} not in {out}", child.path));
    let cpu = &g["cpu"];
    assert_eq!(cpu["effective_limit_percent"], 30.0, "{cpu}");
    assert_eq!(cpu["limiting_group"], parent.path.as_str(), "{cpu}");
    assert!(
        cpu["runnable_threads"].as_u64().is_some_and(|n| n >= 1),
        "{cpu}"
    );
    assert!(cpu.get("periods").is_none(), "no quota, no periods: {cpu}");
    let p = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"] == parent.path.as_str())
        .unwrap();
    let periods = p["cpu"]["periods"]
        .as_array()
        .expect("periods with --periods");
    assert!(periods.len() >= 10, "1.5 s of 100 ms periods: {p}");
    assert!(
        periods.iter().any(|p| p["throttled"] == true),
        "2 burners under 30 %: {p}"
    );
    assert!(periods.iter().all(|p| p["used_us"].as_u64().is_some()
        && p["throttled"].is_boolean()
        && p["burst_us"].as_u64().is_some()));
    // Without --periods the key is absent (the schema only grows otherwise).
    let (_, out, _) = common::cgdash(&[
        "snapshot",
        "--json",
        "--interval",
        "100ms",
        "--group",
        &child.path,
    ]);
    assert!(!out.contains("\"periods\""), "periods only with --periods");
    assert!(out.contains("\"runnable_threads\""));
    drop(child);
    drop(parent);
}
