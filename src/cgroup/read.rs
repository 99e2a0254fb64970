//! Reading groups: listing them (merged by path across hierarchies) and
//! reading every statistic cgdash shows. Missing files are `None`.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::controllers::PlannedRead;
use super::layout::{Hierarchy, Layout};
use super::parse;
use super::stats::*;

/// Reads a whole small file; any error (missing, EACCES, group gone) is `None`.
fn read(dir: &Path, file: &str) -> Option<String> {
    fs::read_to_string(dir.join(file)).ok()
}

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
        let mut set = BTreeSet::new();
        set.insert(String::new());
        let mut problem = None;
        for h in self.walked() {
            walk(&h.mount, String::new(), &mut set, visit, &mut problem);
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
        let plan = super::controllers::plan_reads(self, group);
        self.read_group_with(group, &plan, &mut |r| fs::read_to_string(&r.path).ok())
    }

    /// [`Layout::read_group`] with the group's declared files planned
    /// already and read by `read` (the cached reader opens and keeps them).
    pub(crate) fn read_group_with(
        &self,
        group: &str,
        plan: &[PlannedRead],
        read: &mut dyn FnMut(&PlannedRead) -> Option<String>,
    ) -> Option<GroupStats> {
        // The group's directory in the primary hierarchy, else in the first
        // other one that has it: one `stat` where the primary has it (not
        // one per hierarchy and another for the id: issue 18, ~10,000
        // fewer at 1,000 groups on a v1 host).
        let dir_meta = |h: &super::Hierarchy| {
            let d = h.dir(group);
            fs::metadata(&d).ok().filter(|m| m.is_dir()).map(|m| (d, m))
        };
        let primary = self.primary();
        let (pdir, meta) = dir_meta(primary).or_else(|| {
            self.hierarchies
                .iter()
                .filter(|h| !std::ptr::eq(*h, primary))
                .find_map(dir_meta)
        })?;
        let mut s = GroupStats {
            path: group.to_string(),
            id: Some(meta.ino()),
            nprocs: self.read_nprocs(group),
            ..Default::default()
        };
        // Every controller's declared files, through the same mapping the
        // cached reader uses (`controllers::plan_reads`).
        for r in plan {
            let text = read(r);
            r.apply(text.as_deref(), &mut s);
        }
        // The group vanished mid-read: everything above may be half-absent.
        if !pdir.is_dir() {
            return None;
        }
        Some(s)
    }

    /// Processes directly in `group` in the primary hierarchy: the one that
    /// names a process's group (`primary_path_of`), so this count and the
    /// process rows listed under the group agree. `None` when the group is
    /// not in that hierarchy (v1: e.g. made only under `memory/`): its
    /// processes belong to other groups there, and another hierarchy's
    /// `cgroup.procs` would count processes no row places in this group.
    fn read_nprocs(&self, group: &str) -> Option<u64> {
        read(&self.primary().dir(group), "cgroup.procs").map(|t| parse::count_lines(&t))
    }

    /// The directory of `group` in the hierarchy serving `controller`, if the
    /// controller is mounted and the group exists there.
    pub(crate) fn dir_for(&self, controller: &str, group: &str) -> Option<(&Hierarchy, PathBuf)> {
        let h = self.hierarchy(controller)?;
        let d = h.dir(group);
        d.is_dir().then_some((h, d))
    }
}

/// Collects the relative paths of all sub-directories (groups) below `dir`.
/// Directories that vanish are skipped; one that can't be read otherwise is
/// skipped and named in `problem` (the first only).
fn walk(
    dir: &Path,
    prefix: String,
    out: &mut BTreeSet<String>,
    visit: &mut dyn FnMut(&Path),
    problem: &mut Option<String>,
) {
    visit(dir);
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound && problem.is_none() {
                *problem = Some(format!("cannot list {}: {e}", dir.display()));
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
        walk(&e.path(), rel.clone(), out, visit, problem);
        out.insert(rel);
    }
}
