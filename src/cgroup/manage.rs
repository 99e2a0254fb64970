//! Creating, joining and removing groups (used by the launcher and tests).
//!
//! Callers create groups only under a parent of their own (`cgdash/…`,
//! `cgdash-test-PID/…`): on v2 this module enables controllers in the
//! `cgroup.subtree_control` of every *non-root* ancestor of the new group, so
//! those ancestors must be ours. The root's `subtree_control` is never written.

use std::fs;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use super::error::{explain_write_errno, CgroupError};
use super::layout::{Layout, Version};
use super::parse;
use super::write::write_file;

impl Layout {
    /// Creates `group` (and missing ancestors) in every walked hierarchy.
    /// Fails with `GroupExists` if it is already there. On failure, what was
    /// created is removed again.
    pub fn create_group(&self, group: &str) -> Result<(), CgroupError> {
        let group = super::validate_group_name(group)?;
        if group.is_empty() {
            return Err(CgroupError::BadGroupName("/".into()));
        }
        if self.group_exists(&group) {
            return Err(CgroupError::GroupExists(group));
        }
        let mut created: Vec<PathBuf> = Vec::new();
        let res = self.create_in_all(&group, &mut created);
        if res.is_err() {
            for d in created.iter().rev() {
                let _ = fs::remove_dir(d);
            }
        }
        res
    }

    fn create_in_all(&self, group: &str, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
        let parts: Vec<&str> = group.split('/').collect();
        for h in self.walked() {
            // An ancestor can vanish under us: another cgdash's workload
            // ended and `remove_parent_if_empty` took the shared parent.
            // Start this hierarchy over (several times: launches can churn).
            let mut result = create_levels(h, &parts, group, created);
            for _ in 0..10 {
                if !matches!(result, Err(Level::Vanished)) {
                    break;
                }
                result = create_levels(h, &parts, group, created);
            }
            match result {
                Ok(()) => {}
                Err(Level::Failed(e)) => return Err(e),
                Err(Level::Vanished) => {
                    return Err(CgroupError::Create {
                        path: h.dir(group),
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    })
                }
            }
        }
        Ok(())
    }

    /// `cgroup.procs` of `group` in every hierarchy where it exists. A process
    /// joins the group by writing its pid (or `0`, itself) to each.
    pub fn procs_files(&self, group: &str) -> Vec<PathBuf> {
        self.walked()
            .map(|h| h.dir(group).join("cgroup.procs"))
            .filter(|p| p.exists())
            .collect()
    }

    /// Moves `pid` into `group` in every hierarchy.
    pub fn attach(&self, group: &str, pid: i32) -> Result<(), CgroupError> {
        if !self.group_exists(group) {
            return Err(CgroupError::NoSuchGroup(group.to_string()));
        }
        for f in self.procs_files(group) {
            write_file(&f, &pid.to_string()).map_err(|source| CgroupError::Write {
                meaning: explain_write_errno(None, &source),
                path: f.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Pids in `group` and all its descendants, in any hierarchy, deduplicated.
    pub fn procs(&self, group: &str) -> Vec<i32> {
        let mut out = Vec::new();
        for h in self.walked() {
            collect_procs(&h.dir(group), &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Removes `group` and its descendants from every hierarchy. Only when
    /// empty: otherwise `NotEmpty` lists who is still there. Waits up to
    /// `grace` for exiting processes to leave (a killed task stays listed until
    /// it is fully reaped).
    pub fn remove_group(&self, group: &str, grace: Duration) -> Result<(), CgroupError> {
        let group = super::validate_group_name(group)?;
        if group.is_empty() {
            return Err(CgroupError::BadGroupName("/".into()));
        }
        let deadline = Instant::now() + grace;
        loop {
            let procs = self.procs(&group);
            if procs.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                let described = procs
                    .iter()
                    .map(|p| {
                        let comm =
                            fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
                        (*p, comm.trim().to_string())
                    })
                    .collect();
                return Err(CgroupError::NotEmpty {
                    group,
                    procs: described,
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
        for h in self.walked() {
            let dir = h.dir(&group);
            if dir.is_dir() {
                remove_tree(&dir, deadline)?;
            }
        }
        Ok(())
    }
}

impl Layout {
    /// Removes `parent` (e.g. `cgdash`) from every hierarchy where it holds no
    /// child group and no process and belongs to root — a parent delegated to
    /// a user (chowned) is theirs and stays. Losing a race with a concurrent
    /// launch is harmless: rmdir of a non-empty cgroup fails, and
    /// `create_group` recreates a parent that vanished under it.
    pub fn remove_parent_if_empty(&self, parent: &str) {
        use std::os::unix::fs::MetadataExt;
        let Ok(parent) = super::validate_group_name(parent) else {
            return;
        };
        if parent.is_empty() {
            return;
        }
        for h in self.walked() {
            let dir = h.dir(&parent);
            let Ok(meta) = fs::metadata(&dir) else {
                continue;
            };
            let has_children = fs::read_dir(&dir)
                .map(|rd| {
                    rd.flatten()
                        .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                })
                .unwrap_or(true);
            let has_procs =
                fs::read_to_string(dir.join("cgroup.procs")).map_or(true, |t| !t.trim().is_empty());
            if meta.uid() == 0 && !has_children && !has_procs {
                let _ = fs::remove_dir(&dir);
            }
        }
    }
}

enum Level {
    /// An ancestor disappeared while we created below it.
    Vanished,
    Failed(CgroupError),
}

/// Creates `parts` level by level in `h` (ancestors may exist already, made
/// by another launch; the leaf must be new), recording what it made.
fn create_levels(
    h: &super::layout::Hierarchy,
    parts: &[&str],
    group: &str,
    created: &mut Vec<PathBuf>,
) -> Result<(), Level> {
    for depth in 1..=parts.len() {
        let leaf = depth == parts.len();
        let dir = h.dir(&parts[..depth].join("/"));
        let parent = h.dir(&parts[..depth - 1].join("/"));
        if !dir.is_dir() || leaf {
            if h.version == Version::V2 && depth > 1 {
                use std::os::unix::fs::MetadataExt;
                let ino = |p: &std::path::Path| fs::metadata(p).map(|m| m.ino()).ok();
                let before = ino(&parent);
                enable_v2_controllers(&parent).map_err(|e| match &e {
                    // The parent (our shared `cgdash/`) was removed by another
                    // cgdash's cleanup between the check and the write — and
                    // maybe made again since by a third launch (another
                    // inode): start over, as for a vanished ancestor below.
                    // Seen in the v2 VM with two test binaries at once.
                    CgroupError::Write { source, .. }
                        if source.raw_os_error() == Some(libc::ENODEV)
                            || (gone(source) && (before.is_none() || ino(&parent) != before)) =>
                    {
                        Level::Vanished
                    }
                    _ => Level::Failed(e),
                })?;
            }
            match fs::create_dir(&dir) {
                Ok(()) => created.push(dir.clone()),
                // An ancestor made concurrently by another launch is fine; the leaf is not.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !leaf => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(Level::Failed(CgroupError::GroupExists(group.to_string())))
                }
                Err(e) if gone(&e) && depth > 1 => return Err(Level::Vanished),
                Err(source) => {
                    return Err(Level::Failed(CgroupError::Create {
                        path: dir.clone(),
                        source,
                    }))
                }
            }
        }
        if h.version == Version::V1 && h.has("cpuset") {
            use std::os::unix::fs::MetadataExt;
            let ino = |p: &std::path::Path| fs::metadata(p).map(|m| m.ino()).ok();
            let before = ino(&dir);
            fill_cpuset(&parent, &dir).map_err(|e| match &e {
                // Removed between the check above and the write (not a
                // file missing from a directory that is still there) —
                // and maybe made again since by another launch (another
                // inode: seen once in a CI run of tests/lead_churn.rs, the
                // shared parent's `cpuset.cpus` gone, the directory back
                // by the time it was looked at); ENODEV: the kernel is
                // taking it down, its directory may still show.
                CgroupError::Write { source, .. }
                    if source.raw_os_error() == Some(libc::ENODEV)
                        || (gone(source) && (before.is_none() || ino(&dir) != before)) =>
                {
                    Level::Vanished
                }
                _ => Level::Failed(e),
            })?;
        }
    }
    Ok(())
}

/// A write that met a cgroup directory being removed: ENOENT once it is
/// gone, ENODEV while the kernel is still taking it down (seen in the v2 VM).
fn gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV)
}

/// A new v1 cpuset group starts with empty `cpuset.cpus`/`cpuset.mems`, and
/// no task may join it (ENOSPC) until they are set: take the parent's. Also
/// for an ancestor that already existed — another launch may have just made
/// it and not filled it yet. A value that is set is never touched.
fn fill_cpuset(parent: &std::path::Path, dir: &std::path::Path) -> Result<(), CgroupError> {
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let cur = fs::read_to_string(dir.join(f)).unwrap_or_default();
        if !cur.trim().is_empty() {
            continue;
        }
        let v = fs::read_to_string(parent.join(f)).unwrap_or_default();
        let v = v.trim();
        if !v.is_empty() {
            write_file(&dir.join(f), v).map_err(|source| CgroupError::Write {
                path: dir.join(f),
                meaning: explain_write_errno(None, &source),
                source,
            })?;
        }
    }
    Ok(())
}

/// Enables the controllers cgdash uses in `parent`'s `cgroup.subtree_control`
/// (only those the parent itself has). Already-enabled ones are skipped.
fn enable_v2_controllers(parent: &std::path::Path) -> Result<(), CgroupError> {
    let available = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    let enabled = fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
    let want: Vec<String> = super::controllers::v2_enabled()
        .filter(|c| available.split_whitespace().any(|a| a == *c))
        .filter(|c| !enabled.split_whitespace().any(|a| a == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if want.is_empty() {
        return Ok(());
    }
    let path = parent.join("cgroup.subtree_control");
    write_file(&path, &want.join(" ")).map_err(|source| CgroupError::Write {
        meaning: explain_write_errno(None, &source),
        path,
        source,
    })
}

fn collect_procs(dir: &std::path::Path, out: &mut Vec<i32>) {
    if let Ok(t) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_procs(&e.path(), out);
            }
        }
    }
}

/// rmdir depth-first. cgroupfs directories hold only virtual files, so rmdir
/// (not remove_dir_all) is the right call. EBUSY right after the last task
/// exited is retried until the deadline.
fn remove_tree(dir: &std::path::Path, deadline: Instant) -> Result<(), CgroupError> {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&e.path(), deadline)?;
            }
        }
    }
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Reads the primary cgroup path of a process from `/proc/PID/cgroup` text.
pub fn primary_path_of(layout: &Layout, proc_cgroup: &str) -> Option<String> {
    let ctrl = match layout.primary().version {
        Version::V1 => layout.primary().controllers.first().map(String::as_str),
        Version::V2 => None,
    };
    parse::proc_cgroup_path(proc_cgroup, ctrl).map(|p| p.trim_start_matches('/').to_string())
}
