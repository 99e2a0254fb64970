//! Issue 18 item 3: the skipping `/proc` path (processes in groups whose
//! CPU counter did not move are taken from the cache, nothing read) against
//! the full path (every process read), side by side on one live workload:
//! idle processes, one that sleeps and then burns the CPU, one that exec()s
//! and one that exits, each in its own test group. Every tick the two
//! samplers read one right after the other, and each process's CPU % and
//! command line must agree.
//!
//! How close "agree" is, without a timed guess: the two samplers read the
//! same process at two moments at most `span` apart (the time both samples
//! of a tick took), so over one interval their CPU time can differ by what
//! the process used in those two gaps (≤ the two spans), plus `stat`'s
//! clock-tick rounding (2 ticks of 10 ms) and the scheduler tick by which a
//! group's counter can lag (≤ 10 ms). A process the skipping path failed to
//! read while it burned would be off by its whole burn. A row that differs
//! in presence or command is allowed for one tick (an exec or exit between
//! the two reads), never two in a row: a stale cached row stays stale.
//! The end checks use the kernel's own counters: the burner's CPU time as
//! the full path read it last, the exec'd command, the exited pid gone.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use cgdash::model::Snapshot;
use cgdash::sampler::Sampler;
use common::quiet_load::{child_of, frugal, keep_ticking, nap, spawn_bash};
use common::TestGroup;

#[derive(Debug, Clone, PartialEq)]
struct Row {
    cpu_percent: Option<f64>,
    cpu_time_ns: u64,
    command: String,
}

fn rows(snap: &Snapshot, groups: &HashSet<String>) -> HashMap<i32, Row> {
    snap.processes
        .iter()
        .filter(|p| groups.contains(&*p.cgroup))
        .map(|p| {
            (
                p.pid,
                Row {
                    cpu_percent: p.cpu_percent,
                    cpu_time_ns: p.cpu_time_ns,
                    command: p.command.to_string(),
                },
            )
        })
        .collect()
}

#[test]
fn skipping_sampler_matches_the_full_one() {
    let Some(layout) = common::live("skipping_sampler_matches_the_full_one") else {
        return;
    };
    let mut idle = TestGroup::new(&layout, "scale-idle");
    let mut late = TestGroup::new(&layout, "scale-late");
    let mut exec = TestGroup::new(&layout, "scale-exec");
    let mut exit = TestGroup::new(&layout, "scale-exit");
    for _ in 0..3 {
        idle.spawn_sh("exec sleep 40", Duration::from_secs(40));
    }
    spawn_bash(&mut idle, &nap("40"));
    // Idle 3 s, then burns ~2-3 s (bash builtins only: one process), idle again.
    let burner = spawn_bash(
        &mut late,
        &format!(
            "{}; end=$((SECONDS+3)); while [ $SECONDS -lt $end ]; do :; done; {}",
            nap("3"),
            nap("40")
        ),
    );
    let execer = spawn_bash(&mut exec, &format!("{}; exec sleep 40", nap("4")));
    let exiter = spawn_bash(&mut exit, &format!("{}; exit 0", nap("5")));
    let groups: HashSet<String> = [&idle, &late, &exec, &exit]
        .iter()
        .map(|g| g.path.clone())
        .collect();

    let mut skip = Sampler::new(layout.clone(), "/proc".into()).expect("sampler");
    let mut full = Sampler::new(layout.clone(), "/proc".into()).expect("sampler");
    full.set_skip_quiet(false);
    frugal(&mut skip);
    frugal(&mut full);
    assert_eq!(skip.path_name(), "proc-skip");
    assert_eq!(full.path_name(), "proc");

    let hz = 100.0; // USER_HZ: `stat`'s clock ticks
    let interval = Duration::from_millis(400);
    let started = Instant::now();
    let mut last_span = Duration::ZERO;
    let mut last_at: Option<Instant> = None;
    let mut transient: HashSet<(i32, &str)> = HashSet::new();
    let mut skipped = 0;
    let mut ticks = 0;
    let (mut burner_pid, mut exec_pid, mut exit_pid) = (None, None, None);
    let (mut a, mut b) = (Snapshot::default(), Snapshot::default());
    let mut worst = (0.0f64, 0.0f64);
    while keep_ticking(started, Duration::from_secs(9), ticks) {
        let t0 = Instant::now();
        a = skip.sample();
        b = full.sample();
        let span = t0.elapsed();
        skipped += skip.skipped();
        ticks += 1;
        burner_pid = burner_pid.or_else(|| child_of(&b, burner));
        exec_pid = exec_pid.or_else(|| child_of(&b, execer));
        exit_pid = exit_pid.or_else(|| child_of(&b, exiter));
        let (ra, rb) = (rows(&a, &groups), rows(&b, &groups));
        let mut now_odd = HashSet::new();
        let wall = last_at.map(|t| t0.duration_since(t));
        for pid in ra.keys().chain(rb.keys()).copied().collect::<HashSet<_>>() {
            let (x, y) = match (ra.get(&pid), rb.get(&pid)) {
                (Some(x), Some(y)) => (x, y),
                _ => {
                    now_odd.insert((pid, "presence"));
                    continue;
                }
            };
            if x.command != y.command {
                now_odd.insert((pid, "command"));
            }
            // CPU time so far: the full path read later, by at most `span`.
            let slack_ns = span.as_nanos() as u64 + 2 * 10_000_000 + 10_000_000;
            assert!(
                y.cpu_time_ns + 10_000_000 >= x.cpu_time_ns
                    && y.cpu_time_ns - x.cpu_time_ns.min(y.cpu_time_ns) <= slack_ns,
                "pid {pid} ({}): CPU time {} ns on the skipping path vs {} ns on the full one (slack {slack_ns} ns, tick {ticks})",
                y.command,
                x.cpu_time_ns,
                y.cpu_time_ns
            );
            if let (Some(p), Some(q), Some(wall)) = (x.cpu_percent, y.cpu_percent, wall) {
                let slack_ms = (last_span + span).as_secs_f64() * 1000.0 + 2000.0 / hz + 10.0;
                let tol = 100.0 * slack_ms / wall.as_secs_f64() / 1000.0;
                assert!(
                    (p - q).abs() <= tol,
                    "pid {pid} ({}): skipping path {p:.1} % vs full path {q:.1} % (tolerance {tol:.1} %, tick {ticks})",
                    y.command
                );
                if (p - q).abs() > worst.0 {
                    worst = ((p - q).abs(), tol);
                }
            } else if x.cpu_percent.is_some() != y.cpu_percent.is_some() {
                now_odd.insert((pid, "rate"));
            }
        }
        for odd in &now_odd {
            assert!(
                !transient.contains(odd),
                "pid {} differs in {} two ticks running: {:?} vs {:?}",
                odd.0,
                odd.1,
                ra.get(&odd.0),
                rb.get(&odd.0)
            );
        }
        transient = now_odd;
        last_span = span;
        last_at = Some(t0);
        std::thread::sleep(interval.saturating_sub(t0.elapsed()));
    }
    eprintln!(
        "{ticks} ticks, {skipped} rows taken on their group's word; largest CPU % difference {:.2} (tolerance then {:.1})",
        worst.0, worst.1
    );
    // The skipping path did skip: 8 idle processes (4 × timeout + child)
    // over most ticks, and the others while they slept.
    assert!(
        skipped >= 8 * ticks / 3,
        "{skipped} rows skipped in {ticks} ticks"
    );
    // A last pair of samples after everything settled: same CPU time.
    let (ra, rb) = (rows(&a, &groups), rows(&b, &groups));
    let burner_pid = burner_pid.expect("burner seen");
    let (x, y) = (&ra[&burner_pid], &rb[&burner_pid]);
    assert!(
        y.cpu_time_ns >= 300_000_000,
        "the burner burned (full path: {} ns)",
        y.cpu_time_ns
    );
    assert_eq!(
        x.cpu_time_ns, y.cpu_time_ns,
        "idle since: the skipping path shows the same CPU time"
    );
    let exec_pid = exec_pid.expect("execer seen");
    assert_eq!(ra[&exec_pid].command, "sleep 40");
    assert_eq!(rb[&exec_pid].command, "sleep 40");
    let exit_pid = exit_pid.expect("exiter seen");
    assert!(!ra.contains_key(&exit_pid) && !rb.contains_key(&exit_pid));
}
