//! issue 12 #2: one mapping from files to fields. The sampler's cached reader
//! (`GroupReader`) gives what a fresh `read_group` gives, on separate v1,
//! co-mounted v1, v2 and hybrid fixture trees, on every tick 1..=6 after
//! every file changed: counters every tick, the slow files (limits, peak,
//! PSI, freezer, cpuset) as of the last slow tick (every 5th). Absolute
//! values pin the units (v1 ns, v2 µs × 1000) so a shared mapping can't be
//! wrong in both readers alike.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use cgdash::cgroup::{GroupReader, GroupStats, Layout, Limit, Mode};

fn put(dir: &Path, file: &str, contents: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), contents).unwrap();
}

const GROUPS: [&str; 3] = ["", "g", "g/h"];

fn psi(k: u64) -> String {
    format!("some avg10={k}.00 avg60=0.50 avg300=0.25 total={}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total={}\n", 7 * k, 3 * k)
}

/// The v1 files of `controller` in `dir` at tick `k` (`i`: the group's index).
fn v1(dir: &Path, controller: &str, k: u64, i: u64) {
    put(dir, "cgroup.procs", &format!("{}\n{}\n", 100 + k, 200 + i));
    match controller {
        "cpu" => {
            put(dir, "cpu.stat", &format!("nr_periods {}\nnr_throttled {}\nthrottled_time {}\nnr_bursts {k}\nburst_time {}\n", 10 * k + i, 5 * k + i, 1_000_003 * k + i, 9 * k));
            let quota = if k % 3 == 2 {
                "-1".to_string()
            } else {
                (10_000 + 1000 * k).to_string()
            };
            put(dir, "cpu.cfs_quota_us", &format!("{quota}\n"));
            put(dir, "cpu.cfs_period_us", &format!("{}\n", 100_000 + k));
            put(dir, "cpu.shares", &format!("{}\n", 1024 + 10 * k));
            put(dir, "cpu.cfs_burst_us", &format!("{}\n", 1000 * k));
        }
        "cpuacct" => put(
            dir,
            "cpuacct.usage",
            &format!("{}\n", 1_000_000_007 * k + i),
        ),
        "memory" => {
            put(dir, "memory.usage_in_bytes", &format!("{}\n", 4096 * k + i));
            put(
                dir,
                "memory.max_usage_in_bytes",
                &format!("{}\n", 8192 * k + i),
            );
            let lim = if k.is_multiple_of(2) {
                "9223372036854771712".to_string()
            } else {
                ((1u64 << 20) * k).to_string()
            };
            put(dir, "memory.limit_in_bytes", &format!("{lim}\n"));
            put(
                dir,
                "memory.memsw.limit_in_bytes",
                &format!("{}\n", (2u64 << 20) * (k + 1)),
            );
            put(dir, "memory.failcnt", &format!("{}\n", 3 * k + i));
            // The group's own dirty/writeback, then the totals (group and below): the totals count.
            put(
                dir,
                "memory.stat",
                &format!(
                    "cache 1\ndirty 1\nwriteback 2\ntotal_cache 9\ntotal_dirty {}\ntotal_writeback {}\n",
                    4096 * k + i,
                    512 * k + i
                ),
            );
            put(
                dir,
                "memory.oom_control",
                &format!("oom_kill_disable 0\nunder_oom 0\noom_kill {}\n", 2 * k + i),
            );
        }
        "pids" => pids(dir, k, i),
        "cpuset" => {
            put(dir, "cpuset.cpus", &format!("0-{}\n", k % 2));
            put(dir, "cpuset.mems", "0\n");
            put(dir, "cpuset.effective_cpus", &format!("{}\n", k % 2));
        }
        "freezer" => put(
            dir,
            "freezer.state",
            if k % 2 == 1 { "FROZEN\n" } else { "THAWED\n" },
        ),
        _ => {}
    }
}

fn pids(dir: &Path, k: u64, i: u64) {
    put(dir, "pids.current", &format!("{}\n", k + i));
    let max = if k.is_multiple_of(2) {
        "max".to_string()
    } else {
        (100 + k).to_string()
    };
    put(dir, "pids.max", &format!("{max}\n"));
    put(dir, "pids.events", &format!("max {}\n", 4 * k));
}

/// A v2 group (or the root, which has fewer files) at tick `k`.
fn v2(dir: &Path, k: u64, i: u64, root: bool) {
    put(dir, "cgroup.procs", &format!("{}\n", 300 + k));
    put(dir, "cpu.stat", &format!("usage_usec {}\nuser_usec 1\nsystem_usec 1\nnr_periods {}\nnr_throttled {}\nthrottled_usec {}\nnr_bursts {k}\nburst_usec {}\n", 1_000_001 * k + i, 10 * k, 5 * k, 11 * k + i, 9 * k));
    for f in ["cpu.pressure", "memory.pressure", "io.pressure"] {
        put(dir, f, &psi(k + i));
    }
    if root {
        return;
    }
    put(
        dir,
        "cpu.max",
        &if k % 3 == 2 {
            format!("max {}\n", 100_000 + k)
        } else {
            format!("{} {}\n", 10_000 + 1000 * k, 100_000 + k)
        },
    );
    put(dir, "cpu.weight", &format!("{}\n", 100 + k));
    put(dir, "cpu.max.burst", &format!("{}\n", 1000 * k));
    put(dir, "memory.current", &format!("{}\n", 4096 * k + i));
    put(dir, "memory.peak", &format!("{}\n", 8192 * k + i));
    put(dir, "memory.max", &format!("{}\n", (1u64 << 20) * (k + 1)));
    put(
        dir,
        "memory.high",
        &if k.is_multiple_of(2) {
            "max\n".to_string()
        } else {
            format!("{}\n", (1u64 << 19) * k)
        },
    );
    put(dir, "memory.swap.max", &format!("{}\n", 4096 * k));
    put(
        dir,
        "memory.stat",
        &format!(
            "anon 1\nfile 2\nfile_dirty {}\nfile_writeback {}\nfile_thp 0\n",
            4096 * k + i,
            512 * k + i
        ),
    );
    put(
        dir,
        "memory.events",
        &format!(
            "low {k}\nhigh {}\nmax {}\noom {}\noom_kill {}\n",
            2 * k,
            3 * k,
            4 * k,
            5 * k
        ),
    );
    pids(dir, k, i);
    put(dir, "cpuset.cpus", &format!("0-{}\n", k % 2));
    put(dir, "cpuset.mems", "0\n");
    put(dir, "cpuset.cpus.effective", &format!("{}\n", k % 2));
    put(dir, "cgroup.freeze", &format!("{}\n", k % 2));
    put(
        dir,
        "cgroup.events",
        &format!("populated 1\nfrozen {}\n", k % 2),
    );
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tree {
    SeparateV1,
    CoMountedV1,
    V2,
    Hybrid,
}

fn write(root: &Path, tree: Tree, k: u64) {
    let in_group = |m: &Path, g: &str| {
        if g.is_empty() {
            m.to_path_buf()
        } else {
            m.join(g)
        }
    };
    let separate = |root: &Path| {
        for c in ["cpu", "cpuacct", "cpuset", "memory", "pids", "freezer"] {
            for (i, g) in GROUPS.iter().enumerate() {
                v1(&in_group(&root.join(c), g), c, k, i as u64);
            }
        }
    };
    match tree {
        Tree::SeparateV1 => separate(root),
        Tree::CoMountedV1 => {
            for (i, g) in GROUPS.iter().enumerate() {
                for c in ["cpu", "cpuacct"] {
                    v1(&in_group(&root.join("cpu,cpuacct"), g), c, k, i as u64);
                }
                for c in ["memory", "pids", "freezer"] {
                    v1(&in_group(&root.join(c), g), c, k, i as u64);
                }
            }
            if k == 0 {
                symlink("cpu,cpuacct", root.join("cpu")).unwrap();
                symlink("cpu,cpuacct", root.join("cpuacct")).unwrap();
            }
        }
        Tree::V2 => {
            put(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
            for (i, g) in GROUPS.iter().enumerate() {
                v2(&in_group(root, g), k, i as u64, g.is_empty());
            }
        }
        Tree::Hybrid => {
            separate(root);
            let u = root.join("unified");
            put(&u, "cgroup.controllers", "\n");
            for (i, g) in GROUPS.iter().chain(["u-only"].iter()).enumerate() {
                v2(&in_group(&u, g), k, i as u64, true);
            }
        }
    }
}

/// `fast` with the fields the cached reader refreshes only every 5th tick
/// taken from `slow` (the fresh read of the last slow tick).
fn with_slow_from(fast: &GroupStats, slow: &GroupStats) -> GroupStats {
    let mut e = fast.clone();
    e.cpu.max = slow.cpu.max;
    e.cpu.weight = slow.cpu.weight;
    e.cpu.shares = slow.cpu.shares;
    e.cpu.burst_us = slow.cpu.burst_us;
    e.memory.max = slow.memory.max;
    e.memory.high = slow.memory.high;
    e.memory.swap_max = slow.memory.swap_max;
    e.memory.memsw_max = slow.memory.memsw_max;
    e.memory.peak = slow.memory.peak;
    e.pids.max = slow.pids.max;
    e.pids.max_events = slow.pids.max_events;
    e.cpuset = slow.cpuset.clone();
    e.frozen = slow.frozen;
    e.pressure = slow.pressure.clone();
    e
}

fn fresh(l: &Layout) -> Vec<GroupStats> {
    l.read_all()
}

fn cached(r: &mut GroupReader) -> Vec<GroupStats> {
    let mut v = r.read(None);
    for g in &mut v {
        // The process list is the cached reader's extra (read_group counts).
        assert_eq!(
            g.procs.as_ref().map(|p| p.len() as u64),
            g.nprocs,
            "{}",
            g.path
        );
        g.procs = None;
    }
    v
}

fn by_path<'a>(v: &'a [GroupStats], p: &str) -> &'a GroupStats {
    v.iter()
        .find(|g| g.path == p)
        .unwrap_or_else(|| panic!("no group {p:?}"))
}

/// Units and fields pinned by value (tick `k`), for the group `g` (index 1).
fn check_values(tree: Tree, c: &[GroupStats], k: u64, slow_k: u64) {
    let g = by_path(c, "g");
    let v2 = tree == Tree::V2;
    if v2 {
        assert_eq!(
            g.cpu.usage_ns,
            Some((1_000_001 * k + 1) * 1000),
            "v2 usage_usec × 1000"
        );
        assert_eq!(
            g.cpu.throttled_ns,
            Some((11 * k + 1) * 1000),
            "v2 throttled_usec × 1000"
        );
        assert_eq!(g.memory.events.max, Some(3 * k));
        assert_eq!(g.memory.events.oom_kill, Some(5 * k));
        assert_eq!(g.memory.dirty, Some(4096 * k + 1), "v2 file_dirty");
        assert_eq!(g.memory.writeback, Some(512 * k + 1), "v2 file_writeback");
        let high = if slow_k.is_multiple_of(2) {
            Limit::Max
        } else {
            Limit::Value((1 << 19) * slow_k)
        };
        assert_eq!(
            g.memory.high,
            Some(high),
            "memory.high refreshed on slow ticks"
        );
        assert_eq!(g.memory.swap_max, Some(Limit::Value(4096 * slow_k)));
        assert_eq!(g.memory.max, Some(Limit::Value((1 << 20) * (slow_k + 1))));
        assert_eq!(g.cpu.weight, Some(100 + slow_k));
    } else {
        assert_eq!(
            g.cpu.usage_ns,
            Some(1_000_000_007 * k + 1),
            "v1 cpuacct.usage is ns"
        );
        assert_eq!(
            g.cpu.throttled_ns,
            Some(1_000_003 * k + 1),
            "v1 throttled_time is ns"
        );
        assert_eq!(g.memory.failcnt, Some(3 * k + 1));
        assert_eq!(g.memory.dirty, Some(4096 * k + 1), "v1 total_dirty");
        assert_eq!(g.memory.writeback, Some(512 * k + 1), "v1 total_writeback");
        assert_eq!(g.memory.events.oom_kill, Some(2 * k + 1));
        assert_eq!(g.memory.peak, Some(8192 * slow_k + 1));
        assert_eq!(g.cpu.shares, Some(1024 + 10 * slow_k));
        let max = if slow_k.is_multiple_of(2) {
            Limit::Max
        } else {
            Limit::Value((1 << 20) * slow_k)
        };
        assert_eq!(g.memory.max, Some(max));
        assert_eq!(
            g.memory.memsw_max,
            Some(Limit::Value((2 << 20) * (slow_k + 1)))
        );
    }
    assert_eq!(g.cpu.nr_periods, Some(if v2 { 10 * k } else { 10 * k + 1 }));
    assert_eq!(g.cpu.nr_throttled, Some(if v2 { 5 * k } else { 5 * k + 1 }));
    let quota = if slow_k % 3 == 2 {
        Limit::Max
    } else {
        Limit::Value(10_000 + 1000 * slow_k)
    };
    let m = g.cpu.max.expect("cpu limit");
    assert_eq!((m.quota_us, m.period_us), (quota, 100_000 + slow_k));
    assert_eq!(
        g.cpu.burst_us,
        Some(1000 * slow_k),
        "cpu.burst on slow ticks"
    );
    assert_eq!(g.cpu.nr_bursts, Some(k));
    let burst_ns = if v2 { 9 * k * 1000 } else { 9 * k };
    assert_eq!(
        g.cpu.burst_ns,
        Some(burst_ns),
        "v1 burst_time ns, v2 burst_usec × 1000"
    );
    assert_eq!(g.memory.current, Some(4096 * k + 1));
    assert_eq!(g.pids.current, Some(k + 1));
    let pmax = if slow_k.is_multiple_of(2) {
        Limit::Max
    } else {
        Limit::Value(100 + slow_k)
    };
    assert_eq!(g.pids.max, Some(pmax));
    assert_eq!(g.pids.max_events, Some(4 * slow_k));
    if tree != Tree::CoMountedV1 {
        assert_eq!(
            g.cpuset.cpus.as_deref(),
            Some(format!("0-{}", slow_k % 2).as_str())
        );
        assert_eq!(
            g.cpuset.effective_cpus.as_deref(),
            Some(format!("{}", slow_k % 2).as_str())
        );
    }
    assert_eq!(g.frozen, Some(slow_k % 2 == 1), "frozen state");
    match tree {
        Tree::V2 | Tree::Hybrid => {
            let p = g.pressure.as_ref().expect("PSI");
            assert_eq!(p.io.unwrap().some.unwrap().total_us, 7 * (slow_k + 1));
            assert_eq!(p.memory.unwrap().full.unwrap().total_us, 3 * (slow_k + 1));
        }
        _ => assert!(g.pressure.is_none()),
    }
    if tree == Tree::Hybrid {
        let u = by_path(c, "u-only");
        assert_eq!(
            u.cpu.usage_ns,
            Some((1_000_001 * k + 3) * 1000),
            "hybrid: unified usage_usec × 1000"
        );
        assert_eq!(u.memory.current, None);
        assert_eq!(u.frozen, None, "no v2 freezer on hybrid hosts");
    }
}

#[test]
fn hc_cached_reader_equals_fresh_reads_every_tick() {
    for tree in [Tree::SeparateV1, Tree::CoMountedV1, Tree::V2, Tree::Hybrid] {
        for max_open in [usize::MAX, 0] {
            let t = tempfile::tempdir().unwrap();
            write(t.path(), tree, 0);
            let l = Layout::from_root(t.path()).unwrap();
            let want_mode = match tree {
                Tree::V2 => Mode::V2,
                Tree::Hybrid => Mode::Hybrid,
                _ => Mode::V1,
            };
            assert_eq!(l.mode, want_mode);
            let mut r = GroupReader::new(l.clone());
            r.set_max_open(max_open);
            let first = cached(&mut r);
            assert_eq!(first, fresh(&l), "{tree:?}: the first read is a fresh read");
            let mut slow = fresh(&l);
            let mut slow_k = 0;
            for k in 1..=6u64 {
                write(t.path(), tree, k);
                let f = fresh(&l);
                // The cached reader re-reads the slow files on every 5th tick.
                if k % 5 == 0 {
                    slow = f.clone();
                    slow_k = k;
                }
                let c = cached(&mut r);
                assert_eq!(c.len(), f.len(), "{tree:?} tick {k}");
                for fg in &f {
                    let want = with_slow_from(fg, by_path(&slow, &fg.path));
                    assert_eq!(
                        by_path(&c, &fg.path),
                        &want,
                        "{tree:?} (max_open {max_open}) tick {k}, group {:?}",
                        fg.path
                    );
                }
                check_values(tree, &c, k, slow_k);
            }
        }
    }
}
