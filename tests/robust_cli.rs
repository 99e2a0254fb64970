//! Hostile command lines through the real binary (issue 11, item 12): huge
//! durations, a closed stdout, absurd stress sizes. None may panic (the
//! release build aborts on a panic: exit 134); each is refused with a clear
//! error or handled quietly.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_cgdash");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run cgdash")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// No panic (debug: exit 101 + "panicked"; release: abort), no abort.
fn assert_no_panic(o: &Output, what: &str) {
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation of"),
        "{what}: panicked: {err}"
    );
    assert_ne!(o.status.code(), Some(101), "{what}: panic exit: {err}");
    assert_ne!(
        o.status.signal(),
        Some(libc::SIGABRT),
        "{what}: aborted: {err}"
    );
}

#[test]
fn hr_huge_durations_are_refused_with_exit_2() {
    let cases: &[&[&str]] = &[
        &["snapshot", "--interval", "1e30s"],
        &["snapshot", "--interval", "inf"],
        &["--interval", "1e30s", "snapshot"],
        &["stress", "cpu", "--duration", "1e30s"],
        &["stress", "memory", "--duration", "1e30"],
        &["stress", "fork", "--duration", "1e300m"],
    ];
    for args in cases {
        let o = run(args);
        assert_no_panic(&o, &format!("{args:?}"));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("too long"), "{args:?}: {}", stderr(&o));
    }
}

/// Runs `snapshot ARGS` with its stdout a pipe whose reader is already gone:
/// the first write fails with EPIPE.
fn snapshot_into_closed_pipe(extra: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .arg("snapshot")
        .args(["--interval", "50ms"])
        .args(extra)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cgdash snapshot");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait")
}

#[test]
fn hr_broken_pipe_exits_quietly() {
    for extra in [&["--json"][..], &[][..]] {
        let o = snapshot_into_closed_pipe(extra);
        assert_no_panic(&o, &format!("snapshot {extra:?} | (closed)"));
        assert_eq!(
            o.status.code(),
            Some(141),
            "snapshot {extra:?}: like a program killed by SIGPIPE: {}",
            stderr(&o)
        );
        assert_eq!(stderr(&o), "", "snapshot {extra:?}: no message");
    }
}

#[test]
fn hr_full_stdout_is_an_error_not_a_panic() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = Command::new(BIN)
        .args(["snapshot", "--interval", "50ms"])
        .env("RUST_BACKTRACE", "0")
        .stdout(full)
        .output()
        .expect("run");
    assert_no_panic(&o, "snapshot >/dev/full");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write to standard output"),
        "{}",
        stderr(&o)
    );
}

/// `stress memory --rate 1T --ceiling 100T` in an address space of 512 MiB
/// (RLIMIT_AS, so the test needs no cgroup and can't eat the host's
/// memory): the allocator refuses, and cgdash says so (exit 1) instead of
/// aborting on a 100 GiB `vec!`.
#[test]
fn hr_absurd_stress_sizes_are_handled() {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "stress",
        "memory",
        "--rate",
        "1T",
        "--ceiling",
        "100T",
        "--duration",
        "60s",
    ])
    .env("RUST_BACKTRACE", "0")
    .stdin(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 512 << 20,
                rlim_max: 512 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().expect("run");
    assert_no_panic(&o, "stress memory --rate 1T --ceiling 100T");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("refused to allocate"), "{}", stderr(&o));

    // Values that are not sizes are bad input: exit 2.
    for args in [
        &["stress", "memory", "--rate", "max"][..],
        &["stress", "memory", "--ceiling", "1E"],
        &["stress", "memory", "--rate", "1k"],
        &["stress", "cpu", "--workers", "0"],
        &["stress", "fork", "--max", "4294967296"],
    ] {
        let o = run(args);
        assert_no_panic(&o, &format!("{args:?}"));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}
