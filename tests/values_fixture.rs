//! Knob values on fake cgroup trees: the v1 memory+swap write order, and
//! rollback after a kernel refusal (a directory in place of a knob file
//! refuses `open(O_WRONLY)` with EISDIR, even for root).

use std::fs;
use std::path::Path;

use cgdash::cgroup::{knob::parse_settings_on, knob::Host, CgroupError, Layout};

/// Fixture tests must not depend on this machine's CPU count.
const HOST: Host = Host { cpus: 4 };

fn put(dir: &Path, file: &str, contents: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), contents).unwrap();
}

fn get(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap()
}

/// A v2 tree with one group `g` holding the knob files cgdash writes.
fn v2_tree(root: &Path) -> std::path::PathBuf {
    put(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
    put(root, "cgroup.subtree_control", "cpuset cpu memory pids\n");
    put(root, "cgroup.procs", "1\n");
    let g = root.join("g");
    put(&g, "cgroup.procs", "");
    put(&g, "cgroup.controllers", "cpuset cpu memory pids\n");
    put(&g, "cpu.max", "20000 100000\n");
    put(&g, "cpu.weight", "100\n");
    put(&g, "memory.max", "268435456\n");
    put(&g, "memory.swap.max", "0\n");
    put(&g, "pids.max", "64\n");
    g
}

/// A v1 tree (separate mounts) whose group `g` has memory 256M, memsw `memsw`.
fn v1_memory_tree(root: &Path, memsw: &str) -> std::path::PathBuf {
    let m = root.join("memory");
    put(&m, "cgroup.procs", "1\n");
    let g = m.join("g");
    put(&g, "cgroup.procs", "");
    put(&g, "memory.limit_in_bytes", "268435456\n");
    put(&g, "memory.memsw.limit_in_bytes", memsw);
    g
}

fn settings(s: &[&str]) -> Vec<cgdash::cgroup::Setting> {
    parse_settings_on(s, HOST).unwrap()
}

/// The files a plan writes, in order, with their contents.
fn planned(l: &Layout, s: &[&str]) -> Vec<(String, String)> {
    l.plan("g", &settings(s))
        .unwrap()
        .iter()
        .flat_map(|a| &a.writes)
        .map(|w| {
            (
                w.path.file_name().unwrap().to_string_lossy().into_owned(),
                w.contents.clone(),
            )
        })
        .collect()
}

const M: u64 = 1 << 20;

#[test]
fn hv_v1_memory_moves_keep_the_swap_allowance() {
    // issue 11 #9: after memory=256M memory.swap=0, memory=512M was refused
    // (memory > memsw) and memory=128M silently allowed 128M of swap.
    let t = tempfile::tempdir().unwrap();
    let g = v1_memory_tree(t.path(), "268435456\n");
    let l = Layout::from_root(t.path()).unwrap();
    let up = (512 * M).to_string();
    assert_eq!(
        planned(&l, &["memory=512M"]),
        vec![
            ("memory.memsw.limit_in_bytes".into(), up.clone()),
            ("memory.limit_in_bytes".into(), up.clone()),
        ],
        "raising: memsw first, so memory ≤ memsw at every step"
    );
    let down = (128 * M).to_string();
    assert_eq!(
        planned(&l, &["memory=128M"]),
        vec![
            ("memory.limit_in_bytes".into(), down.clone()),
            ("memory.memsw.limit_in_bytes".into(), down.clone()),
        ],
        "lowering: memory first"
    );
    l.apply("g", &settings(&["memory=128M"])).unwrap();
    assert_eq!(
        get(&g, "memory.memsw.limit_in_bytes"),
        down,
        "still no swap"
    );

    // A swap allowance of 64M is kept as memory moves.
    put(&g, "memory.limit_in_bytes", &(256 * M).to_string());
    put(&g, "memory.memsw.limit_in_bytes", &(320 * M).to_string());
    l.apply("g", &settings(&["memory=512M"])).unwrap();
    assert_eq!(get(&g, "memory.limit_in_bytes"), (512 * M).to_string());
    assert_eq!(
        get(&g, "memory.memsw.limit_in_bytes"),
        (576 * M).to_string()
    );
    // Unlimited memory can't keep a swap limit on v1: both go unlimited.
    assert_eq!(
        planned(&l, &["memory=max"]),
        vec![
            ("memory.memsw.limit_in_bytes".into(), "-1".into()),
            ("memory.limit_in_bytes".into(), "-1".into()),
        ]
    );
    // memory.swap in the same call decides the swap itself (one memsw write).
    assert_eq!(
        planned(&l, &["memory=1G", "memory.swap=0"]),
        vec![
            ("memory.memsw.limit_in_bytes".into(), (1024 * M).to_string()),
            ("memory.limit_in_bytes".into(), (1024 * M).to_string()),
        ]
    );
}

#[test]
fn hv_v1_unlimited_memsw_is_left_alone() {
    let t = tempfile::tempdir().unwrap();
    let _g = v1_memory_tree(t.path(), "9223372036854771712\n");
    let l = Layout::from_root(t.path()).unwrap();
    assert_eq!(
        planned(&l, &["memory=512M"]),
        vec![("memory.limit_in_bytes".into(), (512 * M).to_string())]
    );
}

#[test]
fn hv_v2_memory_does_not_touch_swap() {
    let t = tempfile::tempdir().unwrap();
    let g = v2_tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    assert_eq!(
        planned(&l, &["memory=512M"]),
        vec![("memory.max".into(), (512 * M).to_string())]
    );
    l.apply("g", &settings(&["memory=128M"])).unwrap();
    assert_eq!(get(&g, "memory.swap.max"), "0\n", "v2 swap is its own knob");
}

#[test]
fn hv_rollback_after_a_kernel_refusal_restores_what_was_written() {
    // issue 11 #16: the second write is refused after the first one landed.
    let t = tempfile::tempdir().unwrap();
    let g = v2_tree(t.path());
    fs::remove_file(g.join("pids.max")).unwrap();
    fs::create_dir(g.join("pids.max")).unwrap();
    let l = Layout::from_root(t.path()).unwrap();
    assert_eq!(
        planned(&l, &["cpu=50%", "pids=7"])[0].0,
        "cpu.max",
        "cpu is written first"
    );
    let err = l
        .apply("g", &settings(&["cpu=50%", "pids=7"]))
        .expect_err("pids.max is a directory: the write must be refused");
    let CgroupError::Refused { path, rollback, .. } = &err else {
        panic!("expected a refusal, got {err}");
    };
    assert!(path.ends_with("pids.max"), "{err}");
    assert_eq!(get(&g, "cpu.max"), "20000 100000", "cpu.max restored");
    assert_eq!(rollback.restored, vec![g.join("cpu.max")]);
    assert!(err.left_changed().is_empty(), "{err}");
    assert!(err.to_string().contains("undone"), "{err}");
}

#[test]
fn hv_unreadable_old_value_refuses_before_writing() {
    // A file whose old value can't be read could not be restored: nothing is
    // written (before: it was skipped, and a later refusal left it changed).
    let t = tempfile::tempdir().unwrap();
    let g = v2_tree(t.path());
    fs::remove_file(g.join("memory.max")).unwrap();
    fs::create_dir(g.join("memory.max")).unwrap();
    let l = Layout::from_root(t.path()).unwrap();
    let err = l
        .apply("g", &settings(&["memory=1G", "pids=7"]))
        .expect_err("memory.max can't be read");
    assert!(matches!(err, CgroupError::Read { .. }), "{err}");
    assert_eq!(get(&g, "pids.max"), "64\n", "nothing written");
}
