//! The `cgdash-launch` helper: a fresh, single-threaded cgdash process, already in
//! the workload's cgroup (the launcher's pre_exec put it there). Being
//! single-threaded is what makes `unshare(CLONE_NEWUSER)` possible (EINVAL in a
//! threaded process) and `fork` safe. It creates the namespaces, forks our
//! init (pid 1 of the new pid namespace), forwards signals to it, and exits
//! with its code. If the launching process dies (its end of the lifeline pipe
//! closes), the helper kills init, which takes the whole pid namespace along.

use std::os::fd::{AsFd, BorrowedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::spec::{HelperSpec, Namespace};
use super::status::{send, Msg};
use super::{init, net, rootfs};

/// Exit code when setup fails before the workload could run.
const SETUP_FAILED: i32 = 125;

/// Signals the helper and init handle synchronously (blocked, then read).
pub(crate) fn handled_signals() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        s.add(sig);
    }
    s
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: the fd numbers come from our own launcher and stay open for the
    // life of this process.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = fcntl(b, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
}

/// Entry point of the helper (`cgdash-launch NAME`, the spec's JSON in
/// `args[0]`, taken from the environment). Returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let spec: HelperSpec = match args.first().map(|a| serde_json::from_str(a)) {
        Some(Ok(s)) => s,
        _ => {
            eprintln!("cgdash-launch: internal command of cgdash's launcher, not for direct use");
            return 2;
        }
    };
    // Our descendants keep the status fd (init writes to it) but the workload's
    // exec closes both.
    // Named for top (comm; the exec was of /proc/self/exe, which shows as "exe").
    let _ = nix::sys::prctl::set_name(c"cgdash-launch");
    set_cloexec(spec.status_fd);
    set_cloexec(spec.lifeline_fd);
    let fail = |m: String| {
        send(spec.status_fd, &Msg::Error(m));
        SETUP_FAILED
    };
    if spec.new_session {
        let _ = nix::unistd::setsid();
    }
    let mask = handled_signals();
    if let Err(e) = mask.thread_block() {
        return fail(format!("blocking signals: {}", e.desc()));
    }
    let sfd = match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
        Ok(s) => s,
        Err(e) => return fail(format!("signalfd: {}", e.desc())),
    };
    if let Err(m) = enter_namespaces(&spec) {
        return fail(m);
    }
    if spec.wait_net && !wait_for_net(&spec) {
        // The launcher gave up (its error says why) or died.
        return SETUP_FAILED;
    }
    // SAFETY: this process is single-threaded (a fresh exec of cgdash that
    // started no threads), so the child may do anything after fork.
    let init_pid = match unsafe { fork() } {
        Ok(ForkResult::Child) => init::run(&spec),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return fail(super::fork_error(e)),
    };
    send(spec.status_fd, &Msg::Init(init_pid.as_raw()));
    supervise(&spec, &sfd, init_pid)
}

/// Tells the launcher our network namespace exists, then waits until it
/// has put the veth in (one byte on the lifeline); EOF: it gave up.
fn wait_for_net(spec: &HelperSpec) -> bool {
    send(spec.status_fd, &Msg::NetNs);
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading one byte into our buffer from the lifeline fd.
        let n = unsafe { libc::read(spec.lifeline_fd, b.as_mut_ptr().cast(), 1) };
        if n < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
            continue;
        }
        return n == 1;
    }
}

/// unshare everything asked for; map the user first when rootless.
fn enter_namespaces(spec: &HelperSpec) -> Result<(), String> {
    let has = |ns| spec.namespaces.contains(&ns);
    let mut flags = CloneFlags::empty();
    for (ns, f) in [
        (Namespace::User, CloneFlags::CLONE_NEWUSER),
        (Namespace::Mount, CloneFlags::CLONE_NEWNS),
        (Namespace::Uts, CloneFlags::CLONE_NEWUTS),
        (Namespace::Ipc, CloneFlags::CLONE_NEWIPC),
        (Namespace::Net, CloneFlags::CLONE_NEWNET),
        (Namespace::Cgroup, CloneFlags::CLONE_NEWCGROUP),
        (Namespace::Pid, CloneFlags::CLONE_NEWPID),
    ] {
        if has(ns) {
            flags |= f;
        }
    }
    // One call: the kernel creates the user namespace first and makes it the
    // owner of the others, so they are usable with the caps it grants us.
    // The cgroup namespace's root is the group this process is in right now:
    // the workload's group (joined before exec).
    unshare(flags).map_err(|e| {
        let names: Vec<&str> = spec.namespaces.iter().map(|n| n.name()).collect();
        let hint = match e {
            nix::errno::Errno::EPERM if spec.map_user.is_some() => {
                " (unprivileged user namespaces are disabled here: see kernel.unprivileged_userns_clone / user.max_user_namespaces, or AppArmor's restrict_unprivileged_userns)"
            }
            nix::errno::Errno::EPERM => " (needs root or a user namespace)",
            nix::errno::Errno::ENOSPC => " (user.max_*_namespaces reached)",
            _ => "",
        };
        format!("unshare({}): {}{hint}", names.join(","), e.desc())
    })?;
    if let Some((uid, gid)) = spec.map_user {
        map_root(uid, gid)?;
    }
    if has(Namespace::Mount) {
        rootfs::make_private()?;
    }
    if has(Namespace::Uts) {
        let h = spec.hostname.as_deref().unwrap_or(&spec.name);
        nix::unistd::sethostname(h).map_err(|e| format!("sethostname {h}: {}", e.desc()))?;
    }
    if has(Namespace::Net) {
        net::loopback_up().map_err(|e| format!("bringing lo up: {}", e.desc()))?;
    }
    Ok(())
}

/// Maps the caller's uid/gid to root inside the new user namespace. The
/// kernel requires `setgroups` = deny before an unprivileged gid_map, and
/// each map can be written once.
fn map_root(uid: u32, gid: u32) -> Result<(), String> {
    let w = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), &text)
            .map_err(|e| format!("writing {text:?} to /proc/self/{file}: {e}"))
    };
    w("setgroups", "deny".into())?;
    w("uid_map", format!("0 {uid} 1"))?;
    w("gid_map", format!("0 {gid} 1"))
}

/// Waits for init while forwarding signals and watching the lifeline.
fn supervise(spec: &HelperSpec, sfd: &SignalFd, init: Pid) -> i32 {
    // SAFETY: the lifeline fd was handed to us by the launcher and is open.
    let lifeline = unsafe { BorrowedFd::borrow_raw(spec.lifeline_fd) };
    let mut lifeline_open = true;
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if lifeline_open {
            fds.push(PollFd::new(lifeline, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
        let lifeline_ev = fds
            .get(1)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty());
        if lifeline_open && !lifeline_ev.is_empty() {
            // The launcher closed its end or died: nobody will wait for the
            // workload, so end it (SIGKILL to a pid namespace's init ends the namespace).
            lifeline_open = false;
            let _ = kill(init, Signal::SIGKILL);
        }
        while let Ok(Some(si)) = sfd.read_signal() {
            let Ok(sig) = Signal::try_from(si.ssi_signo as i32) else {
                continue;
            };
            // A terminal's Ctrl-C (SI_KERNEL) already reached the whole
            // foreground process group, workload included: forwarding it
            // would deliver it twice.
            if sig != Signal::SIGCHLD && si.ssi_code != libc::SI_KERNEL {
                let _ = kill(init, sig);
            }
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == init => return code,
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => return 128 + sig as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
