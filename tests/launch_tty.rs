//! Live: `cgdash run` on a terminal (a pty made by the test). The workload
//! gets the terminal's foreground: Ctrl-C reaches it (and ends `cgdash run`
//! with 130, group removed), an interactive shell works and its exit code
//! passes through. Run: `cargo test --test launch_tty` (root).

mod common;
mod launch_util;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use launch_util::{unique, Cleanup};

/// Starts cgdash on a new pty as its controlling terminal (a session of its
/// own, like a login shell would give it). Returns the child and the master.
fn on_pty(args: &[&str]) -> (Child, std::fs::File) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let mut cmd = Command::new(common::cgdash_bin());
    cmd.args(args)
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn cgdash on a pty");
    drop(slave);
    (child, std::fs::File::from(pty.master))
}

/// Reads from the master until `needle` shows up (or the deadline passes).
fn read_until(
    master: &mut std::fs::File,
    out: &mut String,
    needle: &str,
    deadline: Duration,
) -> bool {
    let end = Instant::now() + deadline;
    let fd = master.as_raw_fd();
    while Instant::now() < end {
        if out.contains(needle) {
            return true;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 1024];
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break, // EIO once the last slave fd closes
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    out.contains(needle)
}

fn wait_exit(child: &mut Child, deadline: Duration) -> Option<i32> {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn ctrl_c_on_the_terminal_stops_the_workload() {
    let Some(layout) = common::live("ctrl_c_on_the_terminal_stops_the_workload") else {
        return;
    };
    let name = unique("ctrlc");
    let mut cleanup = Cleanup::new(&layout, &name);
    let (child, mut master) = on_pty(&[
        "run",
        "--name",
        &name,
        "--",
        "sh",
        "-c",
        "echo READY; exec sleep 30",
    ]);
    cleanup.children.push(child);
    let mut out = String::new();
    assert!(
        read_until(&mut master, &mut out, "READY", Duration::from_secs(10)),
        "{out}"
    );
    // Let `sleep` start: a SIGINT that hits sh between its echo and the
    // exec would be caught by sh and lost in the exec (sh's own race).
    std::thread::sleep(Duration::from_millis(500));
    master.write_all(b"\x03").unwrap(); // the terminal's Ctrl-C
    let code = wait_exit(&mut cleanup.children[0], Duration::from_secs(10));
    assert_eq!(code, Some(130), "sleep should die of SIGINT: {out}");
    assert!(!layout.group_exists(&cleanup.group()));
}

#[test]
fn interactive_shell_on_the_terminal() {
    let Some(layout) = common::live("interactive_shell_on_the_terminal") else {
        return;
    };
    let name = unique("tty");
    let mut cleanup = Cleanup::new(&layout, &name);
    let (child, mut master) = on_pty(&["run", "--name", &name, "--", "sh", "-i"]);
    cleanup.children.push(child);
    let mut out = String::new();
    master.write_all(b"echo IN-$$\n").unwrap();
    assert!(
        read_until(&mut master, &mut out, "IN-2", Duration::from_secs(10)),
        "{out}"
    );
    // Ctrl-C interrupts the foreground command, not the shell (nor cgdash).
    master.write_all(b"sleep 30\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    master.write_all(b"\x03").unwrap();
    master.write_all(b"echo STILL-$$\n").unwrap();
    assert!(
        read_until(&mut master, &mut out, "STILL-2", Duration::from_secs(10)),
        "{out}"
    );
    master.write_all(b"exit 4\n").unwrap();
    let code = wait_exit(&mut cleanup.children[0], Duration::from_secs(10));
    assert_eq!(code, Some(4), "{out}");
    assert!(!out.contains("Cannot set tty process group"), "{out}");
    assert!(!layout.group_exists(&cleanup.group()));
}
