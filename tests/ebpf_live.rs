//! Issue 18 items 1–2: the eBPF process path against the full `/proc` path
//! (every process's files read), side by side on one live workload, in
//! test groups `bpf-*`: idle processes, one that sleeps and then burns the
//! CPU, one that exec()s, one that exits, a multi-threaded process whose
//! short-lived threads burn and die between two ticks while the rest of it
//! sleeps (their run time reaches the process only through the dead
//! threads' sum), a sleeping process moved to another group, and one whose
//! parent exits (reparented without running). Every tick the two samplers
//! read one right after the other; each process's CPU time, CPU %, command,
//! group and parent must agree, and so must each test group's CPU time and
//! process count (the eBPF path reads a group only when the pass named a
//! process in it: `sampler::active`).
//!
//! How close "agree" is, without a timed guess (as in scale_skip_live.rs):
//! the two samplers read the same process at two moments at most `span`
//! apart (the time both samples of a tick took), so over one interval
//! their CPU time can differ by what the process used in those two gaps,
//! plus `stat`'s clock-tick rounding (2 ticks of 10 ms). A process the eBPF
//! path failed to read while it (or one of its threads) ran would be off
//! by the whole run. A row that differs in presence, command, group or
//! parent is allowed for one tick (a change between the two reads), never
//! two in a row: a stale cached row stays stale. The end checks use the
//! kernel's own counters as the full path read them last.
//!
//! Also: the eBPF path *is* taken where it can be (root + BTF: a failure
//! to load is a test failure, not a silent fallback), and the command line
//! says which path it took, falls back when not root, and refuses bad input.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use cgdash::model::Snapshot;
use cgdash::sampler::{PathChoice, Sampler};
use common::quiet_load::{child_of, frugal, keep_ticking, nap, spawn_bash, spawn_bash_for};
use common::TestGroup;

const HELPER_ENV: &str = "CGDASH_BPF_THREAD_CHURN";

/// Run as a workload (this test binary re-executed with HELPER_ENV): every
/// 700 ms a new thread burns 250 ms of CPU time and exits, while the main
/// thread and this one sleep. Ends after 40 s.
#[test]
#[ignore = "a workload for ebpf_sampler_matches_the_proc_one, not a test"]
fn thread_churn_workload() {
    if std::env::var(HELPER_ENV).is_err() {
        return;
    }
    let end = Instant::now() + Duration::from_secs(40);
    while Instant::now() < end {
        std::thread::spawn(|| {
            let start = thread_cpu();
            let mut x = 1u64;
            while thread_cpu() - start < Duration::from_millis(250) {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
        });
        std::thread::sleep(Duration::from_millis(700));
    }
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    cpu_percent: Option<f64>,
    cpu_time_ns: u64,
    command: String,
    cgroup: String,
    ppid: i32,
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
                    cgroup: p.cgroup.to_string(),
                    ppid: p.ppid,
                },
            )
        })
        .collect()
}

/// Moves `pid` into `to` in every hierarchy (both groups are this test's).
fn move_to(to: &TestGroup, pid: i32) {
    for f in to.layout.procs_files(&to.path) {
        std::fs::write(&f, pid.to_string()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

#[test]
fn ebpf_sampler_matches_the_proc_one() {
    let Some(layout) = common::live("ebpf_sampler_matches_the_proc_one") else {
        return;
    };
    // Where it can work it must be used: root is given (live), and both
    // this host and the v2 VM's kernel have BTF.
    let mut ebpf = Sampler::new(layout.clone(), "/proc".into()).expect("sampler");
    let path = ebpf
        .choose(PathChoice::Ebpf)
        .unwrap_or_else(|e| panic!("root and BTF here, but: {e}"));
    assert_eq!(path, "ebpf");
    assert_eq!(ebpf.path_name(), "ebpf");
    let mut full = Sampler::new(layout.clone(), "/proc".into()).expect("sampler");
    full.set_skip_quiet(false);
    assert_eq!(full.choose(PathChoice::Proc), Ok("proc"));
    frugal(&mut ebpf);
    frugal(&mut full);

    let mut idle = TestGroup::new(&layout, "bpf-idle");
    let mut late = TestGroup::new(&layout, "bpf-late");
    let mut exec = TestGroup::new(&layout, "bpf-exec");
    let mut exit = TestGroup::new(&layout, "bpf-exit");
    let mut threads = TestGroup::new(&layout, "bpf-threads");
    let mut from = TestGroup::new(&layout, "bpf-from");
    let to = TestGroup::new(&layout, "bpf-to");
    let mut orphan = TestGroup::new(&layout, "bpf-orphan");
    for _ in 0..3 {
        idle.spawn_sh("exec sleep 40", Duration::from_secs(40));
    }
    spawn_bash(&mut idle, &nap("40"));
    // Idle 3 s, then burns ~2-3 s (builtins only: one process), idle again.
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
    let mover = spawn_bash(&mut from, &nap("40"));
    // `sleep` loses its parent (bash exits) after 3 s, without running.
    let parent = spawn_bash(&mut orphan, &format!("sleep 40 & {}; exit 0", nap("3")));
    // The same, but the parent that exits (a subshell) is never reaped:
    // its parent exec()s `sleep`, which does not wait. No exit of it is
    // freed; only its last thread's exit says its children lose it.
    let zombie_parent = spawn_bash(
        &mut orphan,
        &format!("(sleep 40 & {}; exit 0) & exec sleep 40", nap("3")),
    );
    let mut churn = Command::new("timeout");
    churn
        .args(["-s", "KILL", "40"])
        .arg(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "thread_churn_workload",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, "1");
    let churner = threads.spawn(churn);
    let groups: HashSet<String> = [&idle, &late, &exec, &exit, &threads, &from, &to, &orphan]
        .iter()
        .map(|g| g.path.clone())
        .collect();

    let hz = 100.0; // USER_HZ: `stat`'s clock ticks
    let interval = Duration::from_millis(400);
    let started = Instant::now();
    let mut last_span = Duration::ZERO;
    let mut last_at: Option<Instant> = None;
    // What differed last tick: pid, what, and the `/proc` path's value then
    // (see the check at the end of a tick).
    let mut transient: HashSet<(i32, &str, String)> = HashSet::new();
    let mut last_seen: HashMap<i32, String> = HashMap::new();
    let mut exiting: std::collections::HashMap<i32, u32> = std::collections::HashMap::new();
    let (mut skipped, mut ticks, mut ticks_groups_skipped) = (0, 0, 0);
    let (mut burner_pid, mut exec_pid, mut exit_pid) = (None, None, None);
    let (mut mover_pid, mut churn_pid, mut orphan_pid) = (None, None, None);
    let mut zombie_orphan: Option<(i32, i32)> = None;
    let mut moved = false;
    let (mut a, mut b) = (Snapshot::default(), Snapshot::default());
    let mut worst = (0.0f64, 0.0f64);
    while keep_ticking(started, Duration::from_secs(10), ticks) {
        if !moved && started.elapsed() > Duration::from_secs(4) {
            if let Some(pid) = mover_pid {
                move_to(&to, pid);
                moved = true;
            }
        }
        let t0 = Instant::now();
        a = ebpf.sample();
        b = full.sample();
        let span = t0.elapsed();
        assert_eq!(
            a.sampler,
            "ebpf",
            "still on the eBPF path: {:?}",
            ebpf.ebpf_off()
        );
        skipped += ebpf.skipped();
        ticks += 1;
        burner_pid = burner_pid.or_else(|| child_of(&b, burner));
        exec_pid = exec_pid.or_else(|| child_of(&b, execer));
        exit_pid = exit_pid.or_else(|| child_of(&b, exiter));
        mover_pid = mover_pid.or_else(|| child_of(&b, mover));
        churn_pid = churn_pid.or_else(|| child_of(&b, churner));
        orphan_pid = orphan_pid.or_else(|| {
            // bash's `sleep 40` (not its short-lived mktemp or mkfifo).
            let bash = child_of(&b, parent)?;
            b.processes
                .iter()
                .find(|p| p.ppid == bash && &*p.command == "sleep 40")
                .map(|p| p.pid)
        });
        // (the subshell, its `sleep 40`)
        zombie_orphan = zombie_orphan.or_else(|| {
            let sleeper = child_of(&b, zombie_parent)?;
            let sub = b.processes.iter().find(|p| p.ppid == sleeper)?.pid;
            b.processes
                .iter()
                .find(|p| p.ppid == sub && &*p.command == "sleep 40")
                .map(|p| (sub, p.pid))
        });
        let (ra, rb) = (rows(&a, &groups), rows(&b, &groups));
        let mut now_odd = HashSet::new();
        // The test's groups: the eBPF path reads a group only when the pass
        // named a process in it (sampler::active); its CPU time must still
        // be the kernel's. The full path read later, by at most `span`,
        // in which a group's one burner adds at most `span`. A group left
        // unread while its burner or churner ran would be off by the
        // 400 ms tick.
        if ebpf.groups_skipped() > 0 {
            ticks_groups_skipped += 1;
        }
        for g in &groups {
            let find = |s: &Snapshot| {
                s.groups
                    .iter()
                    .find(|x| x.path.trim_start_matches('/') == g.trim_start_matches('/'))
                    .map(|x| x.cpu.usage_total_ns)
            };
            let (Some(Some(x)), Some(Some(y))) = (find(&a), find(&b)) else {
                panic!("group {g} with its CPU time on both paths (tick {ticks})");
            };
            let slack_ns = span.as_nanos() as u64 + 2 * 10_000_000;
            assert!(
                y >= x && y - x <= slack_ns,
                "group {g}: CPU time {x} ns on the eBPF path vs {y} ns on /proc (slack {slack_ns} ns, tick {ticks}, {} groups skipped)",
                ebpf.groups_skipped()
            );
        }
        // Presence over the whole machine (not only the test's groups): a
        // process gone since must not linger on the eBPF path.
        let all_a: HashSet<i32> = a.processes.iter().map(|p| p.pid).collect();
        let all_b: HashSet<i32> = b.processes.iter().map(|p| p.pid).collect();
        for &pid in all_a.symmetric_difference(&all_b) {
            // Gone from /proc, still on the eBPF path: its exit is learnt at
            // `sched_process_free` (which can come seconds after the reap:
            // a dying process is read every tick instead, and goes at the
            // first read after its reap). In the v2 VM (software emulation,
            // other test binaries beside) that took longer than two 400 ms
            // ticks. Allowed for 5 ticks (2 s) while the pid is really
            // gone, never longer.
            let gone =
                all_a.contains(&pid) && !std::path::Path::new(&format!("/proc/{pid}")).exists();
            if gone {
                let n = exiting.entry(pid).or_insert(0);
                *n += 1;
                assert!(
                    *n <= 5,
                    "pid {pid} exited but stayed on the eBPF path for {n} ticks: {:?}",
                    a.processes.iter().find(|p| p.pid == pid)
                );
                continue;
            }
            now_odd.insert((pid, "presence anywhere", all_b.contains(&pid).to_string()));
        }
        exiting.retain(|pid, _| all_a.contains(pid));
        let wall = last_at.map(|t| t0.duration_since(t));
        for pid in ra.keys().chain(rb.keys()).copied().collect::<HashSet<_>>() {
            let (x, y) = match (ra.get(&pid), rb.get(&pid)) {
                (Some(x), Some(y)) => (x, y),
                _ => {
                    now_odd.insert((pid, "presence", rb.contains_key(&pid).to_string()));
                    continue;
                }
            };
            for (what, differs, proc_value) in [
                ("command", x.command != y.command, y.command.clone()),
                ("cgroup", x.cgroup != y.cgroup, y.cgroup.clone()),
                ("ppid", x.ppid != y.ppid, y.ppid.to_string()),
            ] {
                if differs {
                    now_odd.insert((pid, what, proc_value));
                }
            }
            // CPU time so far: the full path read later, by at most `span`.
            let slack_ns = span.as_nanos() as u64 + 2 * 10_000_000;
            assert!(
                y.cpu_time_ns + 10_000_000 >= x.cpu_time_ns
                    && y.cpu_time_ns - x.cpu_time_ns.min(y.cpu_time_ns) <= slack_ns,
                "pid {pid} ({}): CPU time {} ns on the eBPF path vs {} ns on /proc (slack {slack_ns} ns, tick {ticks})",
                y.command,
                x.cpu_time_ns,
                y.cpu_time_ns
            );
            if let (Some(p), Some(q), Some(wall)) = (x.cpu_percent, y.cpu_percent, wall) {
                let slack_ms = (last_span + span).as_secs_f64() * 1000.0 + 2000.0 / hz;
                let tol = 100.0 * slack_ms / wall.as_secs_f64() / 1000.0;
                assert!(
                    (p - q).abs() <= tol,
                    "pid {pid} ({}): eBPF path {p:.1} % vs /proc {q:.1} % (tolerance {tol:.1} %, tick {ticks})",
                    y.command
                );
                if (p - q).abs() > worst.0 {
                    worst = ((p - q).abs(), tol);
                }
            } else if x.cpu_percent.is_some() != y.cpu_percent.is_some() {
                now_odd.insert((pid, "rate", y.cpu_percent.is_some().to_string()));
            }
        }
        // A difference may last two ticks only while the process changes:
        // the eBPF path reads first, so a process part-way through a chain
        // of execs (`timeout`'s child becomes `sh`, which becomes `sleep`:
        // under the v2 VM's emulation with another test binary beside, one
        // exec can take longer than a tick) can be one step behind on both
        // ticks, each time behind a new `/proc` value. The same `/proc`
        // value two ticks running means the eBPF path missed a change that
        // was there a whole tick before. (Keyed on pid and field alone, the
        // rule failed the `.ci/run` of 848c0ba in the VM: the eBPF path
        // had `sh -c exec sleep 40`, /proc `sleep 40`, for a process whose
        // CPU time was 0 the tick before: just forked, most likely still
        // `timeout` then. Each tick's difference was legitimate.)
        let mut seen = HashMap::new();
        for odd in &now_odd {
            let find = |s: &Snapshot| {
                s.processes
                    .iter()
                    .find(|p| p.pid == odd.0)
                    .map(|p| format!("{} in {:?}", p.command, p.cgroup))
            };
            let now = format!(
                "eBPF {:?} {:?} vs /proc {:?} {:?}",
                ra.get(&odd.0),
                find(&a),
                rb.get(&odd.0),
                find(&b)
            );
            assert!(
                !transient.contains(odd),
                "pid {} differs in {} two ticks running, with /proc saying {:?} both times: {now} (tick before: {})",
                odd.0,
                odd.1,
                odd.2,
                last_seen.get(&odd.0).map_or("?", String::as_str)
            );
            seen.insert(odd.0, now);
        }
        transient = now_odd;
        last_seen = seen;
        last_span = span;
        last_at = Some(t0);
        std::thread::sleep(interval.saturating_sub(t0.elapsed()));
    }
    eprintln!(
        "{ticks} ticks, {skipped} rows from the cache on the eBPF pass's word, groups left unread on {ticks_groups_skipped} ticks; largest CPU % difference {:.2} (tolerance then {:.1})",
        worst.0, worst.1
    );
    // Quiet groups were left unread: the 8 test groups are mostly idle.
    // (A tick reads every group when a process exited unseen whose parent's
    // groups were not its own, e.g. another test binary's `timeout`
    // children: not on every tick.)
    assert!(
        ticks_groups_skipped >= 1,
        "no tick left a quiet group unread ({ticks} ticks)"
    );
    // Idle rows were not read: at least the 8 idle processes (4 × timeout
    // + child) on most ticks.
    assert!(
        skipped >= 8 * ticks / 3,
        "{skipped} rows skipped in {ticks} ticks"
    );
    let (ra, rb) = (rows(&a, &groups), rows(&b, &groups));
    // Settled (the short-lived commands of the start are gone): each test
    // group's process count agrees. (Rows are placed by these lists, so a
    // stale list also shows above as a pid in another group two ticks
    // running.)
    for g in &groups {
        let n = |s: &Snapshot| {
            s.groups
                .iter()
                .find(|x| x.path.trim_start_matches('/') == g.trim_start_matches('/'))
                .and_then(|x| x.nprocs)
        };
        assert_eq!(
            n(&a),
            n(&b),
            "group {g}: processes on the eBPF path vs /proc"
        );
    }
    let burner_pid = burner_pid.expect("burner seen");
    assert!(
        rb[&burner_pid].cpu_time_ns >= 300_000_000,
        "the burner burned (/proc: {} ns)",
        rb[&burner_pid].cpu_time_ns
    );
    // Idle since: the same CPU time on both paths, to the tick. The eBPF
    // path's is the kernel's run time (the pass's fields) in ticks;
    // `stat` splits the same run time into user and system and truncates
    // each, one tick less at most.
    let (x, y) = (ra[&burner_pid].cpu_time_ns, rb[&burner_pid].cpu_time_ns);
    assert!(
        x >= y && x - y <= 10_000_000,
        "idle since: {x} ns of CPU on the eBPF path vs {y} ns on /proc"
    );
    let exec_pid = exec_pid.expect("execer seen");
    assert_eq!(ra[&exec_pid].command, "sleep 40");
    assert_eq!(rb[&exec_pid].command, "sleep 40");
    let exit_pid = exit_pid.expect("exiter seen");
    assert!(!ra.contains_key(&exit_pid) && !rb.contains_key(&exit_pid));
    let churn_pid = churn_pid.expect("thread churner seen");
    assert!(
        rb[&churn_pid].cpu_time_ns >= 1_000_000_000,
        "the churner's dead threads burned (/proc: {} ns)",
        rb[&churn_pid].cpu_time_ns
    );
    let mover_pid = mover_pid.expect("mover seen");
    assert!(moved, "the mover was moved");
    // Both paths place processes by the groups' `cgroup.procs` (not by the
    // scanner): they agree, and with the kernel (v1's lists are opened
    // afresh each tick: a kept one repeats its first list).
    assert_eq!(ra[&mover_pid].cgroup, rb[&mover_pid].cgroup);
    assert_eq!(
        &*rb[&mover_pid].cgroup, to.path,
        "the moved pid {mover_pid} is placed where the kernel says"
    );
    let orphan_pid = orphan_pid.expect("orphan seen");
    let find = |s: &Snapshot| {
        s.processes
            .iter()
            .find(|p| p.pid == orphan_pid)
            .map(|p| format!("{} in {:?} ppid {}", p.command, p.cgroup, p.ppid))
    };
    assert!(
        ra.contains_key(&orphan_pid),
        "orphan {orphan_pid} on the eBPF path: {:?}; /proc: {:?}",
        find(&a),
        find(&b)
    );
    assert_eq!(ra[&orphan_pid].ppid, rb[&orphan_pid].ppid);
    assert_ne!(ra[&orphan_pid].ppid, parent as i32);
    let (sub, orphan) = zombie_orphan.expect("the zombie's child seen");
    let state = |s: &Snapshot| s.processes.iter().find(|p| p.pid == sub).map(|p| p.state);
    assert_eq!(state(&b), Some('Z'), "the subshell {sub} is a zombie");
    assert_eq!(
        ra.get(&orphan).map(|r| r.ppid),
        rb.get(&orphan).map(|r| r.ppid)
    );
    assert_ne!(ra[&orphan].ppid, sub, "{orphan} lost its parent {sub}");
}

#[test]
fn the_command_line_says_which_path_it_took() {
    if common::live("the_command_line_says_which_path_it_took").is_none() {
        return;
    }
    let sampler_of = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(common::cgdash_bin());
        cmd.args(args);
        if let Some(v) = env {
            cmd.env("CGDASH_SAMPLER", v);
        } else {
            cmd.env_remove("CGDASH_SAMPLER");
        }
        let out = cmd.output().expect("cgdash runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        (
            out.status.code(),
            v["sampler"].as_str().unwrap_or("").to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let snap = ["snapshot", "--json", "--interval", "200ms"];
    // Root with BTF: auto is eBPF.
    let (code, s, err) = sampler_of(&snap, None);
    assert_eq!((code, s.as_str()), (Some(0), "ebpf"), "{err}");
    let (_, s, _) = sampler_of(&[&snap[..], &["--sampler", "proc"]].concat(), None);
    assert_eq!(s, "proc-skip");
    let (_, s, _) = sampler_of(&snap, Some("proc"));
    assert_eq!(s, "proc-skip", "CGDASH_SAMPLER=proc");
    // The flag wins over the environment.
    let (_, s, _) = sampler_of(&[&snap[..], &["--sampler", "ebpf"]].concat(), Some("proc"));
    assert_eq!(s, "ebpf");
    let (code, s, err) = sampler_of(&snap, Some("bogus"));
    assert_eq!((code, s.as_str()), (Some(2), ""));
    assert!(
        err.contains("CGDASH_SAMPLER") && err.contains("bogus"),
        "{err}"
    );
    // Not root: auto falls back to /proc, a forced eBPF says why.
    let nobody = |extra: &[&str]| {
        let out = Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(common::cgdash_bin())
            .args(snap)
            .args(extra)
            .env_remove("CGDASH_SAMPLER")
            .output()
            .expect("setpriv runs");
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (
            out.status.code(),
            v["sampler"].as_str().unwrap_or("").to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, s, err) = nobody(&[]);
    assert_eq!((code, s.as_str()), (Some(0), "proc-skip"), "{err}");
    let (code, _, err) = nobody(&["--sampler", "ebpf"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not root"), "{err}");
    // In a pid namespace the kernel's task iterator numbers processes as
    // the host does, not as this /proc does: auto falls back, a forced
    // eBPF says why.
    let namespaced = |extra: &[&str]| {
        let out = Command::new("unshare")
            .args(["--fork", "--pid", "--mount-proc"])
            .arg(common::cgdash_bin())
            .args(snap)
            .args(extra)
            .env_remove("CGDASH_SAMPLER")
            .output()
            .expect("unshare runs");
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let pids: Vec<i64> = v["processes"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["pid"].as_i64()).collect())
            .unwrap_or_default();
        (
            out.status.code(),
            v["sampler"].as_str().unwrap_or("").to_string(),
            pids,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, s, pids, err) = namespaced(&[]);
    assert_eq!((code, s.as_str()), (Some(0), "proc-skip"), "{err}");
    assert_eq!(pids, vec![1], "only cgdash, the namespace's pid 1: {err}");
    let (code, _, _, err) = namespaced(&["--sampler", "ebpf"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("pid namespace"), "{err}");
}

/// Not a test: the CPU time of one `Sampler::sample` on each path, on
/// whatever runs on this machine (`cargo test --test ebpf_live cost --
/// --ignored --nocapture`; with bench/overhead.sh's load for numbers at
/// scale). Interleaved rounds, this thread's CPU time, medians.
#[test]
#[ignore = "prints numbers, asserts nothing"]
fn cost_per_sample() {
    let Some(layout) = common::live("cost_per_sample") else {
        return;
    };
    let mut paths = Vec::new();
    for choice in [PathChoice::Ebpf, PathChoice::Proc] {
        let mut s = Sampler::new(layout.clone(), "/proc".into()).expect("sampler");
        s.choose(choice).expect("path");
        frugal(&mut s);
        s.sample();
        paths.push((s, Vec::new()));
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    for _ in 0..rounds {
        for (s, costs) in paths.iter_mut() {
            let t = thread_cpu();
            let snap = s.sample();
            costs.push((thread_cpu() - t).as_secs_f64() * 1000.0);
            assert!(!snap.processes.is_empty());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    for (s, costs) in paths.iter_mut() {
        costs.sort_by(|a, b| a.total_cmp(b));
        eprintln!(
            "{:10} {:7.2} ms per sample (median of {rounds}; {:.2}–{:.2}), {} rows skipped last",
            s.path_name(),
            costs[costs.len() / 2],
            costs[0],
            costs[costs.len() - 1],
            s.skipped()
        );
    }
}

/// A quiet group's limits written by someone else (a plain `write(2)`, as
/// systemd or a container runtime would: not through the dashboard, which
/// would tell the reader) show on the eBPF path within one round of slow
/// ticks (5), though a quiet group's slow tick no longer re-reads its
/// limits unasked: the reader's watches see the write. On this host's v1
/// the CPU quota and the memory limit are in two hierarchies, each watched.
#[test]
fn a_limit_written_behind_a_quiet_groups_back_shows() {
    let Some(layout) = common::live("a_limit_written_behind_a_quiet_groups_back_shows") else {
        return;
    };
    let mut s = Sampler::new(layout.clone(), "/proc".into()).expect("sampler");
    s.choose(PathChoice::Ebpf)
        .unwrap_or_else(|e| panic!("root and BTF here, but: {e}"));
    let mut g = TestGroup::new(&layout, "bpf-written");
    spawn_bash(&mut g, &nap("40"));
    let tick = |s: &mut Sampler| {
        std::thread::sleep(Duration::from_millis(150));
        let snap = s.sample();
        let v = snap
            .groups
            .iter()
            .find(|x| x.path == g.path)
            .map(|x| (x.cpu.limit_percent, x.memory.max_bytes));
        v.unwrap_or_else(|| panic!("no group {} in the sample", g.path))
    };
    // Past the first slow ticks (every limit due on the first).
    for _ in 0..12 {
        assert_eq!(tick(&mut s), (None, None), "unlimited at first");
    }
    g.apply(&["cpu=30%", "memory=64M"])
        .expect("write the limits");
    let want = (Some(30.0), Some(64 << 20));
    let seen: Vec<_> = (0..6).map(|_| tick(&mut s)).collect();
    assert!(
        seen[..5].contains(&want) && seen[5] == want,
        "written limits within 5 ticks and kept: {seen:?}"
    );
}

/// On the eBPF path the pass gives each named process leader's network
/// namespace (its nsfs number), so the first sample `stat`s one
/// `/proc/PID/net/dev` per namespace, not one per process (issue 18,
/// startup); the `/proc` path `stat`s every process's. A group whose
/// processes have a namespace of their own still shows that namespace's
/// network, keyed as before (the inode of its `net/dev`), and a group in
/// the host's none.
#[test]
fn a_pass_names_namespaces_so_net_dev_is_stated_once_per_namespace() {
    let Some(layout) =
        common::live("a_pass_names_namespaces_so_net_dev_is_stated_once_per_namespace")
    else {
        return;
    };
    const EACH: usize = 20;
    let sleepers = format!("for i in $(seq {EACH}); do sleep 40 & done; wait");
    let mut own = TestGroup::new(&layout, "bpf-netns-own");
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", "45", "unshare", "-n", "sh", "-c", &sleepers]);
    own.spawn(cmd);
    let mut host = TestGroup::new(&layout, "bpf-netns-host");
    host.spawn_sh(&sleepers, Duration::from_secs(45));
    let members = |g: &TestGroup| -> Vec<i32> {
        let file = &layout.procs_files(&g.path)[0];
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    };
    let t0 = Instant::now();
    while (members(&own).len() < EACH + 1 || members(&host).len() < EACH + 1)
        && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let own_pids = members(&own);
    assert!(
        own_pids.len() > EACH,
        "the sleepers in their namespace: {own_pids:?}"
    );
    let dev_inode = |pid: i32| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/{pid}/net/dev"))
            .map(|m| m.ino())
            .ok()
    };
    // (`timeout`, which started `unshare`, is in the group too, in the
    // host's namespace.)
    let host_ns = dev_inode(1).expect("pid 1's net/dev");
    let netns = own_pids
        .iter()
        .filter_map(|&p| dev_inode(p))
        .find(|&n| n != host_ns)
        .unwrap_or_else(|| panic!("no process of {own_pids:?} in a namespace of its own"));
    let machine = std::fs::read_dir("/proc")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().parse::<i32>().is_ok())
        })
        .count() as u64;
    let mut stats = Vec::new();
    for choice in [PathChoice::Ebpf, PathChoice::Proc] {
        let mut s = Sampler::new(layout.clone(), "/proc".into()).expect("sampler");
        s.choose(choice)
            .unwrap_or_else(|e| panic!("root and BTF here, but: {e}"));
        let snap = s.sample();
        let net = |path: &str| {
            let g = snap.groups.iter().find(|g| g.path == path);
            g.unwrap_or_else(|| panic!("no group {path}"))
                .net
                .as_ref()
                .map(|n| n.netns)
        };
        assert_eq!(
            net(&own.path),
            Some(netns),
            "{}: its own namespace",
            s.path_name()
        );
        assert_eq!(net(&host.path), None, "{}: the host's", s.path_name());
        stats.push((s.path_name(), s.net_reads().expect("net on").1));
    }
    let (ebpf, proc) = (stats[0].1, stats[1].1);
    // The /proc path: every process, plus the host's two at start.
    assert!(proc >= 2 * EACH as u64, "/proc path: {stats:?}");
    // The eBPF path: the host's two, one per namespace, and the processes
    // the pass did not name (pid 1 on 6.18: the iterator skips it) — far
    // fewer than the processes on the machine.
    assert!(
        ebpf < 2 * EACH as u64 && ebpf < machine / 4,
        "eBPF path: {stats:?} ({machine} processes on the machine)"
    );
}

/// The exit program (`freed`, on `sched_process_free`) reports a process
/// born and gone between two passes with its parent when it had its
/// parent's cgroups (its run time went to its parent's groups), and
/// without one when it had moved (a `true` started inside a test group).
#[test]
fn an_exit_carries_its_parent_only_when_it_had_its_parents_cgroups() {
    use cgdash::process::ebpf::{Ran, Tasks};
    let Some(layout) =
        common::live("an_exit_carries_its_parent_only_when_it_had_its_parents_cgroups")
    else {
        return;
    };
    let mut tasks = Tasks::load().unwrap_or_else(|e| panic!("root and BTF here, but: {e}"));
    let mut ran = Ran::default();
    tasks.pass(&mut ran).expect("first pass");
    let mut stay = Command::new("true").spawn().expect("true");
    let stayed = stay.id() as i32;
    stay.wait().expect("reaped");
    let mut g = TestGroup::new(&layout, "bpf-exit-moved");
    let moved = g.spawn(Command::new("true")) as i32;
    g.wait_first(Duration::from_secs(5)).expect("reaped");
    // Freed after an RCU grace period: a few passes may go by.
    let (mut exits, mut parents) = (HashSet::new(), HashMap::new());
    let (mut lost, mut passes) = (0, 0);
    let t0 = Instant::now();
    while !(exits.contains(&stayed) && exits.contains(&moved))
        && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
        tasks.pass(&mut ran).expect("pass");
        passes += 1;
        lost += usize::from(ran.lost_exits);
        exits.extend(ran.exits.iter().map(|e| e.0));
        parents.extend(ran.exit_parents.iter().map(|(&k, &v)| (k, v)));
    }
    assert!(
        exits.contains(&stayed) && exits.contains(&moved),
        "both exits reported: stayed {stayed} {}, moved {moved} {}; {passes} passes, {lost} lost records; {} exits in all",
        exits.contains(&stayed),
        exits.contains(&moved),
        exits.len()
    );
    assert_eq!(
        parents.get(&stayed),
        Some(&(std::process::id() as i32)),
        "its parent's cgroups"
    );
    assert_eq!(
        parents.get(&moved),
        None,
        "moved: its groups are not its parent's"
    );
}

/// What a pass reads of each process leader is what `/proc/PID/stat`
/// says, for the leaders where the scanner takes it instead of the file
/// (`Fields::stat`, kept as `Ran::fields`): name, parent, threads, start,
/// owner (the euid, as `/proc/PID`'s directory says), and for those that
/// did not run between the pass and the file's read also RSS, state and
/// CPU time to the tick. On kernels before 6.2 (another `rss_stat`) none
/// is taken.
#[test]
fn a_pass_reads_what_proc_pid_stat_says() {
    use cgdash::process::ebpf::{Ran, Tasks};
    use cgdash::process::{parse_stat, Units};
    use std::os::unix::fs::MetadataExt as _;
    if common::live("a_pass_reads_what_proc_pid_stat_says").is_none() {
        return;
    }
    let units = Units::read(std::path::Path::new("/proc")).expect("units");
    let mut tasks = Tasks::load().unwrap_or_else(|e| panic!("root and BTF here, but: {e}"));
    let mut ran = Ran::default();
    tasks.pass(&mut ran).expect("first pass");
    let (mut compared, mut settled) = (0, 0);
    for (pid, t) in &ran.fields {
        let pid = *pid;
        let s = t.stat(pid, &units);
        let Ok(text) = std::fs::read(format!("/proc/{pid}/stat")) else {
            continue; // gone since
        };
        let Some(st) = parse_stat(&text) else {
            continue;
        };
        let Ok(dir) = std::fs::metadata(format!("/proc/{pid}")) else {
            continue;
        };
        // Same process (pid not reused since).
        if s.starttime != st.starttime {
            continue;
        }
        compared += 1;
        assert_eq!(s.comm, st.comm, "pid {pid}: name");
        assert_eq!(t.euid, dir.uid(), "pid {pid}: owner of /proc/{pid}");
        // Ran in between: its CPU time, state, RSS, threads may have moved
        // (and a parent that exits in between reparents it).
        let stat_ticks = st.utime + st.stime;
        if stat_ticks > s.utime || st.state == b'R' || s.state == b'R' {
            continue;
        }
        settled += 1;
        assert_eq!(s.ppid, st.ppid, "pid {pid}: parent");
        assert_eq!(s.num_threads, st.num_threads, "pid {pid}: threads");
        assert_eq!(s.rss_pages, st.rss_pages, "pid {pid} ({:?}): RSS", st.comm);
        assert_eq!(s.state, st.state, "pid {pid} ({:?}): state", st.comm);
        // The run time in ticks, against user + system each truncated.
        assert!(
            s.utime - stat_ticks <= 1,
            "pid {pid}: {} ticks from the pass vs {stat_ticks} in stat",
            s.utime
        );
    }
    eprintln!("{compared} leaders taken from the pass compared, {settled} idle in between");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut v = release
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    if (major, minor) >= (6, 2) {
        assert!(
            compared >= 10,
            "only {compared} leaders taken from the pass on {release}"
        );
        assert!(settled >= 5, "only {settled} idle leaders compared in full");
    } else {
        assert_eq!(compared, 0, "none taken before 6.2 ({release})");
    }
}

/// The kernel hands an iterator's output to a reader 32 KB at a time (its
/// buffer for one read); the task whose record did not fit is shown to
/// the program again at the start of the next read. A pass still names
/// every process: on the first pass (every task is new: ~100 bytes per
/// process) and on a pass after more processes ran than fit in one read.
/// (Until session 21 the program had already noted the task's run time
/// when its record was dropped, so the second showing found nothing new:
/// one process in ~300 went unreported by such a pass. Here the old
/// object missed one on pass 1 and, pass 1 unchecked, one on pass 2.)
#[test]
fn a_pass_longer_than_one_read_names_every_process() {
    use cgdash::process::ebpf::{flags, Ran, Tasks};
    let Some(layout) = common::live("a_pass_longer_than_one_read_names_every_process") else {
        return;
    };
    // 400 leaders' records (104 bytes each) are ~41 KB: more than one read
    // of 32 KB, on every pass.
    const N: usize = 400;
    let mut g = TestGroup::new(&layout, "bpf-many-readers");
    // N subshells that each wake every 50 ms (a builtin `read` timing out
    // on the FIFO: no child process), so all of them run between passes.
    // Slow to start under emulation (the v2 VM forks ~12 a second).
    let timeout = spawn_bash_for(
        &mut g,
        150,
        &format!("for i in $(seq {N}); do (while :; do read -t 0.05 -u 3 x; done) & done; wait"),
    ) as i32;
    let parent = |pid: i32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(") ").map_or("", |(_, a)| a);
        after.split(' ').nth(1).and_then(|p| p.parse::<i32>().ok())
    };
    let t0 = Instant::now();
    let wakers = loop {
        let members = layout.procs(&g.path);
        // timeout, the bash under it, and the subshells that bash started.
        let bash = members
            .iter()
            .copied()
            .find(|&p| parent(p) == Some(timeout));
        let wakers: Vec<i32> = members
            .iter()
            .copied()
            .filter(|&p| bash.is_some() && parent(p) == bash)
            .collect();
        if wakers.len() == N {
            break wakers;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{} of {N} started",
            wakers.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut tasks = Tasks::load().unwrap_or_else(|e| panic!("root and BTF here, but: {e}"));
    let mut ran = Ran::default();
    eprintln!("{N} started in {:?}", t0.elapsed());
    // Which of them ran since `before` was read: their run time moved
    // (`schedstat`'s first field, ns). Read after a pass, so a move is a
    // run the next pass must report (under emulation not all of them run
    // between two passes).
    let run_times = || -> Vec<Option<String>> {
        wakers
            .iter()
            .map(|p| {
                std::fs::read_to_string(format!("/proc/{p}/schedstat"))
                    .ok()
                    .and_then(|t| t.split(' ').next().map(str::to_string))
            })
            .collect()
    };
    let mut before = vec![None; wakers.len()];
    for pass in 1..=3 {
        std::thread::sleep(Duration::from_millis(150));
        let now = run_times();
        tasks.pass(&mut ran).expect("pass");
        if pass == 1 {
            // Every task is new to the first pass: a leader's record each.
            assert!(ran.records * 104 > 32 * 1024, "{} records", ran.records);
        }
        let ran_since: Vec<i32> = wakers
            .iter()
            .zip(now.iter().zip(&before))
            .filter(|(_, (n, b))| pass == 1 || n != b)
            .map(|(&p, _)| p)
            .collect();
        let missed: Vec<i32> = ran_since
            .iter()
            .copied()
            .filter(|p| {
                ran.pids
                    .get(p)
                    .is_none_or(|why| why & (flags::NEW | flags::RAN) == 0)
            })
            .collect();
        eprintln!(
            "pass {pass}: {} records, {} of {N} ran",
            ran.records,
            ran_since.len()
        );
        assert!(
            missed.is_empty(),
            "pass {pass} ({} records): {} of {} processes that ran not named: {missed:?}",
            ran.records,
            missed.len(),
            ran_since.len()
        );
        before = run_times();
    }
}
