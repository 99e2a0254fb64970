//! `launch`: validate, create and limit the group, start the helper inside
//! it, wait until the workload runs. On any error, undo what was done.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::error::LaunchError;
use super::spec::{self, HelperSpec, LaunchSpec, Namespace, StdioMode};
use super::stale;
use super::status::{Msg, StatusReader};
use super::workload::Workload;
use crate::cgroup::{Layout, Version};

/// How long `launch` waits for the workload to start before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(15);

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
        if h.is_empty() || h.len() > 64 || h.chars().any(|c| c.is_control()) {
            return Err(LaunchError::Conflict(format!(
                "hostname {h:?} must be 1–64 characters, none of them control characters"
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
            // With an overlay the tree to look in is its lower layer: the
            // mount point stays empty until init mounts it.
            let look = match &spec.overlay {
                Some(o) => spec::check_rootfs(&o.lower)?,
                None => abs.clone(),
            };
            (spec::resolve_in_rootfs(&look, argv0)?, Some(abs))
        }
        None => (
            spec::resolve_host(argv0)?.to_string_lossy().into_owned(),
            None,
        ),
    };
    // --net veth: checked (subnet free, ports bindable) before anything is made.
    let mut listeners = Vec::new();
    if let Some(net) = &spec.net {
        if !root {
            return Err(LaunchError::Conflict(
                "--net veth needs root (it creates network devices)".into(),
            ));
        }
        if !has(Namespace::Net) {
            return Err(LaunchError::Conflict(
                "--net veth needs a network namespace of its own (remove net from --share)".into(),
            ));
        }
        crate::net::kernel_support().map_err(LaunchError::Net)?;
        listeners = crate::net::prepare(net).map_err(LaunchError::Conflict)?;
    }
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

    if root && !spec.privileged && !has(Namespace::Mount) && use_group {
        notes.push(
            "with --share mount the workload sees the host's cgroupfs read-write: \
             as root it can change its own limits"
                .into(),
        );
    }
    let (name, group, state_file) = if use_group {
        let (name, group, state) = create_named_group(layout, spec, argv0)?;
        (name, group, Some(state))
    } else {
        let name = match &spec.name {
            Some(n) => {
                spec::validate_name(n)?;
                n.clone()
            }
            None => format!(
                "{}-{}",
                spec::name_stem(spec.name_stem.as_deref().unwrap_or(argv0)),
                std::process::id()
            ),
        };
        (name, String::new(), None)
    };
    // The bridge this launch will use, recorded before it exists: stale
    // cleanup leaves a bridge alone while a live launch names it.
    if let (Some(net), Some(s)) = (&spec.net, &state_file) {
        stale::record_net(
            s,
            &crate::net::NetState {
                bridge: net.bridge.clone(),
                veth: String::new(),
                addr: std::net::Ipv4Addr::UNSPECIFIED,
                prefix: net.subnet.prefix,
                rate_in: None,
                rate_out: None,
                nat: net.nat,
                netns: crate::net::own_netns(),
                setting_up: true,
            },
        );
    }
    // From here on, undo everything on error.
    let undo = |e: LaunchError| -> LaunchError {
        if !group.is_empty() {
            let _ = layout.remove_group(&group, Duration::from_secs(3));
            layout.remove_parent_if_empty("cgdash");
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
        new_session: spec.stdio.detached(),
        foreground_tty: spec.stdio == StdioMode::Inherit && in_tty_foreground(),
        privileged: spec.privileged,
        env: spec.env.clone(),
        cwd: spec.cwd.clone(),
        user: spec.user.clone(),
        overlay: spec.overlay.clone(),
        wait_net: spec.net.is_some(),
        status_fd: status_w.as_raw_fd(),
        lifeline_fd: life_r.as_raw_fd(),
    };
    let json = serde_json::to_string(&hspec)
        .map_err(|e| undo(LaunchError::io("spec", std::io::Error::other(e))))?;
    // Readable in ps and in the dashboard: `cgdash-launch NAME` (argv[0] is
    // how main recognises the helper); the spec travels in the environment,
    // which the helper clears before anything else runs.
    let mut cmd = Command::new(&helper_exe);
    cmd.arg0(super::HELPER_ARGV0)
        .arg(&name)
        .env(super::SPEC_ENV, json);
    match spec.stdio {
        StdioMode::Inherit => {}
        StdioMode::Null => {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }
        StdioMode::Pipe(fd) => {
            // SAFETY: the caller keeps `fd` open until `launch` returns (see
            // `StdioMode::Pipe`); we only duplicate it here.
            let out = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let dup = |what| {
                out.try_clone_to_owned()
                    .map_err(|e| LaunchError::io(what, e))
            };
            let (o, e) = match (dup("output pipe"), dup("output pipe")) {
                (Ok(o), Ok(e)) => (o, e),
                (Err(err), _) | (_, Err(err)) => return Err(undo(err)),
            };
            cmd.stdin(Stdio::null())
                .stdout(Stdio::from(o))
                .stderr(Stdio::from(e));
        }
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
    if let Some(s) = &state_file {
        // What stale cleanup may end if we die while the group is frozen.
        stale::record_helper(s, child.id() as i32);
    }
    drop(status_w);
    drop(life_r);
    let foreground_tty = hspec.foreground_tty;
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
        foreground_tty,
        attached: Default::default(),
        net: None,
    };
    // Wait for "started" (and init's pid) or an error.
    let end = Instant::now() + START_TIMEOUT;
    let mut started = false;
    let mut error: Option<LaunchError> = None;
    while Instant::now() < end && !w.status.eof() {
        for m in w.status.read(Duration::from_millis(100)) {
            match m {
                Msg::Started => started = true,
                Msg::Error(e) => error = Some(LaunchError::Setup(e)),
                Msg::ExecFailed(errno) => {
                    error = Some(LaunchError::Exec {
                        exe: hspec.exe.clone(),
                        errno,
                    })
                }
                Msg::Init(p) => w.init_pid = Some(p),
                Msg::NetNs => match net_up(spec, &mut w, &mut listeners) {
                    Ok(()) => {}
                    Err(e) => error = Some(e),
                },
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
            Some(e) => e,
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

/// The helper waits in its new network namespace: put the veth in, record
/// it in the state file, then let the helper go on (one byte on the lifeline).
fn net_up(
    spec: &LaunchSpec,
    w: &mut Workload,
    listeners: &mut Vec<(crate::net::Publish, crate::net::proxy::Listener)>,
) -> Result<(), LaunchError> {
    let (Some(net), Some(helper)) = (&spec.net, w.helper.as_ref().map(|c| c.id())) else {
        return Err(LaunchError::Setup(
            "the helper asked for a network it was not given".into(),
        ));
    };
    let ns = PathBuf::from(format!("/proc/{helper}/ns/net"));
    let record = |st: &crate::net::NetState| {
        if let Some(s) = &w.state_file {
            stale::record_net(s, st);
        }
    };
    // Recorded twice: the veth's name once it exists (before it joins the
    // bridge), then everything once it is up.
    let handle =
        crate::net::setup(net, &ns, std::mem::take(listeners), record).map_err(LaunchError::Net)?;
    record(&handle.state);
    if let Some(hosts) = &spec.etc_hosts {
        // As a runtime writes it: the workload's own address and hostname.
        let host = spec.hostname.as_deref().unwrap_or(&w.name);
        let line = format!("{}\t{host}\n", handle.state.addr);
        std::fs::OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(hosts)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| LaunchError::io(format!("adding eth0 to {}", hosts.display()), e))?;
    }
    w.net = Some(handle.state.clone());
    w.attach(Box::new(handle));
    if let Some(l) = &w.lifeline {
        nix::unistd::write(l, b"1").map_err(|e| LaunchError::nix("lifeline", e))?;
    }
    Ok(())
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
            let stem = spec::name_stem(spec.name_stem.as_deref().unwrap_or(argv0));
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
    Err(LaunchError::Setup(
        "no free default name (1000 in use); pass --name".into(),
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

/// Whether stdin is a terminal whose foreground process group is ours.
fn in_tty_foreground() -> bool {
    let stdin = std::io::stdin();
    match nix::unistd::tcgetpgrp(&stdin) {
        Ok(fg) => fg == nix::unistd::getpgrp(),
        Err(_) => false,
    }
}
