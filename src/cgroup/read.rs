//! Reading groups: listing them (merged by path across hierarchies) and
//! reading every statistic cgdash shows. Missing files are `None`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::controllers::{GroupPlan, PlannedRead};
use super::layout::{Hierarchy, Layout};
use super::stats::*;

impl Layout {
    /// Every group in any walked hierarchy, merged by relative path, sorted so
    /// that a parent always precedes its children; `""` (the root) first.
    pub fn list_groups(&self) -> Vec<String> {
        self.list_groups_visiting(&mut |_| {})
    }

    /// [`Layout::list_groups`], calling `visit` with each directory (every
    /// hierarchy's root included) just before listing it: a watch placed
    /// there then misses no subdirectory created after the listing.
    pub fn list_groups_visiting(&self, visit: &mut dyn FnMut(&Path)) -> Vec<String> {
        self.list_groups_checked(visit).0
    }

    /// [`Layout::list_groups_visiting`], and the first directory that could
    /// not be listed for a reason other than its removal (EMFILE: out of
    /// descriptors, EACCES): the list may then lack groups.
    pub fn list_groups_checked(
        &self,
        visit: &mut dyn FnMut(&Path),
    ) -> (Vec<String>, Option<String>) {
        let (groups, problem) = self.list_groups_found(&mut |dir, _| visit(dir));
        (groups.into_iter().map(|(g, _)| g).collect(), problem)
    }

    /// [`Layout::list_groups_checked`], with the hierarchies each group was
    /// found in (bit `i`: `self.hierarchies[i]`; the root: all of them):
    /// what the reader then needs not `stat` (issue 18). Only as complete
    /// as the walk (see the problem).
    pub fn list_groups_found(
        &self,
        visit: &mut dyn FnMut(&Path, &Hierarchy),
    ) -> (Vec<(String, u64)>, Option<String>) {
        self.list_groups_found_in(&super::Roots::default(), visit)
    }

    /// [`Layout::list_groups_found`], each directory's `stat` made from its
    /// hierarchy's mount where `roots` holds it (the sampler's reader).
    pub(crate) fn list_groups_found_in(
        &self,
        roots: &super::Roots,
        visit: &mut dyn FnMut(&Path, &Hierarchy),
    ) -> (Vec<(String, u64)>, Option<String>) {
        let mut set = BTreeMap::new();
        let all = (0..self.hierarchies.len()).fold(0u64, |m, i| m | 1 << i);
        set.insert(String::new(), all);
        let mut problem = None;
        for h in self.walked() {
            // (A layout has a handful of hierarchies: one per known v1
            // controller at most, and the unified one.)
            let i = self.hierarchies.iter().position(|x| std::ptr::eq(x, h));
            let mut w = Walk {
                hierarchy: h,
                links: &|group: &str| match i {
                    Some(i) => roots.links(self, i, group),
                    None => None,
                },
                bit: i.map_or(0, |i| 1 << i),
                out: &mut set,
                visit,
                problem: &mut problem,
            };
            w.walk(&h.mount, String::new());
        }
        (set.into_iter().collect(), problem)
    }

    /// Whether `group` exists in any hierarchy.
    pub fn group_exists(&self, group: &str) -> bool {
        self.hierarchies.iter().any(|h| h.dir(group).is_dir())
    }

    /// Reads all groups. Groups that vanish while being read are left out.
    pub fn read_all(&self) -> Vec<GroupStats> {
        self.list_groups()
            .iter()
            .filter_map(|g| self.read_group(g))
            .collect()
    }

    /// Reads one group; `None` if it exists in no hierarchy (e.g. removed
    /// between listing and reading).
    pub fn read_group(&self, group: &str) -> Option<GroupStats> {
        let plan = super::controllers::plan_group(self, group, None);
        let mut buf = Vec::new();
        self.read_group_with(group, &plan, &mut |_, f| {
            let f = f.ok()?;
            super::reader::pread_all(&f, &mut buf)
                .then(|| String::from_utf8(std::mem::take(&mut buf)).ok())
                .flatten()
        })
    }

    /// [`Layout::read_group`] with the group's files planned already
    /// (`controllers::plan_group`), each opened here and read by `read`
    /// (the cached reader keeps them; it is told why one could not be
    /// opened, too). `cgroup.procs` is read last: read,
    /// it says the group was still there after its other files.
    pub(crate) fn read_group_with(
        &self,
        group: &str,
        plan: &GroupPlan,
        read: &mut dyn FnMut(&PlannedRead, std::io::Result<File>) -> Option<String>,
    ) -> Option<GroupStats> {
        // The group's directory in the primary hierarchy, else in the first
        // other one that has it: its inode by `fstat` of the directory the
        // plan opened (issue 18: no `stat` per hierarchy and per purpose).
        let mut s = GroupStats {
            path: group.to_string(),
            id: Some(plan.id()?),
            ..Default::default()
        };
        // Every controller's declared files, through the same mapping the
        // cached reader uses (`controllers::plan_group`).
        let mut feed = |r: &PlannedRead, s: &mut GroupStats| {
            let text = read(r, plan.open(r));
            r.apply(text.as_deref(), s);
            text.is_some()
        };
        for r in &plan.reads {
            let v1 = || self.hierarchies[plan.place(r).0].version == super::layout::Version::V1;
            if plan.quota_only_with_quota
                && s.cpu.no_quota()
                && super::reader::quota_only(r.file(), v1())
            {
                s.cpu.unread_without_quota = true;
                continue;
            }
            feed(r, &mut s);
        }
        let procs_read = plan.procs.as_ref().is_some_and(|r| feed(r, &mut s));
        // The group vanished mid-read: everything above may be half-absent.
        if !procs_read && !plan.id_dir().is_some_and(Path::is_dir) {
            return None;
        }
        Some(s)
    }

    /// The directory of `group` in the hierarchy serving `controller`, if the
    /// controller is mounted and the group exists there.
    pub(crate) fn dir_for(&self, controller: &str, group: &str) -> Option<(&Hierarchy, PathBuf)> {
        let h = self.hierarchy(controller)?;
        let d = h.dir(group);
        d.is_dir().then_some((h, d))
    }
}

/// One hierarchy's walk: the relative paths of all sub-directories (groups)
/// of a mount, each marked with the hierarchy's `bit`. Directories that
/// vanish are skipped; one that can't be read otherwise is skipped and
/// named in `problem` (the first only).
struct Walk<'a> {
    hierarchy: &'a Hierarchy,
    /// The link count of a group's directory in this hierarchy (`None`:
    /// not known, or not there).
    links: &'a dyn Fn(&str) -> Option<u64>,
    bit: u64,
    out: &'a mut BTreeMap<String, u64>,
    visit: &'a mut dyn FnMut(&Path, &Hierarchy),
    problem: &'a mut Option<String>,
}

impl Walk<'_> {
    fn walk(&mut self, dir: &Path, prefix: String) {
        (self.visit)(dir, self.hierarchy);
        // A directory's link count is 2 plus its subdirectories, on
        // cgroupfs (kernfs) as on most filesystems (btrfs says 1: listed):
        // a leaf group, most of them, needs no listing — an open, two
        // `getdents` of ~40 entries and a close, per group and hierarchy
        // (issue 18: 3,000 listings at 1,000 groups on v1, at startup).
        // A subgroup made after this `stat` is reported by the watch
        // `visit` has just added.
        if (self.links)(&prefix) == Some(2) {
            return;
        }
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound && self.problem.is_none() {
                    *self.problem = Some(format!("cannot list {}: {e}", dir.display()));
                }
                return;
            }
        };
        for e in entries.flatten() {
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            self.walk(&e.path(), rel.clone());
            *self.out.entry(rel).or_insert(0) |= self.bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group removed while its files are being read is no group (its
    /// readings would be half-absent), not one with empty readings.
    #[test]
    fn a_group_removed_mid_read_reads_as_gone() {
        let t = tempfile::tempdir().unwrap();
        let put = |p: &Path, f: &str, c: &str| {
            fs::create_dir_all(p).unwrap();
            fs::write(p.join(f), c).unwrap();
        };
        put(t.path(), "cgroup.controllers", "cpu memory\n");
        put(t.path(), "cgroup.procs", "1\n");
        let g = t.path().join("g");
        put(&g, "cgroup.procs", "10\n");
        put(&g, "cpu.stat", "usage_usec 5\n");
        put(&g, "memory.current", "4096\n");
        let l = Layout::from_root(t.path()).unwrap();
        let plan = super::super::controllers::plan_group(&l, "g", None);
        assert!(plan.reads.len() > 1);
        let mut n = 0;
        let read = l.read_group_with("g", &plan, &mut |_, f| {
            let f = f.ok()?;
            n += 1;
            if n == 1 {
                fs::remove_dir_all(&g).unwrap();
            }
            std::io::read_to_string(f).ok()
        });
        assert!(n >= 1);
        assert_eq!(read, None, "removed mid-read");
        assert_eq!(l.read_group("g"), None);
    }
}
