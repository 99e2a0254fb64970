//! Issue 18, lazy command lines, end to end in tmux (run under
//! `flock /tmp/cgdash-demo.lock`): the dashboard's sampler leaves command
//! lines unread, yet a process panel row shows the whole command line (read
//! when drawn), and a filter on text only the command line has (not the
//! process's name) finds the process (the sampler then reads them all).
//! Group: `cgdash-test-PID/lazy` (tests/common), removed even on failure;
//! the workload is one `sleep` with a bound.

mod common;
mod tmux;

use std::process::Command;
use std::time::Duration;

use tmux::Tmux;

const SEC: Duration = Duration::from_secs(1);

#[test]
fn lazy_command_lines_show_in_full_and_filter() {
    let Some(layout) = common::live("lazy_command_lines_show_in_full_and_filter") else {
        return;
    };
    let mut g = common::TestGroup::new(&layout, "lazy");
    // A shell whose name (comm) is `sh` and whose command line alone has
    // the marker (its `$0`); it stays (it waits for `sleep`, then runs
    // `:`). Short, so that the COMMAND column shows it whole. (Not `sleep`
    // with the marker as its argv[0]: where `sleep` is busybox, argv[0]
    // picks the applet, and it exits at once.) Bounded: the group's Drop
    // kills it, and `sleep 300` ends anyway.
    let marker = format!("lz{}", std::process::id());
    let mut sh = Command::new("sh");
    sh.args(["-c", "sleep 300;:", &marker]);
    let pid = g.spawn(sh);
    let Some(t) = Tmux::start(
        "lazy",
        200,
        50,
        &[("TERM", "xterm-256color")],
        &[common::cgdash_bin(), "--group", &g.path],
    ) else {
        return;
    };
    // Scoped to the group (selected at start): its one process, whole.
    let want = format!("sh -c sleep 300;: {marker}");
    let s = t
        .wait_for(20 * SEC, |s| s.contains(&want))
        .unwrap_or_else(|s| panic!("pid {pid}'s command line `{want}` not shown:\n{s}"));
    assert!(s.contains(&pid.to_string()), "{s}");
    // All processes (a), filtered on the marker: found by its command line.
    t.key("Tab");
    t.key("a");
    t.key("/");
    t.text(&marker);
    t.key("Enter");
    // (The title says the filter is on: not the scoped screen from before.)
    let title = format!("/{marker}");
    let s = t
        .wait_for(15 * SEC, |s| {
            s.contains("Processes: all")
                && s.contains(&title)
                && s.lines()
                    .any(|l| l.contains(&pid.to_string()) && l.contains(&want))
        })
        .unwrap_or_else(|s| panic!("the filter /{marker} did not find pid {pid}:\n{s}"));
    assert!(!s.contains("no process matches"), "{s}");
    t.key("q");
    t.wait_for(10 * SEC, |_| t.dead())
        .unwrap_or_else(|s| panic!("cgdash did not quit:\n{s}"));
}
