//! What tells the group reader that a hierarchy changed (a group directory
//! made, removed or renamed) or that a limit was written, so that it walks
//! the hierarchies only then and re-reads a quiet group's limits only then
//! (see `reader`).
//!
//! Two ways, the first one the kernel takes:
//!
//! - **fanotify**, one mark per hierarchy's filesystem (`FAN_MARK_FILESYSTEM`,
//!   root only): it sees every directory made, removed or renamed and every
//!   write anywhere in that hierarchy, from the first mark on. Events name
//!   the directory by handle and the entry by name (`FAN_REPORT_DFID_NAME`);
//!   the reader needs only the kind of event and, for a write, the file's
//!   name.
//! - **inotify**, one watch per group directory, added by the walk just
//!   before it lists the directory (so nothing made after the listing is
//!   missed).
//!
//! Why fanotify first (issue 18, startup): a watch costs the kernel ~5 µs
//! (~13 µs for one that also watches writes, which makes it flag every
//! cached entry of the directory), once per directory per hierarchy: ~100
//! watches at 25 groups on a v1 host, ~0.35–1 ms of the first sample;
//! ~3,000 at 1,000 groups. The ten marks of the same host cost ~35 µs, and
//! the limit on watches (`fs.inotify.max_user_watches`) no longer applies.
//!
//! fanotify is used only where every hierarchy is a cgroup filesystem (a
//! mark on a fixture tree's filesystem would watch the whole of it) and the
//! kernel takes each mark: it refuses a filesystem without an fsid
//! (`ENODEV`; cgroupfs has one on recent kernels, not on 6.1) and anyone
//! but root (`EPERM`). A mark on a hierarchy mounted from a subtree (a
//! container's view) also sees the rest of it: more walks, nothing missed.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::layout::{Hierarchy, Layout};

/// What happened since the last [`Watch::drain`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Seen {
    /// A group directory was made, removed or renamed (or events were lost).
    pub changed: bool,
    /// A file that may hold a limit was written (or events were lost).
    pub written: bool,
}

pub(super) enum Watch {
    /// One fanotify mark per hierarchy.
    Marks(OwnedFd),
    /// One inotify watch per group directory, added by the walk.
    Dirs(Inotify),
}

impl Watch {
    /// fanotify marks on every hierarchy of `layout` where it can, else an
    /// inotify instance for the walk to add watches to; `None` if neither.
    pub fn new(layout: &Layout) -> Option<Watch> {
        Self::marks(layout).or_else(Self::dirs)
    }

    /// The inotify way, whatever the kernel would take (tests).
    pub fn dirs() -> Option<Watch> {
        Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .map(Watch::Dirs)
    }

    fn marks(layout: &Layout) -> Option<Watch> {
        let cgroupfs = |p: &Path| {
            nix::sys::statfs::statfs(p).is_ok_and(|s| {
                let t = s.filesystem_type();
                t == nix::sys::statfs::CGROUP_SUPER_MAGIC
                    || t == nix::sys::statfs::CGROUP2_SUPER_MAGIC
            })
        };
        let hierarchies: Vec<&Hierarchy> = layout.walked().collect();
        if hierarchies.is_empty() || !hierarchies.iter().all(|h| cgroupfs(&h.mount)) {
            return None;
        }
        // SAFETY: fanotify_init takes no pointers; a descriptor it returns
        // is ours alone.
        let fd = unsafe {
            libc::fanotify_init(
                libc::FAN_CLASS_NOTIF
                    | libc::FAN_CLOEXEC
                    | libc::FAN_NONBLOCK
                    | libc::FAN_REPORT_DFID_NAME,
                (libc::O_RDONLY | libc::O_CLOEXEC) as u32,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: just made, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        for h in hierarchies {
            let mut mask = libc::FAN_CREATE
                | libc::FAN_DELETE
                | libc::FAN_MOVED_FROM
                | libc::FAN_MOVED_TO
                | libc::FAN_ONDIR;
            if holds_settings(h) {
                mask |= libc::FAN_MODIFY;
            }
            let Ok(path) = std::ffi::CString::new(h.mount.as_os_str().as_encoded_bytes()) else {
                return None;
            };
            // SAFETY: the path is a NUL-terminated string that outlives the
            // call.
            let r = unsafe {
                libc::fanotify_mark(
                    fd.as_raw_fd(),
                    libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
                    mask,
                    libc::AT_FDCWD,
                    path.as_ptr(),
                )
            };
            if r != 0 {
                return None; // all or none: a hierarchy unwatched misses groups
            }
        }
        Some(Watch::Marks(fd))
    }

    /// "fanotify" or "inotify" (tests).
    pub fn kind(&self) -> &'static str {
        match self {
            Watch::Marks(_) => "fanotify",
            Watch::Dirs(_) => "inotify",
        }
    }

    /// Called by the walk for each group directory of `h` just before it is
    /// listed: inotify watches it (Err: out of watches, or another refusal;
    /// a directory gone meanwhile is none); the marks see it already.
    pub fn add_dir(&self, dir: &Path, h: &Hierarchy) -> Result<(), Errno> {
        let Watch::Dirs(w) = self else { return Ok(()) };
        let mut mask = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_ONLYDIR;
        // Writes are watched for only where limits live: a watch for writes
        // makes the kernel flag every cached file entry of the directory
        // (`fsnotify_set_children_dentry_flags`), ~2.5× the cost of one for
        // subdirectories alone (measured, v1 group directories: ~13 vs
        // ~5 µs a watch; issue 18, startup).
        if holds_settings(h) {
            mask |= AddWatchFlags::IN_MODIFY;
        }
        match w.add_watch(dir, mask) {
            Ok(_) | Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Everything queued since the last call (EAGAIN, nothing, is the usual
    /// answer).
    pub fn drain(&self) -> Seen {
        let mut seen = Seen::default();
        match self {
            Watch::Dirs(w) => {
                while let Ok(events) = w.read_events() {
                    if events.is_empty() {
                        break;
                    }
                    for e in &events {
                        let lost = e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW);
                        seen.changed |= lost
                            || e.mask.intersects(
                                AddWatchFlags::IN_ISDIR
                                    | AddWatchFlags::IN_DELETE_SELF
                                    | AddWatchFlags::IN_MOVE_SELF,
                            );
                        seen.written |= lost
                            || (e.mask.contains(AddWatchFlags::IN_MODIFY)
                                && !e.name.as_deref().is_some_and(write_moves_no_limit));
                    }
                }
            }
            Watch::Marks(fd) => {
                // On the stack: drained every tick, usually empty (EAGAIN).
                // An event is its metadata, a handle and a name: ~300
                // bytes at most; a read returns whole events only.
                let mut buf = [0u8; 4096];
                while let Ok(n) = nix::unistd::read(fd.as_fd(), &mut buf) {
                    if n == 0 {
                        break;
                    }
                    fan_events(&buf[..n], &mut seen);
                }
            }
        }
        seen
    }
}

/// Adds what the fanotify events in `buf` say to `seen`: each event is its
/// metadata (`struct fanotify_event_metadata`: length, version, metadata
/// length, mask, fd, pid), then its information records; a
/// `FAN_REPORT_DFID_NAME` record holds the directory's fsid and handle and
/// then the entry's name, NUL-terminated.
fn fan_events(buf: &[u8], seen: &mut Seen) {
    let u16_at = |b: &[u8], i: usize| b.get(i..i + 2).map(|s| u16::from_ne_bytes([s[0], s[1]]));
    let u32_at = |b: &[u8], i: usize| {
        b.get(i..i + 4)
            .map(|s| u32::from_ne_bytes(s.try_into().unwrap()))
    };
    let mut at = 0;
    while let (Some(len), Some(meta_len)) = (u32_at(buf, at), u16_at(buf, at + 6)) {
        let (len, meta_len) = (len as usize, usize::from(meta_len));
        let Some(ev) = buf
            .get(at..at + len)
            .filter(|_| len >= 24 && meta_len <= len)
        else {
            // Truncated or malformed: say everything may have changed.
            seen.changed = true;
            seen.written = true;
            return;
        };
        let mask = ev[8..16]
            .try_into()
            .map(u64::from_ne_bytes)
            .unwrap_or(u64::MAX);
        if mask & libc::FAN_Q_OVERFLOW != 0 {
            seen.changed = true;
            seen.written = true;
        }
        if mask & libc::FAN_ONDIR != 0
            && mask
                & (libc::FAN_CREATE | libc::FAN_DELETE | libc::FAN_MOVED_FROM | libc::FAN_MOVED_TO)
                != 0
        {
            seen.changed = true;
        }
        if mask & libc::FAN_MODIFY != 0 && !seen.written {
            let name = dfid_name(&ev[meta_len..]);
            seen.written |= !name.is_some_and(write_moves_no_limit);
        }
        at += len;
    }
}

/// The entry name of the first `FAN_EVENT_INFO_TYPE_DFID_NAME` record in
/// `info` (an event's information records): after the record's header (type,
/// pad, length: 4 bytes), the fsid (8) and the handle (its length: 4, type:
/// 4, then its bytes).
fn dfid_name(mut info: &[u8]) -> Option<&OsStr> {
    use std::os::unix::ffi::OsStrExt;
    while info.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([info[2], info[3]]));
        let rec = info.get(..len).filter(|_| len >= 4)?;
        if rec[0] == libc::FAN_EVENT_INFO_TYPE_DFID_NAME {
            let handle = u32::from_ne_bytes(rec.get(12..16)?.try_into().ok()?) as usize;
            let name = rec.get(20 + handle..)?;
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            return Some(OsStr::from_bytes(&name[..end]));
        }
        info = &info[len..];
    }
    None
}

/// Whether a hierarchy's groups have files that hold limits (the reader's
/// `is_setting`): it serves the cpu, memory, pids or blkio/io controller.
/// Only there are writes watched for.
fn holds_settings(h: &Hierarchy) -> bool {
    ["cpu", "memory", "pids", "blkio", "io"]
        .iter()
        .any(|c| h.has(c))
}

/// Writes to these don't change a limit (process moves, the kernel's
/// event files): they don't make the limits due.
fn write_moves_no_limit(file: &OsStr) -> bool {
    let f = file.as_encoded_bytes();
    matches!(f, b"cgroup.procs" | b"cgroup.threads" | b"tasks") || f.ends_with(b".events")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event as the kernel lays it out: metadata (24 bytes), then a
    /// DFID_NAME record with an 8-byte handle.
    fn event(mask: u64, name: &str) -> Vec<u8> {
        let mut rec = vec![libc::FAN_EVENT_INFO_TYPE_DFID_NAME, 0, 0, 0];
        rec.extend_from_slice(&[7; 8]); // fsid
        rec.extend_from_slice(&8u32.to_ne_bytes()); // handle_bytes
        rec.extend_from_slice(&254i32.to_ne_bytes()); // handle_type (kernfs)
        rec.extend_from_slice(&42u64.to_ne_bytes()); // the handle
        rec.extend_from_slice(name.as_bytes());
        rec.push(0);
        while rec.len() % 4 != 0 {
            rec.push(0);
        }
        let rl = rec.len() as u16;
        rec[2..4].copy_from_slice(&rl.to_ne_bytes());
        let mut ev = Vec::new();
        ev.extend_from_slice(&((24 + rec.len()) as u32).to_ne_bytes());
        ev.extend_from_slice(&[libc::FANOTIFY_METADATA_VERSION, 0]);
        ev.extend_from_slice(&24u16.to_ne_bytes());
        ev.extend_from_slice(&mask.to_ne_bytes());
        ev.extend_from_slice(&(-1i32).to_ne_bytes());
        ev.extend_from_slice(&1234i32.to_ne_bytes());
        ev.extend_from_slice(&rec);
        ev
    }

    fn seen(events: &[Vec<u8>]) -> Seen {
        let mut s = Seen::default();
        fan_events(&events.concat(), &mut s);
        s
    }

    #[test]
    fn fanotify_events_say_what_the_reader_needs() {
        let dir = libc::FAN_ONDIR;
        let changed = Seen {
            changed: true,
            written: false,
        };
        let written = Seen {
            changed: false,
            written: true,
        };
        assert_eq!(seen(&[event(libc::FAN_CREATE | dir, "g1")]), changed);
        assert_eq!(seen(&[event(libc::FAN_DELETE | dir, "g1")]), changed);
        assert_eq!(seen(&[event(libc::FAN_MOVED_TO | dir, "g2")]), changed);
        // A file made or removed is no group (cgroupfs makes none by write).
        assert_eq!(seen(&[event(libc::FAN_CREATE, "x")]), Seen::default());
        assert_eq!(
            seen(&[event(libc::FAN_MODIFY, "cpu.cfs_quota_us")]),
            written
        );
        assert_eq!(
            seen(&[event(libc::FAN_MODIFY, "cgroup.procs")]),
            Seen::default()
        );
        assert_eq!(
            seen(&[event(libc::FAN_MODIFY, "memory.events")]),
            Seen::default()
        );
        // Several in one read: each counts.
        assert_eq!(
            seen(&[
                event(libc::FAN_MODIFY, "tasks"),
                event(libc::FAN_MODIFY, "memory.max"),
                event(libc::FAN_CREATE | libc::FAN_DELETE | dir, "g3"),
            ]),
            Seen {
                changed: true,
                written: true
            }
        );
        // Lost events, or a record cut short: everything may have changed.
        let mut overflow = event(libc::FAN_Q_OVERFLOW, "");
        overflow.truncate(24);
        overflow[0..4].copy_from_slice(&24u32.to_ne_bytes());
        let all = Seen {
            changed: true,
            written: true,
        };
        assert_eq!(seen(&[overflow]), all);
        let mut cut = event(libc::FAN_MODIFY, "cgroup.procs");
        cut.truncate(30);
        assert_eq!(seen(&[cut]), all);
    }
}
