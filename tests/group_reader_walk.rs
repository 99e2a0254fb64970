//! Issue 18, the first read of a group: where the walk found it stands for a
//! `stat` per hierarchy, its directories are opened once and its files
//! relative to them, `cgroup.procs` is read once, and a missing unified
//! directory is not probed per file. What is read is unchanged
//! (`hc_readers.rs`); these pin what changed around it: a walk gone stale
//! (a group removed, or made in another hierarchy, after it) reads as a
//! fresh read would.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use cgdash::cgroup::controllers::plan_group;
use cgdash::cgroup::{GroupReader, GroupStats, Layout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

fn put(dir: &Path, file: &str, contents: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), contents).unwrap();
}

/// Group `g` of a v1 hierarchy `c` (`cpu`, `cpuacct`, `memory`).
fn v1_group(dir: &Path, c: &str) {
    put(dir, "cgroup.procs", "10\n11\n");
    match c {
        "cpu" => {
            put(
                dir,
                "cpu.stat",
                "nr_periods 4\nnr_throttled 2\nthrottled_time 7\n",
            );
            put(dir, "cpu.cfs_quota_us", "20000\n");
            put(dir, "cpu.cfs_period_us", "100000\n");
            put(dir, "cpu.shares", "1024\n");
        }
        "cpuacct" => put(dir, "cpuacct.usage", "5000\n"),
        "memory" => {
            put(dir, "memory.usage_in_bytes", "4096\n");
            put(dir, "memory.limit_in_bytes", "65536\n");
            put(dir, "memory.stat", "total_dirty 1\ntotal_writeback 2\n");
        }
        _ => unreachable!(),
    }
}

/// A hybrid tree: v1 `cpu`, `cpuacct`, `memory` and an empty `unified`
/// (as on the test host), with `groups` in the given hierarchies.
fn hybrid(root: &Path, groups: &[(&str, &[&str])]) -> Layout {
    for c in ["cpu", "cpuacct", "memory"] {
        put(&root.join(c), "cgroup.procs", "1\n");
    }
    put(&root.join("unified"), "cgroup.controllers", "");
    put(&root.join("unified"), "cgroup.procs", "1\n");
    for (g, cs) in groups {
        for c in *cs {
            v1_group(&root.join(c).join(g), c);
        }
    }
    let l = Layout::from_root(root).unwrap();
    assert_eq!(l.mode, cgdash::cgroup::Mode::Hybrid);
    l
}

fn bit(l: &Layout, dir: &str) -> u64 {
    1 << l
        .hierarchies
        .iter()
        .position(|h| h.mount.ends_with(dir))
        .unwrap()
}

fn files(plan: &cgdash::cgroup::controllers::GroupPlan) -> Vec<String> {
    plan.reads
        .iter()
        .map(|r| r.path.to_string_lossy().into_owned())
        .collect()
}

/// The walk's word is taken: a hierarchy it did not find the group in is
/// not looked at (the plan reads nothing there, though the directory is
/// there now), and one it did find it in but that is gone since is missing
/// (not an error).
#[test]
fn the_plan_takes_the_walks_word_and_survives_it_going_stale() {
    let t = tempfile::tempdir().unwrap();
    let l = hybrid(t.path(), &[("g", &["cpu", "cpuacct", "memory"])]);
    let all = bit(&l, "cpu") | bit(&l, "cpuacct") | bit(&l, "memory");
    let probed = plan_group(&l, "g", None);
    assert!(files(&probed)
        .iter()
        .any(|f| f.ends_with("memory/g/memory.stat")));
    assert_eq!(files(&plan_group(&l, "g", Some(all))), files(&probed));
    let no_memory = plan_group(&l, "g", Some(all & !bit(&l, "memory")));
    assert!(
        !files(&no_memory).iter().any(|f| f.contains("/memory/")),
        "the walk did not find g in memory: {:?}",
        files(&no_memory)
    );
    // Found by the walk, removed since: read as a fresh read reads it.
    fs::remove_dir_all(t.path().join("memory/g")).unwrap();
    let stale = plan_group(&l, "g", Some(all));
    assert_eq!(files(&stale), files(&plan_group(&l, "g", None)));
    assert!(!files(&stale).iter().any(|f| f.contains("/memory/")));
    // Removed everywhere: no id, so no group.
    for c in ["cpu", "cpuacct"] {
        fs::remove_dir_all(t.path().join(c).join("g")).unwrap();
    }
    let gone = plan_group(&l, "g", Some(all));
    assert_eq!(gone.id(), None);
    assert!(gone.procs.is_none());
}

/// A plan looks at each directory once: the unified directory of a group
/// made only in v1 hierarchies is missing for all its PSI files (none of
/// them is opened, even if it appears mid-read), and its directories stay
/// the ones opened at the start (a file is opened relative to them).
#[test]
fn a_plan_remembers_a_missing_unified_directory() {
    let t = tempfile::tempdir().unwrap();
    let l = hybrid(t.path(), &[("g", &["cpu", "cpuacct", "memory"])]);
    let plan = plan_group(&l, "g", None);
    let psi: Vec<_> = plan
        .reads
        .iter()
        .filter(|r| r.path.starts_with(t.path().join("unified")))
        .collect();
    assert_eq!(
        psi.len(),
        3,
        "cpu, memory, io .pressure: {:?}",
        files(&plan)
    );
    // Made after the plan looked: the plan still says missing.
    for f in ["cpu.pressure", "memory.pressure", "io.pressure"] {
        put(
            &t.path().join("unified/g"),
            f,
            "some avg10=1.00 avg60=0.00 avg300=0.00 total=1\n",
        );
    }
    for r in &psi {
        let e = plan.open(r).unwrap_err();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::NotFound,
            "{}",
            r.path.display()
        );
    }
    // A new plan sees it (a walk would have found it there).
    let again = plan_group(&l, "g", None);
    let r = again
        .reads
        .iter()
        .find(|r| r.path.ends_with("unified/g/cpu.pressure"))
        .unwrap();
    assert!(again.open(r).is_ok());
    // Files are opened relative to the directory opened by the plan: one
    // renamed away is still read through it.
    let cpu_stat = plan
        .reads
        .iter()
        .find(|r| r.path.ends_with("cpu/g/cpu.stat"))
        .unwrap();
    fs::rename(t.path().join("cpu/g"), t.path().join("cpu/moved")).unwrap();
    assert!(
        plan.open(cpu_stat).is_ok(),
        "opened relative to the directory"
    );
    assert!(fs::metadata(&cpu_stat.path).is_err());
}

/// The reader's first read opens every file of a group once, and
/// `cgroup.procs` (the primary hierarchy's) once: the count of processes
/// and their list come from the same read (seen by inotify's IN_OPEN).
#[test]
fn a_first_read_opens_each_file_once() {
    let t = tempfile::tempdir().unwrap();
    let l = hybrid(t.path(), &[("g", &["cpu", "cpuacct", "memory"])]);
    let ino = Inotify::init(InitFlags::IN_NONBLOCK).unwrap();
    let mut dirs = HashMap::new();
    for c in ["cpu", "cpuacct", "memory"] {
        let w = ino
            .add_watch(
                &t.path().join(c).join("g"),
                // Reads and closes too, though only opens are counted:
                // inotify merges an event into an identical one queued
                // just before it (a file opened twice in a row).
                AddWatchFlags::IN_OPEN | AddWatchFlags::IN_ACCESS | AddWatchFlags::IN_CLOSE_NOWRITE,
            )
            .unwrap();
        dirs.insert(w, c);
    }
    let mut r = GroupReader::new(l.clone());
    let read = r.read(None);
    let g = read.iter().find(|s| s.path == "g").unwrap();
    assert_eq!(g.nprocs, Some(2));
    assert_eq!(g.procs.as_deref(), Some(&[10, 11][..]));
    let mut opened: HashMap<String, usize> = HashMap::new();
    while let Ok(events) = ino.read_events() {
        if events.is_empty() {
            break;
        }
        for e in events {
            // Events of the directories themselves (the walk lists them).
            let Some(name) = e.name else { continue };
            if !e.mask.contains(AddWatchFlags::IN_OPEN) {
                continue;
            }
            let f = format!("{}/{}", dirs[&e.wd], name.to_string_lossy());
            *opened.entry(f).or_default() += 1;
        }
    }
    let mut twice: Vec<_> = opened.iter().filter(|(_, n)| **n != 1).collect();
    twice.sort();
    assert!(twice.is_empty(), "opened more than once: {twice:?}");
    for f in [
        "cpu/cgroup.procs",
        "cpu/cpu.stat",
        "cpuacct/cpuacct.usage",
        "memory/memory.stat",
    ] {
        assert!(opened.contains_key(f), "{f} not read: {opened:?}");
    }
    // Only the primary hierarchy's process list is read.
    assert!(!opened.contains_key("cpuacct/cgroup.procs"), "{opened:?}");
    assert!(!opened.contains_key("memory/cgroup.procs"), "{opened:?}");
}

/// A group removed after the walk that found it, before its read, is gone
/// from that read: not handed out, not a problem (it is not "unreadable").
/// One removed from one hierarchy only reads as a fresh read does.
#[test]
fn removed_between_walk_and_read_is_gone_not_a_problem() {
    let t = tempfile::tempdir().unwrap();
    let l = hybrid(
        t.path(),
        &[
            ("a", &["cpu", "cpuacct", "memory"]),
            ("b", &["cpu", "cpuacct", "memory"]),
            ("c", &["cpu", "cpuacct", "memory"]),
        ],
    );
    let mut r = GroupReader::new(l.clone());
    assert!(r.watching());
    let mut seen: Vec<GroupStats> = Vec::new();
    // Groups are read in order (a parent before its children, then by
    // name): while "a" is handed out, "b" and "c" are walked, not read.
    r.read_each(None, &mut |s| {
        if s.path == "a" {
            for h in ["cpu", "cpuacct", "memory"] {
                fs::remove_dir_all(t.path().join(h).join("b")).unwrap();
            }
            fs::remove_dir_all(t.path().join("memory/c")).unwrap();
        }
        seen.push(s.clone());
    });
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["", "a", "c"]);
    assert_eq!(r.problem(), None, "a removed group is not unreadable");
    let c = seen.iter().find(|s| s.path == "c").unwrap();
    let mut fresh = l.read_group("c").unwrap();
    fresh.procs = c.procs.clone();
    assert_eq!(c, &fresh, "c without its memory directory, as read afresh");
    assert_eq!(c.memory.current, None);
    assert_eq!(c.cpu.usage_ns, Some(5000));
    // And the next read agrees.
    let next: Vec<String> = r.read(None).into_iter().map(|s| s.path).collect();
    assert_eq!(next, ["", "a", "c"]);
}

/// A v1 group is made one hierarchy at a time: one read (and kept) while
/// only in `cpu` is read whole again once the walk finds it in `memory`
/// too (inotify: the next read), its memory readings from then on.
#[test]
fn a_group_made_in_another_hierarchy_later_is_read_there() {
    let t = tempfile::tempdir().unwrap();
    let l = hybrid(t.path(), &[("g", &["cpu", "cpuacct"])]);
    let mut r = GroupReader::new(l.clone());
    assert!(r.watching());
    let memory = |r: &mut GroupReader| {
        r.read(None)
            .into_iter()
            .find(|s| s.path == "g")
            .unwrap()
            .memory
            .current
    };
    assert_eq!(memory(&mut r), None);
    assert_eq!(memory(&mut r), None);
    v1_group(&t.path().join("memory/g"), "memory");
    assert_eq!(memory(&mut r), Some(4096), "the next read after the mkdir");
    assert_eq!(memory(&mut r), Some(4096));
    // And out of it again: its memory readings go.
    fs::remove_dir_all(t.path().join("memory/g")).unwrap();
    assert_eq!(memory(&mut r), None);
}

#[path = "common/mod.rs"]
mod common;

/// Directories made by hand (a group in some v1 hierarchies only, as a
/// tool making one hierarchy at a time leaves it for a moment), removed on
/// drop, children first.
struct Dirs(Vec<std::path::PathBuf>);

impl Drop for Dirs {
    fn drop(&mut self) {
        for d in self.0.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// On the host (root, v1 or hybrid): a group made in `cpu` first and in
/// `memory` later is read there from the next read on (inotify on
/// cgroupfs); removed from `memory` between the walk and its read, it
/// reads as a fresh read does, without a problem.
#[test]
fn live_group_made_one_hierarchy_at_a_time() {
    let test = "live_group_made_one_hierarchy_at_a_time";
    let Some(l) = common::live(test) else {
        return;
    };
    let (Some(cpu), Some(memory)) = (l.hierarchy("cpu"), l.hierarchy("memory")) else {
        return;
    };
    if cpu.version != cgdash::cgroup::Version::V1
        || memory.version != cgdash::cgroup::Version::V1
        || cpu.mount == memory.mount
    {
        eprintln!("SKIP {test}: needs cpu and memory in separate v1 hierarchies");
        return;
    }
    let name = format!("cgdash-test-grp-{}", std::process::id());
    let mut made = Dirs(Vec::new());
    for h in &l.hierarchies {
        if h.has("cpu") || h.has("cpuacct") {
            let d = h.dir(&name);
            fs::create_dir(&d).unwrap();
            made.0.push(d);
        }
    }
    let mut r = GroupReader::new(l.clone());
    assert!(r.watching());
    let read = |r: &mut GroupReader| r.read(Some(&name)).into_iter().find(|s| s.path == name);
    let g = read(&mut r).expect("read in cpu");
    assert_eq!(g.memory.current, None, "not in memory yet");
    assert!(g.cpu.usage_ns.is_some());
    let mem_dir = memory.dir(&name);
    fs::create_dir(&mem_dir).unwrap();
    made.0.push(mem_dir.clone());
    let g = read(&mut r).expect("read");
    assert!(g.memory.current.is_some(), "memory read on the next read");
    assert!(g.memory.max.is_some());

    // Removed from memory after a walk, before its read: the walk runs
    // first in this read (a new sibling was made), the removal happens
    // while the parent (read first) is handed out.
    let sib = cpu.dir(&format!("{name}-sib"));
    fs::create_dir(&sib).unwrap();
    made.0.push(sib);
    let mut fresh = None;
    let mut got = None;
    r.read_each(None, &mut |s| {
        if s.path.is_empty() {
            fs::remove_dir(&mem_dir).unwrap();
            fresh = l.read_group(&name);
        }
        if s.path == name {
            got = Some(s.clone());
        }
    });
    assert_eq!(r.problem(), None);
    let (mut fresh, got) = (fresh.unwrap(), got.expect("still read"));
    assert_eq!(got.memory.current, None);
    assert_eq!(got.memory.max, None);
    // Counters move between the two reads: compare what can't.
    fresh.procs = got.procs.clone();
    fresh.cpu = got.cpu.clone();
    assert_eq!(got, fresh);
}
