//! Live: `cgdash run --image` with an OCI layout made here by hand (no
//! engine, so it runs in the VM too): the workload sees only the image's
//! tree, its Cmd, Env, WorkingDir, User and Hostname; the limits hold; the
//! cache is reused; writes stay in the run's own layer (overlay and copy);
//! nothing is left after exit (run directory, mounts); `images` and `images
//! prune` (which keeps what a running cgdash uses).

mod common;
mod image_util;
mod launch_util;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use launch_util::{run_cmd, unique, wait_for, Cleanup, Out};

const T: Duration = Duration::from_secs(60);

/// A temp dir with `img/` (the OCI layout) and `cache/` (CGDASH_IMAGE_CACHE).
struct Fixture {
    tmp: tempfile::TempDir,
}

impl Fixture {
    fn new(config: serde_json::Value) -> Option<Fixture> {
        let bb = image_util::busybox()?;
        let tmp = tempfile::tempdir().unwrap();
        let layer = image_util::busybox_layer(&bb);
        image_util::oci_dir(
            &tmp.path().join("img"),
            "localhost/imgtest:latest",
            std::slice::from_ref(&layer),
            std::slice::from_ref(&layer),
            config,
        );
        Some(Fixture { tmp })
    }
    fn img(&self) -> String {
        self.tmp.path().join("img").to_string_lossy().into_owned()
    }
    fn cache(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(common::cgdash_bin());
        c.args(args).env("CGDASH_IMAGE_CACHE", self.cache());
        c
    }
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        run_cmd(c, T)
    }
    /// Entries of the cache: images (sha256-…) and the runs directory's.
    fn runs(&self) -> Vec<String> {
        names(&self.cache().join("runs"))
    }
    fn images(&self) -> Vec<String> {
        names(&self.cache())
            .into_iter()
            .filter(|n| n.starts_with("sha256-"))
            .collect()
    }
    /// No mount anywhere refers to the cache (the overlay lived only in
    /// the workload's mount namespace).
    fn assert_no_mounts(&self) {
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let c = self.cache().to_string_lossy().into_owned();
        assert!(!mi.contains(&c), "a mount under the cache is left:\n{mi}");
    }
}

fn names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn need_busybox(test: &str) -> bool {
    if image_util::busybox().is_some() {
        return true;
    }
    if std::env::var("CGDASH_LIVE_TESTS").as_deref() == Ok("required") {
        panic!("{test}: busybox-static is needed (apt-get install busybox-static)");
    }
    eprintln!("SKIP {test}: no busybox");
    false
}

const SCRIPT: &str = "echo CMD-RAN; env; echo CWD=$(pwd); echo LS $(ls /); \
    echo HOST=$(hostname); echo ID=$(id -u):$(id -g); \
    echo MEM=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes); \
    echo PIDS=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max); \
    cat /etc/hosts";

fn config() -> serde_json::Value {
    serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {
            "Cmd": ["/bin/sh", "-c", SCRIPT],
            "Env": ["PATH=/bin", "FOO=bar"],
            "WorkingDir": "/work/dir",
            "Hostname": "imghost"
        }
    })
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} line in:\n{out}"))
}

fn run_image_checks(mode: &str) {
    let test = format!("image_runs_isolated_and_limited_{mode}");
    let Some(layout) = common::live(&test) else {
        return;
    };
    if !need_busybox(&test) {
        return;
    }
    let f = Fixture::new(config()).unwrap();
    let name = unique(&format!("img-{mode}"));
    let cleanup = Cleanup::new(&layout, &name);
    let args = [
        "run",
        "--image",
        &f.img(),
        "--name",
        &name,
        "--memory",
        "64M",
        "--pids",
        "50",
    ];
    let out = f.run(
        &args,
        &[
            ("CGDASH_IMAGE_WRITABLE", mode),
            ("CGDASH_TEST_SECRET", "leak"),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let o = &out.stdout;
    assert!(o.contains("CMD-RAN"), "{out:?}");
    assert!(o.lines().any(|l| l == "FOO=bar"), "image Env missing: {o}");
    assert!(
        !o.contains("CGDASH_TEST_SECRET"),
        "the host's environment leaked: {o}"
    );
    assert!(o.lines().any(|l| l == "HOSTNAME=imghost"), "{o}");
    assert_eq!(line(o, "CWD="), "/work/dir");
    assert_eq!(line(o, "HOST="), "imghost");
    assert_eq!(line(o, "ID="), "0:0");
    let ls: BTreeSet<&str> = line(o, "LS ").split_whitespace().collect();
    let want: BTreeSet<&str> = "bin dev etc marker-image proc sys tmp work"
        .split_whitespace()
        .collect();
    assert_eq!(ls, want, "the workload must see only the image's tree: {o}");
    assert_eq!(line(o, "MEM="), (64u64 << 20).to_string(), "{o}");
    assert_eq!(line(o, "PIDS="), "50", "{o}");
    assert!(o.contains("127.0.1.1\timghost"), "/etc/hosts: {o}");
    // Gone after exit: the group, the run's layer, every mount.
    assert!(!layout.group_exists(&cleanup.group()));
    assert_eq!(f.runs(), Vec::<String>::new(), "run directory left behind");
    f.assert_no_mounts();
    assert_eq!(f.images().len(), 1);
    // Private: the cache holds images' set-uid programs.
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(f.cache()).unwrap().permissions().mode();
        assert_eq!(m & 0o777, 0o700, "cache mode {m:o}");
    }

    // Writes land in the run's own layer, never in the shared tree.
    let out = f.run(
        &[
            "run",
            "--image",
            &f.img(),
            "--name",
            &name,
            "--",
            "/bin/sh",
            "-c",
            "echo x > /bin/evil && echo x > /etc/passwd && echo wrote",
        ],
        &[("CGDASH_IMAGE_WRITABLE", mode)],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("wrote"));
    let lower = f.cache().join(&f.images()[0]).join("rootfs");
    assert!(
        !lower.join("bin/evil").exists(),
        "a run wrote into the cache"
    );
    assert!(std::fs::read_to_string(lower.join("etc/passwd"))
        .unwrap()
        .starts_with("root:"));
    let out = f.run(
        &[
            "run",
            "--image",
            &f.img(),
            "--name",
            &name,
            "--",
            "/bin/ls",
            "/bin/evil",
        ],
        &[("CGDASH_IMAGE_WRITABLE", mode)],
    );
    assert_ne!(
        out.code, 0,
        "a later run saw an earlier run's write: {out:?}"
    );
    assert_eq!(f.runs(), Vec::<String>::new());
    f.assert_no_mounts();
}

#[test]
fn image_runs_isolated_and_limited_copy() {
    run_image_checks("copy");
}

#[test]
fn image_runs_isolated_and_limited_overlay() {
    // Overlay where the kernel has it (the VM's kernel ships no modules).
    let have = std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .contains("overlay");
    if !have {
        eprintln!("SKIP overlay mode: no overlayfs in this kernel (copy mode is tested)");
        return;
    }
    run_image_checks("overlay");
}

#[test]
fn command_after_dashes_replaces_cmd_and_user_is_honoured() {
    let Some(layout) = common::live("command_after_dashes") else {
        return;
    };
    if !need_busybox("command_after_dashes") {
        return;
    }
    let mut cfg = config();
    cfg["config"]["User"] = "app".into();
    let f = Fixture::new(cfg).unwrap();
    let name = unique("img-cmd");
    let _c = Cleanup::new(&layout, &name);
    let out = f.run(
        &[
            "run",
            "--image",
            &f.img(),
            "--name",
            &name,
            "--",
            "/bin/sh",
            "-c",
            "echo override; id -u; id -g; echo HOME=$HOME",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stdout.contains("CMD-RAN"), "{out:?}");
    let l: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(l, ["override", "1000", "1000", "HOME=/home/app"], "{out:?}");
    // A bare name is found in the image's PATH.
    let out = f.run(
        &[
            "run",
            "--image",
            &f.img(),
            "--name",
            &name,
            "--",
            "echo",
            "bare",
        ],
        &[],
    );
    assert_eq!(out.stdout.trim(), "bare", "{out:?}");
    // --share net: the host's resolv.conf.
    let out = f.run(
        &[
            "run",
            "--image",
            &f.img(),
            "--name",
            &name,
            "--share",
            "net",
            "--",
            "cat",
            "/etc/resolv.conf",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    assert_eq!(out.stdout, host);
}

#[test]
fn cache_is_reused_kept_runs_stay_and_prune_spares_running_images() {
    let Some(layout) = common::live("cache_is_reused") else {
        return;
    };
    if !need_busybox("cache_is_reused") {
        return;
    }
    let f = Fixture::new(config()).unwrap();
    let name = unique("img-cache");
    let _c = Cleanup::new(&layout, &name);
    let quick = ["run", "--image", &f.img(), "--name", &name, "--", "true"];
    let first = f.run(&quick, &[]);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(
        first.stderr.contains("unpacked localhost/imgtest:latest"),
        "{first:?}"
    );
    let img = f.images();
    assert_eq!(img.len(), 1);
    let meta = f.cache().join(&img[0]).join("meta.json");
    let before = std::fs::read_to_string(&meta).unwrap();
    let ino = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(f.cache().join(&img[0]).join("rootfs/bin/busybox"))
            .unwrap()
            .ino()
    };
    let second = f.run(&quick, &[]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        !second.stderr.contains("unpacked"),
        "second run unpacked again: {second:?}"
    );
    assert_eq!(f.images(), img, "second run unpacked again");
    assert_eq!(std::fs::read_to_string(&meta).unwrap(), before);
    {
        use std::os::unix::fs::MetadataExt;
        let now = std::fs::metadata(f.cache().join(&img[0]).join("rootfs/bin/busybox"))
            .unwrap()
            .ino();
        assert_eq!(now, ino, "the cached tree was replaced");
    }

    // `images` lists it.
    let out = run_cmd(f.cmd(&["images", "--json"]), T);
    assert_eq!(out.code, 0, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["images"][0]["meta"]["names"][0],
        "localhost/imgtest:latest"
    );
    assert_eq!(v["images"][0]["in_use"], false);
    assert!(v["images"][0]["last_use"].as_u64().is_some());

    // --keep keeps the run's layer (and prune leaves it).
    let keep = [
        "run",
        "--image",
        &f.img(),
        "--name",
        &name,
        "--keep",
        "--",
        "touch",
        "/kept-file",
    ];
    let out = f.run(&keep, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let _ = layout.remove_group(&format!("cgdash/{name}"), Duration::from_secs(3));
    let runs = f.runs();
    assert_eq!(runs.len(), 1, "{out:?}");
    let kept = f.cache().join("runs").join(&runs[0]);
    assert!(kept.join("kept").exists());
    let has_file = kept.join("upper/kept-file").exists() || kept.join("rootfs/kept-file").exists();
    assert!(has_file, "the kept layer lacks the run's write");

    // A running cgdash holds its image: prune keeps it.
    let mut child = f
        .cmd(&[
            "run",
            "--image",
            &f.img(),
            "--name",
            &name,
            "--",
            "sleep",
            "60",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Running: its sleep is in the group (not merely unpacking).
    let group = format!("cgdash/{name}");
    let running = wait_for(T, || {
        layout.procs(&group).iter().any(|p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep"))
        })
    });
    assert!(running, "the image's workload never ran");
    let out = run_cmd(f.cmd(&["images", "--json"]), T);
    assert!(out.stdout.contains("\"in_use\": true"), "{out:?}");
    let out = run_cmd(f.cmd(&["images", "prune"]), T);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("in use"), "{out:?}");
    assert_eq!(f.images(), img, "prune removed an image in use");
    // Kill that cgdash without a chance to clean up: its run directory
    // stays, unlocked; prune removes it and now the image too.
    let _ = child.kill();
    let _ = child.wait();
    // Its lifeline ends the workload; wait until the helper is gone and
    // the lock with it.
    assert!(
        wait_for(T, || !helper_runs(&name)),
        "the workload outlived its cgdash"
    );
    let free = wait_for(T, || {
        let out = run_cmd(f.cmd(&["images", "--json"]), T);
        out.stdout.contains("\"in_use\": false")
    });
    assert!(
        free,
        "the image stayed in use after its cgdash died: {}",
        lock_holders(&f.cache().join(&img[0]).join("lock"))
    );
    let out = run_cmd(f.cmd(&["images", "prune"]), T);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("removed sha256-"),
        "{out:?}\nholders: {}",
        lock_holders(&f.cache().join(&img[0]).join("lock"))
    );
    assert_eq!(f.images(), Vec::<String>::new());
    assert_eq!(f.runs(), runs, "prune must leave only the kept run");
    f.assert_no_mounts();
    common_cleanup_kept(&kept);
}

/// Who holds a flock on `file` (from /proc/locks), for failure messages.
fn lock_holders(file: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(ino) = std::fs::metadata(file).map(|m| m.ino()) else {
        return "lock file gone".into();
    };
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    locks
        .lines()
        .filter(|l| l.contains(&format!(":{ino} ")))
        .map(|l| {
            let pid = l.split_whitespace().nth(4).unwrap_or("?");
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            format!("{l} [{cmd}]")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether a `cgdash-launch NAME` process still exists.
fn helper_runs(name: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| {
                let c = String::from_utf8_lossy(&c).replace('\0', " ");
                c.starts_with("cgdash-launch ") && c.contains(name)
            })
            .unwrap_or(false)
    })
}

fn common_cleanup_kept(dir: &Path) {
    let _ = Command::new("rm").arg("-rf").arg(dir).status();
}

#[test]
fn bad_images_start_nothing() {
    let Some(_layout) = common::live("bad_images_start_nothing") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar at all").unwrap();
    let mut c = Command::new(common::cgdash_bin());
    c.args(["run", "--image", &junk.to_string_lossy()])
        .env("CGDASH_IMAGE_CACHE", tmp.path().join("cache"));
    let out = run_cmd(c, T);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("junk.tar"), "{out:?}");
    let mut c = Command::new(common::cgdash_bin());
    c.args(["run", "--image", "/nonexistent-image.tar"]);
    let out = run_cmd(c, T);
    assert_eq!(out.code, 2, "{out:?}");
}

/// Without root: the image is unpacked into a cache the caller owns, the
/// caller is root inside its user namespace (files of other owners become
/// its own), the image's non-root User is reported, not honoured, and
/// nothing is left (the overlay's work dir, mode 000, included).
#[test]
fn rootless_image_run() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let Some(_layout) = common::live("rootless_image_run") else {
        return;
    };
    if !need_busybox("rootless_image_run") {
        return;
    }
    let mut cfg = config();
    cfg["config"]["User"] = "app".into();
    let f = Fixture::new(cfg).unwrap();
    let base = f.tmp.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(base.join("img"))
        .status();
    std::fs::create_dir(f.cache()).unwrap();
    std::os::unix::fs::chown(f.cache(), Some(65534), Some(65534)).unwrap();
    let bin = base.join("cgdash");
    std::fs::copy(common::cgdash_bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let overlay = std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .contains("overlay");
    let modes: &[&str] = if overlay {
        &["copy", "overlay"]
    } else {
        &["copy"]
    };
    for mode in modes {
        let mut c = Command::new(&bin);
        c.args([
            "run",
            "--image",
            &f.img(),
            "--",
            "/bin/sh",
            "-c",
            "id -u; touch /new && echo wrote",
        ])
        .env("CGDASH_IMAGE_CACHE", f.cache())
        .env("CGDASH_IMAGE_WRITABLE", mode)
        .env_remove("XDG_RUNTIME_DIR")
        .uid(65534)
        .gid(65534);
        let out = run_cmd(c, T);
        assert_eq!(out.code, 0, "{mode}: {out:?}");
        assert_eq!(out.stdout, "0\nwrote\n", "{mode}: {out:?}");
        assert!(
            out.stderr.contains("User app (uid 1000) needs root"),
            "{mode}: {out:?}"
        );
        assert_eq!(f.runs(), Vec::<String>::new(), "{mode}: run directory left");
        f.assert_no_mounts();
    }
    let img = f.images();
    assert_eq!(img.len(), 1);
    let bb = f.cache().join(&img[0]).join("rootfs/bin/busybox");
    assert_eq!(std::fs::metadata(bb).unwrap().uid(), 65534);
    let mut c = Command::new(&bin);
    c.args(["images", "prune"])
        .env("CGDASH_IMAGE_CACHE", f.cache())
        .uid(65534)
        .gid(65534);
    let out = run_cmd(c, T);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(f.images(), Vec::<String>::new(), "{out:?}");
}
