//! Each hierarchy's mount point held open, for opens relative to it.
//!
//! An open by full path walks every component: `/sys/fs/cgroup/cpu/a/b`
//! is six, through sysfs into cgroupfs. From the mount's own descriptor it
//! is the group's components only. Measured on this v1 host (20 groups,
//! an `O_PATH` open and close of each group directory): 3.5–5.3 µs by full
//! path, 2.4 µs from the mount. The sampler's group reader opens each
//! group's directories so at its first read (~100 at 200 processes / 20
//! groups, ~3,000 at 1,000 groups on v1) and the limits of quiet groups
//! on their slow ticks (issue 18, startup).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::layout::Layout;

/// One descriptor (`O_PATH`) per hierarchy of a layout, by index
/// (`layout.hierarchies[i]`); `None` where it could not be opened (its
/// files are then opened by full path).
#[derive(Default)]
pub struct Roots(Vec<Option<OwnedFd>>);

impl Roots {
    /// Opens each hierarchy's mount.
    pub fn open(layout: &Layout) -> Roots {
        Roots(
            layout
                .hierarchies
                .iter()
                .map(|h| {
                    let path = CString::new(h.mount.as_os_str().as_encoded_bytes()).ok()?;
                    raw_open(libc::AT_FDCWD, &path, libc::O_PATH | libc::O_DIRECTORY)
                        .ok()
                        .map(OwnedFd::from)
                })
                .collect(),
        )
    }

    /// Descriptors held.
    pub fn held(&self) -> usize {
        self.0.iter().flatten().count()
    }

    /// Opens hierarchy `h`'s directory of `group` (`""`: its root) with
    /// `file`: the directory itself when `None`. Relative to the mount
    /// when it is held, else by full path; `flags` as for open(2)
    /// (`O_CLOEXEC` is added).
    pub fn open_in(
        &self,
        layout: &Layout,
        h: usize,
        group: &str,
        file: Option<&str>,
        flags: libc::c_int,
    ) -> io::Result<File> {
        let Some(root) = self.0.get(h).and_then(Option::as_ref) else {
            let dir = layout.hierarchies[h].dir(group);
            let path = match file {
                Some(f) => dir.join(f),
                None => dir,
            };
            let path = CString::new(path.into_os_string().into_encoded_bytes())
                .map_err(io::Error::other)?;
            return raw_open(libc::AT_FDCWD, &path, flags);
        };
        let mut rel = Vec::with_capacity(group.len() + file.map_or(0, str::len) + 2);
        rel.extend_from_slice(group.as_bytes());
        if let Some(f) = file {
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(f.as_bytes());
        }
        if rel.is_empty() {
            rel.push(b'.');
        }
        let rel = CString::new(rel).map_err(io::Error::other)?;
        raw_open(root.as_raw_fd(), &rel, flags)
    }
}

impl Roots {
    /// The link count of hierarchy `h`'s directory of `group` (`""`: its
    /// root), from `fstatat` relative to the mount when it is held, else
    /// by full path; `None` if it can't be had (not a directory there).
    pub fn links(&self, layout: &Layout, h: usize, group: &str) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        let Some(root) = self.0.get(h).and_then(Option::as_ref) else {
            let m = std::fs::symlink_metadata(layout.hierarchies[h].dir(group)).ok()?;
            return m.is_dir().then(|| m.nlink());
        };
        let rel = if group.is_empty() { "." } else { group };
        let st =
            nix::sys::stat::fstatat(root, rel, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
        (st.st_mode & libc::S_IFMT == libc::S_IFDIR).then_some(st.st_nlink)
    }
}

/// openat(2), owning the descriptor it returns.
pub(crate) fn raw_open(dir: libc::c_int, path: &CString, flags: libc::c_int) -> io::Result<File> {
    // SAFETY: a NUL-terminated path and a directory descriptor (or
    // AT_FDCWD); a descriptor returned is ours alone to own.
    let fd = unsafe { libc::openat(dir, path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// From the mount or by full path, the same directory, file and link
    /// count; the root group is the mount itself.
    #[test]
    fn opens_from_the_mount_are_the_full_paths() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/cpu.max"), "max 100000\n").unwrap();
        std::fs::write(t.path().join("cpu.max"), "root\n").unwrap();
        std::fs::write(t.path().join("cgroup.controllers"), "cpu\n").unwrap();
        let layout = Layout::from_root(t.path()).unwrap();
        let held = Roots::open(&layout);
        assert_eq!(held.held(), layout.hierarchies.len());
        for roots in [&held, &Roots::default()] {
            let read = |group: &str, file: &str| {
                let mut s = String::new();
                roots
                    .open_in(&layout, 0, group, Some(file), libc::O_RDONLY)
                    .unwrap()
                    .read_to_string(&mut s)
                    .unwrap();
                s
            };
            assert_eq!(read("a/b", "cpu.max"), "max 100000\n");
            assert_eq!(read("", "cpu.max"), "root\n");
            let ino = |group: &str| {
                roots
                    .open_in(&layout, 0, group, None, libc::O_PATH | libc::O_DIRECTORY)
                    .unwrap()
                    .metadata()
                    .unwrap()
                    .ino()
            };
            assert_eq!(
                ino("a/b"),
                std::fs::metadata(t.path().join("a/b")).unwrap().ino()
            );
            assert_eq!(ino(""), std::fs::metadata(t.path()).unwrap().ino());
            let gone = roots.open_in(&layout, 0, "a/c", Some("cpu.max"), libc::O_RDONLY);
            assert_eq!(gone.unwrap_err().kind(), io::ErrorKind::NotFound);
            // Link counts: 2 plus subdirectories; nothing for a file or none.
            assert_eq!(roots.links(&layout, 0, "a/b"), Some(2));
            assert_eq!(roots.links(&layout, 0, "a"), Some(3));
            assert_eq!(roots.links(&layout, 0, ""), Some(3));
            assert_eq!(roots.links(&layout, 0, "a/b/cpu.max"), None);
            assert_eq!(roots.links(&layout, 0, "a/c"), None);
        }
    }
}
