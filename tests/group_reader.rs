//! The cached, pread-based group reader gives the same answers as a fresh
//! `read_group`, follows counters every tick, and notices groups that are
//! removed, recreated or renamed — also with no file descriptors to spare.

use std::fs;
use std::path::Path;
use std::time::Duration;

use cgdash::cgroup::controllers::cpu::CpuView;
use cgdash::cgroup::{knob::parse_settings, GroupReader, Layout, Limit};

fn put(dir: &Path, file: &str, contents: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), contents).unwrap();
}

fn v2_group(dir: &Path, usage_usec: u64) {
    put(dir, "cgroup.procs", "10\n11\n");
    put(
        dir,
        "cpu.stat",
        &format!("usage_usec {usage_usec}\nnr_periods 4\nnr_throttled 2\nthrottled_usec 7\n"),
    );
    put(dir, "cpu.max", "20000 100000\n");
    put(dir, "memory.current", "4096\n");
    put(dir, "memory.max", "max\n");
    put(dir, "memory.events", "max 0\noom 0\noom_kill 0\n");
    put(dir, "pids.current", "2\n");
    put(dir, "pids.max", "max\n");
}

fn tree(root: &Path) {
    put(root, "cgroup.controllers", "cpu memory pids\n");
    put(root, "cgroup.procs", "1\n");
    put(root, "cpu.stat", "usage_usec 5\n");
    v2_group(&root.join("a"), 1000);
}

fn usage(r: &mut GroupReader, path: &str) -> Option<u64> {
    r.read(None)
        .into_iter()
        .find(|g| g.path == path)
        .and_then(|g| g.cpu.usage_ns)
}

#[test]
fn counters_every_tick_limits_on_invalidate() {
    for max_open in [usize::MAX, 0] {
        let t = tempfile::tempdir().unwrap();
        tree(t.path());
        let l = Layout::from_root(t.path()).unwrap();
        let mut r = GroupReader::new(l.clone());
        r.set_max_open(max_open);
        let first = r.read(None);
        let a = first.iter().find(|g| g.path == "a").unwrap();
        assert_eq!(a.cpu.usage_ns, Some(1_000_000));
        assert_eq!(
            a.procs.as_deref(),
            Some(&[10, 11][..]),
            "kept open or, with no fds to spare, read by path"
        );
        assert_eq!(a.nprocs, Some(2));
        // The fixture is what `read_group` says, field for field (but the pid list).
        let mut fresh = l.read_group("a").unwrap();
        fresh.procs = a.procs.clone();
        assert_eq!(&fresh, a, "max_open {max_open}");

        put(
            &t.path().join("a"),
            "cpu.stat",
            "usage_usec 3000\nnr_periods 9\nnr_throttled 8\nthrottled_usec 70\n",
        );
        put(&t.path().join("a"), "memory.current", "8192\n");
        let g = r.read(None).into_iter().find(|g| g.path == "a").unwrap();
        assert_eq!(g.cpu.usage_ns, Some(3_000_000));
        assert_eq!(g.cpu.nr_throttled, Some(8));
        assert_eq!(g.memory.current, Some(8192));

        // A limit changed by someone else shows within 5 ticks (the slow files).
        put(&t.path().join("a"), "cpu.max", "70000 100000\n");
        let seen = (0..5).any(|_| {
            r.read(None)
                .into_iter()
                .any(|g| g.path == "a" && g.cpu.max.and_then(|m| m.percent()) == Some(70.0))
        });
        assert!(
            seen,
            "external cpu.max change not seen within 5 reads (max_open {max_open})"
        );
        // A limit written by cgdash is seen on the next read after invalidate.
        l.apply("a", &parse_settings(&["cpu=50%"]).unwrap())
            .unwrap();
        r.invalidate();
        let g = r.read(None).into_iter().find(|g| g.path == "a").unwrap();
        assert_eq!(g.cpu.max.unwrap().percent(), Some(50.0));
    }
}

#[test]
fn removed_recreated_and_new_groups() {
    let t = tempfile::tempdir().unwrap();
    tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    let mut r = GroupReader::new(l);
    assert_eq!(usage(&mut r, "a"), Some(1_000_000));
    let id = r.read(None).into_iter().find(|g| g.path == "a").unwrap().id;
    // Replaced by another directory under the same path (old kept: new inode).
    fs::rename(t.path().join("a"), t.path().join("old")).unwrap();
    v2_group(&t.path().join("a"), 9_999);
    let g = r.read(None).into_iter().find(|g| g.path == "a").unwrap();
    assert_ne!(g.id, id);
    assert_eq!(
        g.cpu.usage_ns,
        Some(9_999_000),
        "the new group's counters, not the old files'"
    );
    // Removed: gone from the next read.
    fs::remove_dir_all(t.path().join("a")).unwrap();
    assert!(r.read(None).iter().all(|g| g.path != "a"));
    // New groups appear after invalidate (cgdash launched one) …
    v2_group(&t.path().join("b"), 1);
    r.invalidate();
    assert!(r.read(None).iter().any(|g| g.path == "b"));
    // … and the filter keeps a subtree.
    v2_group(&t.path().join("b/c"), 1);
    v2_group(&t.path().join("bc"), 1);
    r.invalidate();
    let paths: Vec<String> = r.read(Some("b")).into_iter().map(|g| g.path).collect();
    assert_eq!(paths, vec!["b", "b/c"]);
}

#[test]
fn hierarchy_changes_are_seen_on_the_next_read_without_a_walk_timer() {
    let t = tempfile::tempdir().unwrap();
    tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    let mut r = GroupReader::new(l);
    assert!(r.watching(), "inotify on a tmpfs tree");
    assert_eq!(usage(&mut r, "a"), Some(1_000_000));
    // Created (also deep below a new one), renamed, removed: no invalidate.
    v2_group(&t.path().join("n/m"), 7);
    assert_eq!(usage(&mut r, "n/m"), Some(7_000));
    v2_group(&t.path().join("n/m/k"), 8);
    assert_eq!(usage(&mut r, "n/m/k"), Some(8_000), "below a new group");
    fs::rename(t.path().join("n/m"), t.path().join("n/z")).unwrap();
    let paths: Vec<String> = r.read(None).into_iter().map(|g| g.path).collect();
    assert!(paths.contains(&"n/z/k".to_string()), "{paths:?}");
    assert!(!paths.iter().any(|p| p.starts_with("n/m")), "{paths:?}");
    fs::remove_dir_all(t.path().join("n")).unwrap();
    assert!(r.read(None).iter().all(|g| !g.path.starts_with('n')));
}

/// On the host (root): the cached reader follows a real group's counters
/// exactly as a fresh read does, and notices its removal at once.
#[path = "common/mod.rs"]
mod common;

#[test]
fn live_reader_matches_fresh_reads() {
    let Some(l) = common::live("live_reader_matches_fresh_reads") else {
        return;
    };
    let mut g = common::TestGroup::new(&l, "reader");
    g.apply(&["cpu=30%", "memory=64M"]).unwrap();
    g.spawn_sh("while :; do :; done", Duration::from_secs(20));
    let mut r = GroupReader::new(l.clone());
    r.read(Some(&g.path));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        let before = l.read_group(&g.path).unwrap().cpu.usage_ns.unwrap();
        let cached = r
            .read(Some(&g.path))
            .into_iter()
            .find(|s| s.path == g.path)
            .unwrap();
        let after = l.read_group(&g.path).unwrap().cpu.usage_ns.unwrap();
        let u = cached.cpu.usage_ns.unwrap();
        assert!(before <= u && u <= after, "{before} ≤ {u} ≤ {after}");
        assert_eq!(cached.memory.max, Some(Limit::Value(64 << 20)));
        assert!(cached.procs.as_ref().is_some_and(|p| !p.is_empty()));
    }
    // A group created by someone else shows on the next read (inotify on
    // cgroupfs; no walk timer, no invalidate). A sibling, not a child: on v2
    // a group with processes can't have children with controllers.
    let child = format!("{}-new", g.path);
    l.create_group(&child).unwrap();
    let seen = r.read(None).iter().any(|s| s.path == child);
    l.remove_group(&child, Duration::from_secs(1)).unwrap();
    assert!(seen, "a new group was not seen on the next read");
    assert!(r.read(None).iter().all(|s| s.path != child));
    let path = g.path.clone();
    drop(g); // kills the workload, removes the group
    assert!(
        r.read(Some(&path)).iter().all(|s| s.path != path),
        "removed group still read"
    );
}

/// A quiet group (the caller vouches nothing in it ran, joined or left):
/// its slow tick re-reads what moves on its own, not its limits or process
/// list: the limits within one round of slow ticks (5) after a write is
/// seen in a watched directory, both every SETTINGS_EVERY_SLOW (12) of its
/// slow ticks.
#[test]
fn a_quiet_groups_limits_are_read_again_when_written() {
    use cgdash::cgroup::{GroupStats, Need};
    let t = tempfile::tempdir().unwrap();
    tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    let mut r = GroupReader::new(l);
    assert!(r.watching(), "inotify on the temp dir");
    let quiet = |_: &str, _: &GroupStats| Need::Nothing;
    let tick = |r: &mut GroupReader| {
        let mut a = None;
        r.read_each_as(None, Some(&quiet), &mut |g| {
            if g.path == "a" {
                a = Some(g.clone());
            }
        });
        (r.files_read(), a.expect("group a"))
    };
    // Tick 0 reads both groups whole; 5, 10, … are their slow ticks.
    let reads: Vec<usize> = (0..65).map(|_| tick(&mut r).0).collect();
    let full = reads[5];
    assert!(full > 0, "{reads:?}");
    assert!(
        reads
            .iter()
            .enumerate()
            .all(|(i, &n)| (i % 5 == 0) == (n > 0)),
        "only the slow ticks read: {reads:?}"
    );
    // All due on the first quiet slow tick, then not for 11 slow ticks.
    for (i, &n) in reads.iter().enumerate().skip(6).filter(|(i, _)| i % 5 == 0) {
        assert!(
            n < full,
            "tick {i} read {n} files, the limits' tick {full}: {reads:?}"
        );
    }
    // The 12th slow tick after: due again without any write.
    assert_eq!(tick(&mut r).0, full, "tick 65");
    // Someone else writes a limit: seen within the next round.
    put(&t.path().join("a"), "cpu.max", "70000 100000\n");
    let seen = (0..5)
        .map(|_| tick(&mut r))
        .find(|(_, a)| a.cpu.max.and_then(|m| m.percent()) == Some(70.0));
    // (The limits read, not the process list.)
    let plain = reads[10];
    assert!(
        seen.as_ref().is_some_and(|(n, _)| *n > plain && *n < full),
        "cpu.max written, quiet group: {:?} files (plain slow tick {plain}, all {full})",
        seen.map(|(n, _)| n)
    );
    // A write to the process list is no limit's.
    for _ in 0..5 {
        tick(&mut r);
    }
    put(&t.path().join("a"), "cgroup.procs", "10\n");
    let slow = (0..5).map(|_| tick(&mut r).0).find(|&n| n > 0);
    assert!(slow.is_some_and(|n| n < full), "{slow:?}");
}

/// Limits opened each time they are read (the eBPF path's reader, which
/// reads a quiet group's limits about once a minute) hold no descriptor,
/// and read the same as kept ones, a write included (issue 18: an open
/// file holds a page of kernel memory).
#[test]
fn limits_opened_each_time_hold_no_descriptor_and_read_the_same() {
    let t = tempfile::tempdir().unwrap();
    tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    let mut kept = GroupReader::new(l.clone());
    let mut opened = GroupReader::new(l);
    opened.set_limits_open(false);
    assert_eq!(kept.read(None), opened.read(None));
    // Group a's cpu.max, memory.max and pids.max.
    assert_eq!(kept.open_files() - opened.open_files(), 3);
    put(&t.path().join("a"), "cpu.max", "70000 100000\n");
    for r in [&mut kept, &mut opened] {
        r.refresh_all_next();
    }
    let (x, y) = (kept.read(None), opened.read(None));
    assert_eq!(x, y);
    let a = y.iter().find(|g| g.path == "a").expect("group a");
    assert_eq!(a.cpu.max.and_then(|m| m.percent()), Some(70.0));
}

/// A reader told not to read the files no panel shows (the dashboard's)
/// opens none of them, at a group's first read or on its slow ticks, and
/// reads everything else the same; the default reads them (issue 18).
#[test]
fn unshown_files_are_left_unread_only_when_asked() {
    let t = tempfile::tempdir().unwrap();
    tree(t.path());
    let a = t.path().join("a");
    put(&a, "cpu.weight", "250\n");
    put(&a, "memory.swap.max", "1048576\n");
    put(&a, "memory.low", "4096\n");
    put(&a, "memory.peak", "8192\n");
    let l = Layout::from_root(t.path()).unwrap();
    let mut all = GroupReader::new(l.clone());
    let mut shown = GroupReader::new(l);
    shown.set_unshown(false);
    let group = |r: &mut GroupReader| r.read(None).into_iter().find(|g| g.path == "a").unwrap();
    let (x, y) = (group(&mut all), group(&mut shown));
    assert_eq!(x.cpu.weight, Some(250));
    assert_eq!(x.memory.swap_max, Some(Limit::Value(1_048_576)));
    assert_eq!(x.memory.low, Some(Limit::Value(4096)));
    assert_eq!(x.memory.peak, Some(8192));
    assert_eq!(
        all.open_files() - shown.open_files(),
        4,
        "none of the 4 kept"
    );
    let mut unread = x.clone();
    unread.cpu.weight = None;
    unread.memory.swap_max = None;
    unread.memory.low = None;
    unread.memory.peak = None;
    assert_eq!(y, unread, "everything else read the same");
    // Nor on a slow tick.
    shown.refresh_all_next();
    assert_eq!(group(&mut shown), unread);
}

/// A dashboard's reader (unshown files off) leaves the period (v1; v2's
/// is in `cpu.max`), the burst and v1's `cpu.stat` (its throttling
/// counters; v2's holds the usage) unread while the group has no quota,
/// and reads them once a quota is set from outside; a reader for
/// `snapshot` reads them always. v1 and v2 fixture trees.
#[test]
fn the_period_and_burst_are_read_only_with_a_quota_when_unshown_is_off() {
    for v1 in [true, false] {
        let t = tempfile::tempdir().unwrap();
        let (dir, quota_file, none, some, period) = if v1 {
            let cpu = t.path().join("cpu");
            put(&cpu, "cgroup.procs", "1\n");
            put(&cpu, "cpu.cfs_quota_us", "-1\n");
            put(&cpu, "cpu.cfs_period_us", "100000\n");
            let a = cpu.join("a");
            put(&a, "cgroup.procs", "10\n");
            put(&a, "cpu.cfs_period_us", "250000\n");
            put(&a, "cpu.cfs_burst_us", "7000\n");
            put(
                &a,
                "cpu.stat",
                "nr_periods 4\nnr_throttled 2\nthrottled_time 7\n",
            );
            (a, "cpu.cfs_quota_us", "-1\n", "50000\n", 250_000)
        } else {
            tree(t.path());
            let a = t.path().join("a");
            put(&a, "cpu.max.burst", "7000\n");
            (a, "cpu.max", "max 250000\n", "50000 250000\n", 250_000)
        };
        put(&dir, quota_file, none);
        let l = Layout::from_root(t.path()).unwrap();
        let mut all = GroupReader::new(l.clone());
        let mut shown = GroupReader::new(l);
        shown.set_unshown(false);
        let group = |r: &mut GroupReader| r.read(None).into_iter().find(|g| g.path == "a").unwrap();
        let x = group(&mut all);
        assert_eq!(x.cpu.burst_us, Some(7000), "v1 {v1}");
        assert_eq!(x.cpu.max.map(|m| m.period_us), Some(period), "v1 {v1}");
        assert!(!x.cpu.unread_without_quota);
        assert_eq!(x.cpu.nr_throttled, Some(2), "v1 {v1}");
        let y = group(&mut shown);
        assert!(y.cpu.unread_without_quota, "v1 {v1}");
        assert_eq!(y.cpu.burst_us, None, "v1 {v1}");
        // v1's cpu.stat unread; v2's read (its usage).
        assert_eq!(y.cpu.nr_throttled, (!v1).then_some(2), "v1 {v1}");
        assert_eq!(y.cpu.usage_ns, x.cpu.usage_ns, "v1 {v1}");
        assert!(y.cpu.no_quota());
        let shown_period = y.cpu.max.map(|m| m.period_us);
        assert_eq!(shown_period, Some(if v1 { 0 } else { period }), "v1 {v1}");
        assert_eq!(
            CpuView::levels(&y.cpu).period_us,
            if v1 { None } else { Some(period) },
            "an unread period is none, not 0"
        );
        // A quota set from outside: within a slow tick's reads both are
        // read (the group read whole).
        put(&dir, quota_file, some);
        let seen = (0..6)
            .map(|_| group(&mut shown))
            .find(|g| !g.cpu.no_quota());
        let g = seen.unwrap_or_else(|| panic!("the quota not seen (v1 {v1})"));
        assert!(!g.cpu.unread_without_quota, "v1 {v1}");
        assert_eq!(g.cpu.burst_us, Some(7000), "v1 {v1}");
        assert_eq!(g.cpu.nr_throttled, Some(2), "v1 {v1}");
        assert_eq!(g.cpu.max.map(|m| m.period_us), Some(period), "v1 {v1}");
        assert_eq!(g.cpu.max.and_then(|m| m.percent()), Some(20.0), "v1 {v1}");
    }
}

/// Whether the kernel takes a fanotify mark on each hierarchy's filesystem
/// (root, and a cgroupfs with an fsid: 6.18 here, not the v2 VM's 6.1): an
/// oracle apart from the reader's own attempt.
fn fanotify_takes(l: &Layout) -> bool {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: no pointers; the descriptor is owned below.
    let fd = unsafe {
        libc::fanotify_init(
            libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_REPORT_DFID_NAME,
            libc::O_RDONLY as u32,
        )
    };
    if fd < 0 {
        return false;
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    l.walked().all(|h| {
        let p = std::ffi::CString::new(h.mount.to_str().unwrap()).unwrap();
        // SAFETY: the path outlives the call.
        unsafe {
            libc::fanotify_mark(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
                libc::FAN_CREATE | libc::FAN_ONDIR,
                libc::AT_FDCWD,
                p.as_ptr(),
            ) == 0
        }
    })
}

/// On the host (root): the reader watches the hierarchies with one fanotify
/// mark each where the kernel takes them, else with an inotify watch per
/// group directory, and either way a group made or removed by someone else
/// is seen on the next read, and a quiet group's limit written by someone
/// else within one round of slow ticks (5), not at its periodic re-read
/// (every 60).
#[test]
fn live_watch_sees_groups_and_limit_writes_either_way() {
    use cgdash::cgroup::{GroupStats, Need};
    let Some(l) = common::live("live_watch_sees_groups_and_limit_writes_either_way") else {
        return;
    };
    let fan = fanotify_takes(&l);
    for inotify in [false, true] {
        let g = common::TestGroup::new(&l, if inotify { "watch-ino" } else { "watch-fan" });
        g.apply(&["cpu=30%"]).unwrap();
        let mut r = GroupReader::new(l.clone());
        if inotify {
            r.use_inotify();
        }
        let way = if inotify || !fan {
            "inotify"
        } else {
            "fanotify"
        };
        assert_eq!(r.watch_kind(), Some(way));
        eprintln!("live_watch: the reader watches with {way}");
        let parent = g.path.rsplit_once('/').unwrap().0.to_string();
        let quiet = |_: &str, _: &GroupStats| Need::Nothing;
        let tick = |r: &mut GroupReader| {
            let (mut paths, mut pct) = (Vec::new(), None);
            r.read_each_as(Some(&parent), Some(&quiet), &mut |s| {
                paths.push(s.path.clone());
                if s.path == g.path {
                    pct = s.cpu.max.and_then(|m| m.percent());
                }
            });
            (paths, pct)
        };
        // Tick 0 reads it whole, tick 5 (its first quiet slow tick) its
        // limits too; the next periodic re-read of them is tick 65.
        for _ in 0..11 {
            assert_eq!(tick(&mut r).1, Some(30.0), "{way}");
        }
        let cpu = l.hierarchy("cpu").unwrap().dir(&g.path);
        if common::is_v2(&l, "cpu") {
            fs::write(cpu.join("cpu.max"), "70000 100000").unwrap();
        } else {
            fs::write(cpu.join("cpu.cfs_quota_us"), "70000").unwrap();
        }
        let after: Vec<Option<f64>> = (0..5).map(|_| tick(&mut r).1).collect();
        assert!(
            after.contains(&Some(70.0)),
            "{way}: a quiet group's quota written by someone else, then 5 ticks: {after:?}"
        );
        let other = format!("{}-new", g.path);
        l.create_group(&other).unwrap();
        let made = tick(&mut r).0;
        l.remove_group(&other, Duration::from_secs(1)).unwrap();
        let removed = tick(&mut r).0;
        assert!(made.contains(&other), "{way}: made, not seen: {made:?}");
        assert!(!removed.contains(&other), "{way}: removed, still read");
    }
}
