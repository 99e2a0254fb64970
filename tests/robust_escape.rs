//! Terminal escapes in names any user chooses (issue 11, item 13): a
//! process whose argv holds ESC / BEL / CSI (U+009B) sequences, in a group
//! whose name holds one. Text output shows them escaped; JSON keeps the
//! exact string (serde escapes it).

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use common::{cgdash, live, TestGroup};

/// Sets the window title, clears the screen, and (C1 CSI) paints red.
const ARG0: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31mhr-evil";

fn assert_clean(what: &str, text: &str) {
    for bad in ['\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(
            !text.contains(bad),
            "{what}: raw {:?} in the output:\n{}",
            bad,
            text.escape_debug()
        );
    }
}

#[test]
fn hr_escapes_in_argv_and_group_names_are_shown_escaped() {
    let Some(layout) = live("hr_escapes_in_argv_and_group_names_are_shown_escaped") else {
        return;
    };
    let mut g = TestGroup::new(&layout, "hr-esc\u{1b}[2J");
    let mut cmd = Command::new("sleep");
    cmd.arg0(ARG0).arg("30"); // its own deadline; Drop kills it sooner
    g.spawn(cmd);
    let parent = g.path.rsplit_once('/').expect("nested").0.to_string();

    // The table (scoped to this test's groups).
    let (code, out, err) = cgdash(&["snapshot", "--interval", "50ms", "--group", &parent]);
    assert_eq!(code, 0, "{err}");
    assert_clean("snapshot table", &out);
    assert!(
        out.contains("\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31mhr-evil 30"),
        "the command, escaped:\n{out}"
    );
    assert!(out.contains("hr-esc\\x1b[2J"), "the group, escaped:\n{out}");

    // JSON: the exact strings, JSON-escaped.
    let (code, out, err) = cgdash(&[
        "snapshot",
        "--json",
        "--interval",
        "50ms",
        "--group",
        &parent,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_clean("snapshot --json", &out);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let procs = v["processes"].as_array().expect("processes");
    assert!(
        procs.iter().any(
            |p| p["command"] == format!("{ARG0} 30").as_str() && p["cgroup"] == g.path.as_str()
        ),
        "{out}"
    );

    // `set`'s messages name the group.
    let (code, out, err) = cgdash(&["set", &g.path, "cpu.weight=100"]);
    assert_eq!(code, 0, "{err}");
    assert_clean("set", &out);
    assert!(out.contains("hr-esc\\x1b[2J"), "{out}");

    // Errors name the group too.
    let missing = format!("{parent}/hr-none\u{1b}]0;t\u{7}");
    let (code, out, err) = cgdash(&["snapshot", "--interval", "50ms", "--group", &missing]);
    assert_eq!(code, 2, "a missing --group is bad input");
    assert_clean("snapshot error", &(out + &err));
    assert!(err.contains("hr-none\\x1b]0;t\\x07"), "{err}");
    let (code, _, err) = cgdash(&["set", &missing, "pids=5"]);
    assert_ne!(code, 0);
    assert_clean("set error", &err);
    // `run`'s messages name the workload and its command (refused before
    // anything starts).
    for args in [
        &["run", "--name", "hr-x\u{1b}[2J", "--", "true"][..],
        &["run", "--", "/hr-nonexistent\u{1b}]0;t\u{7}"],
    ] {
        let (code, out, err) = cgdash(args);
        assert_ne!(code, 0, "{args:?}");
        assert_clean("run error", &(out + &err));
        assert!(err.contains("\\x1b"), "{args:?}: {err}");
    }
    drop(g);
    std::thread::sleep(Duration::from_millis(10));
}
