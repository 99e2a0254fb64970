//! Which processes need no read at all this tick (issue 18, the `/proc`
//! path made cheaper): those in a group whose CPU counter did not move.
//!
//! A group's CPU counter (v1 `cpuacct.usage`, v2 `cpu.stat` `usage_usec`)
//! counts the run time of every task in the group and below it, exactly. If
//! it did not move between two reads, no task in the group ran in between —
//! and a process that did not run has the same CPU time, state, threads and
//! command as before (exec, exit, a new thread, a signal's delivery all run
//! the task). So the scanner may hand out its cached row without reading
//! `/proc/PID/schedstat` or `stat` (see `ProcessScanner::scan_each_quiet`).
//!
//! A process is skipped only when it was listed in the *same* quiet group
//! (same path, same directory inode) at this tick and the one before: a
//! process moved in from another group may have run there in between.
//! Membership comes from the `cgroup.procs` of the hierarchy the counter is
//! read from: on hosts where `cpu` and `cpuacct` are mounted apart (v1,
//! this project's machines) that is not the hierarchy that places processes
//! in the dashboard, so its files are read here, kept open within a budget
//! of their own (1/16 of `RLIMIT_NOFILE`; the scanner's half and the group
//! reader's quarter are unchanged). A group past the budget is opened and
//! read each tick only while it is quiet; its processes are read as before
//! when even that fails.
//!
//! What the scanner still does for a skipped process: it is listed by the
//! `/proc` readdir every tick (new pids appear, exited ones drop out); its
//! `stat` is re-read every `process::FULL_EVERY` ticks anyway (RSS can shrink
//! under reclaim while it sleeps), when its parent is gone (reparenting does
//! not run the child), and when it has more than one thread (on v1 threads
//! of one process can sit in different groups).
//!
//! Exactness: v1 `cpuacct.usage` (and v2 `usage_usec`) is charged on the
//! scheduler tick and at each switch, so a task that started running less
//! than one scheduler tick (1/HZ) before the group's read can be seen a tick
//! later than by a direct read of its `stat` — at most 1/HZ of CPU time, then
//! the counter has moved and the process is read. v2's counter is in µs: a
//! wake-up alone costs more than that.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;

use crate::cgroup::pread_all;
use crate::cgroup::{Hierarchy, Layout, Version};
use crate::fds::FdBudget;
use crate::fnv::PidMap;

/// A group's id that stands for "listed in two quiet groups": never equal.
const AMBIGUOUS: u64 = 0;
/// Forget a kept `cgroup.procs` not used for this many ticks.
const FORGET_AFTER: u64 = 8;

pub(super) struct QuietPids {
    /// The counter's hierarchy when it is not the primary one (v1 with
    /// `cpuacct` mounted apart from `cpu`): its `cgroup.procs` say whom the
    /// counter counts. `None`: the primary's lists, which the group reader
    /// reads anyway, are the right ones.
    counter: Option<Hierarchy>,
    /// No counter hierarchy at all (no cpuacct, no v2): nothing is skipped.
    off: bool,
    /// pid → id of the quiet group it was listed in: last tick, this tick.
    prev: PidMap<u64>,
    cur: PidMap<u64>,
    /// The counter hierarchy's `cgroup.procs` by group path.
    files: HashMap<String, Kept>,
    budget: FdBudget,
    open: usize,
    tick: u64,
    buf: Vec<u8>,
}

struct Kept {
    /// The group's id when the file was opened (a recreated group: reopen).
    id: u64,
    file: Option<File>,
    path: PathBuf,
    used: u64,
}

impl QuietPids {
    pub(super) fn new(layout: &Layout) -> QuietPids {
        let counter = counter_hierarchy(layout);
        let primary = layout.primary();
        QuietPids {
            off: counter.is_none(),
            counter: counter.filter(|h| h.mount != primary.mount).cloned(),
            prev: PidMap::default(),
            cur: PidMap::default(),
            files: HashMap::new(),
            budget: FdBudget::share_of(16),
            open: 0,
            tick: 0,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Starts a tick: this tick's list becomes the last one.
    pub(super) fn begin(&mut self) {
        self.tick += 1;
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.cur.clear();
    }

    /// Whether skipping can work here at all (a counter hierarchy exists).
    pub(super) fn enabled(&self) -> bool {
        !self.off
    }

    /// A group whose counter did not move since the last tick: its
    /// processes are candidates. `procs`: the primary hierarchy's list, as
    /// the group reader read it this tick (`None`: not read).
    pub(super) fn add_group(&mut self, path: &str, id: Option<u64>, procs: Option<&[i32]>) {
        let Some(id) = id.filter(|&id| id != AMBIGUOUS) else {
            return;
        };
        if self.off {
            return;
        }
        if self.counter.is_none() {
            if let Some(pids) = procs {
                for &pid in pids {
                    add(&mut self.cur, pid, id);
                }
            }
            return;
        }
        if !self.read_counter_procs(path, id) {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            add(&mut self.cur, pid, id);
        }
    }

    /// Ends a tick: forgets files of groups not quiet for a while.
    pub(super) fn end(&mut self) {
        let tick = self.tick;
        let mut closed = 0;
        self.files.retain(|_, k| {
            let keep = tick - k.used < FORGET_AFTER;
            if !keep && k.file.is_some() {
                closed += 1;
            }
            keep
        });
        self.open -= closed;
    }

    /// Whether `pid` sat in the same quiet group at this tick and the last:
    /// nothing of it ran in between.
    pub(super) fn skip(&self, pid: i32) -> bool {
        match (self.cur.get(&pid), self.prev.get(&pid)) {
            (Some(&a), Some(&b)) => a == b && a != AMBIGUOUS,
            _ => false,
        }
    }

    /// Reads `cgroup.procs` of `path` in the counter hierarchy into `buf`
    /// (kept open within the budget). False: not readable (group gone, not
    /// in that hierarchy).
    fn read_counter_procs(&mut self, path: &str, id: u64) -> bool {
        let Some(h) = &self.counter else {
            return false;
        };
        let tick = self.tick;
        let k = self.files.entry(path.to_string()).or_insert_with(|| Kept {
            id,
            file: None,
            path: h.dir(path.trim_matches('/')).join("cgroup.procs"),
            used: tick,
        });
        if k.id != id {
            // Recreated under the same path: another directory.
            if k.file.take().is_some() {
                self.open -= 1;
            }
            k.id = id;
        }
        k.used = tick;
        if let Some(f) = &k.file {
            if pread_all(f, &mut self.buf) {
                return true;
            }
            k.file = None;
            self.open -= 1;
            return false;
        }
        let Ok(f) = File::open(&k.path) else {
            return false;
        };
        if !pread_all(&f, &mut self.buf) {
            return false;
        }
        if self.budget.allows(self.open) {
            k.file = Some(f);
            self.open += 1;
        }
        true
    }

    /// Files kept open (tests).
    #[cfg(test)]
    pub(super) fn open_files(&self) -> usize {
        self.open
    }
}

fn add(map: &mut PidMap<u64>, pid: i32, id: u64) {
    map.entry(pid)
        .and_modify(|g| {
            if *g != id {
                *g = AMBIGUOUS;
            }
        })
        .or_insert(id);
}

/// The hierarchy a group's CPU counter is read from (as the cpu
/// controller's declarations read it): v1 `cpuacct`, else the unified one.
pub(super) fn counter_hierarchy(layout: &Layout) -> Option<&Hierarchy> {
    layout
        .hierarchies
        .iter()
        .find(|h| h.version == Version::V1 && h.has("cpuacct"))
        .or_else(|| layout.unified())
}
