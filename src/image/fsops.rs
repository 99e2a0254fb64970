//! File operations relative to a directory file descriptor that never follow
//! a symlink: every path component is opened with `O_NOFOLLOW`, so a hostile
//! tree (a symlink created by an earlier entry or layer) cannot redirect a
//! write outside it. The same idea as `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, done one component at a time so it works on any
//! kernel.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::other("a name contains a NUL byte"))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Opens the directory `path` itself (following nothing at its last component).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = cstr(path.as_os_str())?;
    // SAFETY: valid C string; the fd is owned below.
    let fd = check(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    })?;
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens directory `name` in `dir` without following a symlink.
pub fn open_dir_at(dir: RawFd, name: &OsStr) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: valid dirfd and C string; the fd is owned below.
    let fd = check(unsafe {
        libc::openat(
            dir,
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    })?;
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; `None` when it does not exist.
pub fn lstat_at(dir: RawFd, name: &OsStr) -> io::Result<Option<libc::stat>> {
    let c = cstr(name)?;
    // SAFETY: zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid dirfd, C string and out-pointer.
    let r = unsafe { libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(st))
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

pub fn mkdir_at(dir: RawFd, name: &OsStr, mode: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid dirfd and C string.
    check(unsafe { libc::mkdirat(dir, c.as_ptr(), mode as libc::mode_t) }).map(|_| ())
}

/// Removes `name` in `dir`, a whole tree if it is a directory (never
/// following a symlink; directories without write permission are made
/// writable first, so a rootless cache can be removed too).
pub fn remove_at(dir: RawFd, name: &OsStr) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid dirfd and C string.
    if unsafe { libc::unlinkat(dir, c.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT) => return Ok(()),
        Some(libc::EISDIR) | Some(libc::EPERM) => {}
        _ => return Err(e),
    }
    match lstat_at(dir, name)? {
        None => return Ok(()),
        Some(st) if !is_dir(&st) => return Err(e),
        Some(_) => {}
    }
    // SAFETY: valid dirfd and C string; u+rwx so we can list and unlink in it.
    unsafe { libc::fchmodat(dir, c.as_ptr(), 0o700, 0) };
    let sub = open_dir_at(dir, name)?;
    clear_dir(sub.as_raw_fd())?;
    drop(sub);
    // SAFETY: valid dirfd and C string.
    check(unsafe { libc::unlinkat(dir, c.as_ptr(), libc::AT_REMOVEDIR) }).map(|_| ())
}

/// Removes everything inside the directory `dir`.
pub fn clear_dir(dir: RawFd) -> io::Result<()> {
    for name in list_dir(dir)? {
        remove_at(dir, &name)?;
    }
    Ok(())
}

/// The names in directory `dir` (without `.` and `..`).
pub fn list_dir(dir: RawFd) -> io::Result<Vec<std::ffi::OsString>> {
    // Read through a duplicate: closedir closes the fd it was given.
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd.
    let dup = check(unsafe { libc::fcntl(dir, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: dup is a fresh directory fd; fdopendir takes ownership.
    let d = unsafe { libc::fdopendir(dup) };
    if d.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so dup is still ours to close.
        unsafe { libc::close(dup) };
        return Err(e);
    }
    // SAFETY: d is a valid DIR*.
    unsafe { libc::rewinddir(d) };
    let mut out = Vec::new();
    loop {
        // SAFETY: d is valid until closedir below.
        let ent = unsafe { libc::readdir(d) };
        if ent.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid dirent with a NUL-terminated name.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
        let b = name.to_bytes();
        if b != b"." && b != b".." {
            out.push(OsStr::from_bytes(b).to_os_string());
        }
    }
    // SAFETY: d is valid; this also closes dup.
    unsafe { libc::closedir(d) };
    Ok(out)
}

/// Removes the tree at `path` (the last component is not followed).
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::other(format!(
            "refusing to remove {}",
            path.display()
        )));
    };
    let p = open_dir(if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    })?;
    remove_at(p.as_raw_fd(), name)
}

/// Disk usage of a tree in bytes (allocated blocks, hard links counted once).
pub fn du(path: &Path) -> u64 {
    fn walk(p: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return 0;
        };
        if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
            return 0;
        }
        let mut n = m.blocks() * 512;
        if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    n += walk(&e.path(), seen);
                }
            }
        }
        n
    }
    walk(path, &mut Default::default())
}

/// Copies the tree `src` to `dst` (which must not exist): directories,
/// regular files, symlinks (as links, never followed), hard links (kept as
/// links), fifos; modes, and owners when running as root. Device nodes are
/// skipped (extraction never creates them unless allowed, and a run's /dev
/// is a fresh tmpfs).
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<u64> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let root = nix::unistd::geteuid().is_root();
    let mut links: std::collections::HashMap<(u64, u64), std::path::PathBuf> = Default::default();
    let mut dirs: Vec<(std::path::PathBuf, std::fs::Metadata)> = Vec::new();
    let mut bytes = 0u64;
    let mut todo = vec![(src.to_path_buf(), dst.to_path_buf())];
    while let Some((s, d)) = todo.pop() {
        let m = std::fs::symlink_metadata(&s)?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&d)?;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))?;
            for e in std::fs::read_dir(&s)? {
                let e = e?;
                todo.push((e.path(), d.join(e.file_name())));
            }
            dirs.push((d, m));
            continue;
        }
        if m.nlink() > 1 {
            if let Some(first) = links.get(&(m.dev(), m.ino())) {
                std::fs::hard_link(first, &d)?;
                continue;
            }
            links.insert((m.dev(), m.ino()), d.clone());
        }
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&s)?, &d)?;
            if root {
                std::os::unix::fs::lchown(&d, Some(m.uid()), Some(m.gid()))?;
            }
            continue;
        }
        if ft.is_file() {
            let mut from = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&s)?;
            let mut to = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&d)?;
            bytes += io::copy(&mut from, &mut to)?;
            if root {
                std::os::unix::fs::fchown(&to, Some(m.uid()), Some(m.gid()))?;
            }
            to.set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
            continue;
        }
        if ft.is_fifo() {
            nix::unistd::mkfifo(
                &d,
                nix::sys::stat::Mode::from_bits_truncate(m.mode() & 0o777),
            )
            .map_err(io::Error::from)?;
            continue;
        }
        // Sockets and device nodes: nothing a fresh run needs.
        use std::os::unix::fs::FileTypeExt as _;
        let _ = ft.is_socket();
    }
    // Modes last (a read-only directory must first be filled).
    for (d, m) in dirs.iter().rev() {
        if root {
            std::os::unix::fs::chown(d, Some(m.uid()), Some(m.gid()))?;
        }
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    Ok(bytes)
}
