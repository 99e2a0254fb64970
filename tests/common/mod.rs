//! Shared support for live tests (real cgroups, root).
//!
//! Live tests call [`live`] first. Without root or cgroups they skip with a
//! message — unless `CGDASH_LIVE_TESTS=required` (set by `.ci/run`), where a
//! skip is a failure: CI must never pass by skipping.
//!
//! Test groups live under `cgdash-test-<pid>/` at each hierarchy's root and
//! are removed by `Drop`, also when the test panics. Every workload has its own
//! deadline (`timeout`), and only processes the test started are killed.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cgdash::cgroup::{Layout, Version};

pub mod engines;
pub mod quiet_load;

/// Tests in one binary run in parallel threads and share the parent
/// `cgdash-test-<pid>`: creating a child and removing the parent must not interleave.
static PARENT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Returns the host layout if live tests can run here; otherwise prints why
/// and returns `None` (or panics when live tests are required).
pub fn live(test: &str) -> Option<Layout> {
    let required = std::env::var("CGDASH_LIVE_TESTS")
        .map(|v| v == "required")
        .unwrap_or(false);
    let why = if !nix::unistd::geteuid().is_root() {
        Some("not root".to_string())
    } else {
        match Layout::detect() {
            Ok(l) if l.hierarchy("cpu").is_some() && l.hierarchy("memory").is_some() => {
                return Some(l)
            }
            Ok(_) => Some("cpu/memory controllers not available".to_string()),
            Err(e) => Some(e.to_string()),
        }
    };
    let why = why.unwrap_or_default();
    if required {
        panic!("{test}: live test cannot run ({why}) but CGDASH_LIVE_TESTS=required");
    }
    eprintln!("SKIP {test}: {why} (set CGDASH_LIVE_TESTS=required to make this a failure)");
    None
}

/// Whether this run must exercise `--net veth` for real: the v2 VM sets
/// `CGDASH_EXPECT_VETH=1` once it has loaded the veth, bridge and tbf
/// modules (vm/init.sh), so a kernel without them there is a failure, not
/// the refusal the network tests otherwise check and pass with.
pub fn expect_veth() -> bool {
    std::env::var("CGDASH_EXPECT_VETH").is_ok_and(|v| v == "1")
}

/// Whether the memory controller is v2 (memory.high, memory.events …).
pub fn is_v2(layout: &Layout, controller: &str) -> bool {
    layout.version_of(controller) == Some(Version::V2)
}

/// A group `cgdash-test-<pid>/<name>` that is removed on drop, after killing
/// the processes this test put into it.
pub struct TestGroup {
    pub layout: Layout,
    pub path: String,
    children: Vec<Child>,
}

impl TestGroup {
    pub fn new(layout: &Layout, name: &str) -> TestGroup {
        let path = format!("cgdash-test-{}/{name}", std::process::id());
        // A leftover from a crashed earlier run of the same pid is ours too.
        let _guard = PARENT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let _ = layout.remove_group(&path, Duration::from_millis(100));
        layout
            .create_group(&path)
            .unwrap_or_else(|e| panic!("create {path}: {e}"));
        TestGroup {
            layout: layout.clone(),
            path,
            children: Vec::new(),
        }
    }

    /// Starts `sh -c SCRIPT` inside the group (joined before exec), killed
    /// after `deadline` at the latest by `timeout`, and by Drop otherwise.
    pub fn spawn_sh(&mut self, script: &str, deadline: Duration) -> u32 {
        let mut cmd = Command::new("timeout");
        cmd.arg("-s")
            .arg("KILL")
            .arg(format!("{}", deadline.as_secs().max(1)));
        cmd.arg("sh").arg("-c").arg(script);
        self.spawn(cmd)
    }

    /// Starts `cmd` inside the group: the child writes `0` to every
    /// `cgroup.procs` before exec, so it never runs outside the group.
    pub fn spawn(&mut self, mut cmd: Command) -> u32 {
        let files: Vec<std::fs::File> = self
            .layout
            .procs_files(&self.path)
            .into_iter()
            .map(|p| {
                OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            })
            .collect();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(move || {
                for mut f in files.iter() {
                    f.write_all(b"0")?;
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn workload");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    pub fn apply(&self, settings: &[&str]) -> Result<(), cgdash::cgroup::CgroupError> {
        let s = cgdash::cgroup::knob::parse_settings(settings).expect("valid settings");
        self.layout.apply(&self.path, &s).map(|_| ())
    }

    /// Waits for the first child to exit (with a timeout), returning its status.
    pub fn wait_first(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.children[0].try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Thaw first: frozen tasks can't die.
        let _ = self.apply(&["freeze=false"]);
        // Everything in this group was started by this test (it created the
        // group), e.g. the shell under `timeout`: kill those pids, no others.
        for _ in 0..50 {
            let pids = self.layout.procs(&self.path);
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Err(e) = self.layout.remove_group(&self.path, Duration::from_secs(5)) {
            eprintln!("cleanup of {} failed: {e}", self.path);
        }
        // Remove the ancestors this test made, up to the per-process parent,
        // while they are empty (other tests may still use them).
        let _guard = PARENT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut dir = self.path.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            dir = parent;
            if !self.layout.procs(parent).is_empty() {
                break;
            }
            for h in &self.layout.hierarchies {
                let d = h.dir(parent);
                if std::fs::read_dir(&d)
                    .map(|mut r| !r.any(|e| e.map(|e| e.path().is_dir()).unwrap_or(false)))
                    .unwrap_or(false)
                {
                    let _ = std::fs::remove_dir(&d);
                }
            }
        }
    }
}

/// Path of the built cgdash binary (integration tests only).
pub fn cgdash_bin() -> &'static str {
    env!("CARGO_BIN_EXE_cgdash")
}

/// Runs cgdash with args, returning (exit code, stdout, stderr).
pub fn cgdash(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(cgdash_bin())
        .args(args)
        .output()
        .expect("run cgdash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
