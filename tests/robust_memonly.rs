//! Live (v1 / hybrid, root): a group made only in the memory hierarchy
//! (issue 11, item 10). Its process count must not come from memory's
//! `cgroup.procs` while the process list places the process by its cpu
//! group: `nprocs` and `pids.current` are null, and no row claims it.

mod common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use cgdash::cgroup::Version;
use common::{cgdash, live};

/// `cgdash-test-<pid>/hr-memonly` in the memory hierarchy only, and the
/// process this test put in it: killed and removed on drop.
struct MemOnly {
    dirs: Vec<PathBuf>,
    child: Option<Child>,
}

impl Drop for MemOnly {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in self.dirs.iter().rev() {
            for _ in 0..100 {
                if fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn hr_memory_only_group_counts_agree_with_process_rows() {
    let Some(layout) = live("hr_memory_only_group_counts_agree_with_process_rows") else {
        return;
    };
    let mem = layout.hierarchy("memory").expect("memory").clone();
    if mem.version != Version::V1
        || layout.hierarchy("cpu").map(|h| h.mount.clone()) == Some(mem.mount.clone())
    {
        eprintln!("SKIP: memory is not a separate v1 hierarchy here (nothing to test)");
        return;
    }
    let parent = format!("cgdash-test-{}", std::process::id());
    let path = format!("{parent}/hr-memonly");
    let mut guard = MemOnly {
        dirs: Vec::new(),
        child: None,
    };
    for p in [&parent, &path] {
        let d = mem.dir(p);
        if !d.exists() {
            fs::create_dir(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
            guard.dirs.push(d);
        }
    }
    assert!(
        !layout.hierarchy("cpu").expect("cpu").dir(&path).exists(),
        "only under memory/"
    );
    let procs = mem.dir(&path).join("cgroup.procs");
    let mut cmd = Command::new("sleep");
    cmd.arg("30").stdin(Stdio::null()).stdout(Stdio::null());
    let target = procs.clone();
    // SAFETY: only a write(2) of "0" between fork and exec.
    unsafe {
        cmd.pre_exec(move || fs::write(&target, "0"));
    }
    let child = cmd.spawn().expect("spawn sleep");
    let pid = child.id() as i32;
    guard.child = Some(child);

    let (code, out, err) = cgdash(&["snapshot", "--json", "--interval", "50ms"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let g = v["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["path"] == path.as_str())
        .unwrap_or_else(|| panic!("{path} not listed"));
    assert!(g["nprocs"].is_null(), "nprocs from memory/: {g}");
    assert!(g["pids"]["current"].is_null(), "{g}");
    let procs = v["processes"].as_array().expect("processes");
    assert!(
        !procs.iter().any(|p| p["cgroup"] == path.as_str()),
        "a row placed in {path}"
    );
    let row = procs
        .iter()
        .find(|p| p["pid"] == pid)
        .expect("the sleep is listed");
    assert_ne!(row["cgroup"], path.as_str(), "placed by its cpu group");
    // The parent exists only under memory/ too: null, not 0.
    let p = v["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["path"] == parent.as_str())
        .expect("parent listed");
    if !layout.hierarchy("cpu").expect("cpu").dir(&parent).exists() {
        assert!(p["nprocs"].is_null(), "{p}");
    }
    drop(guard);
}
