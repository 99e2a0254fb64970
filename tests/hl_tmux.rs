//! Live, in tmux (run under `flock /tmp/cgdash-demo.lock`: the demo's group
//! name and the machine's two cores are shared):
//! - `cgdash demo`, `f` (freeze), `q`: cgdash exits and removes the group
//!   (it used to hang for good on the frozen workload);
//! - Ctrl-Z under `cgdash run` stops the job like the command run directly:
//!   the shell's prompt comes back and takes input, `fg` resumes both and
//!   the workload has the terminal again.

mod common;
mod launch_util;
mod tmux;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cgdash::cgroup::knob::parse_settings;
use launch_util::{alive, Cleanup};
use tmux::Tmux;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const SEC: Duration = Duration::from_secs(1);

fn shell(name: &str, script: &str) -> Option<Tmux> {
    Tmux::start(
        name,
        120,
        35,
        &[("TERM", "xterm-256color"), ("PS1", "hl$ ")],
        &["bash", "--norc", "--noprofile", "-c", script],
    )
}

/// Thaws the group when dropped, so a failing test leaves nothing frozen
/// (the workload's own cleanup or the next start then removes it).
struct Thaw(cgdash::cgroup::Layout, String);

impl Drop for Thaw {
    fn drop(&mut self) {
        if self.0.group_exists(&self.1) {
            let _ = self
                .0
                .apply(&self.1, &parse_settings(&["freeze=0"]).unwrap());
        }
    }
}

#[test]
fn demo_freeze_then_quit_exits() {
    let Some(layout) = common::live("demo_freeze_then_quit_exits") else {
        return;
    };
    let _l = lock();
    let script = format!(
        "'{}' demo; echo \"AFTER $?\"; sleep 60",
        common::cgdash_bin()
    );
    let Some(t) = shell("hl-demo-freeze", &script) else {
        return;
    };
    let s = t
        // The charts show the demo's own 20 % quota: its group is the
        // selected one (`f` acts on the selection).
        .wait_for(20 * SEC, |s| {
            s.contains("CPU burner in ")
                && tmux::cpu_and_quota(s).is_some_and(|(_, q)| q == Some(20.0))
        })
        .unwrap_or_else(|s| panic!("the demo did not start:\n{s}"));
    let i = s.find("CPU burner in ").unwrap() + "CPU burner in ".len();
    let group = s[i..].split([',', ' ']).next().unwrap().to_string();
    assert!(group.starts_with("cgdash/demo"), "{group}");
    // Thaw on failure, so nothing stays frozen (the demo's own cleanup or
    // the next start then removes it).
    let _thaw = Thaw(layout.clone(), group.clone());
    let pids = layout.procs(&group);
    assert!(!pids.is_empty(), "the demo runs processes in {group}");
    // The dashboard reads the freezer every few ticks: before its first
    // reading `f` says "no freezer for this group"; then press it again.
    t.key("f");
    let end = Instant::now() + 15 * SEC;
    while layout.read_group(&group).and_then(|g| g.frozen) != Some(true) {
        let s = t.screen();
        assert!(Instant::now() < end, "f did not freeze {group}:\n{s}");
        if s.contains("no freezer for this group") {
            std::thread::sleep(SEC);
            t.key("f");
            std::thread::sleep(2 * SEC); // its status replaces the old one
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let t0 = Instant::now();
    t.key("q");
    let s = t
        .wait_for(20 * SEC, |s| s.contains("AFTER "))
        .unwrap_or_else(|s| panic!("cgdash did not exit after f, q:\n{s}"));
    eprintln!("demo exited {:?} after q on a frozen group", t0.elapsed());
    assert!(s.contains("AFTER 0"), "{s}");
    let end = Instant::now() + 10 * SEC;
    while (layout.group_exists(&group) || pids.iter().any(|p| alive(*p))) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!layout.group_exists(&group), "{group} is left behind");
}

/// Ctrl-Z, the shell takes input, `fg`, cat reads the terminal again, Ctrl-D.
/// `cmdline` runs `cgdash run -- cat` directly or from a script (`bash -c`:
/// a shell without job control, in the job's process group, must stop too).
fn ctrl_z_then_fg(layout: &cgdash::cgroup::Layout, what: &str, wrap: fn(String) -> String) {
    let name = format!("hl-{}-ctrlz-{what}", std::process::id());
    let mut cleanup = Cleanup::new(layout, &name);
    let group = cleanup.group();
    // An interactive shell (job control on).
    let Some(t) = shell("hl-ctrlz", "PS1='hl$ ' exec bash --norc --noprofile -i") else {
        return;
    };
    t.wait_for(10 * SEC, |s| s.contains("hl$"))
        .unwrap_or_else(|s| panic!("no shell prompt:\n{s}"));
    t.text(&wrap(format!(
        "'{}' run --name {name} -- cat",
        common::cgdash_bin()
    )));
    t.key("Enter");
    let end = Instant::now() + 20 * SEC;
    while layout.procs(&group).len() < 3 {
        assert!(
            Instant::now() < end,
            "{what}: cat did not start:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    t.text("one-hl");
    t.key("Enter");
    t.wait_for(10 * SEC, |s| s.matches("one-hl").count() >= 2)
        .unwrap_or_else(|s| panic!("{what}: cat should echo its input:\n{s}"));
    t.key("C-z");
    t.wait_for(10 * SEC, |s| {
        s.contains("Stopped") && s.trim_end().ends_with("hl$")
    })
    .unwrap_or_else(|s| {
        panic!("{what}: Ctrl-Z should stop the job and give the prompt back:\n{s}")
    });
    // The shell has the terminal: it reads what we type.
    t.text("echo SHELL-$((40+2))");
    t.key("Enter");
    t.wait_for(10 * SEC, |s| s.contains("SHELL-42"))
        .unwrap_or_else(|s| panic!("{what}: the shell should take input after Ctrl-Z:\n{s}"));
    t.text("fg");
    t.key("Enter");
    // cat has the terminal again: it echoes what we type.
    std::thread::sleep(SEC);
    t.text("two-hl");
    t.key("Enter");
    t.wait_for(10 * SEC, |s| s.matches("two-hl").count() >= 2)
        .unwrap_or_else(|s| panic!("{what}: after fg, cat should run and read the terminal:\n{s}"));
    t.key("C-d");
    t.wait_for(10 * SEC, |s| s.trim_end().ends_with("hl$"))
        .unwrap_or_else(|s| panic!("{what}: cat should end on Ctrl-D:\n{s}"));
    t.text("echo RC=$?");
    t.key("Enter");
    t.wait_for(10 * SEC, |s| s.contains("RC=0"))
        .unwrap_or_else(|s| panic!("{what}: cat should end with 0 on Ctrl-D:\n{s}"));
    let end = Instant::now() + 10 * SEC;
    while layout.group_exists(&group) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !layout.group_exists(&group),
        "{what}: {group} is left behind"
    );
    cleanup.children.clear();
}

#[test]
fn ctrl_z_under_run_stops_the_job_and_fg_resumes_it() {
    let Some(layout) = common::live("ctrl_z_under_run_stops_the_job") else {
        return;
    };
    let _l = lock();
    ctrl_z_then_fg(&layout, "direct", |c| c);
    ctrl_z_then_fg(&layout, "script", |c| {
        format!("bash -c \"{c}; echo SCRIPT-DONE\"")
    });
}

/// `cgdash run --tui`, its group frozen (`f`, or from outside if `f` asks
/// first), then SIGTERM to cgdash: it exits and removes the group.
#[test]
fn run_tui_with_a_frozen_group_ends_on_sigterm() {
    let Some(layout) = common::live("run_tui_with_a_frozen_group_ends_on_sigterm") else {
        return;
    };
    let _l = lock();
    let name = format!("hl-{}-tui", std::process::id());
    let cleanup = Cleanup::new(&layout, &name);
    let group = cleanup.group();
    let _thaw = Thaw(layout.clone(), group.clone());
    let script = format!(
        "'{}' run --tui --name {name} -- sleep 60; echo \"AFTER $?\"; sleep 60",
        common::cgdash_bin()
    );
    let Some(t) = shell("hl-tui", &script) else {
        return;
    };
    t.wait_for(20 * SEC, |s| s.contains(&name) && s.contains("Groups"))
        .unwrap_or_else(|s| panic!("the dashboard did not start:\n{s}"));
    let pids = layout.procs(&group);
    assert!(pids.len() >= 3, "{pids:?}");
    t.key("f");
    let frozen = || layout.read_group(&group).and_then(|g| g.frozen) == Some(true);
    let end = Instant::now() + 5 * SEC;
    while !frozen() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !frozen() {
        layout
            .apply(&group, &parse_settings(&["freeze=1"]).unwrap())
            .expect("freeze");
        let end = Instant::now() + 10 * SEC;
        while !frozen() {
            assert!(Instant::now() < end, "{group} did not freeze");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // cgdash is the shell's only child.
    let shell_pid = t.pid().expect("pane pid");
    let kids = std::fs::read_to_string(format!("/proc/{shell_pid}/task/{shell_pid}/children"))
        .unwrap_or_default();
    let cg: i32 = kids
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("cgdash's pid");
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(cg),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    t.wait_for(20 * SEC, |s| s.contains("AFTER "))
        .unwrap_or_else(|s| panic!("run --tui did not exit on SIGTERM with a frozen group:\n{s}"));
    eprintln!("run --tui exited {:?} after SIGTERM", t0.elapsed());
    let end = Instant::now() + 10 * SEC;
    while (layout.group_exists(&group) || pids.iter().any(|p| alive(*p))) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!layout.group_exists(&group), "{group} is left behind");
}

/// The terminal's Ctrl-C under `cgdash run` whose group is frozen: the
/// SIGINT (pending in the frozen workload) takes effect at once — exit 130,
/// not a SIGKILL after the grace period.
#[test]
fn ctrl_c_under_run_with_a_frozen_group() {
    let Some(layout) = common::live("ctrl_c_under_run_with_a_frozen_group") else {
        return;
    };
    let _l = lock();
    let name = format!("hl-{}-ctrlc", std::process::id());
    let cleanup = Cleanup::new(&layout, &name);
    let group = cleanup.group();
    let _thaw = Thaw(layout.clone(), group.clone());
    let script = format!(
        "'{}' run --name {name} -- sleep 60; echo \"AFTER $?\"; sleep 60",
        common::cgdash_bin()
    );
    let Some(t) = shell("hl-ctrlc", &script) else {
        return;
    };
    // Launched, and cgdash run in its wait loop (sigtimedwait): freezing
    // earlier would catch the launch itself half-way.
    let shell_pid = t.pid().expect("pane pid");
    let end = Instant::now() + 20 * SEC;
    loop {
        let kids = std::fs::read_to_string(format!("/proc/{shell_pid}/task/{shell_pid}/children"))
            .unwrap_or_default();
        let waiting = kids.split_whitespace().any(|p| {
            std::fs::read_to_string(format!("/proc/{p}/wchan"))
                .is_ok_and(|w| w.contains("sigtimedwait"))
        });
        if waiting && layout.procs(&group).len() >= 3 {
            break;
        }
        assert!(Instant::now() < end, "sleep did not start:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    layout
        .apply(&group, &parse_settings(&["freeze=1"]).unwrap())
        .expect("freeze");
    let end = Instant::now() + 10 * SEC;
    while layout.read_group(&group).and_then(|g| g.frozen) != Some(true) {
        assert!(Instant::now() < end, "{group} did not freeze");
        std::thread::sleep(Duration::from_millis(100));
    }
    t.key("C-c");
    let s = t
        .wait_for(20 * SEC, |s| s.contains("AFTER "))
        .unwrap_or_else(|s| panic!("Ctrl-C did not end cgdash run:\n{s}"));
    assert!(
        s.contains("AFTER 130"),
        "sleep should die of the SIGINT:\n{s}"
    );
    let end = Instant::now() + 10 * SEC;
    while layout.group_exists(&group) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!layout.group_exists(&group), "{group} is left behind");
}
