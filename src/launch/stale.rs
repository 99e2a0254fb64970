//! Recognising groups left behind by a cgdash that was SIGKILLed.
//!
//! Before it creates `cgdash/NAME`, the launcher writes a state file
//! `STATE_DIR/NAME.json` naming its own pid and that process's start time (pid
//! numbers are reused; pid + start time is not), and once the helper runs, the
//! helper's pid and start time too. A group is stale when its state file's
//! owner is gone. Normally the helper has ended the workload by then (it sees
//! its lifeline close); a *frozen* helper cannot, so `cleanup_stale` thaws the
//! group and kills the recorded helper (if that very process is still in the
//! group), then removes the group once it is empty. Groups without a state
//! file (not made by a cgdash launch, or `--keep` ones whose owner handed them
//! over) are never touched, and nothing else is ever signalled.
//!
//! The state directory must be this user's alone (for a non-root user it is
//! `/tmp/cgdash-UID` when `XDG_RUNTIME_DIR` is unset, where anyone could
//! create it first): it is made 0700 and refused when it is a symlink, owned
//! by someone else, or writable by group or others; files in it are opened
//! with `O_NOFOLLOW`, new ones with `O_EXCL`.

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::error::LaunchError;
use super::workload::thaw_tree;
use crate::cgroup::Layout;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    group: String,
    owner_pid: i32,
    owner_start: u64,
    /// The `__launch` helper (recorded once it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    helper_pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    helper_start: Option<u64>,
    /// `--net veth`: the veth and bridge made for it (torn down by stale
    /// cleanup; found by `set` for the `net.*` knobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    net: Option<crate::net::NetState>,
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

/// [`state_dir`], created if missing, if it passes the checks that make it
/// safe to read and write in (`None` if not).
pub fn private_state_dir() -> Option<PathBuf> {
    let dir = state_dir();
    private_dir(&dir, nix::unistd::geteuid().as_raw())
        .ok()
        .map(|()| dir)
}

fn state_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// Creates `dir` (mode 0700) if missing, then checks that it is safe to
/// trust: a real directory (not a symlink), owned by `uid`, not writable by
/// group or others. Anything else could be another user's trap (files
/// planted in it, or links that make us write elsewhere).
fn private_dir(dir: &Path, uid: u32) -> Result<(), LaunchError> {
    let unsafe_dir = |why: String| LaunchError::UnsafeStateDir {
        dir: dir.to_path_buf(),
        why,
    };
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        // A symlink to nowhere makes create fail: say what it is below.
        Err(e) if fs::symlink_metadata(dir).is_err() => {
            return Err(LaunchError::io(
                format!("cannot create {}", dir.display()),
                e,
            ))
        }
        Err(_) => {}
    }
    private_dir_checks(dir, uid).map_err(unsafe_dir)
}

/// The checks of [`private_dir`] on an existing `dir`, as a sentence.
fn private_dir_checks(dir: &Path, uid: u32) -> Result<(), String> {
    let meta = fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        return Err("it is a symbolic link (remove it; cgdash creates its own)".into());
    }
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    if meta.uid() != uid {
        return Err(format!(
            "it is owned by uid {}, not by uid {uid} (another user may have created it \
             to plant files; remove it, or set XDG_RUNTIME_DIR)",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "its mode {:o} lets others write in it (chmod 700 it)",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Opens a file of the state directory for reading, without following a
/// symlink planted in its place; `None` unless it is a regular file.
pub(crate) fn open_private(path: &Path) -> Option<fs::File> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    f.metadata().ok()?.is_file().then_some(f)
}

/// Creates a new file of the state directory (O_EXCL: never through an
/// existing name or symlink; O_NOFOLLOW for good measure), readable by
/// this user only.
pub(crate) fn create_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Reads a state file without following a symlink planted in its place.
fn read_state(path: &Path) -> Option<State> {
    let mut f = open_private(path)?;
    let mut text = String::new();
    std::io::Read::take(&mut f, 64 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes `st` to a new file `tmp` ([`create_private`]).
fn write_new(tmp: &Path, st: &State) -> std::io::Result<()> {
    let text = serde_json::to_string(st).map_err(std::io::Error::other)?;
    create_private(tmp)?.write_all(text.as_bytes())
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
    let dir = state_dir();
    private_dir(&dir, nix::unistd::geteuid().as_raw())?;
    write_state_in(&dir, name, group)
}

/// [`write_state`] in a directory already checked by [`private_dir`].
fn write_state_in(dir: &Path, name: &str, group: &str) -> Result<Option<PathBuf>, LaunchError> {
    let me = std::process::id() as i32;
    let st = State {
        group: group.to_string(),
        owner_pid: me,
        owner_start: process_start(me).unwrap_or(0),
        helper_pid: None,
        helper_start: None,
        net: None,
    };
    let path = state_file(dir, name);
    let err = |e| LaunchError::io(format!("cannot write {}", path.display()), e);
    // Write a private file, then link it into place: the link fails if the
    // name is taken, so two launchers never both think they own it, and a
    // reader never sees half a file.
    let tmp = temp_of(&path);
    write_new(&tmp, &st)
        .map_err(|e| LaunchError::io(format!("cannot write {}", tmp.display()), e))?;
    let mut result = Ok(None);
    for _ in 0..2 {
        match fs::hard_link(&tmp, &path) {
            Ok(()) => {
                result = Ok(Some(path.clone()));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                match read_state(&path) {
                    Some(o) if owner_alive(&o) => break,
                    // Left by a dead cgdash (its group is gone or will be
                    // checked by `create_group`), or not a state file at
                    // all: take the name over (unlink removes a symlink,
                    // never what it points to).
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

/// The temporary file a state file `NAME.json` is written through by this
/// process: `.NAME.PID.tmp` (a SIGKILL between write and rename leaves it;
/// stale cleanup removes those of pids that are gone).
fn temp_of(path: &Path) -> PathBuf {
    let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or("state");
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// The pid that writes through `file` if it is one of [`temp_of`]'s names
/// (or, without the leading dot, one an earlier cgdash's updates used).
fn temp_writer(file: &str) -> Option<u32> {
    let rest = file.strip_suffix(".tmp")?;
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    rest.rsplit_once('.')?.1.parse().ok()
}

/// Changes the state file at `path` with `change` (which returns whether it
/// changed anything), replacing it whole by rename so that a reader sees
/// the old or the new file. Best effort: a failed update leaves the old one.
fn update_state(path: &Path, change: impl FnOnce(&mut State) -> bool) {
    let Some(mut st) = read_state(path) else {
        return;
    };
    if !change(&mut st) {
        return;
    }
    let tmp = temp_of(path);
    if write_new(&tmp, &st).is_err() || fs::rename(&tmp, path).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// Adds the helper's pid and start time to our state file at `path`.
/// Best effort: without it, stale cleanup can still remove an empty group.
pub(crate) fn record_helper(path: &Path, helper: i32) {
    update_state(path, |st| {
        st.helper_pid = Some(helper);
        st.helper_start = process_start(helper);
        true
    });
}

/// Adds what `--net veth` made (or is making) to our state file.
pub(crate) fn record_net(path: &Path, net: &crate::net::NetState) {
    update_state(path, |st| {
        st.net = Some(net.clone());
        true
    });
}

/// A running `--net veth` workload's network, for the `net.*` knobs: what
/// was made, and the workload's network namespace (`/proc/HELPER/ns/net`,
/// the helper checked to be the very process recorded, still alive, and its
/// owner too). `Err`: why `group` has no cgdash veth.
pub fn net_of_group(group: &str) -> Result<(crate::net::NetState, PathBuf), String> {
    let none = || format!("{group} has no cgdash veth");
    let name = group.strip_prefix("cgdash/").ok_or_else(none)?;
    if validate_name_ok(name).is_err() {
        return Err(none());
    }
    let dir = state_dir();
    if private_dir_checks(&dir, nix::unistd::geteuid().as_raw()).is_err() {
        return Err(none());
    }
    let st = read_state(&state_file(&dir, name)).ok_or_else(none)?;
    if st.group != group || !owner_alive(&st) {
        return Err(none());
    }
    let net = st.net.clone().ok_or_else(none)?;
    // The bridge, then the veth, are recorded before they are ready (stale
    // cleanup must know them): until the launcher has made the address, the
    // port and its own rates, a `set` would race with it.
    if net.setting_up || net.veth.is_empty() {
        return Err(format!(
            "{group}: its network is still being set up (try again in a moment)"
        ));
    }
    let (Some(pid), Some(start)) = (st.helper_pid, st.helper_start) else {
        return Err(none());
    };
    if process_start(pid) != Some(start) {
        return Err(format!("{group}: its workload has ended"));
    }
    Ok((net, PathBuf::from(format!("/proc/{pid}/ns/net"))))
}

/// Records a rate limit `set` changed in the state file of `group` (as
/// [`record_helper`]): what the dashboard and `snapshot` show.
pub fn record_net_rate(group: &str, knob: crate::net::NetKnob, rate: Option<u64>) {
    let Some(name) = group.strip_prefix("cgdash/") else {
        return;
    };
    update_state(&state_file(&state_dir(), name), |st| {
        let Some(net) = st.net.as_mut() else {
            return false;
        };
        match knob {
            crate::net::NetKnob::RateIn => net.rate_in = rate,
            crate::net::NetKnob::RateOut => net.rate_out = rate,
        }
        true
    });
}

/// The limits (`rate_in`, `rate_out`) recorded for a live cgdash workload
/// `group` with a veth; `None` for any other group.
pub fn net_rates(group: &str) -> Option<(Option<u64>, Option<u64>)> {
    let name = group.strip_prefix("cgdash/")?;
    if name.contains('/') || validate_name_ok(name).is_err() {
        return None;
    }
    let st = read_state(&state_file(&state_dir(), name))?;
    if st.group != group {
        return None;
    }
    let net = st.net?;
    Some((net.rate_in, net.rate_out))
}

fn validate_name_ok(name: &str) -> Result<(), LaunchError> {
    super::spec::validate_name(name)
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

/// SIGKILLs the helper the state file records, if that very process (same
/// start time) still runs in `group`: its init dies with it (PDEATHSIG), and
/// the workload's pid namespace with init. Returns whether it did.
fn kill_recorded_helper(layout: &Layout, st: &State) -> bool {
    let (Some(pid), Some(start)) = (st.helper_pid, st.helper_start) else {
        return false;
    };
    if pid <= 1 || process_start(pid) != Some(start) || !layout.procs(&st.group).contains(&pid) {
        return false;
    }
    kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok()
}

/// Removes groups under `cgdash/` left by a cgdash that died without cleaning
/// up: only those with our state file and whose owner is gone. A frozen one
/// is thawed and its recorded helper killed; a group where anything else
/// still runs is left alone. Returns the removed groups. Call it at every
/// cgdash start.
pub fn cleanup_stale(layout: &Layout) -> Vec<String> {
    cleanup_stale_checked(layout, &state_dir(), nix::unistd::geteuid().as_raw())
}

/// Only a directory that is `uid`'s alone is trusted (a missing one holds
/// nothing; a hostile one is reported when a launch tries to use it).
fn cleanup_stale_checked(layout: &Layout, dir: &Path, uid: u32) -> Vec<String> {
    if private_dir_checks(dir, uid).is_err() {
        return Vec::new();
    }
    cleanup_stale_in(layout, dir)
}

fn cleanup_stale_in(layout: &Layout, dir: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let path = e.path();
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(pid) = temp_writer(file) {
            // Its writer was killed between write and rename.
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_file(&path);
            }
            continue;
        }
        let Some(name) = file.strip_suffix(".json") else {
            continue;
        };
        let Some(st) = read_state(&path) else {
            continue;
        };
        // Only our own naming scheme, whatever the file says.
        if st.group != format!("cgdash/{name}") || owner_alive(&st) {
            continue;
        }
        // A launch from another network namespace: its bridge, veth and
        // NAT table are there, not here; left for a cgdash started there.
        if st.net.as_ref().is_some_and(|n| !n.here()) {
            continue;
        }
        // The veth dies with the workload's network namespace; the bridge
        // goes if nothing else is on it and cgdash made it. Only once the
        // workload is gone (its group removed), before the state that
        // names them is.
        let teardown = || {
            if let Some(net) = &st.net {
                crate::net::teardown(net);
            }
        };
        if !layout.group_exists(&st.group) {
            teardown();
            remove_state(&path);
            continue;
        }
        // Frozen, the helper could not see its lifeline close: thaw it
        // (then it ends the workload itself) and kill it to be sure.
        let thawed = thaw_tree(layout, &st.group);
        let killed = kill_recorded_helper(layout, &st);
        if !killed && !thawed && !layout.procs(&st.group).is_empty() {
            continue; // someone else runs there: not ours to end
        }
        let grace = if killed || thawed {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(200)
        };
        if layout.remove_group(&st.group, grace).is_ok() {
            teardown();
            remove_state(&path);
            removed.push(st.group);
        }
    }
    layout.remove_parent_if_empty("cgdash");
    sweep_bridges(dir);
    crate::net::sweep_nat();
    removed
}

/// Bridges cgdash made (in its device group, or with a `bridge-NAME`
/// marker) that no live launch names and that have no port left are
/// removed: also those whose last workload's state was swept by a cgdash
/// that knew nothing of networks.
fn sweep_bridges(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut markers = crate::net::our_bridges();
    let mut live = Vec::new();
    for e in entries.flatten() {
        let Some(n) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if let Some(b) = n
            .strip_prefix("bridge-")
            .filter(|b| !markers.iter().any(|m| m == b))
        {
            markers.push(b.to_string());
        } else if n.ends_with(".json") {
            if let Some(st) = read_state(&e.path()) {
                if let Some(net) = st.net.as_ref().filter(|_| owner_alive(&st)) {
                    live.push(net.bridge.clone());
                }
            }
        }
    }
    for b in markers {
        if !live.contains(&b) {
            crate::net::remove_unused_bridge(&b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn dead(group: &str) -> State {
        State {
            group: group.into(),
            owner_pid: i32::MAX,
            owner_start: 1,
            helper_pid: None,
            helper_start: None,
            net: None,
        }
    }

    fn put(dir: &Path, name: &str, st: &State) {
        fs::write(state_file(dir, name), serde_json::to_string(st).unwrap()).unwrap();
    }

    fn my_uid(dir: &Path) -> u32 {
        fs::metadata(dir).unwrap().uid()
    }

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
        put(dir.path(), "y", &dead("cgdash/y"));
        assert!(write_state_in(dir.path(), "y", "cgdash/y")
            .unwrap()
            .is_some());
        // No temp files left.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
        // The helper is recorded in place, the file stays ours alone.
        let me = std::process::id() as i32;
        record_helper(&p.clone().unwrap(), me);
        let st = read_state(&p.clone().unwrap()).unwrap();
        assert_eq!(st.helper_pid, Some(me));
        assert_eq!(st.helper_start, process_start(me));
        let mode = fs::metadata(p.unwrap()).unwrap().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn start_time_of_self_and_of_nobody() {
        assert!(process_start(std::process::id() as i32).is_some());
        assert!(process_start(i32::MAX).is_none());
    }

    /// A fixture tree whose groups are plain empty directories (rmdir works
    /// on them, as on an empty cgroup), so only the checks decide what goes:
    /// dead owner and reused pid (other start time) are removed; live owner,
    /// a group someone else runs in, a state file naming a group outside
    /// `cgdash/`, and groups without a state file are kept. Mutations that
    /// ignore `owner_alive`, the start time, the naming check or the
    /// recorded helper's start time each fail it. Temp files of a dead
    /// writer go; a live writer's stay.
    #[test]
    fn removes_only_stale_groups_with_state() {
        let root = tempfile::tempdir().unwrap();
        let cpu = root.path().join("cpu");
        for g in [
            "",
            "cgdash",
            "cgdash/dead",
            "cgdash/alive",
            "cgdash/reused",
            "cgdash/busy",
            "cgdash/nostate",
            "victim",
        ] {
            fs::create_dir_all(cpu.join(g)).unwrap();
        }
        fs::write(cpu.join("cgroup.procs"), "").unwrap();
        // A process this test started runs in `busy`; the state file claims
        // it as the helper, but with another start time (a reused pid).
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let sp = sleeper.id() as i32;
        fs::write(cpu.join("cgdash/busy/cgroup.procs"), format!("{sp}\n")).unwrap();
        let layout = Layout::from_root(root.path()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id() as i32;
        let my_start = process_start(me).unwrap();
        let alive = State {
            owner_pid: me,
            owner_start: my_start,
            ..dead("cgdash/alive")
        };
        let reused = State {
            owner_pid: me,
            owner_start: my_start + 12345,
            ..dead("cgdash/reused")
        };
        let busy = State {
            helper_pid: Some(sp),
            helper_start: Some(process_start(sp).unwrap() + 1),
            ..dead("cgdash/busy")
        };
        put(dir.path(), "dead", &dead("cgdash/dead"));
        put(dir.path(), "alive", &alive);
        put(dir.path(), "reused", &reused);
        put(dir.path(), "busy", &busy);
        put(dir.path(), "gone", &dead("cgdash/gone"));
        // Names a group outside cgdash/ (a forged or corrupt file).
        put(dir.path(), "evil", &dead("victim"));
        put(dir.path(), "nostate2", &dead("cgdash/nostate"));
        // Temp files of a writer killed before its rename, and of a live one.
        let dead_tmp = dir.path().join(format!(".dead.{}.tmp", i32::MAX));
        let live_tmp = temp_of(&state_file(dir.path(), "alive"));
        fs::write(&dead_tmp, "{").unwrap();
        fs::write(&live_tmp, "{").unwrap();
        let uid = my_uid(dir.path());
        let mut removed = cleanup_stale_checked(&layout, dir.path(), uid);
        removed.sort();
        // (Our child: dead = reapable; a zombie would still have a stat.)
        let alive_now = sleeper.try_wait().unwrap().is_none();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert!(alive_now, "the reused helper pid must not be signalled");
        assert_eq!(removed, vec!["cgdash/dead", "cgdash/reused"]);
        assert!(!cpu.join("cgdash/dead").exists());
        assert!(!cpu.join("cgdash/reused").exists());
        assert!(cpu.join("cgdash/alive").exists());
        assert!(cpu.join("cgdash/busy").exists());
        assert!(cpu.join("cgdash/nostate").exists());
        assert!(cpu.join("victim").exists(), "outside cgdash/: refused");
        assert!(state_file(dir.path(), "evil").exists());
        assert!(state_file(dir.path(), "alive").exists());
        assert!(state_file(dir.path(), "busy").exists());
        assert!(!state_file(dir.path(), "dead").exists());
        assert!(!state_file(dir.path(), "gone").exists());
        assert!(!dead_tmp.exists(), "a dead writer's temp file");
        assert!(live_tmp.exists(), "a live writer's temp file");
    }

    #[test]
    fn state_dir_is_created_private() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("cgdash-1000");
        private_dir(&dir, my_uid(parent.path())).unwrap();
        let mode = fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "{mode:o}");
        // Existing and fine: accepted again.
        private_dir(&dir, my_uid(parent.path())).unwrap();
    }

    /// Another user's directory, a world-writable one, and a symlink are
    /// refused with a sentence, and nothing is written into them.
    #[test]
    fn hostile_state_dirs_are_refused() {
        let parent = tempfile::tempdir().unwrap();
        let uid = my_uid(parent.path());
        let d = parent.path().join("owned");
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        let e = private_dir(&d, uid + 1).unwrap_err().to_string();
        assert!(e.contains("owned by uid"), "{e}");
        assert!(e.contains(&d.display().to_string()), "{e}");

        let w = parent.path().join("open");
        fs::create_dir(&w).unwrap();
        fs::set_permissions(&w, fs::Permissions::from_mode(0o777)).unwrap();
        let e = private_dir(&w, uid).unwrap_err().to_string();
        assert!(e.contains("mode 777"), "{e}");

        let l = parent.path().join("link");
        std::os::unix::fs::symlink(&d, &l).unwrap();
        let e = private_dir(&l, uid).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let dangling = parent.path().join("dangling");
        std::os::unix::fs::symlink(parent.path().join("nowhere"), &dangling).unwrap();
        let e = private_dir(&dangling, uid).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(!parent.path().join("nowhere").exists());

        for dir in [&d, &w] {
            assert_eq!(fs::read_dir(dir).unwrap().count(), 0);
        }
        // Stale cleanup does not act on what a hostile dir says.
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("cpu/cgdash/x")).unwrap();
        fs::write(root.path().join("cpu/cgroup.procs"), "").unwrap();
        let layout = Layout::from_root(root.path()).unwrap();
        put(&w, "x", &dead("cgdash/x"));
        assert!(cleanup_stale_checked(&layout, &w, uid).is_empty());
        assert!(root.path().join("cpu/cgdash/x").exists());
    }

    /// Symlinks planted in place of the state file or its temp file never
    /// make us write through them.
    #[test]
    fn planted_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        // As the state file: not read as a state, replaced by a file of ours.
        std::os::unix::fs::symlink(&victim, state_file(dir.path(), "x")).unwrap();
        assert!(read_state(&state_file(dir.path(), "x")).is_none());
        let p = write_state_in(dir.path(), "x", "cgdash/x")
            .unwrap()
            .unwrap();
        assert!(!fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        // A symlink to a well-formed state file elsewhere is not believed.
        let forged = outside.path().join("forged.json");
        let me_alive = State {
            owner_pid: std::process::id() as i32,
            owner_start: process_start(std::process::id() as i32).unwrap(),
            ..dead("cgdash/z")
        };
        fs::write(&forged, serde_json::to_string(&me_alive).unwrap()).unwrap();
        std::os::unix::fs::symlink(&forged, state_file(dir.path(), "z")).unwrap();
        assert!(read_state(&state_file(dir.path(), "z")).is_none());
        // As the temp file: the write fails (O_EXCL) instead of following it.
        let me = std::process::id();
        std::os::unix::fs::symlink(&victim, dir.path().join(format!(".y.{me}.tmp"))).unwrap();
        let e = write_state_in(dir.path(), "y", "cgdash/y").unwrap_err();
        assert!(e.to_string().contains(".y."), "{e}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        // As record_helper's temp file: the state file is left as it was.
        let t = temp_of(&p);
        std::os::unix::fs::symlink(&victim, &t).unwrap();
        record_helper(&p, me as i32);
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(read_state(&p).unwrap().helper_pid, None);
    }

    /// Live (root, a freezer): a leftover of cgdash's own whose group is
    /// frozen — its owner dead, its recorded helper still in it — is thawed,
    /// the helper killed, the group removed and the name freed.
    #[test]
    fn frozen_leftover_is_thawed_and_removed() {
        let required = std::env::var("CGDASH_LIVE_TESTS").is_ok_and(|v| v == "required");
        let layout = match Layout::detect() {
            Ok(l) if nix::unistd::geteuid().is_root() => l,
            _ => {
                assert!(!required, "live test cannot run (root, cgroups)");
                eprintln!("SKIP frozen_leftover_is_thawed_and_removed: not root");
                return;
            }
        };
        let name = format!("hl-{}-frozen-stale", std::process::id());
        let group = format!("cgdash/{name}");
        layout.create_group(&group).unwrap();
        struct Guard<'a>(&'a Layout, String, std::process::Child);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                thaw_tree(self.0, &self.1);
                let _ = self.2.kill();
                let _ = self.2.wait();
                let _ = self.0.remove_group(&self.1, Duration::from_secs(3));
            }
        }
        let child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let mut g = Guard(&layout, group.clone(), child);
        layout.attach(&group, pid).unwrap();
        let freeze = crate::cgroup::Setting {
            knob: crate::cgroup::Knob::Freeze,
            value: crate::cgroup::Value::Bool(true),
        };
        if layout.apply(&group, &[freeze]).is_err() {
            assert!(!required, "no freezer here");
            eprintln!("SKIP frozen_leftover_is_thawed_and_removed: no freezer");
            return;
        }
        let frozen = |l: &Layout| l.read_group(&group).and_then(|s| s.frozen);
        for _ in 0..100 {
            if frozen(&layout) == Some(true) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(frozen(&layout), Some(true));
        let dir = tempfile::tempdir().unwrap();
        let st = State {
            helper_pid: Some(pid),
            helper_start: process_start(pid),
            ..dead(&group)
        };
        put(dir.path(), &name, &st);
        let removed = cleanup_stale_checked(&layout, dir.path(), my_uid(dir.path()));
        // Reap our sleep: it must have died of SIGKILL.
        use std::os::unix::process::ExitStatusExt as _;
        let mut died = None;
        for _ in 0..250 {
            if let Some(st) = g.2.try_wait().unwrap() {
                died = st.signal();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(removed, vec![group.clone()]);
        assert_eq!(died, Some(9));
        assert!(!layout.group_exists(&group));
        assert!(!state_file(dir.path(), &name).exists(), "the name is free");
    }
}
