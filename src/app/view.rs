//! Per-panel view state: rows, selection (kept by identity across
//! snapshots: a group path, a PID), sort, filter, collapsed groups.

use std::collections::HashSet;

use super::groups::{self, parent_path, GroupRow, GroupSort};
use super::procs::{self, ProcQuery, ProcRow, ProcSort};
use crate::model::{GroupSnapshot, ProcessSnapshot, Snapshot};

#[derive(Debug, Default)]
pub struct GroupsView {
    pub rows: Vec<GroupRow>,
    pub selected: usize,
    pub selected_path: String,
    /// A group to select as soon as it shows up (demo, launch).
    want: Option<String>,
    pub sort: GroupSort,
    pub descending: bool,
    pub filter: String,
    collapsed: HashSet<String>,
}

impl GroupsView {
    pub fn want(&mut self, path: &str) {
        let mut p = parent_path(path);
        while let Some(a) = p {
            self.collapsed.remove(a);
            p = parent_path(a);
        }
        self.want = Some(path.to_string());
    }

    pub fn rebuild(&mut self, snap: &Snapshot) {
        groups::build_rows(
            snap,
            &self.collapsed,
            self.sort,
            self.descending,
            &self.filter,
            &mut self.rows,
        );
        let find = |path: &str| {
            self.rows
                .iter()
                .position(|r| snap.groups[r.index].path == path)
        };
        if let Some(i) = self.want.as_deref().and_then(find) {
            self.want = None;
            self.selected = i;
        } else if let Some(i) = find(&self.selected_path) {
            self.selected = i;
        } else {
            self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        }
        self.sync_path(snap);
    }

    fn sync_path(&mut self, snap: &Snapshot) {
        if let Some(r) = self.rows.get(self.selected) {
            let path = &snap.groups[r.index].path;
            if *path != self.selected_path {
                self.selected_path.clone_from(path);
            }
        }
    }

    pub fn selected_group<'a>(&self, snap: &'a Snapshot) -> Option<&'a GroupSnapshot> {
        self.rows
            .get(self.selected)
            .and_then(|r| snap.groups.get(r.index))
    }

    pub fn move_by(&mut self, snap: &Snapshot, delta: i32) {
        let last = self.rows.len().saturating_sub(1) as i64;
        self.selected = (self.selected as i64 + delta as i64).clamp(0, last) as usize;
        self.want = None;
        self.sync_path(snap);
    }

    pub fn select(&mut self, snap: &Snapshot, row: usize) {
        if row < self.rows.len() {
            self.selected = row;
            self.want = None;
            self.sync_path(snap);
        }
    }

    /// Right: expand. Left: collapse, or go to the parent when there is nothing to collapse.
    pub fn set_expanded(&mut self, snap: &Snapshot, expand: bool) {
        let Some(row) = self.rows.get(self.selected).copied() else {
            return;
        };
        let path = snap.groups[row.index].path.clone();
        if expand {
            self.collapsed.remove(&path);
        } else if row.has_children && row.expanded {
            self.collapsed.insert(path);
        } else if let Some(parent) = parent_path(&path) {
            self.selected_path = parent.to_string();
        }
        self.rebuild(snap);
    }

    pub fn toggle_expanded(&mut self, snap: &Snapshot) {
        if let Some(row) = self.rows.get(self.selected).copied() {
            if row.has_children {
                self.set_expanded(snap, !row.expanded);
            }
        }
    }

    pub fn sort(&mut self, snap: &Snapshot, next: bool) {
        if next {
            self.sort = self.sort.next();
            self.descending = self.sort.default_descending();
        } else {
            self.descending = !self.descending;
        }
        self.rebuild(snap);
    }
}

#[derive(Debug)]
pub struct ProcsView {
    pub rows: Vec<ProcRow>,
    pub selected: usize,
    pub selected_pid: Option<i32>,
    /// The user picked the selected row (a move, a click): from then on
    /// the selection follows that process as new samples re-sort the
    /// rows. Until then a sample leaves it on its row (the top one at
    /// start): the dashboard's first frame has rates
    /// (`event_loop::first_with_rates`), and following its busiest
    /// process, often one about to go quiet, scrolled the list away from
    /// the top by itself. A change of the view (sort, filter, tree)
    /// follows the selected process either way.
    pub chosen: bool,
    pub sort: ProcSort,
    pub descending: bool,
    pub filter: String,
    pub tree: bool,
    /// All processes instead of the selected group's.
    pub all: bool,
    /// The group the list is scoped to (`None`: all).
    pub scope: Option<String>,
    /// In tree view, each row's branch glyphs (`│ ├─ `), else empty.
    pub branches: Vec<String>,
}

impl Default for ProcsView {
    fn default() -> Self {
        ProcsView {
            rows: Vec::new(),
            selected: 0,
            selected_pid: None,
            chosen: false,
            sort: ProcSort::Cpu,
            descending: true,
            filter: String::new(),
            tree: false,
            all: false,
            scope: None,
            branches: Vec::new(),
        }
    }
}

impl ProcsView {
    /// Rebuilds the rows after the user changed the view (sort, filter,
    /// tree, scope): the selection follows its process.
    pub fn rebuild(&mut self, snap: &Snapshot, groups: &GroupsView) {
        self.rebuild_following(snap, groups, true);
    }

    /// Rebuilds the rows for a new sample: the selection follows its
    /// process only if the user picked it ([`ProcsView::chosen`]), else
    /// it keeps its row.
    pub fn rebuild_for_sample(&mut self, snap: &Snapshot, groups: &GroupsView) {
        self.rebuild_following(snap, groups, self.chosen);
    }

    fn rebuild_following(&mut self, snap: &Snapshot, groups: &GroupsView, follow: bool) {
        let scope = match groups.selected_group(snap) {
            Some(g) if !self.all && g.path != "/" => Some(g.path.as_str()),
            _ => None,
        };
        if self.scope.as_deref() != scope {
            self.scope = scope.map(str::to_string);
        }
        let q = ProcQuery {
            scope,
            filter: &self.filter,
            sort: self.sort,
            descending: self.descending,
            tree: self.tree,
        };
        procs::build_rows(snap, &q, &mut self.rows);
        self.branches = if self.tree {
            tree_branches(self.rows.iter().map(|r| r.depth))
        } else {
            Vec::new()
        };
        let found = self.selected_pid.filter(|_| follow).and_then(|pid| {
            self.rows
                .iter()
                .position(|r| snap.processes[r.index()].pid == pid)
        });
        match found {
            Some(i) => self.selected = i,
            None => {
                self.selected = self.selected.min(self.rows.len().saturating_sub(1));
                self.sync_pid(snap);
            }
        }
    }

    fn sync_pid(&mut self, snap: &Snapshot) {
        self.selected_pid = self
            .rows
            .get(self.selected)
            .map(|r| snap.processes[r.index()].pid);
    }

    pub fn selected_process<'a>(&self, snap: &'a Snapshot) -> Option<&'a ProcessSnapshot> {
        self.rows
            .get(self.selected)
            .and_then(|r| snap.processes.get(r.index()))
    }

    pub fn move_by(&mut self, snap: &Snapshot, delta: i32) {
        let last = self.rows.len().saturating_sub(1) as i64;
        self.selected = (self.selected as i64 + delta as i64).clamp(0, last) as usize;
        self.chosen = true;
        self.sync_pid(snap);
    }

    pub fn select(&mut self, snap: &Snapshot, row: usize) {
        if row < self.rows.len() {
            self.selected = row;
            self.chosen = true;
            self.sync_pid(snap);
        }
    }

    pub fn sort(&mut self, snap: &Snapshot, groups: &GroupsView, next: bool) {
        if next {
            self.sort = self.sort.next();
            self.descending = self.sort.default_descending();
        } else {
            self.descending = !self.descending;
        }
        self.rebuild(snap, groups);
    }
}

/// Deepest tree level drawn with its own glyphs (deeper rows stay at it).
const MAX_DEPTH: usize = 16;

/// The branch glyphs of tree rows given in depth-first order by their depth
/// (0: a root): `├─ ` for a child with siblings after it, `└─ ` for the
/// last, and `│  ` in the columns of ancestors that have siblings still to
/// come. One pass from the end: `more[d]` says whether a later row at depth
/// `d` hangs from the same parent (no shallower row in between).
pub fn tree_branches(
    depths: impl DoubleEndedIterator<Item = u16> + ExactSizeIterator,
) -> Vec<String> {
    let mut out = vec![String::new(); depths.len()];
    let mut more = [false; MAX_DEPTH + 1];
    for (i, d) in depths.enumerate().rev() {
        let d = (d as usize).min(MAX_DEPTH);
        let s = &mut out[i];
        for &m in &more[1..d.max(1)] {
            s.push_str(if m { "│  " } else { "   " });
        }
        if d > 0 {
            s.push_str(if more[d] { "├─ " } else { "└─ " });
        }
        more[d] = true;
        more[d + 1..].fill(false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(depths: &[u16], names: &[&str]) -> String {
        tree_branches(depths.iter().copied())
            .iter()
            .zip(names)
            .map(|(b, n)| format!("{b}{n}\n"))
            .collect()
    }

    #[test]
    fn hu_tree_glyphs() {
        let got = draw(
            &[0, 1, 2, 2, 1, 2, 0, 1],
            &[
                "init",
                "sshd",
                "sshd: alice",
                "sshd: bob",
                "bash",
                "vim",
                "kthreadd",
                "kworker",
            ],
        );
        let want = "\
init
├─ sshd
│  ├─ sshd: alice
│  └─ sshd: bob
└─ bash
   └─ vim
kthreadd
└─ kworker
";
        assert_eq!(got, want, "\n{got}");
    }

    #[test]
    fn hu_tree_glyphs_deep_and_single() {
        assert_eq!(draw(&[0], &["a"]), "a\n");
        let got = draw(&[0, 1, 2, 3, 1], &["a", "b", "c", "d", "e"]);
        assert_eq!(got, "a\n├─ b\n│  └─ c\n│     └─ d\n└─ e\n", "\n{got}");
        // Past the deepest level drawn, rows stay at it (no panic, no growth).
        let deep: Vec<u16> = (0..40).collect();
        let b = tree_branches(deep.iter().copied());
        assert_eq!(b[39].chars().count(), b[16].chars().count());
    }

    fn snap(cpus: &[(i32, i32, f64)]) -> Snapshot {
        Snapshot {
            processes: cpus
                .iter()
                .map(|&(pid, ppid, cpu)| ProcessSnapshot {
                    pid,
                    ppid,
                    cpu_percent: Some(cpu),
                    command: format!("p{pid}").into(),
                    cgroup: "a".into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn order(v: &mut ProcsView, s: &Snapshot) -> Vec<(i32, String)> {
        v.rebuild(s, &GroupsView::default());
        v.rows
            .iter()
            .zip(&v.branches)
            .map(|(r, b)| (s.processes[r.index()].pid, b.clone()))
            .collect()
    }

    /// Roots and siblings whose CPU % differs by less than what is shown
    /// (0.0 both) keep their order from one refresh to the next, by PID.
    #[test]
    fn hu_tree_order_is_stable() {
        let mut v = ProcsView {
            tree: true,
            all: true,
            ..Default::default()
        };
        let t1 = snap(&[
            (30, 0, 0.01),
            (10, 0, 0.04),
            (20, 0, 0.0),
            (11, 10, 0.02),
            (12, 10, 0.03),
            (40, 0, 5.0),
        ]);
        let t2 = snap(&[
            (30, 0, 0.04),
            (10, 0, 0.0),
            (20, 0, 0.03),
            (11, 10, 0.04),
            (12, 10, 0.01),
            (40, 0, 5.0),
        ]);
        let a = order(&mut v, &t1);
        let b = order(&mut v, &t2);
        assert_eq!(a, b);
        let pids: Vec<i32> = a.iter().map(|p| p.0).collect();
        assert_eq!(pids, [40, 10, 11, 12, 20, 30]);
        let glyphs: Vec<&str> = a.iter().map(|p| p.1.as_str()).collect();
        assert_eq!(glyphs, ["", "", "├─ ", "└─ ", "", ""]);
        // Ascending too: ties by PID, lowest first.
        v.descending = false;
        let pids: Vec<i32> = order(&mut v, &t2).iter().map(|p| p.0).collect();
        assert_eq!(pids, [10, 11, 12, 20, 30, 40]);
    }
}
