//! Writing knobs: the one place where cgdash's knob values are translated to
//! v1 or v2 files. Plan everything first (validation, unsupported knobs,
//! permissions, old values to restore), then write; on a kernel refusal,
//! restore what was already written in this call, so a multi-knob `set` is
//! all-or-nothing — and when a restore itself fails, the error names every
//! file left changed ([`Rollback`]) instead of claiming nothing changed.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;

use super::error::{explain_write_errno, CgroupError};
use super::knob::{Knob, Setting};
use super::layout::{Layout, Version};
use super::parse;
use super::stats::Limit;

/// One file write that a setting turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub knob: Knob,
    pub path: PathBuf,
    pub contents: String,
}

/// What `apply` did for one setting (for the status line and `set`'s output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub setting: Setting,
    pub writes: Vec<FileWrite>,
}

pub(crate) const DEFAULT_PERIOD_US: u64 = 100_000;

impl Layout {
    /// Translates settings into file writes without writing anything. Fails if
    /// any knob is unsupported here, the group is missing, or a file is not
    /// writable by this user.
    pub fn plan(&self, group: &str, settings: &[Setting]) -> Result<Vec<Applied>, CgroupError> {
        if !self.group_exists(group) {
            return Err(CgroupError::NoSuchGroup(
                super::display_path(group).to_string(),
            ));
        }
        if group.is_empty() {
            return Err(CgroupError::Unsupported {
                knob: settings.first().map(|s| s.knob).unwrap_or(Knob::Cpu),
                why: "the root group has no limits; choose a child group".into(),
            });
        }
        // Each knob's controller translates it (controllers/*.rs).
        let mut out = Vec::new();
        for s in settings {
            let writes = (s.knob.def().plan)(self, group, s, settings)?;
            out.push(Applied {
                setting: s.clone(),
                writes,
            });
        }
        order_writes(&mut out);
        // Permission: refuse up front rather than half-apply.
        for w in out.iter().flat_map(|a| &a.writes) {
            if let Err(e) = nix::unistd::access(&w.path, nix::unistd::AccessFlags::W_OK) {
                let source = std::io::Error::from_raw_os_error(e as i32);
                return Err(CgroupError::Write {
                    path: w.path.clone(),
                    meaning: explain_write_errno(Some(w.knob), &source),
                    source,
                });
            }
        }
        Ok(out)
    }

    /// Validates and writes `settings` to `group`. All-or-nothing: if the
    /// kernel refuses one write, the ones already made are restored, and when
    /// a restore fails the error names every file left changed.
    pub fn apply(&self, group: &str, settings: &[Setting]) -> Result<Vec<Applied>, CgroupError> {
        let plan = self.plan(group, settings)?;
        let writes: Vec<&FileWrite> = plan.iter().flat_map(|a| &a.writes).collect();
        // Old contents, to roll back, in the form the kernel accepts back. A
        // file whose old value can't be read could not be restored: refuse
        // before writing anything (the last write never needs restoring).
        let mut old: Vec<String> = Vec::with_capacity(writes.len());
        for (i, w) in writes.iter().enumerate() {
            match fs::read_to_string(&w.path) {
                Ok(t) => old.push(restore_form(w, t.trim())),
                Err(_) if i + 1 == writes.len() => old.push(String::new()),
                Err(source) => {
                    return Err(CgroupError::Read {
                        path: w.path.clone(),
                        source,
                    })
                }
            }
        }
        for (i, w) in writes.iter().enumerate() {
            if let Err(source) = write_file(&w.path, &w.contents) {
                let meaning = refusal_meaning(w, &source);
                let rollback = Box::new(restore(&writes[..i], &old[..i]));
                return Err(CgroupError::Refused {
                    knob: w.knob,
                    path: w.path.clone(),
                    value: w.contents.clone(),
                    meaning,
                    source,
                    rollback,
                });
            }
        }
        Ok(plan)
    }

    pub(crate) fn v1_dir(&self, group: &str, controller: &str) -> Option<PathBuf> {
        self.dir_for(controller, group)
            .filter(|(h, _)| h.version == Version::V1)
            .map(|(_, d)| d)
    }

    /// Directory and version of `controller` for `group`, or an error saying
    /// why the knob can't be written here.
    pub(crate) fn knob_dir(
        &self,
        group: &str,
        controller: &str,
        knob: Knob,
    ) -> Result<(PathBuf, Version), CgroupError> {
        let h = self
            .hierarchy(controller)
            .ok_or_else(|| not_mounted(knob, controller))?;
        let dir = h.dir(group);
        if !dir.is_dir() {
            return Err(CgroupError::Unsupported {
                knob,
                why: format!(
                    "group `{group}` does not exist in the {controller} hierarchy ({})",
                    h.mount.display()
                ),
            });
        }
        if h.version == Version::V2 {
            // On v2 a controller's files appear only when the parent enables it.
            let probe = match controller {
                "cpu" => "cpu.max",
                "memory" => "memory.max",
                "pids" => "pids.max",
                "cpuset" => "cpuset.cpus",
                _ => "cgroup.procs",
            };
            require_file(&dir, probe, knob, &format!(
                "the {controller} controller is not enabled for this group (the parent's cgroup.subtree_control lacks +{controller}: not delegated)"
            ))?;
        }
        Ok((dir, h.version))
    }

    /// Current (quota, period) of the group, defaulting the period to 100ms.
    pub(crate) fn current_cpu_max(
        &self,
        group: &str,
        knob: Knob,
    ) -> Result<(Limit, u64), CgroupError> {
        let (dir, v) = self.knob_dir(group, "cpu", knob)?;
        Ok(match v {
            Version::V1 => (
                fs::read_to_string(dir.join("cpu.cfs_quota_us"))
                    .ok()
                    .and_then(|t| parse::v1_quota(&t))
                    .unwrap_or(Limit::Max),
                fs::read_to_string(dir.join("cpu.cfs_period_us"))
                    .ok()
                    .and_then(|t| parse::single_u64(&t))
                    .unwrap_or(DEFAULT_PERIOD_US),
            ),
            Version::V2 => fs::read_to_string(dir.join("cpu.max"))
                .ok()
                .and_then(|t| parse::cpu_max(&t))
                .unwrap_or((Limit::Max, DEFAULT_PERIOD_US)),
        })
    }

    pub(crate) fn cpu_write(
        &self,
        group: &str,
        knob: Knob,
        quota: Limit,
        period: u64,
    ) -> Result<FileWrite, CgroupError> {
        let (dir, v) = self.knob_dir(group, "cpu", knob)?;
        Ok(match v {
            Version::V1 => FileWrite {
                knob,
                path: dir.join("cpu.cfs_quota_us"),
                contents: match quota {
                    Limit::Max => "-1".into(),
                    Limit::Value(q) => q.to_string(),
                },
            },
            Version::V2 => FileWrite {
                knob,
                path: dir.join("cpu.max"),
                contents: match quota {
                    Limit::Max => format!("max {period}"),
                    Limit::Value(q) => format!("{q} {period}"),
                },
            },
        })
    }
}

/// Orders writes so the kernel accepts them: each knob declares its place
/// (`KnobDef::order`; e.g. on v1 the period before the quota, memory+swap vs
/// memory in the order that keeps memsw ≥ memory at every step). Stable.
fn order_writes(plan: &mut Vec<Applied>) {
    let keys: Vec<u8> = plan
        .iter()
        .map(|a| (a.setting.knob.def().order)(a, plan))
        .collect();
    let mut keyed: Vec<(u8, Applied)> = keys.into_iter().zip(plan.drain(..)).collect();
    keyed.sort_by_key(|(k, _)| *k);
    plan.extend(keyed.into_iter().map(|(_, a)| a));
}

/// A v1 memsw write that goes with a memory write.
pub(crate) struct MemswFollow {
    pub(crate) write: FileWrite,
    /// Whether memsw grows: then it is written first, else after memory,
    /// so memory ≤ memsw holds after each write.
    pub(crate) grows: bool,
}

/// The memsw write that keeps a v1 group's swap allowance (memsw − memory)
/// when its memory limit becomes `new_memory`. `None` when there is nothing
/// to keep: no swap accounting, memsw unlimited, or unreadable files (then
/// the memory write goes alone and a kernel refusal is explained).
pub(crate) fn v1_memsw_follow(dir: &std::path::Path, new_memory: Limit) -> Option<MemswFollow> {
    let read = |f: &str| {
        fs::read_to_string(dir.join(f))
            .ok()
            .and_then(|t| parse::v1_memory_limit(&t))
    };
    let Some(Limit::Value(memsw)) = read("memory.memsw.limit_in_bytes") else {
        return None;
    };
    let Some(Limit::Value(memory)) = read("memory.limit_in_bytes") else {
        return None;
    };
    let allowance = memsw.checked_sub(memory)?;
    // Unlimited memory with limited swap can't be said on v1: both go.
    let new_memsw = match new_memory {
        Limit::Max => Limit::Max,
        Limit::Value(m) => Limit::Value(m.saturating_add(allowance)),
    };
    Some(MemswFollow {
        grows: match new_memsw {
            Limit::Max => true,
            Limit::Value(n) => n >= memsw,
        },
        write: FileWrite {
            // The user's setting is `memory`: errors say so, naming this file.
            knob: Knob::Memory,
            path: dir.join("memory.memsw.limit_in_bytes"),
            contents: v1_bytes(new_memsw),
        },
    })
}

pub(crate) fn v1_bytes(l: Limit) -> String {
    match l {
        Limit::Max => "-1".into(),
        Limit::Value(b) => b.to_string(),
    }
}

pub(crate) fn v2_limit(l: Limit) -> String {
    match l {
        Limit::Max => "max".into(),
        Limit::Value(b) => b.to_string(),
    }
}

/// What a refused multi-file write did to the files written before it.
#[derive(Debug, Default)]
pub struct Rollback {
    /// Written earlier in the call, then put back (checked by reading back).
    pub restored: Vec<PathBuf>,
    /// Written earlier in the call and NOT put back: the restore failed.
    pub left_changed: Vec<LeftChanged>,
}

/// A file a failed rollback left changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftChanged {
    pub path: PathBuf,
    /// What it held before the call (in the form that was written back).
    pub old: String,
    /// What it holds now (`None`: unreadable).
    pub now: Option<String>,
    /// Why the restore failed.
    pub why: String,
}

impl std::fmt::Display for Rollback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &mut dyn Iterator<Item = &PathBuf>| {
            v.map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.left_changed.is_empty() {
            write!(f, "; UNDO FAILED, left changed: ")?;
            for (i, l) in self.left_changed.iter().enumerate() {
                let now = match &l.now {
                    Some(n) => format!("{n:?}"),
                    None => "unreadable".into(),
                };
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(
                    f,
                    "{} holds {now}, was {:?} ({})",
                    l.path.display(),
                    l.old,
                    l.why
                )?;
            }
            if !self.restored.is_empty() {
                write!(f, "; restored: {}", names(&mut self.restored.iter()))?;
            }
        } else if !self.restored.is_empty() {
            write!(
                f,
                "; the earlier writes were undone ({})",
                names(&mut self.restored.iter())
            )?;
        }
        Ok(())
    }
}

/// Writes `old` back to the files of `done`, newest first (the reverse of
/// the order that kept every step valid), and reads each back to check.
fn restore(done: &[&FileWrite], old: &[String]) -> Rollback {
    let mut r = Rollback::default();
    for (w, o) in done.iter().zip(old).rev() {
        let failure = match write_file(&w.path, o) {
            Err(e) => Some(format!(
                "writing it back: {}",
                explain_write_errno(Some(w.knob), &e)
            )),
            Ok(()) => match fs::read_to_string(&w.path) {
                Ok(t) if restore_form(w, t.trim()) == *o => None,
                Ok(_) => Some("written back, but it reads differently".into()),
                Err(e) => Some(format!("written back, but reading it failed: {e}")),
            },
        };
        match failure {
            None => r.restored.push(w.path.clone()),
            Some(why) => r.left_changed.push(LeftChanged {
                path: w.path.clone(),
                old: o.clone(),
                now: fs::read_to_string(&w.path)
                    .ok()
                    .map(|t| t.trim().to_string()),
                why,
            }),
        }
    }
    r
}

/// A kernel refusal in words: the controller's explanation with numbers
/// where it has one (`Controller::explain`), else the knob's declared words
/// for the errno, else the generic ones.
fn refusal_meaning(w: &FileWrite, err: &std::io::Error) -> String {
    err.raw_os_error()
        .and_then(|errno| {
            let c = super::controllers::controller_of(w.knob)?;
            (c.explain)(w, errno)
        })
        .unwrap_or_else(|| explain_write_errno(Some(w.knob), err))
}

/// Old contents in the form the kernel accepts back: as read, unless the
/// file's controller declares a restore form (v1 `freezer.state`, the
/// io controller's per-device files: the line of the device `w` writes).
fn restore_form(w: &FileWrite, old: &str) -> String {
    super::controllers::restore_form(&w.path, old, &w.contents).unwrap_or_else(|| old.to_string())
}

pub(crate) fn require_file(
    dir: &std::path::Path,
    file: &str,
    knob: Knob,
    why: &str,
) -> Result<(), CgroupError> {
    if dir.join(file).exists() {
        Ok(())
    } else {
        Err(CgroupError::Unsupported {
            knob,
            why: why.to_string(),
        })
    }
}

pub(crate) fn not_mounted(knob: Knob, controller: &str) -> CgroupError {
    CgroupError::Unsupported {
        knob,
        why: format!("the {controller} controller is not mounted on this host"),
    }
}

/// One `write(2)` of the whole value, as cgroupfs expects. O_TRUNC is what a
/// shell's `>` does; kernfs ignores it, and fixture trees (plain files) need it.
pub(crate) fn write_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).truncate(true).open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(dir: &std::path::Path, file: &str, text: &str) {
        fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn hv_v1_memory_refusal_names_the_memsw_limit() {
        // issue 11 #9: "out of range or malformed" hid the real cause.
        let t = tempfile::tempdir().unwrap();
        put(t.path(), "memory.memsw.limit_in_bytes", "268435456\n");
        put(t.path(), "memory.limit_in_bytes", "268435456\n");
        let einval = std::io::Error::from_raw_os_error(libc::EINVAL);
        let w = FileWrite {
            knob: Knob::Memory,
            path: t.path().join("memory.limit_in_bytes"),
            contents: (512u64 << 20).to_string(),
        };
        let m = refusal_meaning(&w, &einval);
        assert!(
            m.contains("memory+swap") && m.contains("512M > memory.memsw.limit_in_bytes 256M"),
            "{m}"
        );
        let w = FileWrite {
            knob: Knob::MemorySwap,
            path: t.path().join("memory.memsw.limit_in_bytes"),
            contents: (128u64 << 20).to_string(),
        };
        let m = refusal_meaning(&w, &einval);
        assert!(m.contains("128M < memory.limit_in_bytes 256M"), "{m}");
        // Other errnos keep the generic words.
        let ebusy = std::io::Error::from_raw_os_error(libc::EBUSY);
        assert!(refusal_meaning(&w, &ebusy).contains("current usage"));
    }

    /// issue 12: a knob declares what an errno means for it; set's and the
    /// editor's errors (refusal_meaning, explain_write_errno) say that.
    #[test]
    fn hc_errno_words_are_the_knobs_own() {
        let err = |e| std::io::Error::from_raw_os_error(e);
        let mut declared = 0;
        for k in Knob::all() {
            for (errno, words) in k.def().errors {
                assert_eq!(explain_write_errno(Some(k), &err(*errno)), *words, "{k}");
                declared += 1;
            }
        }
        assert!(declared >= 8, "{declared}");
        let say = |k: Knob, e: i32, path: &str| {
            refusal_meaning(
                &FileWrite {
                    knob: k,
                    path: PathBuf::from(path),
                    contents: "1".into(),
                },
                &err(e),
            )
        };
        // v1's refusal of a list outside the parent's is EACCES: not
        // "needs root" for cpuset.cpus.
        let m = say(Knob::CpusetCpus, libc::EACCES, "/nonexistent/cpuset.cpus");
        assert!(
            m.contains("not a subset of the parent's cpuset.cpus"),
            "{m}"
        );
        let m = say(Knob::CpusetMems, libc::EACCES, "/nonexistent/cpuset.mems");
        assert!(m.contains("parent's cpuset.mems"), "{m}");
        let m = say(Knob::Pids, libc::EACCES, "/nonexistent/pids.max");
        assert!(m.starts_with("permission denied"), "{m}");
        let m = say(Knob::Memory, libc::EBUSY, "/nonexistent/memory.max");
        assert!(
            m.contains("below the group's current usage and the kernel could not reclaim"),
            "{m}"
        );
        let m = say(Knob::CpuBurst, libc::EINVAL, "/nonexistent/cpu.max.burst");
        assert!(m.contains("up to the quota"), "{m}");
        // Knobs that declare nothing for an errno get the generic words …
        let m = say(Knob::Pids, libc::EINVAL, "/nonexistent/pids.max");
        assert_eq!(m, "out of range or malformed for this kernel");
        let m = say(Knob::Pids, libc::EBUSY, "/nonexistent/pids.max");
        assert_eq!(m, "the kernel says the group is busy");
        // … and one knob's words are not another's.
        let m = say(Knob::CpuWeight, libc::EINVAL, "/nonexistent/cpu.weight");
        assert!(!m.contains("quota"), "{m}");
        assert_eq!(
            explain_write_errno(None, &err(libc::EACCES)),
            "permission denied: needs root, or a group delegated to you"
        );
    }

    #[test]
    fn hv_freezer_restores_the_groups_own_request() {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("freezer.state");
        let restore_form = |path: &std::path::Path, old: &str| {
            let w = FileWrite {
                knob: Knob::Freeze,
                path: path.to_path_buf(),
                contents: "FROZEN".into(),
            };
            restore_form(&w, old)
        };
        // Without self_freezing: FREEZING was heading to FROZEN.
        assert_eq!(restore_form(&state, "FREEZING"), "FROZEN");
        assert_eq!(restore_form(&state, "THAWED"), "THAWED");
        // Frozen only through an ancestor: the group's own state is THAWED,
        // and writing FROZEN back would freeze it itself.
        put(t.path(), "freezer.self_freezing", "0\n");
        assert_eq!(restore_form(&state, "FROZEN"), "THAWED");
        assert_eq!(restore_form(&state, "FREEZING"), "THAWED");
        put(t.path(), "freezer.self_freezing", "1\n");
        assert_eq!(restore_form(&state, "FREEZING"), "FROZEN");
        assert_eq!(
            restore_form(t.path().join("pids.max").as_path(), "max"),
            "max"
        );
    }
}
