//! Recognising groups left behind by a cgdash that was SIGKILLed.
//!
//! Before it creates `cgdash/NAME`, the launcher writes a state file
//! `STATE_DIR/NAME.json` naming its own pid and that process's start time (pid
//! numbers are reused; pid + start time is not). A group is stale when its
//! state file's owner is gone. `cleanup_stale` removes such a group only when
//! it is empty; groups without a state file (not made by a cgdash launch, or
//! `--keep` ones whose owner handed them over) are never touched.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::LaunchError;
use crate::cgroup::Layout;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    group: String,
    owner_pid: i32,
    owner_start: u64,
}

/// `/run/cgdash` as root; for other users `$XDG_RUNTIME_DIR/cgdash`, else
/// `/tmp/cgdash-UID`. A tmpfs in practice: like the groups, gone at reboot.
pub fn state_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/cgdash");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("cgdash"),
        _ => PathBuf::from(format!("/tmp/cgdash-{}", nix::unistd::geteuid())),
    }
}

fn state_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// Start time of a process in clock ticks since boot (field 22 of
/// /proc/PID/stat), `None` if it does not exist.
pub(crate) fn process_start(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Records that this process owns `group` (named `name`). `Ok(None)` when a
/// live cgdash already holds that name (two launches racing for it).
pub(crate) fn write_state(name: &str, group: &str) -> Result<Option<PathBuf>, LaunchError> {
    write_state_in(&state_dir(), name, group)
}

fn write_state_in(dir: &Path, name: &str, group: &str) -> Result<Option<PathBuf>, LaunchError> {
    fs::create_dir_all(dir)
        .map_err(|e| LaunchError::io(format!("cannot create {}", dir.display()), e))?;
    let me = std::process::id() as i32;
    let st = State {
        group: group.to_string(),
        owner_pid: me,
        owner_start: process_start(me).unwrap_or(0),
    };
    let path = state_file(dir, name);
    let text = serde_json::to_string(&st)
        .map_err(|e| LaunchError::io("state file", std::io::Error::other(e)))?;
    let err = |e| LaunchError::io(format!("cannot write {}", path.display()), e);
    // Write a private file, then link it into place: the link fails if the
    // name is taken, so two launchers never both think they own it, and a
    // reader never sees half a file.
    let tmp = dir.join(format!(".{name}.{me}.tmp"));
    fs::write(&tmp, text).map_err(err)?;
    let mut result = Ok(None);
    for _ in 0..2 {
        match fs::hard_link(&tmp, &path) {
            Ok(()) => {
                result = Ok(Some(path.clone()));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let other = fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| serde_json::from_str::<State>(&t).ok());
                match other {
                    Some(o) if owner_alive(&o) => break,
                    // Left by a dead cgdash (its group is gone or will be
                    // checked by `create_group`): take the name over.
                    _ => {
                        let _ = fs::remove_file(&path);
                    }
                }
            }
            Err(e) => {
                result = Err(err(e));
                break;
            }
        }
    }
    let _ = fs::remove_file(&tmp);
    result
}

pub(crate) fn remove_state(path: &Path) {
    let _ = fs::remove_file(path);
}

fn owner_alive(st: &State) -> bool {
    match process_start(st.owner_pid) {
        Some(start) => st.owner_start == 0 || start == st.owner_start,
        None => false,
    }
}

/// Removes groups under `cgdash/` left by a cgdash that died without cleaning
/// up: only those with our state file, whose owner is gone, and that are
/// empty. Returns the removed groups. Call it at every cgdash start.
pub fn cleanup_stale(layout: &Layout) -> Vec<String> {
    cleanup_stale_in(layout, &state_dir())
}

fn cleanup_stale_in(layout: &Layout, dir: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let Ok(st) = fs::read_to_string(&path)
            .map_err(|_| ())
            .and_then(|t| serde_json::from_str::<State>(&t).map_err(|_| ()))
        else {
            continue;
        };
        // Only our own naming scheme, whatever the file says.
        if st.group != format!("cgdash/{name}") || owner_alive(&st) {
            continue;
        }
        if !layout.group_exists(&st.group) {
            remove_state(&path);
            continue;
        }
        if !layout.procs(&st.group).is_empty() {
            continue; // someone still runs there: not ours to end
        }
        if layout
            .remove_group(&st.group, Duration::from_millis(200))
            .is_ok()
        {
            remove_state(&path);
            removed.push(st.group);
        }
    }
    layout.remove_parent_if_empty("cgdash");
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_has_one_live_owner() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_state_in(dir.path(), "x", "cgdash/x").unwrap();
        assert!(p.is_some());
        // We are alive: a second claim fails.
        assert!(write_state_in(dir.path(), "x", "cgdash/x")
            .unwrap()
            .is_none());
        // A dead owner's claim is taken over.
        let dead = State {
            group: "cgdash/y".into(),
            owner_pid: i32::MAX,
            owner_start: 1,
        };
        fs::write(
            state_file(dir.path(), "y"),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        assert!(write_state_in(dir.path(), "y", "cgdash/y")
            .unwrap()
            .is_some());
        // No temp files left.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn start_time_of_self_and_of_nobody() {
        assert!(process_start(std::process::id() as i32).is_some());
        assert!(process_start(i32::MAX).is_none());
    }

    /// A fixture tree: stale + empty is removed; alive owner, non-empty,
    /// and groups without a state file are left alone.
    #[test]
    fn removes_only_stale_empty_groups_with_state() {
        let root = tempfile::tempdir().unwrap();
        let cpu = root.path().join("cpu");
        for g in [
            "",
            "cgdash",
            "cgdash/dead",
            "cgdash/alive",
            "cgdash/busy",
            "cgdash/nostate",
        ] {
            fs::create_dir_all(cpu.join(g)).unwrap();
            fs::write(cpu.join(g).join("cgroup.procs"), "").unwrap();
        }
        fs::write(cpu.join("cgdash/busy/cgroup.procs"), "1\n").unwrap();
        let layout = Layout::from_root(root.path()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dead = State {
            group: "cgdash/dead".into(),
            owner_pid: i32::MAX,
            owner_start: 1,
        };
        let me = std::process::id() as i32;
        let alive = State {
            group: "cgdash/alive".into(),
            owner_pid: me,
            owner_start: process_start(me).unwrap(),
        };
        let busy = State {
            group: "cgdash/busy".into(),
            ..dead.clone()
        };
        let gone = State {
            group: "cgdash/gone".into(),
            ..dead.clone()
        };
        for (n, s) in [
            ("dead", &dead),
            ("alive", &alive),
            ("busy", &busy),
            ("gone", &gone),
        ] {
            fs::write(state_file(dir.path(), n), serde_json::to_string(s).unwrap()).unwrap();
        }
        // Fixture dirs are plain directories: rmdir fails while they hold a
        // cgroup.procs file, so remove it for the one that should go.
        fs::remove_file(cpu.join("cgdash/dead/cgroup.procs")).unwrap();
        let removed = cleanup_stale_in(&layout, dir.path());
        assert_eq!(removed, vec!["cgdash/dead".to_string()]);
        assert!(!cpu.join("cgdash/dead").exists());
        assert!(cpu.join("cgdash/alive").exists());
        assert!(cpu.join("cgdash/busy").exists());
        assert!(cpu.join("cgdash/nostate").exists());
        assert!(!state_file(dir.path(), "gone").exists());
        assert!(state_file(dir.path(), "busy").exists());
    }
}
