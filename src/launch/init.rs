//! Our init: pid 1 of the workload's pid namespace (just a reaping parent when
//! the pid namespace is shared). A plain program as pid 1 would leave orphans
//! as zombies and ignore SIGTERM (pid 1 gets no default signal actions), so
//! this small loop sits there instead: it mounts what must be mounted from
//! inside the namespace, forks and execs the workload (pid 2), reaps every
//! orphan, forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT to the workload, and exits
//! with the workload's code (128+N if signal N killed it). When it exits the
//! kernel kills whatever is left in the namespace.

use std::ffi::CString;
use std::os::fd::AsRawFd;

use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::helper::handled_signals;
use super::rootfs;
use super::spec::{HelperSpec, Namespace};
use super::status::{send, Msg};

fn die(code: i32) -> ! {
    // SAFETY: _exit ends this forked process without running the parent's
    // atexit handlers or flushing buffers it copied.
    unsafe { libc::_exit(code) }
}

pub fn run(spec: &HelperSpec) -> ! {
    // The helper is single-threaded, so "parent thread died" = helper died.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let _ = nix::sys::prctl::set_name(c"cgdash-init");
    super::title::set_cmdline(&["cgdash-init", &spec.name]);
    // SAFETY: closing our copy of an fd only the helper watches.
    unsafe {
        libc::close(spec.lifeline_fd);
    }
    let fail = |m: String| -> ! {
        send(spec.status_fd, &Msg::Error(m));
        die(125)
    };
    if !spec.namespaces.contains(&Namespace::Pid) {
        // Not pid 1: become the reaper of orphaned descendants anyway.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    if let Err(m) = rootfs::setup(spec) {
        fail(m);
    }
    let exe = CString::new(spec.exe.as_bytes());
    let argv: Result<Vec<CString>, _> = spec
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect();
    let (Ok(exe), Ok(argv)) = (exe, argv) else {
        fail("the command contains a NUL byte".into())
    };
    let env: Option<Vec<CString>> = match &spec.env {
        Some(vars) => match vars.iter().map(|v| CString::new(v.as_bytes())).collect() {
            Ok(v) => Some(v),
            Err(_) => fail("the environment contains a NUL byte".into()),
        },
        None => None,
    };
    if let Some(dir) = &spec.cwd {
        // After pivot_root: the image's tree, made if missing (as runtimes do).
        let dir = std::path::Path::new("/").join(dir);
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::env::set_current_dir(&dir))
        {
            fail(format!("working directory {}: {e}", dir.display()));
        }
    }
    let user = spec.user.as_ref().map(|(u, g, groups)| {
        let groups: Vec<nix::unistd::Gid> = groups
            .iter()
            .map(|g| nix::unistd::Gid::from_raw(*g))
            .collect();
        (
            nix::unistd::Uid::from_raw(*u),
            nix::unistd::Gid::from_raw(*g),
            groups,
        )
    });
    // Reports a failed exec back: the write end closes on a successful exec.
    let (err_r, err_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => fail(format!("pipe: {}", e.desc())),
    };
    // SAFETY: init is single-threaded (forked from the single-threaded helper).
    let workload = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(err_r);
            if spec.foreground_tty {
                take_terminal();
            }
            exec_workload(
                &exe,
                &argv,
                env.as_deref(),
                user.as_ref(),
                err_w.as_raw_fd(),
                spec.privileged,
            )
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => fail(super::fork_error(e)),
    };
    drop(err_w);
    // The child's report: nothing (EOF) once its exec succeeded, or
    // EXEC_FAILED + errno, or CAPS_FAILED + a message.
    let mut report = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::fs::File::from(err_r), &mut report);
    match report.split_first() {
        Some((&EXEC_FAILED, errno)) if errno.len() == 4 => {
            let mut b = [0u8; 4];
            b.copy_from_slice(errno);
            let _ = waitpid(workload, None);
            send(spec.status_fd, &Msg::ExecFailed(i32::from_ne_bytes(b)));
            die(super::error::exec_exit_code(i32::from_ne_bytes(b)))
        }
        Some((&USER_FAILED, m)) => {
            let _ = waitpid(workload, None);
            fail(format!(
                "switching to the image's user: {}",
                String::from_utf8_lossy(m)
            ))
        }
        Some((&CAPS_FAILED, m)) => {
            let _ = waitpid(workload, None);
            fail(format!(
                "restricting the workload's capabilities: {} (not started; --privileged skips this)",
                String::from_utf8_lossy(m)
            ))
        }
        _ => {}
    }
    send(spec.status_fd, &Msg::Started);
    reap_and_forward(spec, workload)
}

/// In the forked workload process: a process group of its own, made the
/// terminal's foreground, so the terminal's Ctrl-C goes to the workload alone
/// and an interactive shell's job control works (without this, a shell's
/// pgrp juggling hits the launcher's group, which is invisible in the new pid
/// namespace). SIGTTOU is blocked so the call from a background group works.
fn take_terminal() {
    let me = nix::unistd::getpid();
    if nix::unistd::setpgid(me, me).is_err() {
        return;
    }
    let mut ttou = SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let _ = ttou.thread_block();
    let _ = nix::unistd::tcsetpgrp(std::io::stdin(), me);
}

/// First byte of the workload's report to init when it could not exec.
const EXEC_FAILED: u8 = b'E';
const CAPS_FAILED: u8 = b'C';
const USER_FAILED: u8 = b'U';

/// The image's user: (uid, gid, supplementary groups).
type User = (nix::unistd::Uid, nix::unistd::Gid, Vec<nix::unistd::Gid>);

/// In the forked workload process: undo what init set up for itself, drop
/// the capabilities a workload does not need (unless `privileged`), then exec.
fn exec_workload(
    exe: &CString,
    argv: &[CString],
    env: Option<&[CString]>,
    user: Option<&User>,
    err_fd: i32,
    privileged: bool,
) -> ! {
    // Our signal mask and ignored dispositions would survive exec: the
    // workload starts with the defaults (Rust ignores SIGPIPE at startup).
    let _ = SigSet::all().thread_unblock();
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in [
        Signal::SIGPIPE,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: restoring the default action is always sound.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
    // With a shared pid namespace nothing else would end it if init died.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // Last, so nothing above needs a capability dropped here.
    if !privileged {
        if let Err(m) = super::caps::restrict() {
            let mut b = vec![CAPS_FAILED];
            b.extend_from_slice(m.as_bytes());
            // SAFETY: writing a local buffer to our error pipe.
            unsafe {
                libc::write(err_fd, b.as_ptr().cast(), b.len());
            }
            die(125)
        }
    }
    // The image's user, after the capabilities are cut (CAP_SETUID and
    // CAP_SETGID are kept for this); the kernel clears the rest on setuid.
    if let Some((uid, gid, groups)) = user {
        let r = nix::unistd::setgroups(groups)
            .map_err(|e| format!("setgroups: {}", e.desc()))
            .and_then(|_| {
                nix::unistd::setgid(*gid).map_err(|e| format!("setgid {gid}: {}", e.desc()))
            })
            .and_then(|_| {
                nix::unistd::setuid(*uid).map_err(|e| format!("setuid {uid}: {}", e.desc()))
            });
        if let Err(m) = r {
            let mut b = vec![USER_FAILED];
            b.extend_from_slice(m.as_bytes());
            // SAFETY: writing a local buffer to our error pipe.
            unsafe {
                libc::write(err_fd, b.as_ptr().cast(), b.len());
            }
            die(125)
        }
    }
    let res = match env {
        Some(env) => nix::unistd::execve(exe, argv, env),
        None => nix::unistd::execv(exe, argv),
    };
    let e = match res {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let mut b = [EXEC_FAILED, 0, 0, 0, 0];
    b[1..].copy_from_slice(&(e as i32).to_ne_bytes());
    // SAFETY: writing 5 bytes from a local buffer to our error pipe.
    unsafe {
        libc::write(err_fd, b.as_ptr().cast(), b.len());
    }
    die(super::error::exec_exit_code(e as i32))
}

fn reap_and_forward(spec: &HelperSpec, workload: Pid) -> ! {
    let mask = handled_signals();
    loop {
        // SAFETY: zeroed siginfo is a valid out-parameter for sigwaitinfo.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid set and out-pointer.
        let r = unsafe { libc::sigwaitinfo(mask.as_ref(), &mut info) };
        let Ok(sig) = Signal::try_from(r) else {
            continue; // EINTR
        };
        if sig != Signal::SIGCHLD {
            // Terminal signals (SI_KERNEL) reached the workload directly.
            if info.si_code != libc::SI_KERNEL {
                let _ = kill(workload, sig);
            }
            continue;
        }
        // Reap everything: the workload and orphans re-parented to us.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == workload => {
                    end_descendants(spec);
                    send(spec.status_fd, &Msg::Exit(code));
                    die(code)
                }
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == workload => {
                    end_descendants(spec);
                    send(spec.status_fd, &Msg::Signal(s as i32));
                    die(128 + s as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

/// With a shared pid namespace nothing ends the workload's leftovers when we
/// exit (in a pid namespace of its own, the kernel kills them all when init
/// exits). As child subreaper, every orphan became our child: kill them
/// until none is left, so "workload ended" means the same in both modes.
fn end_descendants(spec: &HelperSpec) {
    if spec.namespaces.contains(&Namespace::Pid) {
        return;
    }
    let me = nix::unistd::getpid();
    for _ in 0..200 {
        let kids =
            std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap_or_default();
        let kids: Vec<i32> = kids
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if kids.is_empty() {
            return;
        }
        for k in kids {
            let _ = kill(Pid::from_raw(k), Signal::SIGKILL);
        }
        while let Ok(st) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            if st == WaitStatus::StillAlive {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
