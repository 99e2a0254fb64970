//! `Workload`: a launched workload — wait for it, signal it, clean up.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::error::LaunchError;
use super::stale;
use super::status::{Msg, StatusReader};
use crate::cgroup::Layout;

/// How a workload ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadExit {
    Code(i32),
    /// Killed by this signal (e.g. 9 for an OOM kill).
    Signal(i32),
}

impl WorkloadExit {
    /// The shell convention: the code, or 128+N when killed by signal N.
    pub fn code(self) -> i32 {
        match self {
            WorkloadExit::Code(c) => c,
            WorkloadExit::Signal(s) => 128 + s,
        }
    }
}

impl std::fmt::Display for WorkloadExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkloadExit::Code(c) => write!(f, "exited with code {c}"),
            WorkloadExit::Signal(s) => {
                let name = Signal::try_from(*s).map(|s| s.as_str()).unwrap_or("?");
                write!(f, "killed by signal {s} ({name})")
            }
        }
    }
}

/// A running (or finished) workload. Dropping it without `cleanup` kills it
/// and removes its group (unless `keep`), so nothing outlives its owner.
#[derive(Debug)]
pub struct Workload {
    pub(super) layout: Layout,
    pub(super) name: String,
    pub(super) group: String,
    pub(super) keep: bool,
    pub(super) helper: Option<Child>,
    pub(super) init_pid: Option<i32>,
    pub(super) workload_pid: Option<i32>,
    pub(super) status: StatusReader,
    pub(super) exit: Option<WorkloadExit>,
    pub(super) state_file: Option<PathBuf>,
    /// Keeps the helper alive: it ends the workload when this closes.
    pub(super) lifeline: Option<OwnedFd>,
    pub(super) cleaned: bool,
    pub(super) notes: Vec<String>,
    /// The workload was handed the terminal: take it back when it ends.
    pub(super) foreground_tty: bool,
}

impl Workload {
    /// The group, relative to the hierarchy root (`cgdash/NAME`); empty when
    /// it runs without a group of its own (not root, no limits requested).
    pub fn group(&self) -> &str {
        &self.group
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Host pid of the workload process (pid 2 in its namespace), or of our
    /// init if it could not be found.
    pub fn pid(&self) -> i32 {
        self.workload_pid
            .or(self.init_pid)
            .unwrap_or_else(|| self.helper_pid())
    }

    /// Host pid of our init (pid 1 in the workload's pid namespace).
    pub fn init_pid(&self) -> Option<i32> {
        self.init_pid
    }

    /// Host pid of the `cgdash-launch` helper (the launcher's direct child).
    pub fn helper_pid(&self) -> i32 {
        self.helper.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Things the user should know (e.g. "running without limits").
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub(super) fn absorb(&mut self, msgs: Vec<Msg>) {
        for m in msgs {
            match m {
                Msg::Exit(c) => self.exit = Some(WorkloadExit::Code(c)),
                Msg::Signal(s) => self.exit = Some(WorkloadExit::Signal(s)),
                Msg::Init(p) => self.init_pid = Some(p),
                Msg::Started | Msg::Error(_) | Msg::ExecFailed(_) => {}
            }
        }
    }

    /// `Some` once the workload has ended (and the helper is reaped).
    pub fn try_wait(&mut self) -> Result<Option<WorkloadExit>, LaunchError> {
        let Some(child) = self.helper.as_mut() else {
            return Ok(self.exit);
        };
        let st = child
            .try_wait()
            .map_err(|e| LaunchError::io("waiting for the workload", e))?;
        let Some(st) = st else {
            return Ok(None);
        };
        self.helper = None;
        self.lifeline = None;
        if std::mem::take(&mut self.foreground_tty) {
            reclaim_terminal();
        }
        // Init's last words are in the pipe (or it died without any).
        while !self.status.eof() {
            let msgs = self.status.read(Duration::from_millis(50));
            if msgs.is_empty() {
                break;
            }
            self.absorb(msgs);
        }
        if self.exit.is_none() {
            // Init never reported: use the helper's own status.
            use std::os::unix::process::ExitStatusExt;
            self.exit = Some(match (st.code(), st.signal()) {
                (Some(c), _) => WorkloadExit::Code(c),
                (None, Some(s)) => WorkloadExit::Signal(s),
                _ => WorkloadExit::Code(255),
            });
        }
        Ok(self.exit)
    }

    /// Blocks until the workload ends.
    pub fn wait(&mut self) -> Result<WorkloadExit, LaunchError> {
        loop {
            if let Some(e) = self.try_wait()? {
                return Ok(e);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like `wait`, but gives up after `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<WorkloadExit>, LaunchError> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(e) = self.try_wait()? {
                return Ok(Some(e));
            }
            if Instant::now() >= end {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` to the workload (through the helper and our init, which
    /// forward SIGTERM, SIGINT, SIGHUP and SIGQUIT; SIGKILL ends everything).
    pub fn signal(&self, sig: Signal) {
        if let Some(c) = &self.helper {
            let _ = kill(Pid::from_raw(c.id() as i32), sig);
        }
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns how it ended.
    pub fn terminate(&mut self, grace: Duration) -> Result<WorkloadExit, LaunchError> {
        if let Some(e) = self.try_wait()? {
            return Ok(e);
        }
        self.signal(Signal::SIGTERM);
        if let Some(e) = self.wait_timeout(grace)? {
            return Ok(e);
        }
        self.kill_now()
    }

    /// SIGKILL to the helper: init dies with it (PDEATHSIG), and the pid
    /// namespace with init. Then anything still in our group is killed too
    /// (only possible with a shared pid namespace; all of it descends from us).
    pub(super) fn kill_now(&mut self) -> Result<WorkloadExit, LaunchError> {
        self.signal(Signal::SIGKILL);
        let e = self.wait()?;
        self.kill_group_members();
        Ok(e)
    }

    /// SIGKILLs whatever is still in the workload's group. Everything there
    /// descends from our helper: the group is created fresh by `launch`, and
    /// only the helper joined it.
    fn kill_group_members(&self) {
        if self.group.is_empty() {
            return;
        }
        for _ in 0..50 {
            let pids = self.layout.procs(&self.group);
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends the workload if it still runs (SIGTERM, 2 s, SIGKILL) and removes
    /// its group unless `keep`.
    pub fn cleanup(mut self) -> Result<(), LaunchError> {
        self.cleanup_inner()
    }

    fn cleanup_inner(&mut self) -> Result<(), LaunchError> {
        if self.cleaned {
            return Ok(());
        }
        self.cleaned = true;
        if self.try_wait()?.is_none() {
            self.terminate(Duration::from_secs(2))?;
        }
        let state = self.state_file.take();
        if self.group.is_empty() {
            return Ok(());
        }
        if self.keep {
            // Handed over to the user: no longer ours to remove when stale.
            if let Some(s) = state {
                stale::remove_state(&s);
            }
            return Ok(());
        }
        let res = self
            .layout
            .remove_group(&self.group, Duration::from_secs(3));
        self.layout.remove_parent_if_empty("cgdash");
        if res.is_ok() {
            if let Some(s) = state {
                stale::remove_state(&s);
            }
        }
        res.map_err(LaunchError::from)
    }
}

/// Makes our process group the terminal's foreground again. We are in the
/// background at this point, so SIGTTOU is blocked for the call (POSIX then
/// lets tcsetpgrp through instead of stopping us).
fn reclaim_terminal() {
    let mut ttou = nix::sys::signal::SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let Ok(old) = ttou.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK) else {
        return;
    };
    let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp());
    let _ = old.thread_set_mask();
}

impl Drop for Workload {
    fn drop(&mut self) {
        if !self.cleaned {
            if self.helper.is_some() {
                let _ = self.kill_now();
            }
            let _ = self.cleanup_inner();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dashboard keeps workloads in its state and polls them from a task.
    #[test]
    fn workload_is_send() {
        fn send<T: Send>() {}
        send::<Workload>();
        send::<crate::launch::LaunchSpec>();
    }

    #[test]
    fn exit_codes() {
        assert_eq!(WorkloadExit::Code(7).code(), 7);
        assert_eq!(WorkloadExit::Signal(9).code(), 137);
        assert_eq!(
            WorkloadExit::Signal(9).to_string(),
            "killed by signal 9 (SIGKILL)"
        );
    }
}
