//! Issue 11, end to end in tmux (run under `flock /tmp/cgdash-demo.lock`):
//! a lost terminal still cleans up (item 3), and `f` refuses to freeze the
//! group cgdash runs in (item 6). Groups made here: `cgdash/ha-*-PID` (by
//! cgdash itself) and `cgdash-test-PID/ha-*` (tests/common), both removed
//! even on failure; every workload is `sleep` with a bound.

mod common;
mod tmux;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cgdash::cgroup::Layout;
use tmux::Tmux;

const SEC: Duration = Duration::from_secs(1);

/// Whether `pid` still runs (a zombie waiting for its reaper does not).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn state_file(name: &str) -> PathBuf {
    Path::new("/run/cgdash").join(format!("{name}.json"))
}

/// Removes what a failed run left: cgdash's group of `name` (our own: made by
/// the cgdash this test started) and its state file.
struct Leftovers<'a> {
    layout: &'a Layout,
    name: String,
    pid: Option<i32>,
}

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.filter(|p| running(*p)) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let group = format!("cgdash/{}", self.name);
        let _ = self.layout.apply(
            &group,
            &[cgdash::cgroup::Setting::parse("freeze=false").unwrap()],
        );
        for p in self.layout.procs(&group) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.layout.remove_group(&group, Duration::from_secs(3));
        let _ = std::fs::remove_file(state_file(&self.name));
    }
}

fn kill_session(t: &Tmux, session: &str) {
    let socket = format!("cgdash-test-{}", std::process::id());
    let st = Command::new("tmux")
        .args(["-L", &socket, "kill-session", "-t", session])
        .status()
        .expect("tmux kill-session");
    assert!(st.success(), "kill-session failed");
    let _ = t;
}

/// Closes the terminal under a cgdash that launched `name` and checks that
/// cgdash exits and removes the group and its state file within a deadline.
fn hangup_cleans_up(layout: &Layout, t: Tmux, session: &str, name: &str) {
    let group = format!("cgdash/{name}");
    let pid = t.pid().expect("cgdash's pid (the pane's)");
    let mut left = Leftovers {
        layout,
        name: name.to_string(),
        pid: Some(pid),
    };
    let end = Instant::now() + 20 * SEC;
    while !(layout.group_exists(&group) && state_file(name).exists()) {
        assert!(
            Instant::now() < end,
            "{group} and its state file never appeared:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let workload = layout.procs(&group);
    assert!(!workload.is_empty(), "{group} runs the workload");
    kill_session(&t, session);
    let end = Instant::now() + 20 * SEC;
    let gone = || {
        !running(pid)
            && !layout.group_exists(&group)
            && !state_file(name).exists()
            && !workload.iter().any(|p| running(*p))
    };
    while !gone() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !running(pid),
        "cgdash (pid {pid}) still runs after the hangup"
    );
    assert!(
        !layout.group_exists(&group),
        "{group} left behind after the hangup (cgdash aborted before cleanup?)"
    );
    assert!(
        !state_file(name).exists(),
        "{} left behind after the hangup",
        state_file(name).display()
    );
    let alive: Vec<i32> = workload.into_iter().filter(|p| running(*p)).collect();
    assert!(alive.is_empty(), "workload processes left: {alive:?}");
    left.pid = None;
}

#[test]
fn ha_hangup_with_a_workload_launched_by_n_cleans_up() {
    let Some(layout) = common::live("ha_hangup_n") else {
        return;
    };
    let name = format!("ha-hup-n-{}", std::process::id());
    let Some(t) = Tmux::start(
        "ha-hup-n",
        80,
        24,
        &[("TERM", "xterm-256color")],
        &[common::cgdash_bin()],
    ) else {
        return;
    };
    let session = format!("ha-hup-n-{}", std::process::id());
    t.wait_for(15 * SEC, |s| s.contains("Groups"))
        .unwrap_or_else(|s| panic!("no dashboard:\n{s}"));
    t.key("n");
    t.wait_for(5 * SEC, |s| s.contains("Launch"))
        .unwrap_or_else(|s| panic!("no launch form:\n{s}"));
    t.text("sleep 120");
    t.key("Tab");
    t.text(&name);
    t.key("Enter");
    t.wait_for(15 * SEC, |s| s.contains("launched pid"))
        .unwrap_or_else(|s| panic!("not launched:\n{s}"));
    hangup_cleans_up(&layout, t, &session, &name);
}

#[test]
fn ha_hangup_under_run_tui_cleans_up() {
    let Some(layout) = common::live("ha_hangup_run_tui") else {
        return;
    };
    let name = format!("ha-hup-tui-{}", std::process::id());
    let Some(t) = Tmux::start(
        "ha-hup-tui",
        80,
        24,
        &[("TERM", "xterm-256color")],
        &[
            common::cgdash_bin(),
            "run",
            "--tui",
            "--name",
            &name,
            "--",
            "sleep",
            "120",
        ],
    ) else {
        return;
    };
    let session = format!("ha-hup-tui-{}", std::process::id());
    t.wait_for(15 * SEC, |s| s.contains("Groups"))
        .unwrap_or_else(|s| panic!("no dashboard:\n{s}"));
    hangup_cleans_up(&layout, t, &session, &name);
}

/// Whether the freezer says `group` is frozen (v1 freezer.state, v2 cgroup.freeze).
fn frozen(layout: &Layout, group: &str) -> bool {
    for h in &layout.hierarchies {
        let d = h.dir(group);
        if let Ok(s) = std::fs::read_to_string(d.join("freezer.state")) {
            return s.trim() != "THAWED";
        }
        if let Ok(s) = std::fs::read_to_string(d.join("cgroup.freeze")) {
            return s.trim() == "1";
        }
    }
    false
}

#[test]
fn ha_f_refuses_to_freeze_the_group_cgdash_runs_in() {
    let Some(layout) = common::live("ha_f_refuses_own_group") else {
        return;
    };
    // cgdash runs inside a test group of ours: the shell moves itself in
    // (every hierarchy), then becomes cgdash.
    let g = common::TestGroup::new(&layout, "ha-self");
    let joins: Vec<String> = layout
        .procs_files(&g.path)
        .iter()
        .map(|f| format!("echo $$ > '{}'", f.display()))
        .collect();
    let script = format!(
        "{} && exec timeout -s KILL 120 '{}'",
        joins.join(" && "),
        common::cgdash_bin()
    );
    let Some(t) = Tmux::start(
        "ha-self",
        200,
        50,
        &[("TERM", "xterm-256color")],
        &["sh", "-c", &script],
    ) else {
        return;
    };
    t.wait_for(15 * SEC, |s| s.contains("Groups"))
        .unwrap_or_else(|s| panic!("no dashboard:\n{s}"));
    // Select our group: filter on its name, then the last row.
    t.key("/");
    t.text("ha-self");
    t.key("Enter");
    t.key("G");
    t.wait_for(5 * SEC, |s| s.contains("ha-self"))
        .unwrap_or_else(|s| panic!("group not shown:\n{s}"));
    std::thread::sleep(SEC);
    t.key("f");
    let s = t.wait_for(5 * SEC, |s| {
        s.contains("not frozen") || s.contains("Change a group")
    });
    // Whatever the answer, never leave it frozen (y only under a broken fix).
    if s.as_ref().is_ok_and(|s| s.contains("Change a group")) {
        t.key("y");
        std::thread::sleep(2 * SEC);
    }
    let was_frozen = frozen(&layout, &g.path);
    let s = s.unwrap_or_else(|s| s);
    assert!(
        s.contains("not frozen") && s.contains("cgdash itself"),
        "f should be refused in the group cgdash runs in:\n{s}"
    );
    assert!(!was_frozen, "{} was frozen", g.path);
    // cgdash still answers.
    t.key("q");
    t.wait_for(10 * SEC, |_| t.dead())
        .unwrap_or_else(|s| panic!("cgdash did not quit:\n{s}"));
}

#[test]
fn ha_launch_form_runs_cgdash_itself_and_keeps_its_output() {
    let Some(layout) = common::live("ha_launch_output") else {
        return;
    };
    let name = format!("ha-out-{}", std::process::id());
    let mut left = Leftovers {
        layout: &layout,
        name: name.clone(),
        pid: None,
    };
    // PATH without cgdash: the form's own hint must work anyway.
    let Some(t) = Tmux::start(
        "ha-out",
        80,
        24,
        &[("TERM", "xterm-256color"), ("PATH", "/usr/bin:/bin")],
        &[common::cgdash_bin()],
    ) else {
        return;
    };
    left.pid = t.pid();
    t.wait_for(15 * SEC, |s| s.contains("Groups"))
        .unwrap_or_else(|s| panic!("no dashboard:\n{s}"));
    t.key("n");
    t.wait_for(5 * SEC, |s| s.contains("Launch"))
        .unwrap_or_else(|s| panic!("no launch form:\n{s}"));
    // Prints its version and exits.
    t.text("cgdash --version");
    t.key("Tab");
    t.text(&name);
    t.key("Enter");
    // Launched (it exits at once, so the status may already say so) and
    // selected once the sampler has seen its group.
    let scope = format!("Processes: cgdash/{name}");
    t.wait_for(15 * SEC, |s| {
        s.contains(&scope) && (s.contains("launched pid") || s.contains("exited with code 0"))
    })
    .unwrap_or_else(|s| panic!("`cgdash --version` not launched:\n{s}"));
    t.key("o");
    let s = t
        .wait_for(10 * SEC, |s| {
            s.contains("Output of") && s.contains("cgdash 0.")
        })
        .unwrap_or_else(|s| panic!("output not shown on o:\n{s}"));
    assert!(s.contains(&name), "{s}");
    t.key("Escape");
    // Esc and q read together are Alt-q (which closes the output, as q
    // does there): send q only once the output is closed.
    t.wait_for(5 * SEC, |s| !s.contains("Output of"))
        .unwrap_or_else(|s| {
            panic!(
                "output not closed on Esc:
{s}"
            )
        });
    t.key("q");
    // Still running (sh waits): confirm.
    if t.wait_for(3 * SEC, |s| s.contains("Quit?")).is_ok() {
        t.key("y");
    }
    t.wait_for(10 * SEC, |_| t.dead())
        .unwrap_or_else(|s| panic!("cgdash did not quit:\n{s}"));
    let group = format!("cgdash/{name}");
    let end = Instant::now() + 10 * SEC;
    while layout.group_exists(&group) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!layout.group_exists(&group), "{group} left after q");
    left.pid = None;
}

/// EIO on the terminal without any SIGHUP: cgdash on a pty that is not its
/// controlling terminal (so closing the master sends no signal), under
/// `run --tui`. Closing the master must still end in the normal cleanup
/// and exit 0, quietly — at once, not at the next frame (the interval is a
/// minute), and without spinning on the dead terminal through the cleanup
/// (the workload ignores SIGTERM, so its stop takes the 2 s grace; the
/// input thread spun on it at 100% until the process exited: crossterm's
/// reader retries end-of-file forever).
#[test]
fn ha_terminal_eio_without_hangup_cleans_up() {
    use std::os::fd::AsFd;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;

    let Some(layout) = common::live("ha_terminal_eio") else {
        return;
    };
    let name = format!("ha-eio-{}", std::process::id());
    let mut left = Leftovers {
        layout: &layout,
        name: name.clone(),
        pid: None,
    };
    let pty = nix::pty::openpty(
        Some(&nix::pty::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }),
        None,
    )
    .expect("openpty");
    // openpty's fds are inherited by default: cgdash holding the master
    // would keep its own terminal alive.
    nix::fcntl::fcntl(
        &pty.master,
        nix::fcntl::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .unwrap();
    let flags = nix::fcntl::fcntl(&pty.master, nix::fcntl::F_GETFL).unwrap();
    nix::fcntl::fcntl(
        &pty.master,
        nix::fcntl::F_SETFL(
            nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
        ),
    )
    .unwrap();
    let slave = || Stdio::from(pty.slave.as_fd().try_clone_to_owned().unwrap());
    let mut cmd = Command::new(common::cgdash_bin());
    cmd.args(["--interval", "60s", "run", "--tui", "--name", &name, "--"])
        .args(["sh", "-c", "trap '' TERM; exec sleep 120"])
        .env("TERM", "xterm-256color")
        .stdin(slave())
        .stdout(slave())
        .stderr(slave());
    // A session of its own and no controlling terminal: no SIGHUP ever.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    // Reaped by `wait_for_exit` (waitpid, polled), not `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let pid = cmd.spawn().expect("spawn cgdash").id() as i32;
    left.pid = Some(pid);
    drop(pty.slave);
    let master = pty.master;
    let drain = || {
        let mut buf = [0u8; 65536];
        while matches!(nix::unistd::read(&master, &mut buf), Ok(n) if n > 0) {}
    };
    let group = format!("cgdash/{name}");
    let end = Instant::now() + 20 * SEC;
    while !(layout.group_exists(&group) && state_file(&name).exists()) {
        assert!(Instant::now() < end, "{group} never appeared");
        drain();
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let it draw a few frames, then the terminal goes away.
    for _ in 0..10 {
        drain();
        std::thread::sleep(Duration::from_millis(100));
    }
    let input = input_thread(pid);
    let closed = Instant::now();
    drop(master);
    // The input thread's CPU over 0.8 s of the workload's 2 s grace
    // (cgdash noticed the hangup well before: at once, or at the next
    // frame a minute later, when the thread has spun all along). Its own
    // CPU, not cgdash's: what the rest of the exit costs depends on the
    // machine (~20 ms here, ~0.5 s in the emulated v2 VM's debug build).
    std::thread::sleep((closed + SEC).saturating_duration_since(Instant::now()));
    let before = cpu_time(&input);
    std::thread::sleep(Duration::from_millis(800));
    let spun = cpu_time(&input).saturating_sub(before);
    assert!(
        wait_for_exit(pid).is_none(),
        "cgdash exited within 1.8 s of its terminal going away, before the grace its workload should have taken"
    );
    let end = closed + 20 * SEC;
    let status = loop {
        if let Some(status) = wait_for_exit(pid) {
            break status;
        }
        assert!(
            Instant::now() < end,
            "cgdash still runs 20 s after its terminal went away"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = closed.elapsed();
    left.pid = None;
    // The cleanup's own wait (the 2 s grace) and margin; the next frame,
    // which used to notice the dead terminal, would be up to 60 s away.
    assert!(
        took < 10 * SEC,
        "cgdash took {took:?} to notice its terminal was gone"
    );
    // Parked: 0; spinning: the whole 0.8 s, or its share of a busy CPU.
    assert!(
        spun < Duration::from_millis(200),
        "cgdash's input thread used {spun:?} of CPU in 0.8 s after its terminal went away (spinning on it?)"
    );
    assert!(!layout.group_exists(&group), "{group} left behind");
    assert!(!state_file(&name).exists(), "state file left behind");
    assert!(
        status.code().is_some(),
        "cgdash died of a signal (abort?): {status:?}"
    );
}

/// `/proc/PID/task/TID` of cgdash's thread that reads the terminal
/// (`cgdash-input`).
fn input_thread(pid: i32) -> PathBuf {
    let tasks = PathBuf::from(format!("/proc/{pid}/task"));
    std::fs::read_dir(&tasks)
        .expect("cgdash's threads")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|t| std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == "cgdash-input"))
        .expect("cgdash's input thread")
}

/// User + system CPU time of a task (`/proc/PID` or `/proc/PID/task/TID`),
/// from its `stat`, parsed and converted as the sampler does.
fn cpu_time(task: &Path) -> Duration {
    let line = std::fs::read(task.join("stat")).expect("stat");
    let st = cgdash::process::parse_stat(&line).expect("a stat line");
    let units = cgdash::process::Units::read(Path::new("/proc")).expect("clock units");
    Duration::from_nanos(units.ticks_to_ns(st.utime + st.stime))
}

/// Reaps `pid` if it has exited.
fn wait_for_exit(pid: i32) -> Option<std::process::ExitStatus> {
    use std::os::unix::process::ExitStatusExt;
    let mut status = 0;
    // SAFETY: a plain out-parameter; `pid` is our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
    (r == pid).then(|| std::process::ExitStatus::from_raw(status))
}

/// Reads the CPU quota of `group` in % (v1 cfs_quota_us or v2 cpu.max).
fn quota_percent(layout: &Layout, group: &str) -> Option<f64> {
    for h in &layout.hierarchies {
        let d = h.dir(group);
        if let Ok(q) = std::fs::read_to_string(d.join("cpu.cfs_quota_us")) {
            let p: f64 = std::fs::read_to_string(d.join("cpu.cfs_period_us"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            return q.trim().parse::<f64>().ok().map(|q| q * 100.0 / p);
        }
        if let Ok(m) = std::fs::read_to_string(d.join("cpu.max")) {
            let mut it = m.split_whitespace();
            let q: f64 = it.next()?.parse().ok()?;
            let p: f64 = it.next()?.parse().ok()?;
            return Some(q * 100.0 / p);
        }
    }
    None
}

/// `+` × 8 and `u` × 5 typed at once end at the right values. A check of the
/// whole path on a real kernel; it does not prove the ordering (real writes
/// are too quick to overtake one another here) — the writer's unit test
/// `ha_writes_to_a_group_land_and_report_in_order` does.
#[test]
fn ha_plus_pressed_fast_lands_in_order_and_undoes_in_order() {
    let Some(layout) = common::live("ha_plus_fast") else {
        return;
    };
    let name = format!("ha-plus-{}", std::process::id());
    let group = format!("cgdash/{name}");
    let mut left = Leftovers {
        layout: &layout,
        name: name.clone(),
        pid: None,
    };
    let Some(t) = Tmux::start(
        "ha-plus",
        200,
        50,
        &[("TERM", "xterm-256color")],
        &[
            common::cgdash_bin(),
            "run",
            "--tui",
            "--name",
            &name,
            "--cpu",
            "20%",
            "--",
            "sleep",
            "120",
        ],
    ) else {
        return;
    };
    left.pid = t.pid();
    // Its group selected: the charts show its quota. (The title names the
    // group from the first frame, before a sample has it: `+` typed then
    // went to no group — a flake in the v2 VM, whose first sample can
    // take longer than the first frame waits.)
    t.wait_for(15 * SEC, |s| {
        s.contains("Groups") && s.contains(&name) && s.contains("quota 20%")
    })
    .unwrap_or_else(|s| panic!("no dashboard on the group:\n{s}"));
    let settle = |want: f64| {
        let end = Instant::now() + 10 * SEC;
        while quota_percent(&layout, &group).is_none_or(|q| (q - want).abs() > 0.5)
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        // Stays there (no late write from an earlier key).
        std::thread::sleep(SEC);
        quota_percent(&layout, &group)
    };
    t.text("++++++++");
    assert_eq!(settle(100.0), Some(100.0), "8 × + from 20 %");
    t.text("uuuuu");
    assert_eq!(settle(50.0), Some(50.0), "5 × u from 100 %");
    t.key("q");
    if t.wait_for(3 * SEC, |s| s.contains("Quit?")).is_ok() {
        t.key("y");
    }
    t.wait_for(10 * SEC, |_| t.dead())
        .unwrap_or_else(|s| panic!("cgdash did not quit:\n{s}"));
    left.pid = None;
}
