//! Mounts made by our init (pid 1 of the new pid namespace, in the new mount
//! namespace): a fresh `/proc` (it must be mounted from inside the pid
//! namespace, or it shows the host's processes), a fresh `/sys` when the
//! network namespace is new (sysfs shows the interfaces of the namespace that
//! mounted it), cgroupfs read-only under it, and, with `--rootfs`, the tree
//! with a minimal `/dev` and `/tmp` that becomes `/` by pivot_root.

use std::fs;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::spec::{HelperSpec, Namespace};

type R = Result<(), String>;

fn mnt(src: &str, target: &Path, fstype: Option<&str>, flags: MsFlags, data: Option<&str>) -> R {
    mount(Some(src), target, fstype, flags, data).map_err(|e| {
        format!(
            "mount {} on {}: {}",
            fstype.unwrap_or(src),
            target.display(),
            e.desc()
        )
    })
}

fn bind(src: &Path, target: &Path, recursive: bool) -> R {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(src), target, None::<&str>, flags, None::<&str>).map_err(|e| {
        format!(
            "bind {} on {}: {}",
            src.display(),
            target.display(),
            e.desc()
        )
    })
}

fn mkdir(p: &Path) -> R {
    fs::create_dir_all(p).map_err(|e| format!("mkdir {}: {e}", p.display()))
}

const PROC_FLAGS: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Makes every mount private, so nothing we mount leaks to the host and host
/// mount events don't reach us. Called right after unshare(CLONE_NEWNS).
pub fn make_private() -> R {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("making / private: {}", e.desc()))
}

/// Everything below runs in our init, before the workload is forked.
pub fn setup(spec: &HelperSpec) -> R {
    let has = |ns| spec.namespaces.contains(&ns);
    if !has(Namespace::Mount) {
        return Ok(()); // shared mount namespace: never touch the host's mounts
    }
    let base = match &spec.rootfs {
        Some(r) => r.clone(),
        None => "/".into(),
    };
    if let (Some(o), Some(root)) = (&spec.overlay, &spec.rootfs) {
        // An image's writable layer, mounted here so it ends with this
        // mount namespace (nothing is left mounted on the host).
        let opts = o
            .options()
            .ok_or_else(|| format!("overlay paths unusable in mount options: {o:?}"))?;
        mnt(
            "overlay",
            root,
            Some("overlay"),
            MsFlags::empty(),
            Some(&opts),
        )?;
    }
    if spec.rootfs.is_some() {
        // pivot_root needs the new root to be a mount point.
        bind(&base, &base, true)?;
    }
    let proc_dir = base.join("proc");
    mkdir(&proc_dir)?;
    if has(Namespace::Pid) {
        mnt("proc", &proc_dir, Some("proc"), PROC_FLAGS, None)?;
    } else if spec.rootfs.is_some() {
        bind(Path::new("/proc"), &proc_dir, true)?;
    }
    let sys_dir = base.join("sys");
    if has(Namespace::Net) {
        mkdir(&sys_dir)?;
        // Read-only, as in container runtimes: a root workload must not
        // reach kernel knobs through it.
        mnt(
            "sysfs",
            &sys_dir,
            Some("sysfs"),
            PROC_FLAGS | MsFlags::MS_RDONLY,
            None,
        )?;
        mount_cgroups(&sys_dir.join("fs/cgroup"), spec);
    } else {
        if spec.rootfs.is_some() {
            mkdir(&sys_dir)?;
            bind(Path::new("/sys"), &sys_dir, true)?;
        }
        // The host's /sys, with its cgroupfs mounts read-write: a root
        // workload could write its own limits there without any capability.
        host_cgroups_read_only(&sys_dir.join("fs/cgroup"), spec)?;
    }
    if let Some(root) = &spec.rootfs {
        dev(&root.join("dev"))?;
        let tmp = root.join("tmp");
        mkdir(&tmp)?;
        mnt(
            "tmpfs",
            &tmp,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=1777"),
        )?;
        pivot(root)?;
    }
    Ok(())
}

/// A tmpfs `/dev` with the few device nodes programs expect, bind-mounted
/// from the host (mknod is not allowed in a user namespace; binding is).
fn dev(dev: &Path) -> R {
    mkdir(dev)?;
    mnt(
        "tmpfs",
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )?;
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let host = Path::new("/dev").join(name);
        if !host.exists() {
            continue;
        }
        let node = dev.join(name);
        fs::write(&node, b"").map_err(|e| format!("create {}: {e}", node.display()))?;
        bind(&host, &node, false)?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(target, dev.join(link));
    }
    mkdir(&dev.join("shm"))
}

/// Read-only cgroupfs inside: with the cgroup namespace each hierarchy's root
/// is the workload's own group. Read-only, because a root workload could
/// otherwise raise its own limits. Best effort: v1 cannot be mounted from a
/// user namespace, and a workload runs fine without these.
fn mount_cgroups(base: &Path, spec: &HelperSpec) {
    if spec.cgroup_mounts.is_empty() || !base.is_dir() {
        return;
    }
    let ro = MsFlags::MS_RDONLY | PROC_FLAGS;
    let single_v2 = spec.cgroup_mounts.iter().any(|(_, _, rel)| rel.is_empty());
    if single_v2 {
        let _ = mnt("cgroup2", base, Some("cgroup2"), ro, None);
        return;
    }
    if mnt("tmpfs", base, Some("tmpfs"), PROC_FLAGS, Some("mode=755")).is_err() {
        return;
    }
    for (fstype, opts, rel) in &spec.cgroup_mounts {
        let dir = base.join(rel);
        if mkdir(&dir).is_ok() {
            let data = (!opts.is_empty()).then_some(opts.as_str());
            if mnt(fstype, &dir, Some(fstype), ro, data).is_err() {
                // No empty directory pretending to be a hierarchy.
                let _ = fs::remove_dir(&dir);
            }
        }
    }
    // Read-only like the hierarchies; remount keeps the directories made above.
    let _ = mount(
        None::<&str>,
        base,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | PROC_FLAGS,
        None::<&str>,
    );
}

/// With the host's /sys (network namespace shared): its cgroupfs mounts,
/// seen through our private mount namespace, become read-only here (the
/// host's stay as they are). With a cgroup namespace the workload's own view
/// is mounted over them instead, as with a fresh /sys. A root launch fails
/// rather than run with a writable cgroupfs; a rootless one cannot write the
/// host's cgroup files anyway (not its own), so there this is best effort.
fn host_cgroups_read_only(base: &Path, spec: &HelperSpec) -> R {
    let strict = spec.map_user.is_none();
    let table = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
    let mut points: Vec<String> = table
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let point = pre.split(' ').nth(4)?;
            let fstype = post.split(' ').next()?;
            (matches!(fstype, "cgroup" | "cgroup2") && Path::new(point).starts_with(base))
                .then(|| point.replace("\\040", " "))
        })
        .collect();
    points.dedup();
    for p in &points {
        let r = mount(
            None::<&str>,
            Path::new(p),
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | PROC_FLAGS,
            None::<&str>,
        );
        if let Err(e) = r {
            if strict {
                return Err(format!("making {p} read-only: {}", e.desc()));
            }
        }
    }
    mount_cgroups(base, spec);
    Ok(())
}

/// `pivot_root(".", ".")` stacks the old root on top of the new one; the
/// detaching unmount then removes it, so nothing of the host stays reachable.
fn pivot(root: &Path) -> R {
    nix::unistd::chdir(root).map_err(|e| format!("chdir {}: {}", root.display(), e.desc()))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {}", e.desc()))?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| format!("unmounting the old root: {}", e.desc()))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {}", e.desc()))
}
