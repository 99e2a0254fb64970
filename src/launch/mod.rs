//! The launcher: a workload in its own namespaces and cgroup, limited from its
//! first instruction (`cgdash run`, `cgdash demo`, the dashboard).
//!
//! Process structure:
//!
//! ```text
//! cgdash (any threads)            launch(): validate, create cgdash/NAME, apply limits,
//!   │  fork+exec, pre_exec writes "0" to every cgroup.procs of the group
//!   └─ cgdash-launch NAME (helper) single-threaded: unshare(user?,mnt,uts,ipc,net,cgroup,pid),
//!        │                         uid/gid maps, / rprivate, hostname, lo up; forwards signals
//!        └─ cgdash-init NAME (pid 1) mounts /proc, /sys, rootfs + pivot_root; reaps, forwards
//!             └─ workload (pid 2)  drops capabilities (caps.rs) unless privileged, exec CMD
//! ```
//!
//! The helper joins the group before exec, so it and everything it forks run
//! limited. The launching process holds the write end of a "lifeline" pipe:
//! when it dies (even by SIGKILL) the helper sees EOF and kills init, which
//! ends the pid namespace; init has PDEATHSIG=SIGKILL for the helper's death.
//! Status flows back over a pipe (`status.rs`), so `launch` returns only once
//! the workload's exec succeeded, and setup errors come back as messages.

mod caps;
mod error;
mod helper;
mod init;
mod net;
mod rootfs;
mod spec;
mod stale;
mod start;
mod status;
mod title;
mod workload;

pub use error::LaunchError;
pub use spec::{name_stem, validate_name, LaunchSpec, Namespace, Overlay, StdioMode};
pub use stale::{
    cleanup_stale, net_of_group, net_rates, private_state_dir, record_net_rate, state_dir,
};
pub(crate) use stale::{create_private, open_private};
pub use start::launch;
pub use workload::{Workload, WorkloadExit};

/// argv[0] of the launcher's helper: cgdash re-executed as `cgdash-launch
/// NAME` (its init then shows as `cgdash-init NAME`).
pub const HELPER_ARGV0: &str = "cgdash-launch";

/// The environment variable that hands the helper its spec (JSON).
const SPEC_ENV: &str = "CGDASH_LAUNCH_SPEC";

/// Entry point of the helper (main calls it when argv[0] is
/// [`HELPER_ARGV0`]). Must be called in a fresh, single-threaded process
/// (main, before anything starts threads): it takes the spec out of the
/// environment, so neither init nor the workload inherits it.
pub fn helper_main() -> i32 {
    let spec = std::env::var(SPEC_ENV).ok();
    std::env::remove_var(SPEC_ENV);
    helper::main(spec.as_slice())
}

/// A failed fork of the helper or init, in words: EAGAIN here is nearly
/// always the group's pids limit, which counts cgdash's helper and init too.
pub(crate) fn fork_error(e: nix::errno::Errno) -> String {
    match e {
        nix::errno::Errno::EAGAIN => "fork refused (EAGAIN): the pids limit is too low — \
            cgdash's helper and init count as 2 processes of the group"
            .to_string(),
        e => format!("fork: {}", e.desc()),
    }
}
