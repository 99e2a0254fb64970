use std::io;
use std::path::PathBuf;

use crate::cgroup::{CgroupError, KnobError};

/// Why a workload could not be launched (or cleaned up). Every variant is a
/// sentence a user can act on; when nothing was created, the message says so
/// only implicitly: `launch` never leaves a group or a process behind on error.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("no command given")]
    NoCommand,
    #[error("command `{0}` not found in PATH")]
    CommandNotFound(String),
    #[error("command `{command}` not found in the rootfs {rootfs} (looked in {looked})")]
    CommandNotInRootfs {
        command: String,
        rootfs: PathBuf,
        looked: String,
    },
    #[error("`{0}` is not executable")]
    NotExecutable(PathBuf),
    #[error("bad rootfs {path}: {why}")]
    BadRootfs { path: PathBuf, why: String },
    #[error("invalid name `{0}`: use 1–64 letters, digits, `.`, `_` or `-` (not starting with `.` or `-`)")]
    BadName(String),
    #[error(
        "a group named cgdash/{0} already exists; choose another --name (nothing was changed)"
    )]
    NameTaken(String),
    #[error("unknown namespace `{0}` in --share; known: pid, mount, uts, ipc, net, cgroup, user")]
    UnknownNamespace(String),
    /// Options that cannot work together or a value out of range (bad input).
    #[error("{0}")]
    Conflict(String),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    BadLimits(Vec<KnobError>),
    #[error("{what} needs root or a delegated cgroup: {why}")]
    NeedsPrivilege { what: String, why: String },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("cannot start the launcher helper {exe}: {source}")]
    Spawn { exe: PathBuf, source: io::Error },
    /// `--net veth` could not be set up (the kernel's refusal, in words).
    #[error("setting up the workload's network failed: {0}")]
    Net(String),
    #[error("setting up the workload failed: {0}")]
    Setup(String),
    #[error("cannot execute {exe}: {}{}", errno_desc(*.errno), exec_hint(*.errno))]
    Exec { exe: String, errno: i32 },
    #[error("the launcher helper died before the workload started{0}")]
    HelperDied(String),
    #[error("refusing the state directory {dir}: {why}")]
    UnsafeStateDir { dir: PathBuf, why: String },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
}

impl LaunchError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> LaunchError {
        LaunchError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn nix(what: impl Into<String>, e: nix::errno::Errno) -> LaunchError {
        LaunchError::io(what, io::Error::from_raw_os_error(e as i32))
    }

    /// The exit code `cgdash run` uses for this error, following the shell and
    /// container conventions: 127 command not found, 126 not executable, 2 bad
    /// input (name, hostname, conflicting options), 125 everything else that
    /// kept the workload from starting.
    pub fn exit_code(&self) -> u8 {
        match self {
            LaunchError::CommandNotFound(_) | LaunchError::CommandNotInRootfs { .. } => 127,
            LaunchError::NotExecutable(_) => 126,
            LaunchError::Exec { errno, .. } => exec_exit_code(*errno) as u8,
            LaunchError::NoCommand
            | LaunchError::BadName(_)
            | LaunchError::Conflict(_)
            | LaunchError::UnknownNamespace(_)
            | LaunchError::BadLimits(_) => 2,
            LaunchError::Cgroup(e) if e.is_bad_input() => 2,
            _ => 125,
        }
    }
}

/// The shell's code for a failed exec: 127 when the file (or, for a script
/// or dynamic program, its interpreter) does not exist, 126 when it exists
/// but cannot run (ENOEXEC: not a valid program for this machine; EACCES …).
pub(crate) fn exec_exit_code(errno: i32) -> i32 {
    match nix::errno::Errno::from_raw(errno) {
        nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => 127,
        _ => 126,
    }
}

fn errno_desc(errno: i32) -> &'static str {
    nix::errno::Errno::from_raw(errno).desc()
}

fn exec_hint(errno: i32) -> &'static str {
    match nix::errno::Errno::from_raw(errno) {
        nix::errno::Errno::ENOEXEC => {
            " (not a program this machine can run: another architecture, a damaged file, or a script without #!)"
        }
        nix::errno::Errno::ENOENT => " (a script's interpreter or the program's dynamic loader is missing)",
        _ => "",
    }
}
