//! `launch`: validate, create and limit the group, start the helper inside
//! it, wait until the workload runs. `Workload`: wait, signal, clean up.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::error::LaunchError;
use super::spec::{self, HelperSpec, LaunchSpec, Namespace, StdioMode};
use super::stale;
use super::status::{Msg, StatusReader};
use crate::cgroup::{Layout, Version};

/// How long `launch` waits for the workload to start before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(15);

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
    layout: Layout,
    name: String,
    group: String,
    keep: bool,
    helper: Option<Child>,
    init_pid: Option<i32>,
    workload_pid: Option<i32>,
    status: StatusReader,
    exit: Option<WorkloadExit>,
    state_file: Option<PathBuf>,
    /// Keeps the helper alive: it ends the workload when this closes.
    lifeline: Option<OwnedFd>,
    cleaned: bool,
    notes: Vec<String>,
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

    /// Host pid of the `__launch` helper (the launcher's direct child).
    pub fn helper_pid(&self) -> i32 {
        self.helper.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Things the user should know (e.g. "running without limits").
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn absorb(&mut self, msgs: Vec<Msg>) {
        for m in msgs {
            match m {
                Msg::Exit(c) => self.exit = Some(WorkloadExit::Code(c)),
                Msg::Signal(s) => self.exit = Some(WorkloadExit::Signal(s)),
                Msg::Init(p) => self.init_pid = Some(p),
                Msg::Started | Msg::Error(_) => {}
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
    fn kill_now(&mut self) -> Result<WorkloadExit, LaunchError> {
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
        if res.is_ok() {
            if let Some(s) = state {
                stale::remove_state(&s);
            }
        }
        res.map_err(LaunchError::from)
    }
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

/// Launches `spec`: returns once the workload runs, inside its limited group
/// and namespaces. On any error nothing is left behind (no group, no process).
/// Safe to call from a multi-threaded program: the namespaces are made in a
/// fresh helper process, and between fork and exec only `write(2)`, `fcntl`
/// and `prctl` run.
pub fn launch(layout: &Layout, spec: &LaunchSpec) -> Result<Workload, LaunchError> {
    let root = nix::unistd::geteuid().is_root();
    let argv0 = spec.command.first().ok_or(LaunchError::NoCommand)?;
    if spec.command.iter().any(|a| a.contains('\0')) {
        return Err(LaunchError::Conflict(
            "the command contains a NUL byte".into(),
        ));
    }
    let namespaces: Vec<Namespace> = Namespace::ALL
        .into_iter()
        .filter(|n| spec.creates(*n, root))
        .collect();
    let has = |ns| namespaces.contains(&ns);
    if !root && !has(Namespace::User) && !namespaces.is_empty() {
        return Err(LaunchError::NeedsPrivilege {
            what: "new namespaces without a user namespace (--share user)".into(),
            why: "only root may create them".into(),
        });
    }
    if spec.hostname.is_some() && !has(Namespace::Uts) {
        return Err(LaunchError::Conflict(
            "--hostname needs a uts namespace (remove uts from --share)".into(),
        ));
    }
    if let Some(h) = &spec.hostname {
        if h.is_empty() || h.len() > 64 {
            return Err(LaunchError::Conflict(format!(
                "hostname `{h}` must be 1–64 characters"
            )));
        }
    }
    let (exe, rootfs) = match &spec.rootfs {
        Some(r) => {
            if !has(Namespace::Mount) {
                return Err(LaunchError::Conflict(
                    "--rootfs needs a mount namespace (remove mount from --share)".into(),
                ));
            }
            let abs = spec::check_rootfs(r)?;
            (spec::resolve_in_rootfs(&abs, argv0)?, Some(abs))
        }
        None => (
            spec::resolve_host(argv0)?.to_string_lossy().into_owned(),
            None,
        ),
    };
    let helper_exe = spec
        .helper
        .clone()
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));

    // Which group, if any.
    let mut notes = Vec::new();
    let use_group = if root {
        true
    } else {
        match delegated_parent(layout) {
            Ok(()) => true,
            Err(why) if !spec.settings.is_empty() => {
                let what: Vec<String> = spec
                    .settings
                    .iter()
                    .map(|s| format!("--{}", flag(s)))
                    .collect();
                return Err(LaunchError::NeedsPrivilege {
                    what: what.join(", "),
                    why,
                });
            }
            Err(why) => {
                notes.push(format!(
                    "not root: running without a cgroup of its own, so no limits ({why})"
                ));
                false
            }
        }
    };

    let (name, group, state_file) = if use_group {
        let (name, group, state) = create_named_group(layout, spec, argv0)?;
        (name, group, Some(state))
    } else {
        let name = match &spec.name {
            Some(n) => {
                spec::validate_name(n)?;
                n.clone()
            }
            None => format!("{}-{}", spec::name_stem(argv0), std::process::id()),
        };
        (name, String::new(), None)
    };
    // From here on, undo everything on error.
    let undo = |e: LaunchError| -> LaunchError {
        if !group.is_empty() {
            let _ = layout.remove_group(&group, Duration::from_secs(3));
        }
        if let Some(s) = &state_file {
            stale::remove_state(s);
        }
        e
    };
    if !group.is_empty() && !spec.settings.is_empty() {
        if let Err(e) = layout.apply(&group, &spec.settings) {
            return Err(undo(e.into()));
        }
    }
    let procs: Vec<File> = if group.is_empty() {
        Vec::new()
    } else {
        let mut v = Vec::new();
        for p in layout.procs_files(&group) {
            match OpenOptions::new().write(true).open(&p) {
                Ok(f) => v.push(f),
                Err(e) => {
                    return Err(undo(LaunchError::io(
                        format!("cannot open {}", p.display()),
                        e,
                    )))
                }
            }
        }
        v
    };
    let (status_r, status_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| undo(LaunchError::nix("pipe", e)))?;
    let (life_r, life_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| undo(LaunchError::nix("pipe", e)))?;
    let hspec = HelperSpec {
        name: name.clone(),
        argv: spec.command.clone(),
        exe,
        namespaces: namespaces.clone(),
        hostname: spec.hostname.clone(),
        rootfs,
        map_user: (!root && has(Namespace::User)).then(|| {
            (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )
        }),
        cgroup_mounts: if has(Namespace::Cgroup) {
            cgroup_mounts(layout)
        } else {
            Vec::new()
        },
        new_session: spec.stdio == StdioMode::Null,
        status_fd: status_w.as_raw_fd(),
        lifeline_fd: life_r.as_raw_fd(),
    };
    let json = serde_json::to_string(&hspec)
        .map_err(|e| undo(LaunchError::io("spec", std::io::Error::other(e))))?;
    let mut cmd = Command::new(&helper_exe);
    cmd.arg("__launch").arg(json);
    if spec.stdio == StdioMode::Null {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    }
    let keep_fds = [status_w.as_raw_fd(), life_r.as_raw_fd()];
    // SAFETY: the closure runs between fork and exec; it only calls write(2)
    // on already-open files, fcntl(2) and prctl(2): async-signal-safe, no
    // allocation, no locks — fine even if other threads held locks at fork.
    unsafe {
        cmd.pre_exec(move || {
            // Join the group first: everything the helper and its descendants
            // run happens inside the limits.
            for mut f in procs.iter() {
                f.write_all(b"0")?;
            }
            for fd in keep_fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(source) => {
            return Err(undo(LaunchError::Spawn {
                exe: helper_exe,
                source,
            }))
        }
    };
    drop(status_w);
    drop(life_r);
    let mut w = Workload {
        layout: layout.clone(),
        name,
        group: group.clone(),
        keep: spec.keep,
        helper: Some(child),
        init_pid: None,
        workload_pid: None,
        status: StatusReader::new(status_r),
        exit: None,
        state_file: state_file.clone(),
        lifeline: Some(life_w),
        cleaned: false,
        notes,
    };
    // Wait for "started" (and init's pid) or an error.
    let end = Instant::now() + START_TIMEOUT;
    let mut started = false;
    let mut error: Option<String> = None;
    while Instant::now() < end && !w.status.eof() {
        for m in w.status.read(Duration::from_millis(100)) {
            match m {
                Msg::Started => started = true,
                Msg::Error(e) => error = Some(e),
                Msg::Init(p) => w.init_pid = Some(p),
                m @ (Msg::Exit(_) | Msg::Signal(_)) => w.absorb(vec![m]),
            }
        }
        if error.is_some() || (started && w.init_pid.is_some()) {
            break;
        }
    }
    if !started {
        // Make sure the helper is gone, then remove the group.
        let _ = w.kill_now();
        w.cleaned = true;
        w.state_file = None;
        let err = match error {
            Some(e) => LaunchError::Setup(e),
            None if Instant::now() >= end => LaunchError::Setup(format!(
                "the workload did not start within {START_TIMEOUT:?}"
            )),
            None => LaunchError::HelperDied(match w.exit {
                Some(e) => format!(" ({e})"),
                None => String::new(),
            }),
        };
        return Err(undo(err));
    }
    w.workload_pid = w.init_pid.and_then(first_child);
    Ok(w)
}

/// Creates `cgdash/NAME` (writing the state file first). A given name that
/// exists is an error; a default name takes the next free number.
fn create_named_group(
    layout: &Layout,
    spec: &LaunchSpec,
    argv0: &str,
) -> Result<(String, String, PathBuf), LaunchError> {
    let candidates: Vec<String> = match &spec.name {
        Some(n) => {
            spec::validate_name(n)?;
            vec![n.clone()]
        }
        None => {
            let stem = spec::name_stem(argv0);
            (1..=1000).map(|i| format!("{stem}-{i}")).collect()
        }
    };
    for name in candidates {
        let group = format!("cgdash/{name}");
        if layout.group_exists(&group) {
            if spec.name.is_some() {
                return Err(LaunchError::NameTaken(name));
            }
            continue;
        }
        let Some(state) = stale::write_state(&name, &group)? else {
            // Another live cgdash is creating this very name right now.
            if spec.name.is_some() {
                return Err(LaunchError::NameTaken(name));
            }
            continue;
        };
        match layout.create_group(&group) {
            Ok(()) => return Ok((name, group, state)),
            Err(crate::cgroup::CgroupError::GroupExists(_)) => {
                // Made by someone else between our check and now: not ours.
                stale::remove_state(&state);
                if spec.name.is_some() {
                    return Err(LaunchError::NameTaken(name));
                }
                continue;
            }
            Err(e) => {
                stale::remove_state(&state);
                return Err(e.into());
            }
        }
    }
    Err(LaunchError::Conflict(
        "no free default name; pass --name".into(),
    ))
}

/// The CLI flag of a setting, for messages (`cpu.weight` → `cpu-weight`).
fn flag(s: &crate::cgroup::Setting) -> String {
    match s.knob.name() {
        "cpuset.cpus" => "cpuset".into(),
        n => n.replace('.', "-"),
    }
}

/// Whether a non-root caller may create `cgdash/…` groups: the `cgdash`
/// directory must exist in every hierarchy and be writable by the caller
/// (an administrator delegated it, e.g. `chown -R user /sys/fs/cgroup/*/cgdash`).
fn delegated_parent(layout: &Layout) -> Result<(), String> {
    for h in layout.walked() {
        let dir = h.dir("cgdash");
        if nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_err() {
            return Err(format!(
                "{} is not writable by uid {} (an administrator can delegate it with chown)",
                dir.display(),
                nix::unistd::geteuid()
            ));
        }
    }
    Ok(())
}

/// The hierarchies to mount read-only inside the workload, relative to
/// /sys/fs/cgroup (only those mounted there on the host).
fn cgroup_mounts(layout: &Layout) -> Vec<(String, String, String)> {
    let base = Path::new("/sys/fs/cgroup");
    layout
        .walked()
        .filter_map(|h| {
            let rel = h
                .mount
                .strip_prefix(base)
                .ok()?
                .to_string_lossy()
                .into_owned();
            Some(match h.version {
                Version::V1 => ("cgroup".to_string(), h.controllers.join(","), rel),
                Version::V2 => ("cgroup2".to_string(), String::new(), rel),
            })
        })
        .collect()
}

/// The first child of `pid` (our init's only direct child is the workload).
fn first_child(pid: i32) -> Option<i32> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    t.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dashboard keeps workloads in its state and polls them from a task.
    #[test]
    fn workload_is_send() {
        fn send<T: Send>() {}
        send::<Workload>();
        send::<LaunchSpec>();
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
