//! The process panel's rows: scoped to the selected group (or all), filtered,
//! sorted by any column, optionally as a tree (by parent PID). Rebuilt when a
//! snapshot arrives or the view changes, never while drawing.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::groups::is_within;
use crate::model::{ProcessSnapshot, Snapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProcSort {
    Pid,
    User,
    State,
    #[default]
    Cpu,
    Mem,
    Rss,
    Time,
    /// Storage bytes read / written per second (`/proc/PID/io`).
    IoRead,
    IoWrite,
    Cgroup,
    Command,
}

impl ProcSort {
    pub const ALL: [ProcSort; 11] = [
        ProcSort::Pid,
        ProcSort::User,
        ProcSort::State,
        ProcSort::Cpu,
        ProcSort::Mem,
        ProcSort::Rss,
        ProcSort::Time,
        ProcSort::IoRead,
        ProcSort::IoWrite,
        ProcSort::Cgroup,
        ProcSort::Command,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ProcSort::Pid => "PID",
            ProcSort::User => "USER",
            ProcSort::State => "S",
            ProcSort::Cpu => "CPU%",
            ProcSort::Mem => "MEM%",
            ProcSort::Rss => "RSS",
            ProcSort::Time => "TIME+",
            ProcSort::IoRead => "IO R/s",
            ProcSort::IoWrite => "IO W/s",
            ProcSort::Cgroup => "CGROUP",
            ProcSort::Command => "COMMAND",
        }
    }

    pub fn next(self) -> ProcSort {
        let i = ProcSort::ALL.iter().position(|s| *s == self).unwrap_or(0);
        ProcSort::ALL[(i + 1) % ProcSort::ALL.len()]
    }

    pub fn default_descending(self) -> bool {
        matches!(
            self,
            ProcSort::Cpu
                | ProcSort::Mem
                | ProcSort::Rss
                | ProcSort::Time
                | ProcSort::IoRead
                | ProcSort::IoWrite
        )
    }

    /// Whether sorting by it needs `/proc/PID/io` read.
    pub fn needs_io(self) -> bool {
        matches!(self, ProcSort::IoRead | ProcSort::IoWrite)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcRow {
    /// Index into `Snapshot::processes`.
    pub index: usize,
    /// Tree depth (0 when not in tree view).
    pub depth: u16,
}

/// Percentages compared at the precision shown (0.1): rows that look equal
/// are equal here, so the PID decides and they keep their places from one
/// refresh to the next instead of swapping on noise nobody can see.
fn cmp_f(a: Option<f64>, b: Option<f64>) -> Ordering {
    let shown = |v: Option<f64>| v.map(|v| (v * 10.0).round() as i64);
    shown(a).cmp(&shown(b))
}

fn compare(a: &ProcessSnapshot, b: &ProcessSnapshot, sort: ProcSort) -> Ordering {
    match sort {
        ProcSort::Pid => a.pid.cmp(&b.pid),
        ProcSort::User => a.user.cmp(&b.user),
        ProcSort::State => a.state.cmp(&b.state),
        ProcSort::Cpu => cmp_f(a.cpu_percent, b.cpu_percent),
        ProcSort::Mem => cmp_f(a.mem_percent, b.mem_percent),
        ProcSort::Rss => a.rss_bytes.cmp(&b.rss_bytes),
        ProcSort::Time => a.cpu_time_ns.cmp(&b.cpu_time_ns),
        // Unreadable (another user's, or not read): below every reading.
        ProcSort::IoRead => cmp_f(
            a.io.and_then(|i| i.read_bytes_per_s),
            b.io.and_then(|i| i.read_bytes_per_s),
        ),
        ProcSort::IoWrite => cmp_f(
            a.io.and_then(|i| i.write_bytes_per_s),
            b.io.and_then(|i| i.write_bytes_per_s),
        ),
        ProcSort::Cgroup => a.cgroup.cmp(&b.cgroup),
        ProcSort::Command => a.command.cmp(&b.command),
    }
}

fn matches(p: &ProcessSnapshot, filter: &str) -> bool {
    filter.is_empty()
        || p.command.to_lowercase().contains(filter)
        || p.user.to_lowercase().contains(filter)
        || p.cgroup.to_lowercase().contains(filter)
        || p.pid.to_string() == filter
}

/// What the process list shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcQuery<'a> {
    /// Only processes in this group or below (`None` or `/`: all).
    pub scope: Option<&'a str>,
    pub filter: &'a str,
    pub sort: ProcSort,
    pub descending: bool,
    pub tree: bool,
}

/// Rebuilds `out` (reused between calls).
pub fn build_rows(snap: &Snapshot, q: &ProcQuery<'_>, out: &mut Vec<ProcRow>) {
    out.clear();
    let filter = q.filter.trim().to_lowercase();
    let procs = &snap.processes;
    let selected = procs
        .iter()
        .enumerate()
        .filter(|(_, p)| q.scope.is_none_or(|s| is_within(&p.cgroup, s)) && matches(p, &filter));
    out.extend(selected.map(|(index, _)| ProcRow { index, depth: 0 }));
    let order = |a: &ProcRow, b: &ProcRow| {
        let (a, b) = (&procs[a.index], &procs[b.index]);
        let o = compare(a, b, q.sort);
        // Ties: lowest PID first in either direction (a stable order).
        if q.descending { o.reverse() } else { o }.then_with(|| a.pid.cmp(&b.pid))
    };
    out.sort_by(order);
    if !q.tree {
        return;
    }
    // Tree: children under their parent (when the parent is shown), siblings
    // in sort order; the roots are the rest, in sort order.
    let by_pid: HashMap<i32, usize> = out
        .iter()
        .enumerate()
        .map(|(pos, r)| (procs[r.index].pid, pos))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); out.len()];
    let mut roots = Vec::new();
    for (pos, r) in out.iter().enumerate() {
        let p = &procs[r.index];
        match by_pid.get(&p.ppid) {
            Some(&parent) if p.ppid != p.pid => children[parent].push(pos),
            _ => roots.push(pos),
        }
    }
    let sorted: Vec<ProcRow> = std::mem::take(out);
    let mut stack: Vec<(usize, u16)> = roots.iter().rev().map(|&r| (r, 0)).collect();
    let mut seen = vec![false; sorted.len()];
    while let Some((pos, depth)) = stack.pop() {
        if std::mem::replace(&mut seen[pos], true) {
            continue;
        }
        out.push(ProcRow {
            index: sorted[pos].index,
            depth,
        });
        for &c in children[pos].iter().rev() {
            stack.push((c, depth + 1));
        }
    }
}
