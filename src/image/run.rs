//! One run from an image: the cached tree (read-only, shared) plus a
//! writable layer of the run's own, and the image config turned into the
//! launcher's spec.
//!
//! The writable layer is an overlayfs (lower = the cached tree) where the
//! kernel lets us mount one, else a copy of the tree. The overlay is mounted
//! by the workload's init inside its own mount namespace, so it vanishes
//! with the workload and no mount is ever left on the host; the run
//! directory itself is removed by [`ImageRun`]'s Drop (after the workload,
//! as the Workload owns it), unless `--keep`.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::cache::{self, Held};
use super::config::resolve_user;
use super::extract::Limits;
use super::source::Source;
use super::{fsops, ImageError};
use crate::launch::{LaunchSpec, Namespace, Overlay};

/// How a run's writable layer is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writable {
    Overlay,
    Copy,
}

impl Writable {
    pub fn name(self) -> &'static str {
        match self {
            Writable::Overlay => "overlay",
            Writable::Copy => "copy",
        }
    }
}

/// A prepared run: keep it alive as long as the workload runs (attach it to
/// the Workload). Dropping it removes the run's writable layer unless kept.
#[derive(Debug)]
pub struct ImageRun {
    pub run_dir: PathBuf,
    pub image_dir: PathBuf,
    /// The image's display name (first name in the archive, or its id).
    pub image: String,
    pub writable: Writable,
    /// The image was already unpacked.
    pub cache_hit: bool,
    /// Seconds spent unpacking (0 on a hit) and making the writable layer.
    pub unpack_seconds: f64,
    pub layer_seconds: f64,
    pub notes: Vec<String>,
    pub keep: bool,
    _held: Held,
    _run_lock: File,
}

impl Drop for ImageRun {
    fn drop(&mut self) {
        if self.keep {
            let _ = File::create(self.run_dir.join("kept"));
            return;
        }
        let _ = fsops::remove_tree(&self.run_dir);
    }
}

/// A short name for the image: `localhost/app:latest` → `app`.
pub fn short_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split([':', '@']).next().unwrap_or(last).to_string()
}

/// Prepares `spec` to run the image at `image` (`want` picks one of
/// several): unpacks it into the cache if needed, makes the writable layer,
/// and sets rootfs, command (`args`, if any, replace the image's Cmd),
/// environment, working directory, user and hostname.
pub fn prepare(
    spec: &mut LaunchSpec,
    image: &Path,
    want: Option<&str>,
    args: &[String],
) -> Result<ImageRun, ImageError> {
    prepare_with(
        spec,
        image,
        want,
        args,
        &cache::cache_dir(),
        &Limits::default(),
    )
}

/// [`prepare`] with an explicit cache directory and limits (tests).
pub fn prepare_with(
    spec: &mut LaunchSpec,
    image: &Path,
    want: Option<&str>,
    args: &[String],
    cache_dir: &Path,
    limits: &Limits,
) -> Result<ImageRun, ImageError> {
    if spec.share.contains(&Namespace::Mount) {
        return Err(ImageError::bad(
            "--image needs a mount namespace (remove mount from --share)",
        ));
    }
    if spec.rootfs.is_some() {
        return Err(ImageError::bad("--image and --rootfs exclude each other"));
    }
    let root = nix::unistd::geteuid().is_root();
    let src = Source::open(image)?;
    let found = src.pick(want)?;
    let display = found
        .names
        .iter()
        .find(|n| n.contains(':') || n.contains('/'))
        .or(found.names.first())
        .cloned()
        .unwrap_or_else(|| found.id.chars().take(19).collect());
    let t0 = std::time::Instant::now();
    let held = cache::ensure(cache_dir, &src, &found, &image.to_string_lossy(), limits)?;
    let unpack_seconds = if held.hit {
        0.0
    } else {
        t0.elapsed().as_secs_f64()
    };
    let cfg = &found.config.config;
    let mut notes = Vec::new();

    let mut stem = crate::launch::name_stem(&short_name(&display));
    if stem == "workload" || found.names.is_empty() {
        stem = "image".into();
    }
    let (run_dir, run_lock) = cache::new_run_dir(cache_dir, &stem)?;
    let mut run = ImageRun {
        run_dir: run_dir.clone(),
        image_dir: held.dir.clone(),
        image: display.clone(),
        writable: Writable::Copy,
        cache_hit: held.hit,
        unpack_seconds,
        layer_seconds: 0.0,
        notes: Vec::new(),
        keep: spec.keep,
        _held: held,
        _run_lock: run_lock,
    };
    // Any error from here on: the guard removes the run directory.
    let lower = run._held.rootfs.clone();
    let t1 = std::time::Instant::now();
    let wanted = match std::env::var("CGDASH_IMAGE_WRITABLE").as_deref() {
        Ok("copy") => Some(Writable::Copy),
        Ok("overlay") => Some(Writable::Overlay),
        _ => None,
    };
    let mkdir = |p: &Path| {
        std::fs::create_dir(p)
            .map_err(|e| ImageError::system(format!("creating {}: {e}", p.display())))
    };
    let upper = run_dir.join("upper");
    let work = run_dir.join("work");
    let merged = run_dir.join("merged");
    let overlay_ok = wanted != Some(Writable::Copy) && {
        mkdir(&upper)?;
        mkdir(&work)?;
        mkdir(&merged)?;
        let ov = Overlay {
            lower: lower.clone(),
            upper: upper.clone(),
            work: work.clone(),
            userxattr: !root,
        };
        probe_overlay(&ov, &merged)
    };
    let files_root = if overlay_ok {
        run.writable = Writable::Overlay;
        spec.overlay = Some(Overlay {
            lower: lower.clone(),
            upper: upper.clone(),
            work: work.clone(),
            userxattr: !root,
        });
        spec.rootfs = Some(merged.clone());
        upper.clone()
    } else {
        if wanted == Some(Writable::Overlay) {
            return Err(ImageError::system(
                "CGDASH_IMAGE_WRITABLE=overlay, but this kernel refuses the overlay mount",
            ));
        }
        for d in [&upper, &work, &merged] {
            let _ = std::fs::remove_dir(d);
        }
        let copy = run_dir.join("rootfs");
        fsops::copy_tree(&lower, &copy).map_err(|e| {
            ImageError::system(format!(
                "copying {} to {}: {e}",
                lower.display(),
                copy.display()
            ))
        })?;
        spec.rootfs = Some(copy.clone());
        copy
    };
    run.layer_seconds = t1.elapsed().as_secs_f64();

    // Hostname, network files.
    if spec.hostname.is_none() {
        if let Some(h) = cfg.hostname.as_ref().filter(|h| !h.is_empty()) {
            spec.hostname = Some(h.clone());
        }
    }
    // The hostname is fixed here (not left to default to the group name,
    // known only at launch) so HOSTNAME and /etc/hosts agree with it.
    let hostname = if spec.share.contains(&Namespace::Uts) {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into())
    } else {
        let h = spec
            .hostname
            .clone()
            .or_else(|| spec.name.clone())
            .unwrap_or_else(|| stem.clone());
        spec.hostname = Some(h.clone());
        h
    };
    let own_net = !spec.share.contains(&Namespace::Net);
    let (hosts, mut resolv) = net_files(own_net, &hostname);
    match &spec.net {
        // --net veth,nat: the host's name servers are reachable, but not
        // one on the host's loopback (as docker filters them).
        Some(n) if n.nat => {
            resolv = nat_resolv(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        }
        // --net veth (issue 19): eth0's address is added to /etc/hosts by
        // the launcher once claimed; no NAT, so still no name server.
        Some(_) => {
            resolv = "# cgdash: --net veth without NAT: the host and the bridge only, no name server reachable\n".into();
        }
        None => {}
    }
    write_etc(&lower, &files_root, "hosts", &hosts)?;
    write_etc(&lower, &files_root, "resolv.conf", &resolv)?;
    let hosts_path = files_root.join("etc/hosts");
    if spec.net.is_some()
        && std::fs::symlink_metadata(&hosts_path).is_ok_and(|m| m.file_type().is_file())
    {
        spec.etc_hosts = Some(hosts_path);
    }

    // The process.
    let command = cfg.command(args);
    if command.is_empty() {
        return Err(ImageError::bad(format!(
            "{}: the image sets no Entrypoint or Cmd: give a command after --",
            image.display()
        )));
    }
    spec.command = command;
    let mut home = "/root".to_string();
    if let Some(u) = cfg.user.as_ref().filter(|u| !u.is_empty()) {
        let passwd = read_in(&lower, &["etc", "passwd"]).unwrap_or_default();
        let group = read_in(&lower, &["etc", "group"]).unwrap_or_default();
        let user = resolve_user(u, &passwd, &group)
            .map_err(|e| ImageError::bad(format!("{}: User {u:?}: {e}", image.display())))?;
        home = user.home.clone();
        if root {
            spec.user = Some((user.uid, user.gid, user.groups.clone()));
        } else if user.uid != 0 {
            notes.push(format!(
                "the image's User {u} (uid {}) needs root: without it only your uid is mapped, as root of the user namespace",
                user.uid
            ));
        }
    } else if let Some(h) = read_in(&lower, &["etc", "passwd"])
        .and_then(|p| resolve_user("0", &p, "").ok())
        .map(|u| u.home)
    {
        home = h;
    }
    spec.env = Some(cfg.environment(&hostname, &home));
    spec.cwd = cfg.working_dir.clone().filter(|w| !w.is_empty());
    if spec.name.is_none() && spec.name_stem.is_none() {
        spec.name_stem = Some(stem);
    }
    run.notes = notes;
    Ok(run)
}

/// /etc/hosts and /etc/resolv.conf as a runtime writes them: with a network
/// namespace of its own the workload has only loopback, so localhost and its
/// hostname, and no name server it could reach; sharing the host's network,
/// the host's files (its name servers are reachable).
pub fn net_files(own_net: bool, hostname: &str) -> (String, String) {
    if own_net {
        (
            format!(
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
            ),
            "# cgdash: network namespace with loopback only, no name server reachable\n".into(),
        )
    } else {
        let hosts = std::fs::read_to_string("/etc/hosts")
            .unwrap_or_else(|_| "127.0.0.1\tlocalhost\n::1\tlocalhost\n".into());
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        (format!("{hosts}127.0.1.1\t{hostname}\n"), resolv)
    }
}

/// The workload's resolv.conf under `--net veth,nat`: the host's, without
/// the name servers on loopback (127.0.0.0/8, ::1: the workload's loopback
/// is its own), as docker writes it — but without adding a public server
/// of its own when none is left: it says so instead.
pub fn nat_resolv(host: &str) -> String {
    let local = |l: &str| {
        let mut w = l.split_whitespace();
        w.next() == Some("nameserver")
            && w.next().is_some_and(|a| {
                a.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
            })
    };
    let mut out: String = host
        .lines()
        .filter(|l| !local(l))
        .map(|l| format!("{l}\n"))
        .collect();
    if !out
        .lines()
        .any(|l| l.trim_start().starts_with("nameserver"))
    {
        out.push_str(
            "# cgdash: --net veth,nat: the host's name servers are all on its loopback, which the workload cannot reach\n",
        );
    }
    out
}

/// Reads a small file inside a tree without following any symlink (the tree
/// came from an image: `etc/passwd` may be a link to the host's files).
fn read_in(root: &Path, comps: &[&str]) -> Option<String> {
    let mut dir = fsops::open_dir(root).ok()?;
    let (last, parents) = comps.split_last()?;
    for c in parents {
        dir = fsops::open_dir_at(dir.as_raw_fd(), std::ffi::OsStr::new(c)).ok()?;
    }
    let c = CString::new(*last).ok()?;
    // SAFETY: valid dirfd and C string; the fd is owned below.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd we own.
    let f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut s = String::new();
    f.take(1 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Writes `etc/NAME` into the run's writable tree (`dest`: the overlay's
/// upper directory, or the copy), never through a symlink. With an overlay,
/// `etc` is made in the upper directory with the lower one's mode and owner.
/// An image whose `etc` is not a directory gets no file.
fn write_etc(lower: &Path, dest: &Path, name: &str, text: &str) -> Result<(), ImageError> {
    use std::os::unix::fs::MetadataExt;
    let sys = |e: std::io::Error| ImageError::system(format!("{}/etc/{name}: {e}", dest.display()));
    let etc_lower = std::fs::symlink_metadata(lower.join("etc"));
    let (mode, uid, gid) = match &etc_lower {
        Ok(m) if m.is_dir() => (m.mode() & 0o7777, m.uid(), m.gid()),
        Ok(_) => return Ok(()), // a symlink or file: leave the image's choice
        Err(_) => (0o755, 0, 0),
    };
    let d = fsops::open_dir(dest).map_err(sys)?;
    let etc = std::ffi::OsStr::new("etc");
    match fsops::lstat_at(d.as_raw_fd(), etc).map_err(sys)? {
        Some(st) if fsops::is_dir(&st) => {}
        Some(_) => return Ok(()),
        None => {
            fsops::mkdir_at(d.as_raw_fd(), etc, mode).map_err(sys)?;
            let e = fsops::open_dir_at(d.as_raw_fd(), etc).map_err(sys)?;
            if nix::unistd::geteuid().is_root() {
                // SAFETY: a valid fd.
                unsafe { libc::fchown(e.as_raw_fd(), uid, gid) };
            }
            // SAFETY: a valid fd.
            unsafe { libc::fchmod(e.as_raw_fd(), mode as libc::mode_t) };
        }
    }
    let e = fsops::open_dir_at(d.as_raw_fd(), etc).map_err(sys)?;
    let n = std::ffi::OsStr::new(name);
    fsops::remove_at(e.as_raw_fd(), n).map_err(sys)?;
    let c = fsops::cstr(n).map_err(sys)?;
    // SAFETY: valid dirfd and C string; the fd is owned below.
    let fd = unsafe {
        libc::openat(
            e.as_raw_fd(),
            c.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(sys(std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh fd we own.
    let mut f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    f.write_all(text.as_bytes()).map_err(sys)
}

/// Whether this kernel lets us mount the overlay: tried once per process, in
/// a forked child inside a mount namespace of its own (and a user namespace
/// when not root, as the launcher does), so nothing is mounted on the host.
fn probe_overlay(ov: &Overlay, merged: &Path) -> bool {
    static RESULT: OnceLock<bool> = OnceLock::new();
    *RESULT.get_or_init(|| probe_once(ov, merged))
}

fn probe_once(ov: &Overlay, merged: &Path) -> bool {
    let opts = ov.options();
    let Some(opts) = opts else { return false };
    let (Ok(opts), Ok(target)) = (
        CString::new(opts),
        CString::new(merged.as_os_str().as_encoded_bytes()),
    ) else {
        return false;
    };
    let root = nix::unistd::geteuid().is_root();
    let maps = [
        (c"/proc/self/setgroups", CString::new("deny").ok()),
        (
            c"/proc/self/uid_map",
            CString::new(format!("0 {} 1", nix::unistd::geteuid())).ok(),
        ),
        (
            c"/proc/self/gid_map",
            CString::new(format!("0 {} 1", nix::unistd::getegid())).ok(),
        ),
    ];
    // SAFETY: the child only makes raw system calls on data prepared above
    // (no allocation, no locks), then _exits: fine after fork in a
    // multi-threaded process.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return false;
        }
        if pid == 0 {
            let flags = if root {
                libc::CLONE_NEWNS
            } else {
                libc::CLONE_NEWNS | libc::CLONE_NEWUSER
            };
            if libc::unshare(flags) != 0 {
                libc::_exit(1);
            }
            if !root {
                for (file, text) in &maps {
                    let Some(text) = text else { libc::_exit(1) };
                    let fd = libc::open(file.as_ptr(), libc::O_WRONLY);
                    if fd < 0 {
                        libc::_exit(1);
                    }
                    let b = text.as_bytes();
                    if libc::write(fd, b.as_ptr().cast(), b.len()) != b.len() as isize {
                        libc::_exit(1);
                    }
                    libc::close(fd);
                }
            }
            if libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                libc::_exit(1);
            }
            let r = libc::mount(
                c"overlay".as_ptr(),
                target.as_ptr(),
                c"overlay".as_ptr(),
                0,
                opts.as_ptr().cast(),
            );
            libc::_exit(if r == 0 { 0 } else { 1 });
        }
        let mut status = 0;
        while libc::waitpid(pid, &mut status, 0) < 0 {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return false;
            }
        }
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::nat_resolv;

    #[test]
    fn nat_resolv_keeps_reachable_servers_only() {
        let host = "# from DHCP\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nsearch lan\noptions edns0\n";
        assert_eq!(
            nat_resolv(host),
            "# from DHCP\nnameserver 10.0.0.2\nsearch lan\noptions edns0\n"
        );
        // systemd-resolved's stub only: nothing reachable, said so.
        let only_stub = nat_resolv("nameserver 127.0.0.53\noptions edns0 trust-ad\n");
        assert!(!only_stub.contains("nameserver"), "{only_stub}");
        assert!(only_stub.contains("cannot reach"), "{only_stub}");
    }
}
