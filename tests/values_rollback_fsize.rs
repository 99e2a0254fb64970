//! A rollback whose restore itself fails must say what it left changed.
//!
//! To make a restore fail on a plain file tree, this binary lowers its own
//! RLIMIT_FSIZE: the new value (short) fits, the old value (longer) written
//! back does not (EFBIG). The limit is process-wide, so this file holds this
//! one test only and restores the limit before asserting.

use std::fs;
use std::path::Path;

use cgdash::cgroup::{knob::parse_settings_on, knob::Host, CgroupError, Layout};

fn put(dir: &Path, file: &str, contents: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), contents).unwrap();
}

#[test]
fn hv_a_failed_restore_lists_what_was_left_changed() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    put(root, "cgroup.controllers", "cpu memory pids\n");
    put(root, "cgroup.subtree_control", "cpu memory pids\n");
    put(root, "cgroup.procs", "1\n");
    let g = root.join("g");
    put(&g, "cgroup.procs", "");
    put(&g, "cpu.max", "max 100000\n");
    put(&g, "cpu.weight", "100\n");
    put(&g, "memory.max", "268435456\n");
    // The refusing file: a directory can't be opened for writing (EISDIR).
    fs::create_dir(g.join("pids.max")).unwrap();
    let l = Layout::from_root(root).unwrap();
    let settings =
        parse_settings_on(&["cpu.weight=200", "memory=1K", "pids=7"], Host { cpus: 4 }).unwrap();
    let order: Vec<String> = l
        .plan("g", &settings)
        .unwrap()
        .iter()
        .flat_map(|a| &a.writes)
        .map(|w| w.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(order, ["memory.max", "cpu.weight", "pids.max"]);

    // Writes past 5 bytes now fail with EFBIG (SIGXFSZ ignored, not fatal):
    // "1024" and "200" land, "100" goes back, "268435456" can't.
    let (soft, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE).unwrap();
    // SAFETY: setting a signal to SIG_IGN has no memory-safety preconditions.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE, 5, hard).unwrap();
    let result = l.apply("g", &settings);
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE, soft, hard).unwrap();

    let err = result.expect_err("pids.max is a directory: refused");
    assert!(matches!(err, CgroupError::Refused { .. }), "{err}");
    let left = err.left_changed();
    assert_eq!(left.len(), 1, "{err}");
    assert_eq!(left[0].path, g.join("memory.max"));
    assert_eq!(left[0].old, "268435456");
    assert_eq!(
        left[0].now.as_deref(),
        Some("26843"),
        "a partial write back"
    );
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(
        msg.contains("UNDO FAILED") && msg.contains("memory.max") && msg.contains("268435456"),
        "{msg}"
    );
    assert!(
        msg.contains("restored:") && msg.contains("cpu.weight"),
        "{msg}"
    );
    assert_eq!(fs::read_to_string(g.join("cpu.weight")).unwrap(), "100");
}
