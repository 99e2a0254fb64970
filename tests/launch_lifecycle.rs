//! Live: the lifecycle of a launched workload — stop signals, cgdash killed,
//! stale groups, name collisions, errors that leave nothing behind, and the
//! library API used from a multi-threaded program. Run:
//! `cargo test --test launch_lifecycle` (root).

mod common;
mod launch_util;

use std::time::Duration;

use cgdash::cgroup::knob::parse_settings;
use cgdash::launch::{self, LaunchSpec, StdioMode, WorkloadExit};
use launch_util::{alive, cgdash, said, spawn_cgdash, unique, wait_for, Cleanup};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn state_file(name: &str) -> std::path::PathBuf {
    launch::state_dir().join(format!("{name}.json"))
}

/// Processes whose command line mentions `name` (the helper carries it).
fn procs_mentioning(name: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| *p != me)
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(name))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn sigterm_to_cgdash_stops_workload_and_removes_group() {
    let Some(layout) = common::live("sigterm_to_cgdash_stops_workload_and_removes_group") else {
        return;
    };
    let name = unique("term");
    let mut cleanup = Cleanup::new(&layout, &name);
    let group = cleanup.group();
    let child = spawn_cgdash(&["run", "--name", &name, "--", "sleep", "30"]);
    let cg_pid = child.id() as i32;
    cleanup.children.push(child);
    assert!(wait_for(Duration::from_secs(10), || layout
        .procs(&group)
        .len()
        >= 3));
    let inside = layout.procs(&group);
    kill(Pid::from_raw(cg_pid), Signal::SIGTERM).unwrap();
    let st = wait_for(Duration::from_secs(10), || {
        matches!(cleanup.children[0].try_wait(), Ok(Some(_)))
    });
    assert!(st, "cgdash did not exit after SIGTERM");
    let code = cleanup.children[0].wait().unwrap().code();
    assert_eq!(code, Some(143), "sleep killed by the forwarded SIGTERM");
    for p in &inside {
        assert!(!alive(*p), "pid {p} still alive");
    }
    assert!(!layout.group_exists(&group), "group left behind");
    assert!(!state_file(&name).exists());
}

#[test]
fn a_workload_ignoring_sigterm_is_killed_after_the_grace_period() {
    let Some(layout) = common::live("a_workload_ignoring_sigterm_is_killed_after_the_grace_period")
    else {
        return;
    };
    let name = unique("stubborn");
    let mut cleanup = Cleanup::new(&layout, &name);
    let group = cleanup.group();
    let child = spawn_cgdash(&[
        "run",
        "--name",
        &name,
        "--",
        "sh",
        "-c",
        "trap '' TERM; sleep 30",
    ]);
    let cg_pid = child.id() as i32;
    cleanup.children.push(child);
    assert!(
        wait_for(Duration::from_secs(10), || layout.procs(&group).len() >= 4),
        "workload did not appear in {group}; {}",
        said(&mut cleanup.children[0])
    );
    let t = std::time::Instant::now();
    kill(Pid::from_raw(cg_pid), Signal::SIGTERM).unwrap();
    let done = wait_for(Duration::from_secs(15), || {
        matches!(cleanup.children[0].try_wait(), Ok(Some(_)))
    });
    assert!(done, "cgdash did not end a workload that ignores SIGTERM");
    assert!(
        t.elapsed() >= Duration::from_secs(4),
        "killed before the grace period"
    );
    assert_eq!(cleanup.children[0].wait().unwrap().code(), Some(137));
    assert!(!layout.group_exists(&group), "group left behind");
}

#[test]
fn sigkill_to_cgdash_kills_workload_and_next_start_removes_group() {
    let Some(layout) =
        common::live("sigkill_to_cgdash_kills_workload_and_next_start_removes_group")
    else {
        return;
    };
    let name = unique("kill");
    let mut cleanup = Cleanup::new(&layout, &name);
    let group = cleanup.group();
    let child = spawn_cgdash(&["run", "--name", &name, "--", "sleep", "30"]);
    let cg_pid = child.id() as i32;
    cleanup.children.push(child);
    assert!(wait_for(Duration::from_secs(10), || layout
        .procs(&group)
        .len()
        >= 3));
    let inside = layout.procs(&group);
    assert!(state_file(&name).exists());
    kill(Pid::from_raw(cg_pid), Signal::SIGKILL).unwrap();
    let _ = cleanup.children[0].wait();
    // The helper sees its lifeline close and kills init; the pid namespace goes with it.
    assert!(
        wait_for(Duration::from_secs(5), || inside.iter().all(|p| !alive(*p))),
        "workload survived its cgdash: {:?}",
        inside.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
    // The next cgdash start removes the stale group (another test's cgdash
    // running in parallel may have done it already).
    let other = unique("next");
    let _c2 = Cleanup::new(&layout, &other);
    let out = cgdash(
        &["run", "--name", &other, "--", "true"],
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !layout.group_exists(&group),
        "stale group not removed: {out:?}"
    );
    assert!(!state_file(&name).exists());
}

#[test]
fn cleanup_stale_leaves_foreign_and_busy_groups_alone() {
    let Some(layout) = common::live("cleanup_stale_leaves_foreign_and_busy_groups_alone") else {
        return;
    };
    // A group under cgdash/ without a state file is not ours: never removed.
    let name = unique("foreign");
    let cleanup = Cleanup::new(&layout, &name);
    layout.create_group(&cleanup.group()).unwrap();
    let removed = launch::cleanup_stale(&layout);
    assert!(!removed.contains(&cleanup.group()));
    assert!(layout.group_exists(&cleanup.group()));
}

#[test]
fn name_collision_is_refused_and_touches_nothing() {
    let Some(layout) = common::live("name_collision_is_refused_and_touches_nothing") else {
        return;
    };
    let name = unique("dup");
    let cleanup = Cleanup::new(&layout, &name);
    let group = cleanup.group();
    let out = cgdash(
        &[
            "run", "--name", &name, "--keep", "--cpu", "30%", "--", "true",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(layout.group_exists(&group), "--keep removed the group");
    assert!(
        !state_file(&name).exists(),
        "a kept group is handed over, not tracked"
    );
    let before = layout.read_group(&group).unwrap().cpu.max;
    let out = cgdash(
        &["run", "--name", &name, "--cpu", "50%", "--", "true"],
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 125, "{out:?}");
    assert!(out.stderr.contains("already exists"), "{out:?}");
    assert_eq!(
        layout.read_group(&group).unwrap().cpu.max,
        before,
        "limits changed"
    );
    assert!(layout.group_exists(&group));
    // A kept group is not stale: cleanup_stale leaves it.
    launch::cleanup_stale(&layout);
    assert!(layout.group_exists(&group));
}

#[test]
fn errors_leave_nothing_behind() {
    let Some(layout) = common::live("errors_leave_nothing_behind") else {
        return;
    };
    let cases: [(&str, &[&str], i32, &str); 5] = [
        ("nocmd", &["--", "cgdash-no-such-command"], 127, "not found"),
        ("nopath", &["--", "/nonexistent/bin/x"], 127, "not found"),
        (
            "rootfs",
            &["--rootfs", "/nonexistent-rootfs", "--", "sh"],
            125,
            "bad rootfs",
        ),
        (
            "badlimit",
            &["--cpu", "5x", "--", "true"],
            2,
            "invalid value",
        ),
        // Parses, but the kernel refuses it after the group was created: undone.
        ("refused", &["--cpuset", "99", "--", "true"], 125, "cpuset"),
    ];
    for (tag, args, code, msg) in cases {
        let name = unique(tag);
        let cleanup = Cleanup::new(&layout, &name);
        let mut all = vec!["run", "--name", &name];
        all.extend_from_slice(args);
        let out = cgdash(&all, Duration::from_secs(20));
        assert_eq!(out.code, code, "{tag}: {out:?}");
        assert!(out.stderr.contains(msg), "{tag}: {out:?}");
        assert!(
            !layout.group_exists(&cleanup.group()),
            "{tag}: group left behind"
        );
        assert!(!state_file(&name).exists(), "{tag}: state file left behind");
        assert!(
            procs_mentioning(&name).is_empty(),
            "{tag}: process left behind"
        );
    }
}

fn spec(name: &str, command: &[&str]) -> LaunchSpec {
    let mut s = LaunchSpec::new(command.iter().copied());
    s.name = Some(name.to_string());
    s.stdio = StdioMode::Null;
    // The test binary is not cgdash: point the helper at the real one.
    s.helper = Some(common::cgdash_bin().into());
    s
}

#[test]
fn library_launch_from_a_thread_that_exits() {
    let Some(layout) = common::live("library_launch_from_a_thread_that_exits") else {
        return;
    };
    let name = unique("lib");
    let cleanup = Cleanup::new(&layout, &name);
    let mut s = spec(&name, &["sleep", "30"]);
    s.settings = parse_settings(&["cpu=50%", "pids=32"]).unwrap();
    // The test harness is multi-threaded; launching from a short-lived thread
    // must not tie the workload's life to that thread (PDEATHSIG would).
    let l2 = layout.clone();
    let mut w = std::thread::spawn(move || launch::launch(&l2, &s).unwrap())
        .join()
        .unwrap();
    assert_eq!(w.group(), cleanup.group());
    std::thread::sleep(Duration::from_millis(300));
    let pid = w.pid();
    assert!(alive(pid), "workload died with the launching thread");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );
    assert!(layout.procs(w.group()).contains(&pid));
    let g = layout.read_group(w.group()).unwrap();
    assert_eq!(g.cpu.max.and_then(|m| m.percent()), Some(50.0));
    assert_eq!(w.try_wait().unwrap(), None);
    assert_eq!(
        w.terminate(Duration::from_secs(3)).unwrap(),
        WorkloadExit::Signal(15)
    );
    w.cleanup().unwrap();
    assert!(!alive(pid));
    assert!(!layout.group_exists(&cleanup.group()));
}

#[test]
fn library_drop_kills_and_removes() {
    let Some(layout) = common::live("library_drop_kills_and_removes") else {
        return;
    };
    let name = unique("drop");
    let cleanup = Cleanup::new(&layout, &name);
    let w = launch::launch(&layout, &spec(&name, &["sleep", "30"])).unwrap();
    let pid = w.pid();
    assert!(alive(pid));
    drop(w);
    assert!(!alive(pid));
    assert!(!layout.group_exists(&cleanup.group()));
    // A missing command through the library: an error, nothing created.
    let e = launch::launch(&layout, &spec(&name, &["cgdash-no-such-command"])).unwrap_err();
    assert_eq!(e.exit_code(), 127, "{e}");
    assert!(!layout.group_exists(&cleanup.group()));
}
