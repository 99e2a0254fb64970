//! End to end: the real binary in tmux, keys sent, the screen read back.
//! Each test touches only what it started: the demo group its own `cgdash
//! demo` created, the processes in it. Tests run one at a time (a lock):
//! two demos on a two-core machine would disturb each other's readings.

mod common;
mod tmux;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tmux::{cpu_and_quota, Tmux};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const SEC: Duration = Duration::from_secs(1);

fn start(name: &str, w: u16, h: u16, args: &[&str]) -> Option<Tmux> {
    let mut argv = vec![common::cgdash_bin()];
    argv.extend_from_slice(args);
    Tmux::start(name, w, h, &[("TERM", "xterm-256color")], &argv)
}

/// Waits for the demo's dashboard and returns its group (`cgdash/demo…`).
fn demo_group(t: &Tmux) -> String {
    let s = t
        .wait_for(15 * SEC, |s| {
            s.contains("CPU burner in ") && cpu_and_quota(s).is_some()
        })
        .unwrap_or_else(|s| panic!("the demo did not start:\n{s}"));
    let i = s.find("CPU burner in ").unwrap() + "CPU burner in ".len();
    let g = s[i..].split([',', ' ']).next().unwrap().to_string();
    assert!(g.starts_with("cgdash/demo"), "{g}");
    g
}

/// `thr 54.6%` from the compact CPU chart title.
/// Throttled % of the selected group: the title of its throttling chart
/// (`┌ throttled 72.3% …`).
fn throttled(screen: &str) -> Option<f64> {
    screen.lines().find_map(|l| {
        let i = l.find("┌ throttled ")? + "┌ throttled ".len();
        l[i..].split('%').next()?.parse().ok()
    })
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[test]
fn dashboard_starts_shows_groups_and_survives_resizes() {
    let Some(_layout) = common::live("dashboard_starts_shows_groups") else {
        return;
    };
    let _l = lock();
    let Some(t) = start("dash", 80, 24, &[]) else {
        return;
    };
    let s = t
        .wait_for(10 * SEC, |s| {
            s.contains("cgdash │") && s.contains("Groups (") && s.contains("▾ /")
        })
        .unwrap_or_else(|s| panic!("no dashboard:\n{s}"));
    assert!(s.contains("Processes"), "{s}");
    assert!(s.contains("root: editing on"), "{s}");
    // Resizing redraws everything at the new size: borders span the width.
    for (w, h) in [(200u16, 50u16), (100, 30), (80, 24)] {
        t.resize(w, h);
        let s = t
            .wait_for(5 * SEC, |s| {
                let lines: Vec<&str> = s.lines().collect();
                lines.len() >= h as usize - 1
                    && lines[1].starts_with('┌')
                    && lines
                        .iter()
                        .any(|l| l.chars().count() == w as usize && l.ends_with('┐'))
                    && s.contains("Groups (")
                    // The status line is drawn last: wait for the whole frame.
                    && s.lines().last().is_some_and(|l| l.contains("?:help"))
            })
            .unwrap_or_else(|s| panic!("garbled after resize to {w}×{h}:\n{s}"));
        assert!(s.contains("Groups ("), "{s}");
    }
    assert_eq!(
        t.modes(),
        (false, true),
        "running: cursor hidden, alternate screen"
    );
    // Help and quit.
    t.key("?");
    t.wait_for(3 * SEC, |s| s.contains("Help: cgdash keys"))
        .unwrap_or_else(|s| panic!("no help:\n{s}"));
    t.key("Escape");
    t.key("q");
    let end = Instant::now() + 10 * SEC;
    while !t.dead() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(t.dead(), "q did not quit:\n{}", t.screen());
}

#[test]
fn plus_on_the_demo_changes_throttling_within_2s() {
    let Some(layout) = common::live("plus_on_the_demo_changes_throttling") else {
        return;
    };
    let _l = lock();
    let Some(t) = start("plus", 120, 35, &["demo"]) else {
        return;
    };
    let group = demo_group(&t);
    // Settle at 20 %: throttled most of the time.
    let s = t
        .wait_for(10 * SEC, |s| {
            cpu_and_quota(s).is_some_and(|(c, q)| q == Some(20.0) && c > 10.0)
                && throttled(s).is_some_and(|x| x > 5.0)
        })
        .unwrap_or_else(|s| panic!("the demo should be throttled at 20%:\n{s}"));
    let before = throttled(&s).unwrap();
    let nr_before = layout.read_group(&group).and_then(|g| g.cpu.nr_throttled);
    t.key("+");
    let pressed = Instant::now();
    let s = t
        .wait_for(2 * SEC, |s| {
            cpu_and_quota(s).is_some_and(|(_, q)| q == Some(30.0))
                && throttled(s).is_some_and(|x| (x - before).abs() > 0.05)
        })
        .unwrap_or_else(|s| panic!("within 2 s of + the quota should read 30% and the throttled reading change from {before}:\n{s}"));
    assert!(pressed.elapsed() <= 2 * SEC + Duration::from_millis(300));
    assert!(
        s.contains("✓ ") && s.contains("cpu=30%"),
        "the status line reports the write:\n{s}"
    );
    // The kernel agrees: the quota is 30 ms per 100 ms period and throttling goes on.
    let g = layout.read_group(&group).expect("demo group");
    assert_eq!(
        g.cpu.max.and_then(|m| m.percent()).map(|p| p.round()),
        Some(30.0)
    );
    assert!(g.cpu.nr_throttled >= nr_before);
}

#[test]
fn edit_form_writes_a_memory_limit_that_snapshot_shows() {
    let Some(_layout) = common::live("edit_form_writes_a_memory_limit") else {
        return;
    };
    let _l = lock();
    let Some(t) = start("edit", 120, 35, &["demo"]) else {
        return;
    };
    let group = demo_group(&t);
    t.key("e");
    t.wait_for(3 * SEC, |s| {
        s.contains("Limits of ") && s.contains("memory.high")
    })
    .unwrap_or_else(|s| panic!("no edit form:\n{s}"));
    // memory's field: the editor's fields follow the declared knobs.
    let mem = cgdash::cgroup::Knob::all()
        .position(|k| k == cgdash::cgroup::Knob::Memory)
        .expect("memory is a knob");
    for _ in 0..mem {
        t.key("Down");
    }
    t.key("C-u");
    // First an invalid value: marked in place, nothing written.
    t.text("64Q");
    t.key("Enter");
    t.wait_for(3 * SEC, |s| {
        s.contains("unknown unit") && s.contains("nothing written")
    })
    .unwrap_or_else(|s| panic!("the invalid value should be marked:\n{s}"));
    t.key("C-u");
    t.text("64M");
    t.key("Enter");
    t.wait_for(3 * SEC, |s| s.contains("✓ ") && s.contains("memory=64M"))
        .unwrap_or_else(|s| panic!("the write should be reported:\n{s}"));
    let out = Command::new(common::cgdash_bin())
        .args([
            "snapshot",
            "--json",
            "--interval",
            "100ms",
            "--group",
            &group,
        ])
        .output()
        .expect("cgdash snapshot");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let g = v["groups"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["path"] == group.as_str()))
        .unwrap_or_else(|| panic!("{group} not in snapshot: {v}"));
    assert_eq!(g["memory"]["max_bytes"].as_u64(), Some(64 << 20), "{g}");
    // And the dashboard shows it too.
    t.wait_for(3 * SEC, |s| {
        s.lines().any(|l| l.contains("demo") && l.contains("64M"))
    })
    .unwrap_or_else(|s| panic!("MEMMAX should read 64M:\n{s}"));
}

#[test]
fn quitting_leaves_no_group_or_process_behind() {
    let Some(layout) = common::live("quitting_leaves_nothing_behind") else {
        return;
    };
    let _l = lock();
    // By q, by Ctrl-C, and by SIGTERM to cgdash; then the shell's terminal
    // must be usable again (cooked mode, main screen, cursor shown). The
    // shell outlives cgdash: tmux may drop the last bytes of a pane whose
    // program has just exited.
    for how in ["q", "C-c", "SIGTERM"] {
        let script = format!(
            "'{}' demo; echo \"AFTER $?\"; stty -a; sleep 30",
            common::cgdash_bin()
        );
        let Some(t) = Tmux::start(
            "quit",
            120,
            35,
            &[("TERM", "xterm-256color")],
            &["bash", "--norc", "--noprofile", "-c", &script],
        ) else {
            return;
        };
        let group = demo_group(&t);
        let pids = layout.procs(&group);
        assert!(!pids.is_empty(), "the demo runs processes in {group}");
        match how {
            "SIGTERM" => {
                let shell = t.pid().expect("pane pid");
                let out = Command::new("pgrep")
                    .args(["-P", &shell.to_string()])
                    .output()
                    .expect("pgrep");
                let pid: i32 = String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("cgdash's pid");
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                )
                .expect("SIGTERM");
            }
            key => t.key(key),
        }
        let s = t
            .wait_for(10 * SEC, |s| s.contains("AFTER ") && s.contains("icanon"))
            .unwrap_or_else(|s| {
                panic!("{how}: cgdash should exit and give the terminal back:\n{s}")
            });
        assert!(s.contains("AFTER 0"), "{how}: exit status:\n{s}");
        assert!(
            !s.contains("-icanon") && !s.contains("-echo "),
            "{how}: terminal left in raw mode:\n{s}"
        );
        assert!(
            !s.contains("Groups ("),
            "{how}: still on the dashboard's screen:\n{s}"
        );
        assert_eq!(
            t.modes(),
            (true, false),
            "{how}: the cursor should be shown again, the alternate screen left"
        );
        let end = Instant::now() + 10 * SEC;
        while (layout.group_exists(&group) || pids.iter().any(|p| alive(*p)))
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            !layout.group_exists(&group),
            "{how}: {group} is left behind"
        );
        let left: Vec<i32> = pids.into_iter().filter(|p| alive(*p)).collect();
        assert!(left.is_empty(), "{how}: processes left behind: {left:?}");
    }
}

#[test]
fn non_root_start_shows_read_only_mode() {
    let Some(_layout) = common::live("non_root_start_shows_read_only_mode") else {
        return;
    };
    let _l = lock();
    // A copy of the binary that user nobody can reach.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("cgdash");
    std::fs::copy(common::cgdash_bin(), &copy).expect("copy binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = copy.to_string_lossy().into_owned();
    let Some(t) = Tmux::start(
        "ro",
        120,
        35,
        &[("TERM", "xterm-256color"), ("HOME", "/")],
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            &copy,
        ],
    ) else {
        return;
    };
    let s = t
        .wait_for(10 * SEC, |s| {
            s.contains("READ-ONLY") && s.contains("Groups (") && s.contains("not root (uid 65534)")
        })
        .unwrap_or_else(|s| {
            panic!("a non-root dashboard should say it is read-only and why:\n{s}")
        });
    assert!(s.contains("changing limits needs root"), "{s}");
    // Edit keys do nothing but say why.
    t.key("e");
    t.wait_for(3 * SEC, |s| s.contains("✗ read-only: not root"))
        .unwrap_or_else(|s| panic!("e should explain read-only mode:\n{s}"));
    assert!(!t.screen().contains("Limits of "));
    t.key("q");
}
