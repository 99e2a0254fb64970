//! The groups panel's rows: the cgroup tree (merged across hierarchies by the
//! sampler), with collapsed groups, a filter and per-column sorting applied.
//! Rebuilt when a snapshot arrives or the view changes, never while drawing.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::model::{GroupSnapshot, Identity, Snapshot};

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
    NetRx,
    NetTx,
}

impl GroupSort {
    pub const ALL: [GroupSort; 12] = [
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
        GroupSort::NetRx,
        GroupSort::NetTx,
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
            GroupSort::NetRx => "NET RX/s",
            GroupSort::NetTx => "NET TX/s",
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
    /// A group with no name of its own whose named children all belong to
    /// one pod (a pod's cgroup holding its containers): the index of such a
    /// child, whose `identity.pod` names this row.
    pub pod_of: Option<usize>,
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

/// Container ids and other long hashes in a path component cut to their
/// first 12 characters, as `docker ps` shows them: hex runs of 32 or more
/// (`libpod-3658…` (64) → `libpod-3658617c85ae`, `docker-<id>.scope` →
/// `docker-09cfd27c02d4.scope`). Other text is kept as it is.
pub fn short_hashes(component: &str) -> Cow<'_, str> {
    const LONG: usize = 32;
    const KEEP: usize = 12;
    let b = component.as_bytes();
    let is_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    // Runs as (start, end) byte ranges (ASCII, so char boundaries).
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if is_hex(b[i]) {
            let start = i;
            while i < b.len() && is_hex(b[i]) {
                i += 1;
            }
            if i - start >= LONG {
                runs.push((start, i));
            }
        } else {
            i += 1;
        }
    }
    if runs.is_empty() {
        return Cow::Borrowed(component);
    }
    let mut out = String::with_capacity(component.len());
    let mut last = 0;
    for (start, end) in runs {
        out.push_str(&component[last..start + KEEP]);
        last = end;
    }
    out.push_str(&component[last..]);
    Cow::Owned(out)
}

/// The three-letter badge for an identity kind (`dkr web`).
pub fn kind_badge(kind: &str) -> &str {
    match kind {
        "docker" => "dkr",
        "podman" => "pdm",
        "k8s-pod" | "podman-pod" | "pod" => "pod",
        "containerd" => "ctd",
        "cri-o" | "crio" => "cri",
        "systemd-unit" | "systemd-service" | "unit" | "service" => "svc",
        "systemd-slice" | "slice" => "slc",
        "systemd-scope" | "scope" => "scp",
        "lxc" => "lxc",
        "conmon" | "lxc-monitor" => "mon",
        "k8s-infra" => "inf",
        "nspawn" | "machine" => "nsp",
        "cgdash" => "cgd",
        // An unknown kind: its first three characters.
        other => other
            .char_indices()
            .nth(3)
            .map(|(i, _)| &other[..i])
            .unwrap_or(other),
    }
}

/// Whether any of a group's identity fields contains `filter` (lowercase).
pub fn identity_matches(id: &Identity, filter: &str) -> bool {
    [
        &id.kind,
        &id.name,
        &id.image,
        &id.container_id,
        &id.pod,
        &id.namespace,
        &id.unit,
    ]
    .into_iter()
    .flatten()
    .any(|f| f.to_lowercase().contains(filter))
}

/// The name a row shows: (badge, name, image). The group's own identity,
/// or for a pod's cgroup without one, the pod its containers name
/// (`pod NAMESPACE/NAME`).
pub fn display_identity<'a>(
    groups: &'a [GroupSnapshot],
    row: &GroupRow,
) -> Option<(&'a str, Cow<'a, str>, Option<&'a str>)> {
    let id = &groups.get(row.index)?.identity;
    // cgdash's own groups are named by their path (`cgdash/demo` is `demo`)
    // and marked ○/● already: a badge would only repeat it.
    if id.kind.as_deref() == Some("cgdash") {
        return None;
    }
    if let Some(name) = id.name.as_deref() {
        let badge = kind_badge(id.kind.as_deref().unwrap_or(""));
        let name = match (id.kind.as_deref(), id.namespace.as_deref()) {
            (Some("k8s-pod"), Some(ns)) if !name.contains('/') => {
                Cow::Owned(format!("{ns}/{name}"))
            }
            _ => Cow::Borrowed(name),
        };
        return Some((badge, name, id.image.as_deref()));
    }
    let child = &groups.get(row.pod_of?)?.identity;
    let pod = child.pod.as_deref()?;
    let name = match child.namespace.as_deref() {
        Some(ns) if !pod.contains('/') => Cow::Owned(format!("{ns}/{pod}")),
        _ => Cow::Borrowed(pod),
    };
    Some(("pod", name, None))
}

/// Whether `path` is `ancestor` or below it.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    let path = path.trim_matches('/');
    let ancestor = ancestor.trim_matches('/');
    ancestor.is_empty()
        || path == ancestor
        || (path.starts_with(ancestor) && path.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

fn sort_name(g: &GroupSnapshot) -> &str {
    g.identity
        .name
        .as_deref()
        .unwrap_or_else(|| leaf_name(&g.path))
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
        // By the name people use where there is one (docker's `web`), else
        // by the directory.
        GroupSort::Name => sort_name(a).cmp(sort_name(b)),
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
        GroupSort::NetRx => cmp_opt(
            a.net.as_ref().and_then(|n| n.rx_bytes_per_s),
            b.net.as_ref().and_then(|n| n.rx_bytes_per_s),
        ),
        GroupSort::NetTx => cmp_opt(
            a.net.as_ref().and_then(|n| n.tx_bytes_per_s),
            b.net.as_ref().and_then(|n| n.tx_bytes_per_s),
        ),
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
    let folded = fold_helpers(groups);
    for (i, g) in groups.iter().enumerate() {
        let folded_under = folded.get(&i).copied();
        match folded_under.or_else(|| parent_path(&g.path).and_then(|p| by_path.get(p).copied())) {
            Some(p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    // With a filter: show matches and their ancestors, everything expanded.
    let filter = filter.trim().to_lowercase();
    let visible: Option<Vec<bool>> = if filter.is_empty() {
        None
    } else {
        let mut v = vec![false; groups.len()];
        for (i, g) in groups.iter().enumerate() {
            // The path, the group's names (docker:web's `web`, its image,
            // its pod), or the pod its children belong to.
            let pod_named = pod_of(groups, &children[i])
                .and_then(|c| groups[c].identity.pod.as_deref())
                .is_some_and(|p| p.to_lowercase().contains(&filter));
            if g.path.to_lowercase().contains(&filter)
                || identity_matches(&g.identity, &filter)
                || pod_named
            {
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
            pod_of: pod_of(groups, &children[i]),
        });
        if has_children && expanded {
            for &c in children[i].iter().rev() {
                stack.push((c, depth + 1));
            }
        }
    }
}

/// Helper groups shown under what they serve instead of beside it (issue
/// 13): a container monitor (`conmon`, systemd's `libpod-conmon-<id>.scope`
/// next to `libpod-<id>.scope`) under its container, an LXC monitor under
/// its container. Helper index → the served group's index.
fn fold_helpers(groups: &[GroupSnapshot]) -> HashMap<usize, usize> {
    let mut folded = HashMap::new();
    if !groups.iter().any(|g| {
        matches!(
            g.identity.kind.as_deref(),
            Some("conmon") | Some("lxc-monitor")
        )
    }) {
        return folded;
    }
    let mut containers: HashMap<&str, usize> = HashMap::new();
    let mut lxc: HashMap<&str, usize> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        let id = &g.identity;
        match id.kind.as_deref() {
            Some("podman") | Some("cri-o") => {
                if let Some(c) = id.container_id.as_deref() {
                    // The container's own group, not one below it.
                    containers.entry(c).or_insert(i);
                }
            }
            Some("lxc") => {
                if let Some(n) = id.name.as_deref() {
                    lxc.entry(n).or_insert(i);
                }
            }
            _ => {}
        }
    }
    for (i, g) in groups.iter().enumerate() {
        let id = &g.identity;
        let served = match id.kind.as_deref() {
            Some("conmon") => id.container_id.as_deref().and_then(|c| containers.get(c)),
            Some("lxc-monitor") => id.name.as_deref().and_then(|n| lxc.get(n)),
            _ => None,
        };
        // Not under itself, nor under one of its own descendants.
        if let Some(&p) = served {
            if p != i && !is_within(&groups[p].path, &g.path) {
                folded.insert(i, p);
            }
        }
    }
    folded
}

/// For a group without a name: a child naming the pod all its named
/// children share (see [`GroupRow::pod_of`]).
fn pod_of(groups: &[GroupSnapshot], children: &[usize]) -> Option<usize> {
    let mut found: Option<usize> = None;
    for &c in children {
        let id = &groups[c].identity;
        // A pod among the children: this is a parent of pods, not a pod.
        if matches!(id.kind.as_deref(), Some("k8s-pod") | Some("podman-pod")) {
            return None;
        }
        match (&id.pod, found) {
            // A named child outside any pod (a helper's shared group like
            // podman's `conmon` aside): not a pod's group.
            (None, _) if id.name.is_some() && id.kind.as_deref() != Some("conmon") => return None,
            (Some(_), None) => found = Some(c),
            (Some(p), Some(f)) if groups[f].identity.pod.as_ref() != Some(p) => return None,
            _ => {}
        }
    }
    found
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

    #[test]
    fn engines_short_hashes() {
        let id = "09cfd27c02d40169ff250e4ba37eb050316439dac3f35f92756df8e5897a064b";
        assert_eq!(short_hashes(id), "09cfd27c02d4");
        assert_eq!(short_hashes(&format!("libpod-{id}")), "libpod-09cfd27c02d4");
        assert_eq!(
            short_hashes(&format!("docker-{id}.scope")),
            "docker-09cfd27c02d4.scope"
        );
        assert_eq!(
            short_hashes(&format!("{id}/{id}")),
            "09cfd27c02d4/09cfd27c02d4"
        );
        // Short hex and ordinary names stay.
        assert_eq!(short_hashes("cafe0123"), "cafe0123");
        assert_eq!(short_hashes("user-1000.slice"), "user-1000.slice");
        assert!(matches!(short_hashes("system.slice"), Cow::Borrowed(_)));
        // Non-ASCII around a hash: cut on byte positions of ASCII runs only.
        assert_eq!(short_hashes(&format!("é{id}é")), "é09cfd27c02d4é");
    }

    #[test]
    fn engines_kind_badges() {
        assert_eq!(kind_badge("docker"), "dkr");
        assert_eq!(kind_badge("podman"), "pdm");
        assert_eq!(kind_badge("k8s-pod"), "pod");
        assert_eq!(kind_badge("systemd-unit"), "svc");
        assert_eq!(kind_badge("weird"), "wei");
        assert_eq!(kind_badge("ü"), "ü");
    }
}
