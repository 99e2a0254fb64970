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
    /// The row's place in the order as one integer, for the sorts one
    /// number decides (see [`packed_key`]); 0 for the others.
    key: u64,
    /// Index into `Snapshot::processes` (32 bits: with the key the row
    /// stays 16 bytes, as it was without it).
    at: u32,
    /// Tree depth (0 when not in tree view).
    pub depth: u16,
}

impl ProcRow {
    /// Index into `Snapshot::processes`.
    pub fn index(&self) -> usize {
        self.at as usize
    }
}

/// Percentages compared at the precision shown (0.1): rows that look equal
/// are equal here, so the PID decides and they keep their places from one
/// refresh to the next instead of swapping on noise nobody can see.
fn cmp_f(a: Option<f64>, b: Option<f64>) -> Ordering {
    shown(a).cmp(&shown(b))
}

/// A percentage at the precision shown, in tenths.
fn shown(v: Option<f64>) -> Option<i64> {
    v.map(|v| (v * 10.0).round() as i64)
}

/// The order of `p` under `sort` as one integer, for the sorts one number
/// decides: the value shown (as [`cmp_f`] compares it) in the high 32 bits,
/// flipped when descending, the PID (ties: lowest first either way) in the
/// low 32. `None` when the sort is another one, or the value does not fit
/// (then every row goes by [`compare`]). Why: at 10,000 processes the
/// comparator sort of the default order (CPU%) was ~4 % of the dashboard's
/// CPU, each comparison reading two rows of a 2 MB snapshot far apart; the
/// keys are read in one pass and sorted as integers (issue 18).
fn packed_key(p: &ProcessSnapshot, sort: ProcSort, descending: bool) -> Option<u64> {
    const HALF: i64 = 1 << 30;
    let rank: u32 = match sort {
        // None sorts below every reading, as `Option`'s order has it.
        ProcSort::Cpu | ProcSort::Mem => {
            let v = if sort == ProcSort::Cpu {
                p.cpu_percent
            } else {
                p.mem_percent
            };
            match shown(v) {
                None => 0,
                Some(s) if (-HALF..HALF).contains(&s) => (s + HALF + 1) as u32,
                Some(_) => return None,
            }
        }
        ProcSort::Pid => 0,
        _ => return None,
    };
    let pid = u32::try_from(p.pid).ok()?;
    Some(match (sort, descending) {
        (ProcSort::Pid, false) => u64::from(pid),
        (ProcSort::Pid, true) => u64::from(u32::MAX - pid),
        (_, false) => u64::from(rank) << 32 | u64::from(pid),
        (_, true) => u64::from(u32::MAX - rank) << 32 | u64::from(pid),
    })
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
    let mut keyed = true;
    out.extend(selected.map(|(index, p)| {
        let key = packed_key(p, q.sort, q.descending);
        keyed &= key.is_some();
        ProcRow {
            key: key.unwrap_or(0),
            at: index as u32,
            depth: 0,
        }
    }));
    if keyed {
        out.sort_by_key(|r| r.key);
    } else {
        let order = |a: &ProcRow, b: &ProcRow| {
            let (a, b) = (&procs[a.index()], &procs[b.index()]);
            let o = compare(a, b, q.sort);
            // Ties: lowest PID first in either direction (a stable order).
            if q.descending { o.reverse() } else { o }.then_with(|| a.pid.cmp(&b.pid))
        };
        out.sort_by(order);
    }
    if !q.tree {
        return;
    }
    // Tree: children under their parent (when the parent is shown), siblings
    // in sort order; the roots are the rest, in sort order.
    let by_pid: HashMap<i32, usize> = out
        .iter()
        .enumerate()
        .map(|(pos, r)| (procs[r.index()].pid, pos))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); out.len()];
    let mut roots = Vec::new();
    for (pos, r) in out.iter().enumerate() {
        let p = &procs[r.index()];
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
            depth,
            ..sorted[pos]
        });
        for &c in children[pos].iter().rev() {
            stack.push((c, depth + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows with every case the keys must order as the comparator does:
    /// unread values (None), ties at the precision shown (12.34 and 12.31
    /// both show 12.3), zero, large values, and PIDs out of order.
    fn snapshot() -> Snapshot {
        let values = [
            None,
            Some(0.0),
            Some(12.34),
            Some(12.31),
            Some(0.04),
            Some(0.05),
            Some(99.96),
            Some(1600.0),
            None,
            Some(0.0),
            Some(12.36),
        ];
        let processes = values
            .iter()
            .enumerate()
            .map(|(i, &v)| ProcessSnapshot {
                pid: [907, 3, 41, 4_000_000, 12, 5, 77, 1, 600, 2, 40][i],
                cpu_percent: v,
                mem_percent: values[(i + 3) % values.len()],
                ..Default::default()
            })
            .collect();
        Snapshot {
            processes,
            ..Default::default()
        }
    }

    /// The PIDs in the order `build_rows` gives them.
    fn pids_in_order(snap: &Snapshot, sort: ProcSort, descending: bool) -> Vec<i32> {
        let q = ProcQuery {
            scope: None,
            filter: "",
            sort,
            descending,
            tree: false,
        };
        let mut rows = Vec::new();
        build_rows(snap, &q, &mut rows);
        rows.iter().map(|r| snap.processes[r.index()].pid).collect()
    }

    #[test]
    fn keyed_sorts_give_the_comparators_order() {
        let snap = snapshot();
        for sort in [ProcSort::Cpu, ProcSort::Mem, ProcSort::Pid] {
            for descending in [false, true] {
                let got = pids_in_order(&snap, sort, descending);
                let mut want: Vec<&ProcessSnapshot> = snap.processes.iter().collect();
                want.sort_by(|a, b| {
                    let o = compare(a, b, sort);
                    if descending { o.reverse() } else { o }.then_with(|| a.pid.cmp(&b.pid))
                });
                let want: Vec<i32> = want.iter().map(|p| p.pid).collect();
                assert_eq!(got, want, "{sort:?}, descending {descending}");
            }
        }
    }

    #[test]
    fn cpu_order_descending_puts_unread_last_and_ties_by_pid() {
        let snap = snapshot();
        let got = pids_in_order(&snap, ProcSort::Cpu, true);
        // 1600.0, 99.96, 12.36 (12.4), 12.31 and 12.34 (both 12.3: by PID),
        // 0.05 (0.1), 0.04 / 0.0 / 0.0 (0.0: by PID), then the unread.
        assert_eq!(got, [1, 77, 40, 41, 4_000_000, 5, 2, 3, 12, 600, 907]);
    }

    #[test]
    fn values_too_large_to_pack_fall_back_to_the_comparator() {
        let mut snap = snapshot();
        // Shown as 3,221,225,472 tenths: packed unchecked it would wrap to
        // the bottom (rank 1, above the unread only).
        snap.processes[0].cpu_percent = Some(322_122_547.2);
        let got = pids_in_order(&snap, ProcSort::Cpu, true);
        assert_eq!(got[..2], [907, 1]);
        assert_eq!(std::mem::size_of::<ProcRow>(), 16);
    }
}
