//! Private container engines for live tests: a dockerd and a podman that
//! belong to the test alone (issue 13: real engines, not mocks).
//!
//! * [`Dockerd::start`] runs `dockerd` with its own `--data-root`,
//!   `--exec-root`, socket and pidfile, no iptables/bridge, vfs storage and
//!   its own containerd namespace. With no system containerd on the machine
//!   dockerd starts a managed containerd under the exec root (socket
//!   `<exec-root>/containerd/containerd.sock`), so two instances never share
//!   one; the containerd namespace is private anyway in case a system
//!   containerd appears later (dockerd would then use it).
//! * [`Podman::new`] gives a `podman` runner with private `--root`,
//!   `--runroot`, `--tmpdir`, cgroupfs, runc, file events, vfs, and private
//!   `containers.conf`/`storage.conf` (file locks under the tmpdir instead of
//!   the host-wide `/dev/shm/libpod_lock`).
//! * [`busybox_rootfs_tar`] + [`import_image`]: an image made offline from
//!   the installed busybox-static (no registry).
//!
//! Paths are short (`/tmp/ce-<prefix>-<pid>-<n>`): a unix socket path has at
//! most 107 bytes, and dockerd puts its containerd socket two levels under
//! the exec root.
//!
//! Drop removes the engine's containers, stops the daemon this test started
//! (SIGTERM, then SIGKILL, by pid), unmounts what the engine mounted under its
//! directories and removes them. Every daemon also runs under `timeout` so a
//! test killed without unwinding does not leave it behind forever.
//!
//! The engines are needed on the host (`.ci/run` installs them); the
//! cgroup-v2 VM has none, so the `engines_*` test binaries are in
//! vm/run-tests.sh's default CGDASH_VM_SKIP. With CGDASH_LIVE_TESTS=required
//! a missing engine is a failure here, as a missing cgroup is in `live`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Seconds a daemon may live at most (its `timeout` deadline).
const DAEMON_DEADLINE_S: u64 = 1800;
/// Seconds one engine CLI call may take at most.
const CLI_DEADLINE_S: u64 = 180;

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn required() -> bool {
    std::env::var("CGDASH_LIVE_TESTS")
        .map(|v| v == "required")
        .unwrap_or(false)
}

fn in_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// Whether all of `progs` are installed. Missing ones skip the test with a
/// message, or panic under CGDASH_LIVE_TESTS=required.
pub fn have(test: &str, progs: &[&str]) -> bool {
    let missing: Vec<&str> = progs.iter().copied().filter(|p| !in_path(p)).collect();
    if missing.is_empty() {
        return true;
    }
    if required() {
        panic!(
            "{test}: needs {} (apt-get install docker.io podman runc) but CGDASH_LIVE_TESTS=required",
            missing.join(", ")
        );
    }
    eprintln!("SKIP {test}: {} not installed", missing.join(", "));
    false
}

/// A fresh short directory `/tmp/ce-<prefix>-<pid>-<n>`.
fn short_dir(prefix: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let dir = PathBuf::from(format!("/tmp/ce-{prefix}-{}-{n}", std::process::id()));
    // A leftover of a crashed earlier run with the same pid is ours too.
    unmount_under(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

/// Runs `prog args` under a deadline, returning its output.
fn run_cli(prog: &str, pre: &[String], args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", &CLI_DEADLINE_S.to_string(), prog])
        .args(pre)
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("run {prog} {}: {e}", args.join(" ")))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Unmounts (lazily, deepest first) every mount point at or under `dir`.
pub fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let root = dir.to_string_lossy().into_owned();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        // mountinfo escapes spaces etc. as \040; our paths have none.
        .filter(|p| *p == root || p.starts_with(&format!("{root}/")))
        .map(str::to_string)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

fn pid_alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

fn read_pid(file: &Path) -> Option<i32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// A container engine's command line, for [`import_image`] and tests that
/// work with either engine.
pub trait Engine {
    /// `docker` or `podman` (also the `KIND` in `KIND:NAME`).
    fn kind(&self) -> &'static str;
    /// Runs the engine's CLI with this instance's flags.
    fn cli(&self, args: &[&str]) -> Output;
    /// Runs the CLI and returns trimmed stdout; panics with stderr on failure.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{} {} failed ({}): {}{}",
            self.kind(),
            args.join(" "),
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout).trim().to_string()
    }
    /// Flags that pass cgdash this engine's data root(s).
    fn cgdash_flags(&self) -> Vec<String>;
}

/// A private dockerd; see the module comment.
pub struct Dockerd {
    pub dir: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// `unix:///…` address for `docker -H`.
    pub host: String,
    pub pidfile: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Dockerd {
    /// Starts a dockerd of our own and waits until its socket answers.
    /// `None` (skip) when docker isn't installed and live tests aren't required.
    pub fn start(prefix: &str) -> Option<Dockerd> {
        if !have(prefix, &["dockerd", "docker", "containerd", "runc"]) {
            return None;
        }
        let dir = short_dir(prefix);
        let data_root = dir.join("d");
        let exec_root = dir.join("x");
        let sock = dir.join("s");
        let pidfile = dir.join("pid");
        let log = dir.join("log");
        for d in [&data_root, &exec_root] {
            std::fs::create_dir_all(d).expect("mkdir engine root");
        }
        let ns = format!("cgdash-t-{}", dir.file_name().unwrap().to_string_lossy());
        let logf = std::fs::File::create(&log).expect("dockerd log");
        let child = Command::new("timeout")
            .args(["-s", "TERM", "-k", "20", &DAEMON_DEADLINE_S.to_string()])
            .arg("dockerd")
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
                "--userland-proxy=false",
            ])
            .arg("--data-root")
            .arg(&data_root)
            .arg("--exec-root")
            .arg(&exec_root)
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--pidfile")
            .arg(&pidfile)
            .args(["--containerd-namespace", &ns])
            .args(["--containerd-plugins-namespace", &format!("{ns}-p")])
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("dup log"))
            .stderr(logf)
            .spawn()
            .expect("spawn dockerd");
        let mut d = Dockerd {
            host: format!("unix://{}", sock.display()),
            dir,
            data_root,
            exec_root,
            pidfile,
            log,
            child: Some(child),
        };
        let end = Instant::now() + Duration::from_secs(90);
        loop {
            if d.cli(&["version"]).status.success() {
                return Some(d);
            }
            let exited = d
                .child
                .as_mut()
                .map(|c| matches!(c.try_wait(), Ok(Some(_))))
                .unwrap_or(true);
            if exited || Instant::now() > end {
                let log = std::fs::read_to_string(&d.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "private dockerd in {} did not come up ({}):\n{}",
                    d.dir.display(),
                    if exited { "exited" } else { "90 s" },
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `docker -H unix://SOCK args…`.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.cli(args)
    }

    /// The daemon's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Engine for Dockerd {
    fn kind(&self) -> &'static str {
        "docker"
    }
    fn cli(&self, args: &[&str]) -> Output {
        run_cli("docker", &["-H".into(), self.host.clone()], args, &[])
    }
    fn cgdash_flags(&self) -> Vec<String> {
        vec![format!("--docker-root={}", self.data_root.display())]
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Our containers first (their shims are the daemon's children).
        let ids = self.cli(&["ps", "-aq"]);
        let ids: Vec<String> = text(&ids.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.cli(&args);
        }
        let containerd_pid = read_pid(&self.exec_root.join("containerd/containerd.pid"));
        let dockerd_pid = read_pid(&self.pidfile);
        if let Some(mut child) = self.child.take() {
            // `timeout` passes SIGTERM on to dockerd, which stops its
            // managed containerd.
            signal(child.id() as i32, nix::sys::signal::Signal::SIGTERM);
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            for pid in [dockerd_pid, containerd_pid].into_iter().flatten() {
                if pid_alive(pid) {
                    signal(pid, nix::sys::signal::Signal::SIGKILL);
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        unmount_under(&self.dir);
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("cleanup of {} failed: {e}", self.dir.display());
        }
    }
}

/// A private podman; see the module comment.
pub struct Podman {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub tmpdir: PathBuf,
    flags: Vec<String>,
    env: Vec<(&'static str, String)>,
}

impl Podman {
    /// `None` (skip) when podman isn't installed and live tests aren't required.
    pub fn new(prefix: &str) -> Option<Podman> {
        if !have(prefix, &["podman", "runc", "conmon"]) {
            return None;
        }
        let dir = short_dir(prefix);
        let root = dir.join("r");
        let runroot = dir.join("rr");
        let tmpdir = dir.join("t");
        for d in [&root, &runroot, &tmpdir] {
            std::fs::create_dir_all(d).expect("mkdir podman root");
        }
        // Private configuration: nothing from /etc/containers changes what
        // the test runs, and locks are files under our tmpdir rather than
        // the host-wide shared-memory segment other podmans use.
        let conf = dir.join("containers.conf");
        std::fs::write(
            &conf,
            "[engine]\nlock_type = \"file\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nruntime = \"runc\"\n",
        )
        .expect("write containers.conf");
        let storage = dir.join("storage.conf");
        std::fs::write(
            &storage,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                root.display(),
                runroot.display()
            ),
        )
        .expect("write storage.conf");
        let flags = vec![
            format!("--root={}", root.display()),
            format!("--runroot={}", runroot.display()),
            format!("--tmpdir={}", tmpdir.display()),
            "--cgroup-manager=cgroupfs".into(),
            "--runtime=runc".into(),
            "--events-backend=file".into(),
            "--storage-driver=vfs".into(),
        ];
        let env = vec![
            ("CONTAINERS_CONF", conf.display().to_string()),
            ("CONTAINERS_STORAGE_CONF", storage.display().to_string()),
        ];
        Some(Podman {
            dir,
            root,
            runroot,
            tmpdir,
            flags,
            env,
        })
    }

    /// `podman <private flags> args…`.
    pub fn podman(&self, args: &[&str]) -> Output {
        self.cli(args)
    }

    /// The flags `podman run` needs on these machines besides the image:
    /// runc's rlimits must fit the hard limits (the VM's nofile is 1024),
    /// and no network setup.
    pub fn run_flags() -> [&'static str; 6] {
        [
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
            "--network",
            "none",
        ]
    }
}

impl Engine for Podman {
    fn kind(&self) -> &'static str {
        "podman"
    }
    fn cli(&self, args: &[&str]) -> Output {
        run_cli("podman", &self.flags, args, &self.env)
    }
    fn cgdash_flags(&self) -> Vec<String> {
        vec![format!("--podman-root={}", self.root.display())]
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cli(&["rm", "-f", "-a", "-t", "0"]);
        let _ = self.cli(&["pod", "rm", "-f", "-a", "-t", "0"]);
        // A conmon of ours that outlived `rm` (it names our runroot/root on
        // its command line; no other process does).
        let mine = [
            self.root.display().to_string(),
            self.runroot.display().to_string(),
        ];
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    continue;
                };
                let cmdline = text(&cmdline);
                let conmon =
                    cmdline.starts_with("/usr/bin/conmon") || cmdline.starts_with("conmon");
                if conmon && mine.iter().any(|m| cmdline.contains(m.as_str())) {
                    signal(pid, nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        unmount_under(&self.dir);
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("cleanup of {} failed: {e}", self.dir.display());
        }
    }
}

/// Writes `<dir>/busybox.tar`: a minimal root filesystem of the installed
/// busybox-static (`/bin/busybox` and one symlink per applet), and returns
/// its path.
pub fn busybox_rootfs_tar(dir: &Path) -> PathBuf {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("busybox-static is installed (/bin/busybox)");
    let tree = dir.join("bb-rootfs");
    let _ = std::fs::remove_dir_all(&tree);
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
        std::fs::create_dir_all(tree.join(d)).expect("mkdir rootfs");
    }
    std::fs::copy(busybox, tree.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in text(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", tree.join("bin").join(applet));
        }
    }
    std::fs::write(tree.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").expect("passwd");
    std::fs::write(tree.join("etc/group"), "root:x:0:\n").expect("group");
    let tar = dir.join("busybox.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&tree)
        .args(["--numeric-owner", "-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(st.success(), "tar of {} failed", tree.display());
    let _ = std::fs::remove_dir_all(&tree);
    tar
}

/// Imports a busybox image `name` into `engine` (`docker import` / `podman
/// import` with `--change 'CMD […]'` and one `--change 'ENV K=V'` per env),
/// built in a temporary directory. Returns the name.
pub fn import_image(engine: &dyn Engine, name: &str, cmd: &[&str], env: &[&str]) -> String {
    let tmp = tempfile::Builder::new()
        .prefix("cgdash-img-")
        .tempdir()
        .expect("tempdir");
    let tar = busybox_rootfs_tar(tmp.path());
    let cmd_json = format!(
        "CMD [{}]",
        cmd.iter()
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut changes = vec![cmd_json];
    changes.push("ENV PATH=/bin".to_string());
    changes.extend(env.iter().map(|e| format!("ENV {e}")));
    let mut args: Vec<String> = vec!["import".into()];
    for c in &changes {
        args.push("--change".into());
        args.push(c.clone());
    }
    args.push(tar.display().to_string());
    args.push(name.to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    engine.ok(&args);
    name.to_string()
}
