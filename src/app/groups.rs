//! The groups panel's rows: the cgroup tree (merged across hierarchies by the
//! sampler), with collapsed groups, a filter and per-column sorting applied.
//! Rebuilt when a snapshot arrives or the view changes, never while drawing.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::model::{GroupSnapshot, Snapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GroupSort {
    #[default]
    Name,
    Cpu,
    CpuLimit,
    Throttled,
    Memory,
    MemoryLimit,
    Pids,
    Oom,
    IoRead,
    IoWrite,
}

impl GroupSort {
    pub const ALL: [GroupSort; 10] = [
        GroupSort::Name,
        GroupSort::Cpu,
        GroupSort::CpuLimit,
        GroupSort::Throttled,
        GroupSort::Memory,
        GroupSort::MemoryLimit,
        GroupSort::Pids,
        GroupSort::Oom,
        GroupSort::IoRead,
        GroupSort::IoWrite,
    ];

    pub fn title(self) -> &'static str {
        match self {
            GroupSort::Name => "GROUP",
            GroupSort::Cpu => "CPU%",
            GroupSort::CpuLimit => "LIMIT",
            GroupSort::Throttled => "THR%",
            GroupSort::Memory => "MEM",
            GroupSort::MemoryLimit => "MEMMAX",
            GroupSort::Pids => "PIDS",
            GroupSort::Oom => "OOM",
            GroupSort::IoRead => "IO R/s",
            GroupSort::IoWrite => "IO W/s",
        }
    }

    pub fn next(self) -> GroupSort {
        let i = GroupSort::ALL.iter().position(|s| *s == self).unwrap_or(0);
        GroupSort::ALL[(i + 1) % GroupSort::ALL.len()]
    }

    /// Numbers sort biggest first by default, names A→Z.
    pub fn default_descending(self) -> bool {
        self != GroupSort::Name
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupRow {
    /// Index into `Snapshot::groups`.
    pub index: usize,
    pub depth: u16,
    pub has_children: bool,
    pub expanded: bool,
}

/// The parent of a display path: `a/b` → `a`, `a` → `/`, `/` → none.
pub fn parent_path(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    Some(path.rsplit_once('/').map(|(p, _)| p).unwrap_or("/"))
}

/// The last component of a display path (`/` for the root).
pub fn leaf_name(path: &str) -> &str {
    path.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("/")
}

/// Whether `path` is `ancestor` or below it.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    let path = path.trim_matches('/');
    let ancestor = ancestor.trim_matches('/');
    ancestor.is_empty()
        || path == ancestor
        || (path.starts_with(ancestor) && path.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

fn cmp_opt<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Ordering {
    // Unknown values go last whatever the direction (handled by the caller).
    match (a, b) {
        (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}

fn compare(a: &GroupSnapshot, b: &GroupSnapshot, sort: GroupSort) -> Ordering {
    match sort {
        GroupSort::Name => leaf_name(&a.path).cmp(leaf_name(&b.path)),
        GroupSort::Cpu => cmp_opt(a.cpu.usage_percent, b.cpu.usage_percent),
        // Unlimited is the biggest limit.
        GroupSort::CpuLimit => cmp_opt(
            Some(a.cpu.limit_percent.unwrap_or(f64::INFINITY)),
            Some(b.cpu.limit_percent.unwrap_or(f64::INFINITY)),
        ),
        GroupSort::Throttled => cmp_opt(a.cpu.throttled_percent, b.cpu.throttled_percent),
        GroupSort::Memory => cmp_opt(a.memory.current_bytes, b.memory.current_bytes),
        GroupSort::MemoryLimit => cmp_opt(
            Some(a.memory.max_bytes.unwrap_or(u64::MAX)),
            Some(b.memory.max_bytes.unwrap_or(u64::MAX)),
        ),
        GroupSort::Pids => cmp_opt(a.pids.current, b.pids.current),
        GroupSort::Oom => cmp_opt(a.memory.oom_kills, b.memory.oom_kills),
        GroupSort::IoRead => cmp_opt(a.io.read_bytes_per_s, b.io.read_bytes_per_s),
        GroupSort::IoWrite => cmp_opt(a.io.write_bytes_per_s, b.io.write_bytes_per_s),
    }
    .then_with(|| a.path.cmp(&b.path))
}

/// Rebuilds `out` (reused, no reallocation in the steady state).
pub fn build_rows(
    snap: &Snapshot,
    collapsed: &HashSet<String>,
    sort: GroupSort,
    descending: bool,
    filter: &str,
    out: &mut Vec<GroupRow>,
) {
    out.clear();
    let groups = &snap.groups;
    let by_path: HashMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.path.as_str(), i))
        .collect();
    // Children lists; a group whose parent is not listed becomes a top-level row.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
    let mut roots: Vec<usize> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        match parent_path(&g.path).and_then(|p| by_path.get(p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    // With a filter: show matches and their ancestors, everything expanded.
    let filter = filter.trim().to_lowercase();
    let visible: Option<Vec<bool>> = if filter.is_empty() {
        None
    } else {
        let mut v = vec![false; groups.len()];
        for g in groups {
            if g.path.to_lowercase().contains(&filter) {
                let mut p: Option<&str> = Some(&g.path);
                while let Some(path) = p {
                    match by_path.get(path) {
                        Some(&j) if !v[j] => v[j] = true,
                        _ => break,
                    }
                    p = parent_path(path);
                }
            }
        }
        Some(v)
    };
    let order = |a: &usize, b: &usize| {
        let o = compare(&groups[*a], &groups[*b], sort);
        if descending {
            o.reverse()
        } else {
            o
        }
    };
    roots.sort_by(order);
    for c in &mut children {
        c.sort_by(order);
    }
    let mut stack: Vec<(usize, u16)> = roots.iter().rev().map(|&r| (r, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        if let Some(v) = &visible {
            if !v[i] {
                continue;
            }
        }
        let has_children = !children[i].is_empty();
        let expanded = visible.is_some() || !collapsed.contains(&groups[i].path);
        out.push(GroupRow {
            index: i,
            depth,
            has_children,
            expanded,
        });
        if has_children && expanded {
            for &c in children[i].iter().rev() {
                stack.push((c, depth + 1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parent_path("a/b"), Some("a"));
        assert_eq!(parent_path("a"), Some("/"));
        assert_eq!(parent_path("/"), None);
        assert_eq!(leaf_name("a/b"), "b");
        assert_eq!(leaf_name("/"), "/");
        assert!(is_within("a/b", "a"));
        assert!(is_within("a", "/"));
        assert!(!is_within("ab", "a"));
        assert!(is_within("/a/b", "a"));
    }
}
