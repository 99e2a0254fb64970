use std::io;
use std::path::PathBuf;

use super::knob::{Knob, KnobError};
use super::write::{LeftChanged, Rollback};

/// Errors of the cgroup layer. Every variant that touched a file carries it.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("no cgroup filesystem found in {0} (is /sys/fs/cgroup mounted?)")]
    NoCgroupFs(PathBuf),
    #[error("{0} is not a cgroup filesystem root (no cgroup.procs, no controller directories)")]
    NotACgroupRoot(PathBuf),
    #[error("group `{0}` does not exist")]
    NoSuchGroup(String),
    #[error("group `{0}` already exists")]
    GroupExists(String),
    #[error(
        "invalid group name `{0}`: use a relative path like cgdash/demo (no `..`, no empty parts)"
    )]
    BadGroupName(String),
    #[error(transparent)]
    Knob(#[from] KnobError),
    #[error("{knob} is not supported here: {why}")]
    Unsupported { knob: Knob, why: String },
    /// A value the grammar accepts that the group's other limits rule out
    /// (a CPU burst above the quota): bad input, found while planning,
    /// before anything is written.
    #[error("invalid value for {knob}: {why}")]
    Invalid { knob: Knob, why: String },
    #[error("the kernel refused {value:?} for {knob} in {path}: {meaning} ({source}){rollback}")]
    Refused {
        knob: Knob,
        path: PathBuf,
        value: String,
        meaning: String,
        source: io::Error,
        /// What became of the files written before the refused one.
        rollback: Box<Rollback>,
    },
    #[error("cannot write {path}: {meaning} ({source})")]
    Write {
        path: PathBuf,
        meaning: String,
        source: io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("group `{group}` is not empty; still running: {}", procs.iter().map(|(p, c)| format!("{p} ({c})")).collect::<Vec<_>>().join(", "))]
    NotEmpty {
        group: String,
        procs: Vec<(i32, String)>,
    },
    #[error("cannot remove {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
}

impl CgroupError {
    /// Files a refused write left changed because their restore failed
    /// (empty: the call changed nothing).
    pub fn left_changed(&self) -> &[LeftChanged] {
        match self {
            CgroupError::Refused { rollback, .. } => &rollback.left_changed,
            _ => &[],
        }
    }

    /// Whether the user's input is at fault (exit 2), not the system.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            CgroupError::Invalid { .. } | CgroupError::Knob(_) | CgroupError::BadGroupName(_)
        )
    }

    /// Raw OS error, for callers that branch on it (e.g. EACCES → read-only mode).
    pub fn errno(&self) -> Option<i32> {
        match self {
            CgroupError::Read { source, .. }
            | CgroupError::Refused { source, .. }
            | CgroupError::Write { source, .. }
            | CgroupError::Create { source, .. }
            | CgroupError::Remove { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// What an errno means when writing a cgroup knob, in words a user can act
/// on: the knob's own words when its controller declares them for this errno
/// (`KnobDef::errors`), else what it means for any cgroup file.
pub fn explain_write_errno(knob: Option<Knob>, err: &io::Error) -> String {
    let raw = err.raw_os_error().unwrap_or(0);
    if let Some((_, words)) = knob.and_then(|k| k.def().errors.iter().find(|(e, _)| *e == raw)) {
        return (*words).to_string();
    }
    match raw {
        libc::EINVAL => "out of range or malformed for this kernel".into(),
        libc::EBUSY => "the kernel says the group is busy".into(),
        libc::EACCES | libc::EPERM => {
            "permission denied: needs root, or a group delegated to you".into()
        }
        libc::ENOENT => "the group (or this file) disappeared".into(),
        libc::ENOSPC => "no CPUs or memory nodes in the group's cpuset".into(),
        libc::ERANGE => "out of range for this kernel".into(),
        libc::EROFS => "the cgroup filesystem is mounted read-only".into(),
        libc::EOPNOTSUPP => "not supported by this kernel".into(),
        _ => err.to_string(),
    }
}
