//! Which quota binds a group: the tightest CPU quota on its path (its own
//! or an ancestor's, as the kernel enforces every level's), published as
//! `cpu.effective_limit_percent` and `cpu.limiting_group`.

use std::collections::HashMap;

use crate::cgroup::{parse, Layout, Version};
use crate::model::GroupSnapshot;

/// The parent of a display path (`a/b` → `a`, `a` → `/`, `/` → none).
fn parent(path: &str) -> Option<&str> {
    match path {
        "/" | "" => None,
        p => Some(p.rsplit_once('/').map_or("/", |(a, _)| a)),
    }
}

/// A group's quota as % of one CPU, read from its files (for ancestors a
/// filtered sample did not read).
fn read_percent(layout: &Layout, group: &str) -> Option<f64> {
    let h = layout.hierarchy("cpu")?;
    let dir = h.dir(group.trim_matches('/'));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    let (quota, period) = match h.version {
        Version::V1 => (
            read("cpu.cfs_quota_us")?.trim().parse::<i64>().ok()?,
            read("cpu.cfs_period_us")?.trim().parse::<i64>().ok()?,
        ),
        Version::V2 => {
            let (q, p) = parse::cpu_max(&read("cpu.max")?)?;
            (q.value().map_or(-1, |v| v as i64), p as i64)
        }
    };
    (quota > 0 && period > 0).then(|| quota as f64 * 100.0 / period as f64)
}

/// Fills `effective_limit_percent` and `limiting_group` of every group;
/// `layout` reads the quotas of ancestors not in `groups` (a filtered sample).
pub fn fill(groups: &mut [GroupSnapshot], layout: Option<&Layout>) {
    let own: HashMap<String, Option<f64>> = groups
        .iter()
        .map(|g| (g.path.clone(), g.cpu.limit_percent))
        .collect();
    let mut read: HashMap<String, Option<f64>> = HashMap::new();
    for g in groups.iter_mut() {
        let mut best: Option<(f64, String)> = None;
        let mut at = Some(g.path.as_str());
        while let Some(p) = at {
            let limit = match own.get(p) {
                Some(l) => *l,
                None => *read
                    .entry(p.to_string())
                    .or_insert_with(|| layout.and_then(|l| read_percent(l, p))),
            };
            if let Some(l) = limit {
                if best.as_ref().is_none_or(|(b, _)| l < *b) {
                    best = Some((l, p.to_string()));
                }
            }
            at = parent(p);
        }
        (g.cpu.effective_limit_percent, g.cpu.limiting_group) = match best {
            Some((l, p)) => (Some(l), Some(p)),
            None => (None, None),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(path: &str, limit: Option<f64>) -> GroupSnapshot {
        let mut g = GroupSnapshot {
            path: path.into(),
            ..Default::default()
        };
        g.cpu.limit_percent = limit;
        g
    }

    #[test]
    fn micro_tightest_quota_on_the_path_binds() {
        let mut gs = vec![
            group("/", None),
            group("a", Some(50.0)),
            group("a/b", Some(80.0)),
            group("a/b/c", Some(20.0)),
            group("d", None),
        ];
        fill(&mut gs, None);
        let got: Vec<(Option<f64>, Option<&str>)> = gs
            .iter()
            .map(|g| {
                (
                    g.cpu.effective_limit_percent,
                    g.cpu.limiting_group.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (None, None),
                (Some(50.0), Some("a")),
                (Some(50.0), Some("a")),
                (Some(20.0), Some("a/b/c")),
                (None, None)
            ]
        );
    }
}
