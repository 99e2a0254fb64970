//! Support for the launcher's live tests: run the cgdash binary with a
//! deadline, unique workload names, and guards that remove what a failed
//! test left (only `cgdash/test-<pid>-…` groups, which only these tests make).
#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cgdash::cgroup::Layout;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A workload name no other test (or test run) uses.
pub fn unique(name: &str) -> String {
    format!("test-{}-{name}", std::process::id())
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` with piped output; SIGKILLs it at `deadline` (the launcher then
/// ends the workload through its lifeline), so no test hangs.
pub fn run_cmd(mut cmd: Command, deadline: Duration) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // ETXTBSY: a binary just copied by this test (the rootless tests) can
    // still be open for writing in a child another test thread forked at
    // that moment, until that child execs. It passes; retry.
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(c) => break c,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("spawn {cmd:?}: {e}"),
        }
    };
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let end = Instant::now() + deadline;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = t_out.join().unwrap();
    let stderr = t_err.join().unwrap();
    let code = match status {
        Some(st) => st.code().unwrap_or(-1),
        None => panic!(
            "cgdash did not finish within {deadline:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ),
    };
    Out {
        code,
        stdout,
        stderr,
    }
}

pub fn cgdash(args: &[&str], deadline: Duration) -> Out {
    let mut cmd = Command::new(crate::common::cgdash_bin());
    cmd.args(args);
    run_cmd(cmd, deadline)
}

/// Starts cgdash in the background (output discarded); the caller's guard
/// and deadline end it.
pub fn spawn_cgdash(args: &[&str]) -> Child {
    Command::new(crate::common::cgdash_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cgdash")
}

/// What a spawned cgdash said, if it has ended (for failure messages;
/// never blocks on one still running).
pub fn said(child: &mut Child) -> String {
    use std::io::Read;
    match child.try_wait() {
        Ok(Some(st)) => {
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            format!("cgdash ended ({st}): {err}")
        }
        _ => "cgdash still running".to_string(),
    }
}

/// Waits until `f` holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

pub fn alive(pid: i32) -> bool {
    // A zombie is as good as gone; `kill(pid, 0)` would still say it exists.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Removes `cgdash/NAME` on drop (after killing what is in it: everything in
/// a test's group was started by that test) and its state file.
pub struct Cleanup {
    pub layout: Layout,
    pub name: String,
    pub children: Vec<Child>,
}

impl Cleanup {
    pub fn new(layout: &Layout, name: &str) -> Cleanup {
        Cleanup {
            layout: layout.clone(),
            name: name.to_string(),
            children: Vec::new(),
        }
    }

    pub fn group(&self) -> String {
        format!("cgdash/{}", self.name)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let group = self.group();
        for _ in 0..100 {
            let pids = self.layout.procs(&group);
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.layout.group_exists(&group) {
            if let Err(e) = self.layout.remove_group(&group, Duration::from_secs(5)) {
                eprintln!("cleanup of {group} failed: {e}");
            }
        }
        let _ =
            std::fs::remove_file(cgdash::launch::state_dir().join(format!("{}.json", self.name)));
    }
}
