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
use crate::cgroup::{Knob, Layout, Setting, Value};

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
    /// Things that must live exactly as long as the workload (an image run's
    /// writable layer and cache lock): dropped after the cleanup, since
    /// fields drop after `Drop::drop` runs.
    pub(super) attached: Attached,
    /// `--net veth`: what was made (the veth, its address, the bridge).
    pub(super) net: Option<crate::net::NetState>,
}

/// See [`Workload::attach`].
#[derive(Default)]
pub struct Attached(Vec<Box<dyn std::any::Any + Send>>);

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attached({})", self.0.len())
    }
}

impl Workload {
    /// Keeps `thing` until the workload has ended and been cleaned up, then
    /// drops it (e.g. an image run, whose Drop removes its writable layer).
    pub fn attach(&mut self, thing: Box<dyn std::any::Any + Send>) {
        self.attached.0.push(thing);
    }

    /// The group, relative to the hierarchy root (`cgdash/NAME`); empty when
    /// it runs without a group of its own (not root, no limits requested).
    pub fn group(&self) -> &str {
        &self.group
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `--net veth`: the workload's veth and address.
    pub fn net(&self) -> Option<&crate::net::NetState> {
        self.net.as_ref()
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
                Msg::Started | Msg::NetNs | Msg::Error(_) | Msg::ExecFailed(_) => {}
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
    /// A stop signal thaws the group first: a frozen helper would never pass
    /// it on, and a frozen process does not even die of SIGKILL on cgroup v1.
    pub fn signal(&self, sig: Signal) {
        if self.helper.is_none() {
            return;
        }
        if matches!(
            sig,
            Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP | Signal::SIGQUIT | Signal::SIGKILL
        ) {
            self.thaw();
        }
        if let Some(c) = &self.helper {
            let _ = kill(Pid::from_raw(c.id() as i32), sig);
        }
    }

    /// Job control for a workload that was handed the terminal. Ctrl-Z sends
    /// SIGTSTP to the terminal's foreground process group — the workload's
    /// alone —, so when the workload has stopped, stop this process too: the
    /// shell then sees its job stopped and takes the terminal back, as with
    /// the command run directly. Once continued (`fg`, `bg`), give the
    /// terminal back to the workload if we are in the foreground again, and
    /// continue it. Call it while waiting; returns whether it stopped us.
    pub fn follow_stop(&mut self) -> bool {
        if !self.foreground_tty || self.helper.is_none() {
            return false;
        }
        let Some(wpid) = self.workload_pid else {
            return false;
        };
        if !stopped(wpid) {
            return false;
        }
        // The workload leads its process group (`take_terminal`); anything
        // else is not the group we handed the terminal to (nor, outside our
        // cgroup, our workload at all: its pid was reused).
        let pgrp = Pid::from_raw(wpid);
        if nix::unistd::getpgid(Some(pgrp)) != Ok(pgrp)
            || (!self.group.is_empty() && !self.layout.procs(&self.group).contains(&wpid))
        {
            return false;
        }
        // To our whole process group, as the terminal would have sent it
        // to the job run directly: a script running `cgdash run` stops
        // too, so the shell that started it sees its job stopped. Returns
        // once we are continued (or at once when the stop is discarded: an
        // orphaned process group, SIGTSTP ignored).
        let _ = nix::sys::signal::killpg(nix::unistd::getpgrp(), Signal::SIGTSTP);
        let stdin = std::io::stdin();
        if nix::unistd::tcgetpgrp(&stdin) == Ok(nix::unistd::getpgrp()) {
            with_sigttou_blocked(|| {
                let _ = nix::unistd::tcsetpgrp(&stdin, pgrp);
            });
        }
        let _ = nix::sys::signal::killpg(pgrp, Signal::SIGCONT);
        true
    }

    /// The terminal's Ctrl-C (or Ctrl-\\) goes to the workload's process
    /// group alone, not to us: if its group is frozen the signal just waits
    /// there, and Ctrl-C seems to do nothing. When the workload has SIGINT
    /// or SIGQUIT pending (and not blocked), thaw its group so the signal
    /// takes effect. Call it while waiting; returns whether it thawed.
    pub fn thaw_if_interrupted(&self) -> bool {
        if !self.foreground_tty || self.helper.is_none() {
            return false;
        }
        let Some(wpid) = self.workload_pid else {
            return false;
        };
        let bit = |s: Signal| 1u64 << (s as u32 - 1);
        let wanted = bit(Signal::SIGINT) | bit(Signal::SIGQUIT);
        pending_signals(wpid) & wanted != 0 && self.thaw()
    }

    /// Thaws the workload's group and any frozen group below it (frozen with
    /// `f` in the dashboard, `cgdash set G freeze=1`, or from outside), so a
    /// signal can do its work. Returns whether something was frozen.
    pub fn thaw(&self) -> bool {
        !self.group.is_empty() && thaw_tree(&self.layout, &self.group)
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
    /// Never waits forever: the group is thawed before every try (someone may
    /// freeze it again meanwhile), and after `KILL_DEADLINE` it gives up with
    /// an error (a frozen *parent* group is not ours to thaw).
    pub(super) fn kill_now(&mut self) -> Result<WorkloadExit, LaunchError> {
        let end = Instant::now() + KILL_DEADLINE;
        loop {
            self.signal(Signal::SIGKILL);
            if let Some(e) = self.wait_timeout(Duration::from_millis(200))? {
                self.kill_group_members();
                return Ok(e);
            }
            if Instant::now() >= end {
                return Err(LaunchError::io(
                    format!(
                        "stopping the workload in {}: still there {KILL_DEADLINE:?} after SIGKILL \
                         (is a parent group frozen?)",
                        if self.group.is_empty() {
                            "no group"
                        } else {
                            &self.group
                        }
                    ),
                    std::io::Error::from(std::io::ErrorKind::TimedOut),
                ));
            }
        }
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
            self.thaw();
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

/// How long `kill_now` keeps thawing and killing before it reports failure.
const KILL_DEADLINE: Duration = Duration::from_secs(10);

/// Thaws `group` and every frozen group below it, through the cgroup layer
/// (v1 `freezer.state` THAWED, v2 `cgroup.freeze` 0). Returns whether any
/// was frozen. Groups that cannot be read or written are skipped: the caller
/// goes on to signal and, if that fails, says what is still there.
pub(super) fn thaw_tree(layout: &Layout, group: &str) -> bool {
    let mut groups = vec![group.to_string()];
    for h in layout.walked() {
        sub_groups(&h.dir(group), group, &mut groups);
    }
    groups.sort();
    groups.dedup();
    let thaw = Setting {
        knob: Knob::Freeze,
        value: Value::Bool(false),
    };
    let mut any = false;
    for g in &groups {
        if layout.read_group(g).and_then(|s| s.frozen) == Some(true) {
            any = true;
            let _ = layout.apply(g, std::slice::from_ref(&thaw));
        }
    }
    any
}

fn sub_groups(dir: &std::path::Path, group: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let g = format!("{group}/{}", e.file_name().to_string_lossy());
            sub_groups(&e.path(), &g, out);
            out.push(g);
        }
    }
}

/// Makes our process group the terminal's foreground again.
fn reclaim_terminal() {
    with_sigttou_blocked(|| {
        let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp());
    });
}

/// Runs `f` with SIGTTOU blocked: a tcsetpgrp from a background process
/// group then goes through instead of stopping us (POSIX).
fn with_sigttou_blocked(f: impl FnOnce()) {
    let mut ttou = nix::sys::signal::SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let Ok(old) = ttou.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK) else {
        return;
    };
    f();
    let _ = old.thread_set_mask();
}

/// Signals pending for `pid` (its own and its process's) and not blocked,
/// as a mask (bit N-1 for signal N), from /proc/PID/status.
fn pending_signals(pid: i32) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    (field("SigPnd:") | field("ShdPnd:")) & !field("SigBlk:")
}

/// Whether `pid` is stopped by a signal (state `T` in /proc/PID/stat; not
/// `t`, stopped by a tracer).
fn stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            == Some("T")
    })
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
