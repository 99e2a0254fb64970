//! Sampler tests on a fixture v2 tree and a fixture /proc, with a fake clock.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

fn write(dir: &Path, file: &str, text: &str) {
    fs::create_dir_all(dir).expect("mkdir");
    fs::write(dir.join(file), text).expect("write");
}

fn cpu_stat(usage_us: u64, periods: u64, throttled: u64, throttled_us: u64) -> String {
    format!(
        "usage_usec {usage_us}\nuser_usec 0\nsystem_usec 0\nnr_periods {periods}\nnr_throttled {throttled}\nthrottled_usec {throttled_us}\n"
    )
}

/// A v2 root with group `a` (20 % quota, 64 MiB max, 10 pids) and `a/b`.
fn v2_tree(root: &Path) {
    write(root, "cgroup.controllers", "cpu memory pids\n");
    write(root, "cgroup.procs", "1\n");
    write(root, "cpu.stat", &cpu_stat(1_000_000, 0, 0, 0));
    let a = root.join("a");
    write(&a, "cgroup.procs", "10\n11\n");
    write(&a, "cgroup.controllers", "cpu memory pids\n");
    write(&a, "cpu.stat", &cpu_stat(0, 0, 0, 0));
    write(&a, "cpu.max", "20000 100000\n");
    write(&a, "cpu.weight", "100\n");
    write(&a, "memory.current", "1048576\n");
    write(&a, "memory.max", "67108864\n");
    write(&a, "memory.high", "max\n");
    write(&a, "memory.swap.max", "0\n");
    write(
        &a,
        "memory.events",
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
    );
    write(&a, "pids.current", "2\n");
    write(&a, "pids.max", "10\n");
    write(&a, "pids.events", "max 0\n");
    let b = a.join("b");
    write(&b, "cgroup.procs", "");
    write(&b, "cpu.stat", &cpu_stat(0, 0, 0, 0));
}

/// A clock that advances `step` per sample (both reads of one sample see
/// the same instant).
struct FakeClock {
    now: Instant,
    calls: u32,
}

impl FakeClock {
    fn new() -> FakeClock {
        FakeClock {
            now: Instant::now(),
            calls: 0,
        }
    }

    fn sample(&mut self, s: &mut Sampler, step: Duration) -> Snapshot {
        if self.calls > 0 {
            self.now += step;
        }
        self.calls += 1;
        let now = self.now;
        s.sample_with(&mut || now)
    }
}

fn fixture_sampler(root: &Path) -> Sampler {
    Sampler::cgroups_only(Layout::from_root(root).expect("layout"))
}

#[test]
fn first_sample_has_values_but_no_rates() {
    let dir = tempfile::tempdir().expect("tempdir");
    v2_tree(dir.path());
    let mut s = fixture_sampler(dir.path());
    let mut clock = FakeClock::new();
    let snap = clock.sample(&mut s, Duration::ZERO);
    assert_eq!(snap.schema, SCHEMA_VERSION);
    assert_eq!(snap.mode, Some(crate::cgroup::Mode::V2));
    assert!(snap.cpus >= 1);
    assert!(snap.timestamp_ms > 0);
    let paths: Vec<&str> = snap.groups.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, vec!["/", "a", "a/b"]);
    let a = snap.group("a").expect("a");
    assert!(a.id.is_some());
    assert_eq!(a.cpu.usage_percent, None);
    assert_eq!(a.cpu.throttled_percent, None);
    assert_eq!(a.cpu.limit_percent, Some(20.0));
    assert_eq!(
        (a.cpu.quota_us, a.cpu.period_us),
        (Some(20_000), Some(100_000))
    );
    assert_eq!(a.memory.max_bytes, Some(64 << 20));
    assert_eq!(a.memory.high_bytes, None);
    assert_eq!(a.memory.swap_max_bytes, Some(0));
    assert_eq!(a.memory.oom_kills, Some(1));
    assert_eq!(a.memory.max_events, Some(3));
    assert_eq!(a.memory.oom_kills_delta, None);
    assert_eq!((a.pids.current, a.pids.max), (Some(2), Some(10)));
    assert_eq!(a.nprocs, Some(2));
    // b has no limits: null, not 0.
    let b = snap.group("a/b").expect("b");
    assert_eq!(b.cpu.limit_percent, None);
    assert_eq!(b.memory.max_bytes, None);
    assert!(snap.processes.is_empty());
}

#[test]
fn rates_over_the_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    v2_tree(dir.path());
    let a = dir.path().join("a");
    let mut s = fixture_sampler(dir.path());
    let mut clock = FakeClock::new();
    write(&a, "cpu.stat", &cpu_stat(1_000_000, 100, 10, 50_000));
    clock.sample(&mut s, Duration::ZERO);
    // Over 2 s: 0.4 s CPU (20 %), 20 periods of which 16 throttled, 1.2 s throttled.
    write(&a, "cpu.stat", &cpu_stat(1_400_000, 120, 26, 1_250_000));
    write(
        &a,
        "memory.events",
        "low 0\nhigh 0\nmax 13\noom 3\noom_kill 3\n",
    );
    let snap = clock.sample(&mut s, Duration::from_secs(2));
    assert_eq!(snap.interval_ms, 2000);
    let g = snap.group("a").expect("a");
    let close = |x: Option<f64>, want: f64| x.is_some_and(|x| (x - want).abs() < 1e-9);
    assert!(
        close(g.cpu.usage_percent, 20.0),
        "{:?}",
        g.cpu.usage_percent
    );
    assert!(
        close(g.cpu.throttled_percent, 60.0),
        "{:?}",
        g.cpu.throttled_percent
    );
    assert!(
        close(g.cpu.throttled_periods_percent, 80.0),
        "{:?}",
        g.cpu.throttled_periods_percent
    );
    assert_eq!(g.cpu.usage_total_ns, Some(1_400_000_000));
    assert_eq!(g.cpu.throttled_total_ns, Some(1_250_000_000));
    assert_eq!(g.cpu.nr_throttled, Some(26));
    assert_eq!(g.memory.oom_kills_delta, Some(2));
    assert!(close(g.memory.max_events_per_s, 5.0));
    // Nothing changed in b: 0 %, not None.
    assert_eq!(
        snap.group("a/b").and_then(|b| b.cpu.usage_percent),
        Some(0.0)
    );
}

#[test]
fn counter_going_backwards_gives_no_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    v2_tree(dir.path());
    let a = dir.path().join("a");
    let mut s = fixture_sampler(dir.path());
    let mut clock = FakeClock::new();
    write(&a, "cpu.stat", &cpu_stat(5_000_000, 100, 10, 50_000));
    clock.sample(&mut s, Duration::ZERO);
    write(&a, "cpu.stat", &cpu_stat(1_000, 100, 10, 50_000));
    let snap = clock.sample(&mut s, Duration::from_secs(1));
    let g = snap.group("a").expect("a");
    assert_eq!(g.cpu.usage_percent, None);
    assert_eq!(g.cpu.throttled_percent, Some(0.0));
    // The next sample compares with the reset value again.
    write(&a, "cpu.stat", &cpu_stat(501_000, 100, 10, 50_000));
    let snap = clock.sample(&mut s, Duration::from_secs(1));
    assert_eq!(
        snap.group("a").and_then(|g| g.cpu.usage_percent),
        Some(50.0)
    );
}

#[test]
fn recreated_group_gives_no_delta() {
    let dir = tempfile::tempdir().expect("tempdir");
    v2_tree(dir.path());
    let a = dir.path().join("a");
    let mut s = fixture_sampler(dir.path());
    let mut clock = FakeClock::new();
    clock.sample(&mut s, Duration::ZERO);
    // Same path, other directory (the old one is kept so the inode differs),
    // with counters that are *higher*: only the id tells them apart.
    fs::rename(&a, dir.path().join("old")).expect("rename");
    v2_tree(dir.path());
    write(&a, "cpu.stat", &cpu_stat(900_000, 50, 5, 1000));
    let snap = clock.sample(&mut s, Duration::from_secs(1));
    let g = snap.group("a").expect("a");
    assert_eq!(g.cpu.usage_percent, None);
    assert_eq!(g.cpu.throttled_periods_percent, None);
    assert_eq!(g.memory.oom_kills_delta, None);
    // The root's rate is unaffected.
    assert_eq!(snap.group("/").and_then(|g| g.cpu.usage_percent), Some(0.0));
}

#[test]
fn group_filter_matches_whole_components() {
    let dir = tempfile::tempdir().expect("tempdir");
    v2_tree(dir.path());
    write(&dir.path().join("ab"), "cpu.stat", &cpu_stat(0, 0, 0, 0));
    write(&dir.path().join("ab"), "cgroup.procs", "");
    let mut s = fixture_sampler(dir.path());
    s.set_group_filter(Some("/a/"));
    let snap = s.sample();
    let paths: Vec<&str> = snap.groups.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, vec!["a", "a/b"]);
    s.set_group_filter(Some("/"));
    assert_eq!(s.sample().groups.len(), 4);
    assert!(under("a/b", "a") && under("a", "a") && !under("ab", "a") && !under("", "a"));
}

/// A separate-v1 cgroup tree: pids 10 and 11 in `a`, 12 in `other`.
fn v1_cgroups(root: &Path) {
    for c in ["cpu", "memory"] {
        write(&root.join(c), "cgroup.procs", "1\n");
        write(&root.join(c).join("a"), "cgroup.procs", "10\n11\n");
        write(&root.join(c).join("other"), "cgroup.procs", "12\n");
    }
}

fn proc_stat(pid: i32, ut: u64, start: u64) -> String {
    format!("{pid} (w) R 1 {pid} {pid} 0 -1 0 0 0 0 0 {ut} 0 0 0 20 0 1 0 {start} 1000 256 0\n")
}

fn proc_fixture(root: &Path) {
    write(root, "stat", "cpu 1 2 3\nbtime 1700000000\n");
    write(root, "meminfo", "MemTotal:        1024 kB\nMemFree: 1 kB\n");
    for (pid, cg) in [(10, "/a"), (11, "/a"), (12, "/other")] {
        let d = root.join(pid.to_string());
        write(&d, "stat", &proc_stat(pid, 0, 100));
        write(&d, "cmdline", "w\0");
        write(&d, "cgroup", &format!("2:memory:/\n1:cpu:{cg}\n0::/\n"));
    }
}

#[test]
fn process_cpu_percent_and_pid_reuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proc = &dir.path().join("proc");
    proc_fixture(proc);
    v1_cgroups(&dir.path().join("cg"));
    let layout = Layout::from_root(&dir.path().join("cg")).expect("layout");
    let mut s = Sampler::new(layout, proc.to_path_buf()).expect("sampler");
    let hz = s
        .scanner_mut()
        .map(|sc| sc.units().ticks_per_sec)
        .expect("scanner");
    let mut clock = FakeClock::new();
    let snap = clock.sample(&mut s, Duration::ZERO);
    assert_eq!(snap.memory_total_bytes, Some(1024 * 1024));
    assert_eq!(snap.processes.len(), 3);
    assert!(snap.processes.iter().all(|p| p.cpu_percent.is_none()));

    // pid 10 used half a CPU over 2 s; pid 11 exited and its pid was reused.
    write(&proc.join("10"), "stat", &proc_stat(10, hz, 100));
    write(&proc.join("11"), "stat", &proc_stat(11, 5 * hz, 777));
    let snap = clock.sample(&mut s, Duration::from_secs(2));
    let p = |pid| snap.processes.iter().find(|p| p.pid == pid).expect("pid");
    // Exactly 50 % but for the µs the scan itself takes between rows.
    assert!(
        p(10).cpu_percent.is_some_and(|c| (c - 50.0).abs() < 0.5),
        "{:?}",
        p(10).cpu_percent
    );
    assert_eq!(p(11).cpu_percent, None);
    assert_eq!(p(12).cpu_percent, Some(0.0));
    assert_eq!(&*p(10).cgroup, "a");
    assert_eq!(
        p(10).rss_bytes,
        256 * s.scanner_mut().map(|sc| sc.units().page_size).unwrap_or(0)
    );
    assert!(p(10).mem_percent.is_some());

    s.set_group_filter(Some("a"));
    let snap = clock.sample(&mut s, Duration::from_secs(1));
    let mut pids: Vec<i32> = snap.processes.iter().map(|p| p.pid).collect();
    pids.sort_unstable();
    assert_eq!(pids, vec![10, 11]);
    // pid 11 now has a comparable previous reading.
    assert_eq!(
        snap.processes
            .iter()
            .find(|p| p.pid == 11)
            .and_then(|p| p.cpu_percent),
        Some(0.0)
    );
}

#[test]
fn swap_limit_in_knob_terms() {
    use Limit::{Max, Value};
    assert_eq!(swap_max(Some(Value(5)), None, None), Some(5));
    assert_eq!(swap_max(Some(Max), None, None), None);
    assert_eq!(
        swap_max(None, Some(Value(300)), Some(Value(200))),
        Some(100)
    );
    assert_eq!(swap_max(None, Some(Max), Some(Value(200))), None);
    assert_eq!(swap_max(None, None, Some(Value(200))), None);
}

#[test]
fn spawned_sampler_publishes_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    v2_tree(dir.path());
    let s = fixture_sampler(dir.path());
    let (mut rx, handle) = spawn(s, Duration::from_secs(3600));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("rt");
    async fn next(
        rx: &mut tokio::sync::watch::Receiver<std::sync::Arc<Snapshot>>,
    ) -> std::sync::Arc<Snapshot> {
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .expect("a snapshot within 5 s")
            .expect("sender alive");
        rx.borrow_and_update().clone()
    }
    rt.block_on(async {
        let first = next(&mut rx).await;
        assert!(first.timestamp_ms > 0);
        // The second comes after 150 ms, with rates.
        let second = next(&mut rx).await;
        assert!(second
            .group("a")
            .and_then(|g| g.cpu.usage_percent)
            .is_some());
        // The interval is an hour: only `resample` can produce the next one.
        handle.resample();
        let third = next(&mut rx).await;
        assert!(third.timestamp_ms >= second.timestamp_ms);
    });
    let t = Instant::now();
    drop(handle);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "drop must stop the thread promptly"
    );
}

#[test]
fn moved_process_shows_its_new_group_on_the_next_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proc = &dir.path().join("proc");
    proc_fixture(proc);
    let cg = dir.path().join("cg");
    v1_cgroups(&cg);
    let layout = Layout::from_root(&cg).expect("layout");
    let mut s = Sampler::new(layout, proc.to_path_buf()).expect("sampler");
    let cgroup_of = |snap: &Snapshot, pid| {
        snap.processes
            .iter()
            .find(|p| p.pid == pid)
            .map(|p| p.cgroup.clone())
    };
    assert_eq!(cgroup_of(&s.sample(), 12).as_deref(), Some("other"));
    // 12 moves to `a` in the cpu hierarchy; /proc/12/cgroup isn't re-read.
    write(&cg.join("cpu/a"), "cgroup.procs", "10\n11\n12\n");
    write(&cg.join("cpu/other"), "cgroup.procs", "");
    assert_eq!(cgroup_of(&s.sample(), 12).as_deref(), Some("a"));
    s.set_group_filter(Some("other"));
    assert_eq!(cgroup_of(&s.sample(), 12), None);
}

/// Issue 11 item 10: separate v1 hierarchies where `memonly` exists only
/// under `memory` (pids 10 11 12 there) and `p` (a parent: its process is in
/// `p/q`) has no pids controller. Counts come from the hierarchy that places
/// processes (cpu), so `nprocs` agrees with the process rows; absent is
/// `None`, never 0.
#[test]
fn hr_counts_agree_with_process_rows_across_v1_hierarchies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cg = dir.path().join("cg");
    for c in ["cpu", "memory", "pids"] {
        write(&cg.join(c), "cgroup.procs", "1\n");
    }
    for c in ["cpu", "memory"] {
        write(&cg.join(c).join("a"), "cgroup.procs", "10\n11\n");
        write(&cg.join(c).join("p"), "cgroup.procs", "");
        write(&cg.join(c).join("p/q"), "cgroup.procs", "12\n");
    }
    write(&cg.join("pids/a"), "cgroup.procs", "10\n11\n");
    write(&cg.join("pids/a"), "pids.current", "2\n");
    write(&cg.join("pids/a"), "pids.max", "max\n");
    write(&cg.join("memory/memonly"), "cgroup.procs", "10\n11\n12\n");
    write(
        &cg.join("memory/memonly"),
        "memory.usage_in_bytes",
        "4096\n",
    );
    let proc = &dir.path().join("proc");
    write(proc, "stat", "cpu 1 2 3\nbtime 1700000000\n");
    write(proc, "meminfo", "MemTotal:        1024 kB\n");
    for (pid, cpu, pids) in [(10, "/a", "/a"), (11, "/a", "/a"), (12, "/p/q", "/")] {
        let d = proc.join(pid.to_string());
        write(&d, "stat", &proc_stat(pid, 0, 100));
        write(&d, "cmdline", "w\0");
        write(
            &d,
            "cgroup",
            &format!("3:pids:{pids}\n2:memory:/memonly\n1:cpu:{cpu}\n"),
        );
    }
    let layout = Layout::from_root(&cg).expect("layout");
    let mut s = Sampler::new(layout, proc.to_path_buf()).expect("sampler");
    // Twice: the first read goes through read_group, the next through the
    // group reader's kept files.
    for _ in 0..2 {
        let snap = s.sample();
        let group = |path: &str| {
            snap.groups
                .iter()
                .find(|g| g.path == path)
                .unwrap_or_else(|| panic!("group {path}: {:?}", snap.groups))
        };
        let rows = |path: &str| snap.processes.iter().filter(|p| &*p.cgroup == path).count();
        for g in snap.groups.iter().filter(|g| g.path != "/") {
            if let Some(n) = g.nprocs {
                assert_eq!(n as usize, rows(&g.path), "{}: nprocs vs rows", g.path);
            }
        }
        assert_eq!(
            rows("memonly"),
            0,
            "processes are placed by their cpu group"
        );
        assert_eq!(group("memonly").nprocs, None, "not counted from memory/");
        assert_eq!(group("memonly").pids.current, None);
        assert_eq!(group("memonly").memory.current_bytes, Some(4096));
        assert_eq!(group("a").nprocs, Some(2));
        assert_eq!(group("a").pids.current, Some(2));
        assert_eq!(group("p").nprocs, Some(0));
        assert_eq!(group("p").pids.current, None, "no pids controller: null");
        assert_eq!(group("p/q").nprocs, Some(1));
        let json = serde_json::to_value(group("p")).expect("json");
        assert!(json["pids"]["current"].is_null(), "{json}");
    }
}

/// Issue 18: v1 with `cpu` and `cpuacct` mounted apart (as on this project's
/// machines). Pids 10 and 11 in `a`, 12 in `other`, in both hierarchies;
/// the counters are `cpuacct/*/cpuacct.usage`.
fn split_v1(cg: &Path) {
    for c in ["cpu", "cpuacct"] {
        write(&cg.join(c), "cgroup.procs", "1\n");
        write(&cg.join(c).join("a"), "cgroup.procs", "10\n11\n");
        write(&cg.join(c).join("other"), "cgroup.procs", "12\n");
        write(&cg.join(c).join("b"), "cgroup.procs", "");
    }
    for (g, ns) in [("", 5), ("a", 1), ("other", 1), ("b", 1)] {
        write(
            &cg.join("cpuacct").join(g),
            "cpuacct.usage",
            &format!("{ns}\n"),
        );
    }
}

/// [`proc_fixture`] plus pid 1, the others' parent: a row whose parent is
/// gone is read (reparenting does not run it), so without it nothing would
/// ever be taken from the cache.
fn proc_fixture_with_init(proc: &Path) {
    proc_fixture(proc);
    let d = proc.join("1");
    write(
        &d,
        "stat",
        "1 (init) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 1000 256 0
",
    );
    write(&d, "cmdline", "init\0");
    write(&d, "cgroup", "2:cpuacct:/\n1:cpu:/\n0::/\n");
}

/// [`split_v1`]'s groups in `dir/cg`, [`proc_fixture_with_init`]'s
/// processes in `dir/proc`, and a sampler of them (with its layout).
fn split_v1_sampler(dir: &Path) -> (Sampler, Layout) {
    let proc = dir.join("proc");
    proc_fixture_with_init(&proc);
    let cg = dir.join("cg");
    split_v1(&cg);
    let layout = Layout::from_root(&cg).expect("layout");
    let s = Sampler::new(layout.clone(), proc).expect("sampler");
    (s, layout)
}

/// Rows of one sample by pid: (CPU time ns, CPU %).
fn cpu_of(snap: &Snapshot, pid: i32) -> (u64, Option<f64>) {
    let p = snap
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid}: {:?}", snap.processes));
    (p.cpu_time_ns, p.cpu_percent)
}

/// The fixture's `stat` can change behind a group counter's back (the
/// kernel's cannot): what the skipping sampler shows then tells whether it
/// read the file. A process is read again as soon as its group's counter
/// moves, or when it was listed in another group the tick before (here: a
/// move in `cpuacct` only, which the cpu hierarchy's lists don't show).
#[test]
fn quiet_groups_processes_are_taken_from_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut s, layout) = split_v1_sampler(dir.path());
    let (proc, cg) = (&dir.path().join("proc"), dir.path().join("cg"));
    assert_eq!(s.path_name(), "proc-skip");
    let hz = s
        .scanner_mut()
        .map(|sc| sc.units().ticks_per_sec)
        .expect("scanner");
    let tick_ns = 1_000_000_000 / hz;
    let mut clock = FakeClock::new();
    let step = Duration::from_secs(1);
    // 1st: no previous counters; 2nd: `a` quiet once (listed, not yet
    // skipped); 3rd: quiet twice running — 10 and 11 are not read.
    for _ in 0..3 {
        clock.sample(&mut s, step);
    }
    // Its counter moves: pid 1, in the root, is read every tick.
    write(&cg.join("cpuacct"), "cpuacct.usage", "6\n");
    clock.sample(&mut s, step);
    assert_eq!(s.skipped(), 3, "10, 11 and 12: their groups are quiet");
    write(&proc.join("10"), "stat", &proc_stat(10, 7, 100));
    let snap = clock.sample(&mut s, step);
    assert_eq!(cpu_of(&snap, 10), (0, Some(0.0)), "not read: a is quiet");
    assert!(s.skipped() >= 2);

    // `a`'s counter moves: 10 is read, the 7 ticks over the last second.
    write(&cg.join("cpuacct/a"), "cpuacct.usage", "70000001\n");
    let snap = clock.sample(&mut s, step);
    assert_eq!(cpu_of(&snap, 10).0, 7 * tick_ns);
    assert!(cpu_of(&snap, 10).1.is_some_and(|c| c > 0.0));

    // Quiet again for two ticks: skipped again. (Three: on the scanner's
    // 9th tick 11 is read anyway, its every-10th-tick `stat`.)
    for _ in 0..3 {
        clock.sample(&mut s, step);
    }
    assert!(s.skipped() >= 2, "{}", s.skipped());
    // 11 moves to `b` in cpuacct only (and `b` is quiet): listed in another
    // group than the tick before, so it is read.
    write(&cg.join("cpuacct/a"), "cgroup.procs", "10\n");
    write(&cg.join("cpuacct/b"), "cgroup.procs", "11\n");
    write(&proc.join("11"), "stat", &proc_stat(11, 3, 100));
    let snap = clock.sample(&mut s, step);
    assert_eq!(cpu_of(&snap, 11).0, 3 * tick_ns, "moved: read");
    // v1 lists are opened afresh each read: a kept v1 `cgroup.procs`
    // repeats its first list while read within a second (the group
    // reader's `procs_file`; tests/scale_moves_live.rs on a real kernel).
    assert_eq!(
        s.quiet.as_ref().map(|q| q.open_files()),
        Some(0),
        "the v1 cpuacct lists must not be kept open"
    );
    assert_eq!(cpu_of(&snap, 10).0, 7 * tick_ns);

    // The reference path reads every process every tick.
    let mut full = Sampler::new(layout, proc.to_path_buf()).expect("sampler");
    full.set_skip_quiet(false);
    assert_eq!(full.path_name(), "proc");
    for _ in 0..4 {
        full.sample();
    }
    assert_eq!(full.skipped(), 0);
}

/// v2 (the counter's hierarchy is the one that places processes): the
/// group reader's own `cgroup.procs` lists are used; a process whose
/// `stat` says it has two threads is always read.
#[test]
fn quiet_skip_on_v2_uses_the_readers_lists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cg = dir.path().join("cg");
    v2_tree(&cg);
    let proc = &dir.path().join("proc");
    proc_fixture_with_init(proc);
    // 11 has two threads.
    write(
        &proc.join("11"),
        "stat",
        "11 (w) S 1 11 11 0 -1 0 0 0 0 0 0 0 0 0 20 0 2 0 100 1000 256 0\n",
    );
    let layout = Layout::from_root(&cg).expect("layout");
    let mut s = Sampler::new(layout, proc.to_path_buf()).expect("sampler");
    let mut clock = FakeClock::new();
    for _ in 0..3 {
        clock.sample(&mut s, Duration::from_secs(1));
    }
    assert_eq!(
        s.skipped(),
        2,
        "1 and 10: 11 has two threads, 12 is in no group read"
    );
    write(&proc.join("10"), "stat", &proc_stat(10, 5, 100));
    write(
        &proc.join("11"),
        "stat",
        "11 (w) S 1 11 11 0 -1 0 0 0 0 0 5 0 0 0 20 0 2 0 100 1000 256 0\n",
    );
    let snap = clock.sample(&mut s, Duration::from_secs(1));
    assert_eq!(cpu_of(&snap, 10).0, 0, "skipped");
    assert!(cpu_of(&snap, 11).0 > 0, "two threads: read");
    // cpu.stat's usage_usec moves: read.
    write(&cg.join("a"), "cpu.stat", &cpu_stat(50_000, 0, 0, 0));
    let snap = clock.sample(&mut s, Duration::from_secs(1));
    assert!(cpu_of(&snap, 10).0 > 0, "a moved: read");
}

#[test]
fn the_process_path_is_chosen_by_name_and_proc_never_loads_ebpf() {
    assert_eq!(PathChoice::parse("auto"), Ok(PathChoice::Auto));
    assert_eq!(PathChoice::parse(" proc "), Ok(PathChoice::Proc));
    assert_eq!(PathChoice::parse("ebpf"), Ok(PathChoice::Ebpf));
    let e = PathChoice::parse("bpf").unwrap_err();
    assert!(
        e.contains("\"bpf\"") && e.contains("auto, proc or ebpf"),
        "{e}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut s, layout) = split_v1_sampler(dir.path());
    assert_eq!(s.choose(PathChoice::Proc), Ok("proc-skip"));
    assert_eq!(s.ebpf_off(), None);
    // A fixture's processes are not the kernel's: never the eBPF path.
    let e = s.choose(PathChoice::Ebpf).unwrap_err();
    assert!(e.contains("not /proc"), "{e}");
    assert_eq!(s.choose(PathChoice::Auto), Ok("proc-skip"));
    assert!(s.ebpf_off().is_some_and(|w| w.contains("not /proc")));
    // Groups only: nothing to load, whatever is asked.
    let mut g = Sampler::cgroups_only(layout);
    assert_eq!(g.choose(PathChoice::Ebpf), Ok("none"));
}

/// A snapshot given back is filled again: the next sample's vectors are
/// its allocations (at scale, no fresh mapping to fault in per tick), with
/// only the new sample's rows in them.
#[test]
fn a_recycled_snapshot_is_filled_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut s, _) = split_v1_sampler(dir.path());
    let mut clock = FakeClock::new();
    let step = Duration::from_secs(1);
    let mut first = clock.sample(&mut s, step);
    let (groups, rows) = (first.groups.len(), first.processes.len());
    assert!(groups > 0 && rows > 0, "{groups} groups, {rows} rows");
    // Marked by their room: a sample sizes its own for the rows it expects
    // (+ 64), and the allocator may well hand a freed block back at the
    // same address, so the address would not tell.
    first.groups.reserve_exact(1000);
    first.processes.reserve_exact(1000);
    let room = (first.groups.capacity(), first.processes.capacity());
    s.recycle(first);
    let second = clock.sample(&mut s, step);
    assert_eq!(
        (second.groups.capacity(), second.processes.capacity()),
        room
    );
    assert_eq!(
        (second.groups.len(), second.processes.len()),
        (groups, rows)
    );
    // Not given back: vectors of their own size, the same rows.
    let third = clock.sample(&mut s, step);
    assert!(
        third.processes.capacity() < 1000,
        "{}",
        third.processes.capacity()
    );
    assert_eq!(third.processes.len(), rows);
}

/// The first reading of the machine's reclaim count is a baseline, not a
/// move: in the samples right after a start (generation 1 onwards, fewer
/// than FULL_EVERY) sleepers' RSS is not due for re-reading because of it.
/// It was: the first reading once counted as a move at generation 0.
#[test]
fn the_first_reclaim_reading_is_no_reclaim() {
    let full = crate::process::FULL_EVERY;
    let mut kept = None;
    for generation in 1..=full + 2 {
        let recent;
        (kept, recent) = reclaim_seen(kept, Some(500), generation);
        assert!(
            !recent,
            "generation {generation}: no reclaim since the first reading"
        );
    }
    // The count moves: recent for FULL_EVERY samples, that one included.
    let moved = full + 3;
    for generation in moved..moved + full + 2 {
        let recent;
        (kept, recent) = reclaim_seen(kept, Some(600), generation);
        assert_eq!(recent, generation < moved + full, "generation {generation}");
    }
    // Unreadable: as if it moved, and the next reading is a baseline again.
    assert_eq!(reclaim_seen(kept, None, 40), (None, true));
    assert!(!reclaim_seen(None, Some(700), 41).1);
}

/// Likewise a new group's memory charge: its processes were just read, so
/// it has not moved since. A charge that moves later is recent for
/// FULL_EVERY samples; one that stays put keeps its last move.
#[test]
fn a_new_groups_charge_has_not_moved() {
    let full = crate::process::FULL_EVERY;
    let prev = |mem, mem_moved| GroupPrev {
        mem,
        mem_moved,
        ..Default::default()
    };
    for generation in 1..=full + 1 {
        let at = mem_moved_at(None, Some(4096), generation);
        assert!(
            !moved_recently(at, generation),
            "new at generation {generation}"
        );
    }
    let first = prev(Some(4096), mem_moved_at(None, Some(4096), 1));
    assert_eq!(mem_moved_at(Some(&first), Some(4096), 2), None);
    assert_eq!(mem_moved_at(Some(&first), Some(8192), 3), Some(3));
    let moved = prev(Some(8192), Some(3));
    assert_eq!(mem_moved_at(Some(&moved), Some(8192), 7), Some(3));
    assert!(moved_recently(Some(3), 3 + full - 1));
    assert!(!moved_recently(Some(3), 3 + full));
    // No reading of the charge to compare: as if it moved.
    assert_eq!(mem_moved_at(Some(&prev(None, None)), None, 9), Some(9));
}
