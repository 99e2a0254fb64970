//! Which groups can have changed since the last tick, from the eBPF pass
//! (issue 18): the groups the reader must read; the others keep their last
//! readings for a tick ([`GroupReader::read_each_as`]), and which of those
//! must re-read their process list.
//!
//! A group's per-tick counters — CPU time and `cpu.stat`, charged memory and
//! its failures and OOM kills, I/O submitted, pids — move when a task in it
//! (or below it) runs, and the eBPF pass names every process that ran, was
//! born, moved or exited since the last pass. So a group is read when a
//! process placed in it or below it is named, and otherwise only on its slow
//! tick (every fifth tick, staggered), which re-reads everything. What can
//! still move in a group where nothing ran, and so is up to five ticks old
//! there: memory given back by reclaim, or by another group's task freeing
//! a file the group had cached; and a group with dirty or writeback pages
//! is always read (the flusher writes its pages back and, on v2, charges
//! the I/O to it).
//!
//! A process named by the pass is placed by last tick's `cgroup.procs`
//! lists; one not in them (new, outside the filter, or moved) by its own
//! `/proc/PID/cgroup`, remembered until it moves or exits (every hierarchy's
//! path: on v1 a process may sit in different groups per controller). A
//! process born and gone between two passes was never placed; its exit
//! record names its parent when it had its parent's cgroups (the kernel
//! compares the two css_sets), and it is then placed there. When the pass
//! can't say enough — the first tick, exits lost, an unplaced exit whose
//! groups were not its parent's, or too many to look up — every group is
//! read, as without eBPF.
//!
//! A group's process list changes only when a process joins it (born in
//! it, or moved in) or leaves (exits, or moved out). Only the groups a
//! named process is directly in re-read their `cgroup.procs`; their
//! ancestors, read for their counters, keep last tick's list. (Relisting
//! only on the pass's births, moves and exits was tried: an exit is
//! reported only after an RCU grace period, ticks late under load, while
//! the exiting process's last run and its parent's reaping are named at
//! once.)
//!
//! The root is the exception (session 23): its list, every process in no
//! group, ~5,000 pids at 10,000 processes, re-read and sorted by the
//! kernel whenever anything there ran (the terminal, cgdash itself: every
//! tick), was ~2 ms of a ~25 ms tick. It is re-read only on a birth, a
//! move or an exit there; an exit counts from its last thread's exit
//! (`F_ORPHANS`, reported at once, on this pass and the next), as well as
//! from the free. Other groups keep the rule above: there, a zombie's
//! last placement stays as the `/proc` path shows it (session 23 tried
//! the root's rule everywhere: a zombie then dropped out of its group's
//! list and showed in `/`, where `/proc/PID/cgroup` puts it, while the
//! `/proc` path, not reading processes of a quiet group, kept its group).
//!
//! [`GroupReader::read_each_as`]: crate::cgroup::reader::GroupReader::read_each_as

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::fnv::PidMap;
use crate::process::ebpf::{flags, Ran};

/// More `/proc/PID/cgroup` look-ups than this in one tick: read every group
/// instead (a burst of new processes; reading all groups is then cheaper
/// and certain).
const LOOKUPS_MAX: usize = 256;

pub(super) struct Active {
    proc_root: PathBuf,
    /// pid → its groups in every hierarchy (internal form), for processes
    /// placed by their own `/proc/PID/cgroup` rather than a group's list.
    looked: PidMap<Box<[Box<str>]>>,
    /// The groups to read this tick (internal form); valid after `compute`
    /// returned true.
    set: HashSet<Box<str>>,
    /// Of those, the ones a process joined or left (internal form; no
    /// ancestors: a list names only the group's own processes).
    relist: HashSet<Box<str>>,
    /// Look-ups made in the last `compute`.
    pub lookups: usize,
}

impl Active {
    pub fn new(proc_root: PathBuf) -> Active {
        Active {
            proc_root,
            looked: PidMap::default(),
            set: HashSet::new(),
            relist: HashSet::new(),
            lookups: 0,
        }
    }

    /// From this tick's pass and last tick's placement (`members`: pid →
    /// index into `paths`, the groups read last tick). False: read every
    /// group this tick. `kthread`: whether a pid is a kernel thread (they
    /// run in the root every tick without forking or moving; their
    /// running alone does not relist the root, a list of every process
    /// in it).
    pub fn compute(
        &mut self,
        ran: &Ran,
        members: &PidMap<u32>,
        paths: &[Arc<str>],
        kthread: &dyn Fn(i32) -> bool,
    ) -> bool {
        self.set.clear();
        self.relist.clear();
        self.lookups = 0;
        if ran.lost_exits {
            self.looked.clear();
            return false;
        }
        if paths.is_empty() {
            return false;
        }
        // The root always (it counts the whole machine), and pid 1's group:
        // the task iterator of some kernels (6.18) never visits pid 1.
        add(&mut self.set, "");
        if let Some(&i) = members.get(&1) {
            add(&mut self.set, &paths[i as usize]);
        }
        // Exiting (its last thread's exit this pass or the one before, or
        // freed): it leaves its groups' lists.
        let leaving: HashSet<i32> = ran.orphaned.iter().copied().collect();
        // Whether a process that ran relists `path`: any group but the
        // root, whose list (every process in no group: ~5,000 pids at
        // 10,000, re-read and sorted by the kernel) is re-read only when
        // one is born, moves or exits there (see the top).
        let relisted_by_run = |path: &str| !path.trim_matches('/').is_empty();
        let mut look = Vec::new();
        for (&pid, &why) in &ran.pids {
            // Named only for its periodic `stat` (its RSS): it did not run,
            // join or leave.
            if why == flags::DUE {
                continue;
            }
            // New (a fork, a new thread, a reused pid) or moved: its group
            // may not be the one it was listed in, and lists change.
            let renamed = why & (flags::MOVED | flags::NEW) != 0;
            let leaving = leaving.contains(&pid);
            if let Some(&i) = members.get(&pid) {
                let path = &paths[i as usize];
                add(&mut self.set, path);
                if renamed || leaving || (relisted_by_run(path) && !kthread(pid)) {
                    self.relist.insert(Box::from(path.trim_matches('/')));
                }
            }
            match self.looked.get(&pid) {
                Some(l) if !renamed => {
                    for p in l.iter() {
                        add(&mut self.set, p);
                        if leaving || relisted_by_run(p) {
                            self.relist.insert(p.clone());
                        }
                    }
                }
                // Placed by a list and not new or moved: that list's group.
                _ if !renamed && members.contains_key(&pid) => {}
                _ => look.push(pid),
            }
        }
        if look.len() > LOOKUPS_MAX {
            return false;
        }
        // Exiting without running since the last pass (its last thread's
        // exit was in the pass before): its groups' lists, again.
        for pid in leaving.iter().filter(|p| !ran.pids.contains_key(p)) {
            if let Some(&i) = members.get(pid) {
                let path = &paths[i as usize];
                read_and_relist(&mut self.set, &mut self.relist, path);
            }
            for p in self.looked.get(pid).into_iter().flat_map(|l| l.iter()) {
                read_and_relist(&mut self.set, &mut self.relist, p);
            }
        }
        for pid in look {
            self.lookups += 1;
            let path = self.proc_root.join(pid.to_string()).join("cgroup");
            let Ok(text) = std::fs::read_to_string(&path) else {
                // Gone already: its exit comes with a pass, which then
                // names its group (it was placed before) or reads all.
                self.looked.remove(&pid);
                continue;
            };
            let groups: Box<[Box<str>]> = groups_of(&text).collect();
            for p in groups.iter() {
                read_and_relist(&mut self.set, &mut self.relist, p);
            }
            self.looked.insert(pid, groups);
        }
        // Exits after the look-ups: a process born and gone between two
        // passes may have a parent that is new too (placed just above).
        for &(pid, _) in &ran.exits {
            let looked = self.looked.remove(&pid);
            // Born and gone between two passes (never placed): its parent's
            // groups, when the kernel saw it had them — or, when the parent
            // went unseen too (a shell's subshell running a command), the
            // first placed ancestor's along such exits.
            let is_placed = |p: &i32| members.contains_key(p) || self.looked.contains_key(p);
            let placed = std::iter::successors(Some(pid), |p| ran.exit_parents.get(p).copied())
                .take(16)
                .find(is_placed);
            if let Some(&i) = placed.and_then(|p| members.get(&p)) {
                let path = &paths[i as usize];
                read_and_relist(&mut self.set, &mut self.relist, path);
            }
            for l in [looked.as_ref(), placed.and_then(|p| self.looked.get(&p))]
                .into_iter()
                .flatten()
            {
                for p in l.iter() {
                    read_and_relist(&mut self.set, &mut self.relist, p);
                }
            }
            if placed.is_none() && looked.is_none() {
                // Unknown, and so is (or isn't shared) its parent's group.
                return false;
            }
        }
        true
    }

    /// Whether `path` (internal form) must be read this tick (after
    /// `compute` returned true).
    pub fn contains(&self, path: &str) -> bool {
        self.set.contains(path.trim_matches('/'))
    }

    /// Whether `path`'s process list must be re-read this tick: a process
    /// joined or left it (after `compute` returned true).
    pub fn relists(&self, path: &str) -> bool {
        self.relist.contains(path.trim_matches('/'))
    }
}

/// Every distinct group path of a `/proc/PID/cgroup` text, internal form.
fn groups_of(text: &str) -> impl Iterator<Item = Box<str>> + '_ {
    let mut seen: Vec<&str> = Vec::new();
    for line in text.lines() {
        let Some(path) = line.splitn(3, ':').nth(2) else {
            continue;
        };
        let p = path.trim_matches('/');
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    seen.into_iter().map(Box::from)
}

/// A group a process joined or left: read it (and its ancestors), and
/// re-read its process list.
fn read_and_relist(set: &mut HashSet<Box<str>>, relist: &mut HashSet<Box<str>>, path: &str) {
    add(set, path);
    relist.insert(Box::from(path.trim_matches('/')));
}

/// `path` and its ancestors (a group's counters include its descendants').
fn add(set: &mut HashSet<Box<str>>, path: &str) {
    let mut p = path.trim_matches('/');
    loop {
        if set.contains(p) {
            // Its ancestors went in with it.
            return;
        }
        set.insert(Box::from(p));
        match p.rfind('/') {
            Some(i) => p = &p[..i],
            None if !p.is_empty() => p = "",
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(pids: &[(i32, u32)], exits: &[i32]) -> Ran {
        Ran {
            pids: pids.iter().copied().collect(),
            exits: exits.iter().map(|&p| (p, 0)).collect(),
            ..Default::default()
        }
    }

    fn paths() -> Vec<Arc<str>> {
        ["/", "/a", "/a/b", "/c"]
            .iter()
            .map(|&p| Arc::from(p))
            .collect()
    }

    fn members(m: &[(i32, u32)]) -> PidMap<u32> {
        m.iter().copied().collect()
    }

    fn fake_proc(entries: &[(i32, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (pid, text) in entries {
            let p = d.path().join(pid.to_string());
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("cgroup"), text).unwrap();
        }
        d
    }

    #[test]
    fn a_group_is_read_when_something_in_it_or_below_ran() {
        let mut a = Active::new("/nonexistent".into());
        let m = members(&[(1, 0), (10, 2), (20, 3)]);
        assert!(a.compute(&ran(&[(10, flags::RAN)], &[]), &m, &paths(), &|_| false));
        assert!(a.contains("a/b") && a.contains("a") && a.contains(""));
        assert!(!a.contains("c"), "nothing in /c ran");
        assert_eq!(a.lookups, 0);
        assert!(
            a.relists("a/b"),
            "it ran there (and may have forked or exited)"
        );
        assert!(
            !a.relists("a") && !a.relists(""),
            "ancestors: counters only"
        );
        // An exit of a placed process counts as its group moving.
        assert!(a.compute(&ran(&[], &[20]), &m, &paths(), &|_| false));
        assert!(a.contains("c") && !a.contains("a"));
        assert!(a.relists("c") && !a.relists(""), "20 left /c");
        // Named only for its periodic `stat` (its RSS): nothing ran there.
        assert!(a.compute(&ran(&[(10, flags::DUE)], &[]), &m, &paths(), &|_| false));
        assert!(
            !a.contains("a/b") && !a.relists("a/b"),
            "a DUE record is no run"
        );
        // The same process with a thread that ran: its group, as above.
        assert!(a.compute(
            &ran(&[(10, flags::DUE | flags::RAN)], &[]),
            &m,
            &paths(),
            &|_| false
        ));
        assert!(a.contains("a/b") && a.relists("a/b"));
    }

    /// The root's list (every process in no group) is re-read only when a
    /// process is born, moves or exits there, not whenever one ran.
    #[test]
    fn the_roots_list_is_reread_only_on_a_birth_move_or_exit() {
        let proc = fake_proc(&[(30, "5:cpu,cpuacct:/c\n0::/\n")]);
        let mut a = Active::new(proc.path().into());
        let m = members(&[(5, 0), (10, 2)]);
        let p = paths();
        assert!(a.compute(&ran(&[(5, flags::RAN)], &[]), &m, &p, &|_| false));
        assert!(a.contains("") && !a.relists(""), "5 ran in /");
        assert!(a.compute(&ran(&[(5, flags::NEW)], &[]), &m, &p, &|_| false));
        assert!(a.relists(""), "a new process (or thread) in /");
        let mut exiting = ran(&[(5, flags::RAN)], &[]);
        exiting.orphaned.push(5);
        assert!(a.compute(&exiting, &m, &p, &|_| false));
        assert!(a.relists(""), "5 is leaving /");
        // The pass after, named again without running.
        let mut again = ran(&[], &[]);
        again.orphaned.push(5);
        assert!(a.compute(&again, &m, &p, &|_| false));
        assert!(a.relists(""), "5 is leaving / (the record came early)");
        assert!(a.compute(&ran(&[(5, flags::RAN)], &[5]), &m, &p, &|_| false));
        assert!(a.relists(""), "5 was freed");
        // v1 beside a cgroup2 mount: a process looked up is also in the
        // unified root. Running relists its own group, not the root.
        assert!(a.compute(&ran(&[(30, flags::NEW)], &[]), &m, &p, &|_| false));
        assert!(a.relists("c") && a.relists(""));
        assert!(a.compute(&ran(&[(30, flags::RAN)], &[]), &m, &p, &|_| false));
        assert!(a.relists("c") && !a.relists(""), "30 ran in /c");
        // Other groups: a run relists (a zombie keeps its last placement).
        assert!(a.compute(&ran(&[(10, flags::RAN)], &[]), &m, &p, &|_| false));
        assert!(a.relists("a/b"));
    }

    #[test]
    fn the_pass_cannot_vouch_without_a_last_tick_lost_exits_or_an_unseen_exit() {
        let mut a = Active::new("/nonexistent".into());
        let m = members(&[(10, 2)]);
        assert!(!a.compute(&ran(&[(10, flags::RAN)], &[]), &m, &[], &|_| false));
        let mut lost = ran(&[], &[]);
        lost.lost_exits = true;
        assert!(!a.compute(&lost, &m, &paths(), &|_| false));
        // pid 99 was never placed: born and gone between two passes.
        assert!(!a.compute(&ran(&[], &[99]), &m, &paths(), &|_| false));
    }

    #[test]
    fn an_unseen_exit_is_placed_by_its_parent_when_it_had_its_parents_groups() {
        let mut a = Active::new("/nonexistent".into());
        let m = members(&[(10, 2)]);
        let mut r = ran(&[], &[99]);
        r.exit_parents.insert(99, 10);
        assert!(a.compute(&r, &m, &paths(), &|_| false));
        assert!(a.contains("a/b") && !a.contains("c"));
        // Its parent went unseen too, with the same groups: the first
        // placed ancestor's.
        r.exit_parents.insert(99, 98);
        r.exit_parents.insert(98, 10);
        r.exits.push((98, 0));
        assert!(a.compute(&r, &m, &paths(), &|_| false));
        assert!(a.contains("a/b") && !a.contains("c"));
        // Its parent unknown, and not an exit with a parent: every group.
        r.exit_parents.insert(99, 11);
        r.exits.pop();
        assert!(!a.compute(&r, &m, &paths(), &|_| false));
    }

    #[test]
    fn unplaced_and_moved_processes_are_placed_by_their_own_cgroup_file() {
        // v1: a process in different groups per hierarchy; both are read.
        let proc = fake_proc(&[
            (30, "5:cpu,cpuacct:/c\n4:memory:/a/b\n0::/\n"),
            (10, "5:cpu,cpuacct:/c\n"),
        ]);
        let mut a = Active::new(proc.path().into());
        let m = members(&[(10, 1)]);
        assert!(a.compute(
            &ran(&[(30, flags::NEW | flags::RAN)], &[]),
            &m,
            &paths(),
            &|_| false
        ));
        assert!(a.contains("c") && a.contains("a/b"));
        assert_eq!(a.lookups, 1);
        assert!(a.relists("c") && a.relists("a/b") && !a.relists("a"));
        // Remembered: no look-up next time it runs, and its exit is placed.
        assert!(a.compute(&ran(&[(30, flags::RAN)], &[]), &m, &paths(), &|_| false));
        assert_eq!(a.lookups, 0);
        assert!(a.contains("a/b"));
        assert!(a.compute(&ran(&[], &[30]), &m, &paths(), &|_| false));
        assert!(a.contains("c"));
        // Moved: its old group (the list's) and its new one (its file).
        assert!(a.compute(&ran(&[(10, flags::MOVED)], &[]), &m, &paths(), &|_| false));
        assert!(a.contains("a") && a.contains("c") && !a.contains("a/b"));
        assert_eq!(a.lookups, 1);
        assert!(a.relists("a") && a.relists("c"), "left /a, joined /c");
        // A new thread (or a reused pid) of a listed process: looked up.
        assert!(a.compute(&ran(&[(10, flags::NEW)], &[]), &m, &paths(), &|_| false));
        assert_eq!(a.lookups, 1);
        assert!(a.relists("a") && a.relists("c"));
    }

    #[test]
    fn a_burst_of_unplaced_processes_reads_every_group() {
        let mut a = Active::new("/nonexistent".into());
        let many: Vec<(i32, u32)> = (1000..1000 + LOOKUPS_MAX as i32 + 1)
            .map(|p| (p, flags::NEW))
            .collect();
        assert!(!a.compute(&ran(&many, &[]), &members(&[]), &paths(), &|_| false));
        assert_eq!(
            a.lookups, 0,
            "no look-up is made when they would be too many"
        );
    }
}
