//! Out of descriptors (issue 11, item 14). Its own test binary: it lowers
//! RLIMIT_NOFILE of the whole process, which must not starve other tests.
//!
//! Below the minimum, every sampling command refuses to start with a message
//! naming RLIMIT_NOFILE (through the binary, under `prlimit`); and when
//! descriptors run out anyway, the sampler reports the sample incomplete
//! instead of passing short or empty lists off as the truth.

use std::process::{Command, Stdio};

use cgdash::cgroup::Layout;
use cgdash::sampler::Sampler;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

const BIN: &str = env!("CARGO_BIN_EXE_cgdash");

fn prlimit(nofile: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new("prlimit")
        .arg(format!("--nofile={nofile}"))
        .arg(BIN)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .expect("prlimit (util-linux)");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn hr_too_few_descriptors_is_an_error_naming_the_limit() {
    for n in ["6", "12", "16", "63"] {
        for args in [
            &["snapshot", "--json", "--interval", "50ms"][..],
            &["snapshot", "--interval", "50ms"],
            // The dashboard refuses before it needs a terminal.
            &[],
            &["demo"],
            &["run", "--", "true"],
        ] {
            let (code, out, err) = prlimit(n, args);
            assert_eq!(code, Some(1), "nofile={n} {args:?}: {out}{err}");
            assert_eq!(out, "", "nofile={n} {args:?}: nothing printed");
            assert!(
                err.contains(&format!("RLIMIT_NOFILE is {n} (hard limit {n})"))
                    && err.contains("at least 64"),
                "nofile={n} {args:?}: {err}"
            );
        }
    }
    // A low soft limit under a higher hard one is raised, and all is read.
    // (The hard limit this test has: raising it would need CAP_SYS_RESOURCE.)
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let hard = hard.min(4096);
    assert!(hard >= 64, "this test needs a hard RLIMIT_NOFILE of 64");
    let (code, out, err) = prlimit(
        &format!("12:{hard}"),
        &["snapshot", "--json", "--interval", "50ms"],
    );
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(
        v["processes"].as_array().is_some_and(|p| p.len() > 1),
        "{out}"
    );
    assert!(
        v["groups"].as_array().is_some_and(|g| !g.is_empty()),
        "{out}"
    );
    // At the minimum itself everything works (no file kept open).
    let (code, out, err) = prlimit("64", &["snapshot", "--json", "--interval", "50ms"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(
        v["processes"].as_array().is_some_and(|p| p.len() > 1),
        "{out}"
    );
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").expect("fd dir").count() as u64
}

/// Runs [`hr_fds_child_out_of_descriptors`] in a child process of this
/// test binary: it lowers the hard limit, which (without CAP_SYS_RESOURCE)
/// can't be raised back and would starve the other tests.
#[test]
fn hr_running_out_of_descriptors_mid_run_is_reported() {
    let o = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "hr_fds_child_out_of_descriptors", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .expect("run the child test");
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("1 passed"),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

const CHILD: &str = "CGDASH_HR_FDS_CHILD";

#[test]
fn hr_fds_child_out_of_descriptors() {
    if std::env::var_os(CHILD).is_none() {
        return; // only as the child of the test above
    }
    let layout = Layout::detect().expect("cgroups");
    // Two samplers made with descriptors to spare; the fresh one has not
    // read anything yet, so its first sample must open every file.
    let mut warm = Sampler::new(layout.clone(), "/proc".into()).expect("sampler");
    warm.sample();
    assert_eq!(warm.problem(), None, "a complete sample");
    let mut fresh = Sampler::new(layout, "/proc".into()).expect("sampler");
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    // Room for one directory being listed and little else: the group walk
    // (one descriptor per level) or the process files run out.
    let low = open_fds() + 1;
    setrlimit(Resource::RLIMIT_NOFILE, low, low).expect("setrlimit");
    let snap = fresh.sample();
    let problem = fresh.problem();
    // Root may raise the hard limit back; otherwise this process keeps it.
    let _ = setrlimit(Resource::RLIMIT_NOFILE, soft, hard);
    let p = problem.unwrap_or_else(|| {
        panic!(
            "short lists passed off as complete: {} groups, {} processes",
            snap.groups.len(),
            snap.processes.len()
        )
    });
    assert!(p.contains("Too many open files"), "{p}");
    if getrlimit(Resource::RLIMIT_NOFILE).map(|l| l.0) == Ok(soft) {
        fresh.sample();
        assert_eq!(
            fresh.problem(),
            None,
            "complete again with descriptors back"
        );
    }
}
