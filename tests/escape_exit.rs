//! Exit codes as the README promises them (issue 11 item 11) and readable
//! command lines of cgdash's own helper processes (item 20), through the
//! real binary.
//!
//! The `run --tui` test drives tmux: run this binary under the demo lock
//! (`flock /tmp/cgdash-demo.lock cargo test --test escape_exit`).
mod common;
mod launch_util;
mod tmux;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use cgdash::launch::{self, LaunchSpec, StdioMode};
use launch_util::{cgdash, unique, Cleanup};

const T: Duration = Duration::from_secs(30);

#[test]
fn bad_name_and_hostname_are_bad_input() {
    let Some(layout) = common::live("bad_name_and_hostname_are_bad_input") else {
        return;
    };
    let long = "h".repeat(65);
    let name = unique("he-host");
    let _cleanup = Cleanup::new(&layout, &name);
    let cases: [(&str, Vec<&str>); 5] = [
        ("name with /", vec!["run", "--name", "a/b", "--", "true"]),
        ("name ..", vec!["run", "--name", "..", "--", "true"]),
        ("empty name", vec!["run", "--name", "", "--", "true"]),
        (
            "long hostname",
            vec!["run", "--name", &name, "--hostname", &long, "--", "true"],
        ),
        (
            "empty hostname",
            vec!["run", "--name", &name, "--hostname", "", "--", "true"],
        ),
    ];
    for (what, args) in cases {
        let out = cgdash(&args, T);
        assert_eq!(out.code, 2, "{what}: {out:?}");
        assert!(
            out.stderr.contains("nothing was left behind"),
            "{what}: {out:?}"
        );
    }
    assert!(!layout.group_exists(&format!("cgdash/{name}")));
}

#[test]
fn dotdot_group_paths_are_bad_input() {
    // Refused before anything is read or written: no root needed.
    for args in [
        &["set", "../x", "cpu=1"][..],
        &["set", "cgdash/../..", "pids=5"],
        &["snapshot", "--group", ".."],
        &["snapshot", "--json", "--group", "a/../b"],
    ] {
        let out = cgdash(args, T);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("invalid group name"),
            "{args:?}: {out:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
}

#[test]
fn a_file_that_is_not_a_program_exits_126() {
    let Some(layout) = common::live("a_file_that_is_not_a_program_exits_126") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Executable bits, but garbage: the kernel says ENOEXEC.
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"\x7fELF\x02\x01\x01garbage, not a program").unwrap();
    // A valid ELF header for another machine (aarch64): ENOEXEC too.
    let mut arm = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\xb7\0\x01\0\0\0".to_vec();
    arm.resize(64, 0);
    let other_arch = dir.path().join("other-arch");
    std::fs::write(&other_arch, &arm).unwrap();
    // A script whose interpreter is missing: ENOENT, "not found", 127.
    let script = dir.path().join("script");
    std::fs::write(&script, b"#!/nonexistent/cgdash-interp\n").unwrap();
    for p in [&garbage, &other_arch, &script] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for (p, code, says) in [
        (&garbage, 126, "not a program this machine can run"),
        (&other_arch, 126, "not a program this machine can run"),
        (&script, 127, "interpreter"),
    ] {
        let name = unique("he-exec");
        let cleanup = Cleanup::new(&layout, &name);
        let out = cgdash(&["run", "--name", &name, "--", p.to_str().unwrap()], T);
        assert_eq!(out.code, code, "{}: {out:?}", p.display());
        assert!(out.stderr.contains(says), "{}: {out:?}", p.display());
        assert!(out.stderr.contains("cannot execute"), "{out:?}");
        assert!(!layout.group_exists(&cleanup.group()), "group left behind");
    }
}

#[test]
fn run_tui_exits_with_the_workload_code() {
    let Some(layout) = common::live("run_tui_exits_with_the_workload_code") else {
        return;
    };
    let name = unique("he-tui");
    let _cleanup = Cleanup::new(&layout, &name);
    let bin = common::cgdash_bin();
    // The shell reports cgdash's exit code on the pane once cgdash is gone.
    let script = format!(
        "'{bin}' run --tui --name {name} -- sh -c 'sleep 1; exit 7'; echo CGDASH-EXIT=$?; sleep 60"
    );
    let Some(t) = tmux::Tmux::start("he-tui", 100, 30, &[], &["sh", "-c", &script]) else {
        return;
    };
    // The dashboard opens; the workload ends on its own after 1 s.
    t.wait_for(T, |s| s.contains(&name))
        .unwrap_or_else(|s| panic!("dashboard never showed {name}:\n{s}"));
    std::thread::sleep(Duration::from_secs(2));
    t.key("q");
    let s = t
        .wait_for(T, |s| s.contains("CGDASH-EXIT="))
        .unwrap_or_else(|s| panic!("cgdash did not exit:\n{s}"));
    assert!(s.contains("CGDASH-EXIT=7"), "{s}");
}

/// The thread of `pid` named `comm`, if it has one.
fn thread(pid: i32, comm: &str) -> Option<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.flatten().find_map(|t| {
        let c = std::fs::read_to_string(t.path().join("comm")).ok()?;
        (c.trim() == comm).then(|| t.path().to_string_lossy().into_owned())
    })
}

/// Context switches of a thread so far (each wake-up is one).
fn switches(task: &str) -> u64 {
    let status = std::fs::read_to_string(format!("{task}/status")).unwrap_or_default();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
        .sum()
}

/// The terminal's reader sleeps until there is input: no timer wakes it
/// (it polled 4 times a second, ~50 µs a wake-up here, a seventh of the
/// dashboard's CPU at rest). And it is gone as soon as the dashboard is,
/// while the workload is still being stopped (this one ignores SIGTERM:
/// 2 s), so nothing typed then is taken from the shell.
#[test]
fn the_input_reader_sleeps_until_input_and_ends_with_the_dashboard() {
    let Some(layout) =
        common::live("the_input_reader_sleeps_until_input_and_ends_with_the_dashboard")
    else {
        return;
    };
    let name = unique("he-in");
    let _cleanup = Cleanup::new(&layout, &name);
    let bin = common::cgdash_bin();
    let argv = [
        bin,
        "run",
        "--tui",
        "--name",
        &name,
        "--",
        "sh",
        "-c",
        "trap '' TERM; while :; do sleep 1; done",
    ];
    let Some(t) = tmux::Tmux::start("he-in", 100, 30, &[], &argv) else {
        return;
    };
    t.wait_for(T, |s| s.contains(&name))
        .unwrap_or_else(|s| panic!("dashboard never showed {name}:\n{s}"));
    let pid = t.pid().expect("pane pid");
    let reader = thread(pid, "cgdash-input").expect("a cgdash-input thread");
    let before = switches(&reader);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        switches(&reader),
        before,
        "the input reader woke without input"
    );
    t.key("q");
    t.wait_for(T, |s| s.contains("stop them and quit"))
        .unwrap_or_else(|s| panic!("no question on quit:\n{s}"));
    t.key("y");
    // Gone while cgdash still stops the workload.
    let end = std::time::Instant::now() + Duration::from_millis(1500);
    loop {
        let alive = std::path::Path::new(&format!("/proc/{pid}/task")).exists();
        assert!(alive, "cgdash ended before its input reader was seen gone");
        if thread(pid, "cgdash-input").is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the input reader outlived the dashboard"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cmdline(pid: i32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

#[test]
fn helpers_have_readable_command_lines() {
    let Some(layout) = common::live("helpers_have_readable_command_lines") else {
        return;
    };
    let name = unique("he-argv");
    let cleanup = Cleanup::new(&layout, &name);
    let mut s = LaunchSpec::new(["sleep", "30"]);
    s.name = Some(name.clone());
    s.stdio = StdioMode::Null;
    s.helper = Some(common::cgdash_bin().into());
    let mut w = launch::launch(&layout, &s).expect("launch");
    let helper = w.helper_pid();
    let init = w.init_pid().expect("init pid");
    assert_eq!(cmdline(helper), ["cgdash-launch", name.as_str()]);
    assert_eq!(cmdline(init), ["cgdash-init", name.as_str()]);
    assert_eq!(cmdline(w.pid()), ["sleep", "30"]);
    for (pid, comm) in [(helper, "cgdash-launch"), (init, "cgdash-init")] {
        let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(c.trim(), comm);
    }
    // The spec travelled in the environment: none of it reaches the workload.
    let env = std::fs::read(format!("/proc/{}/environ", w.pid())).unwrap();
    assert!(
        !String::from_utf8_lossy(&env).contains("CGDASH_LAUNCH"),
        "spec leaked into the workload's environment"
    );
    w.terminate(Duration::from_secs(3)).unwrap();
    w.cleanup().unwrap();
    drop(cleanup);
}
