//! Reading groups: listing them (merged by path across hierarchies) and
//! reading every statistic cgdash shows. Missing files are `None`.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::knob::shares_to_weight;
use super::layout::{Hierarchy, Layout, Version};
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
        let primary = self
            .hierarchies
            .iter()
            .filter(|h| h.dir(group).is_dir())
            .min_by_key(|h| {
                if std::ptr::eq(*h, self.primary()) {
                    0
                } else {
                    1
                }
            })?;
        let pdir = primary.dir(group);
        let meta = fs::metadata(&pdir).ok()?;
        let mut s = GroupStats {
            path: group.to_string(),
            id: Some(meta.ino()),
            nprocs: self.read_nprocs(group),
            ..Default::default()
        };
        self.read_cpu(group, &mut s.cpu);
        self.read_memory(group, &mut s.memory);
        self.read_pids(group, &mut s.pids);
        self.read_cpuset(group, &mut s.cpuset);
        s.frozen = self.read_frozen(group);
        s.pressure = self.unified().and_then(|u| read_pressure(&u.dir(group)));
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

    fn read_cpu(&self, group: &str, cpu: &mut CpuStats) {
        // Usage: v1 cpuacct if mounted; else v2 cpu.stat, which has
        // usage_usec in every v2 group even without the cpu controller.
        if let Some((_, d)) = self
            .dir_for("cpuacct", group)
            .filter(|(h, _)| h.version == Version::V1)
        {
            cpu.usage_ns = read(&d, "cpuacct.usage").and_then(|t| parse::single_u64(&t));
        } else if let Some(u) = self.unified() {
            cpu.usage_ns = read(&u.dir(group), "cpu.stat")
                .and_then(|t| parse::flat_key(&t, "usage_usec"))
                .map(|us| us * 1000);
        }
        let Some((h, d)) = self.dir_for("cpu", group) else {
            return;
        };
        let stat = read(&d, "cpu.stat");
        let stat = stat.as_deref().unwrap_or("");
        cpu.nr_periods = parse::flat_key(stat, "nr_periods");
        cpu.nr_throttled = parse::flat_key(stat, "nr_throttled");
        match h.version {
            Version::V1 => {
                cpu.throttled_ns = parse::flat_key(stat, "throttled_time");
                let quota = read(&d, "cpu.cfs_quota_us").and_then(|t| parse::v1_quota(&t));
                let period = read(&d, "cpu.cfs_period_us").and_then(|t| parse::single_u64(&t));
                if let (Some(quota_us), Some(period_us)) = (quota, period) {
                    cpu.max = Some(CpuMax {
                        quota_us,
                        period_us,
                    });
                }
                cpu.shares = read(&d, "cpu.shares").and_then(|t| parse::single_u64(&t));
                cpu.weight = cpu.shares.map(shares_to_weight);
            }
            Version::V2 => {
                cpu.throttled_ns = parse::flat_key(stat, "throttled_usec").map(|us| us * 1000);
                cpu.max = read(&d, "cpu.max").and_then(|t| parse::cpu_max(&t)).map(
                    |(quota_us, period_us)| CpuMax {
                        quota_us,
                        period_us,
                    },
                );
                cpu.weight = read(&d, "cpu.weight").and_then(|t| parse::single_u64(&t));
            }
        }
    }

    fn read_memory(&self, group: &str, m: &mut MemoryStats) {
        let Some((h, d)) = self.dir_for("memory", group) else {
            return;
        };
        match h.version {
            Version::V1 => {
                m.current = read(&d, "memory.usage_in_bytes").and_then(|t| parse::single_u64(&t));
                m.peak = read(&d, "memory.max_usage_in_bytes").and_then(|t| parse::single_u64(&t));
                m.max = read(&d, "memory.limit_in_bytes").and_then(|t| parse::v1_memory_limit(&t));
                m.memsw_max = read(&d, "memory.memsw.limit_in_bytes")
                    .and_then(|t| parse::v1_memory_limit(&t));
                m.failcnt = read(&d, "memory.failcnt").and_then(|t| parse::single_u64(&t));
                m.events.oom_kill =
                    read(&d, "memory.oom_control").and_then(|t| parse::flat_key(&t, "oom_kill"));
            }
            Version::V2 => {
                m.current = read(&d, "memory.current").and_then(|t| parse::single_u64(&t));
                m.peak = read(&d, "memory.peak").and_then(|t| parse::single_u64(&t));
                m.max = read(&d, "memory.max").and_then(|t| parse::v2_limit(&t));
                m.high = read(&d, "memory.high").and_then(|t| parse::v2_limit(&t));
                m.swap_max = read(&d, "memory.swap.max").and_then(|t| parse::v2_limit(&t));
                if let Some(t) = read(&d, "memory.events") {
                    m.events = parse::memory_events(&t);
                }
            }
        }
    }

    fn read_pids(&self, group: &str, p: &mut PidsStats) {
        let Some((_, d)) = self.dir_for("pids", group) else {
            return;
        };
        p.current = read(&d, "pids.current").and_then(|t| parse::single_u64(&t));
        p.max = read(&d, "pids.max").and_then(|t| parse::v2_limit(&t));
        p.max_events = read(&d, "pids.events").and_then(|t| parse::flat_key(&t, "max"));
    }

    fn read_cpuset(&self, group: &str, c: &mut CpusetStats) {
        let Some((h, d)) = self.dir_for("cpuset", group) else {
            return;
        };
        let trim = |t: String| t.trim().to_string();
        c.cpus = read(&d, "cpuset.cpus").map(trim);
        c.mems = read(&d, "cpuset.mems").map(trim);
        c.effective_cpus = match h.version {
            Version::V1 => read(&d, "cpuset.effective_cpus").map(trim),
            Version::V2 => read(&d, "cpuset.cpus.effective").map(trim),
        };
    }

    fn read_frozen(&self, group: &str) -> Option<bool> {
        if let Some((h, d)) = self.dir_for("freezer", group) {
            if h.version == Version::V1 {
                return read(&d, "freezer.state").and_then(|t| parse::v1_freezer_state(&t));
            }
        }
        // v2: the freezer is built in (no controller), `cgroup.freeze` in non-root groups.
        let u = self.unified()?;
        if self.mode == super::layout::Mode::Hybrid {
            return None;
        }
        // `cgroup.events` says whether the group *is* frozen (like v1's
        // freezer.state); `cgroup.freeze` is only the request.
        let dir = u.dir(group);
        read(&dir, "cgroup.events")
            .and_then(|t| parse::flat_key(&t, "frozen"))
            .map(|v| v == 1)
            .or_else(|| read(&dir, "cgroup.freeze").map(|t| t.trim() == "1"))
    }
}

fn read_pressure(dir: &Path) -> Option<Box<Pressure>> {
    let get = |f: &str| read(dir, f).map(|t| parse::pressure(&t));
    let p = Pressure {
        cpu: get("cpu.pressure"),
        memory: get("memory.pressure"),
        io: get("io.pressure"),
    };
    (p.cpu.is_some() || p.memory.is_some() || p.io.is_some()).then(|| Box::new(p))
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
