//! The dashboard running out of descriptors while it runs (issue 11, item
//! 14): the status line says the sample is incomplete instead of showing
//! short lists as the truth. Drives tmux: run under
//! `flock /tmp/cgdash-demo.lock`.

mod tmux;

use std::process::Command;
use std::time::Duration;

use tmux::Tmux;

const BIN: &str = env!("CARGO_BIN_EXE_cgdash");

#[test]
fn hr_dashboard_says_when_descriptors_run_out() {
    // The `/proc` path: on the eBPF path the failed pass (it needs a
    // descriptor for its iterator) drops to `/proc`, whose descriptors are
    // then re-split from the limit in force, and the dashboard goes on
    // complete (`hr_dashboard_survives_descriptors_running_out_on_ebpf`).
    let Some(t) = Tmux::start("hr-nofile", 160, 40, &[], &[BIN, "--sampler", "proc"]) else {
        return;
    };
    t.wait_for(Duration::from_secs(20), |s| s.contains("procs"))
        .unwrap_or_else(|s| panic!("the dashboard did not start:\n{s}"));
    let seen = run_out_of_descriptors(&t, |s| {
        s.contains("incomplete sample") && s.contains("Too many open files")
    });
    seen.unwrap_or_else(|s| panic!("no word of the incomplete sample:\n{s}"));
}

#[test]
fn hr_dashboard_survives_descriptors_running_out_on_ebpf() {
    let Some(t) = Tmux::start("hr-nofile-ebpf", 160, 40, &[], &[BIN, "--sampler", "ebpf"]) else {
        return;
    };
    t.wait_for(Duration::from_secs(20), |s| s.contains("read: ebpf"))
        .unwrap_or_else(|s| panic!("the dashboard did not start on the eBPF path:\n{s}"));
    let seen = run_out_of_descriptors(&t, |s| {
        s.contains("read: proc") && !s.contains("read: ebpf")
    });
    seen.unwrap_or_else(|s| panic!("no fallback to the /proc path:\n{s}"));
}

/// Leaves the dashboard this test started no room for one more file, starts
/// a new process (its files must be opened; with its own deadline) and
/// waits up to 15 s for a screen `until` accepts.
fn run_out_of_descriptors(t: &Tmux, until: impl Fn(&str) -> bool) -> Result<String, String> {
    let pid = t.pid().expect("pane pid");
    // The lowest free descriptor number: a new descriptor takes the lowest
    // free one, and must be below the limit. (Not the count of open ones:
    // with holes below the highest, e.g. where the group reader's
    // transient directory descriptors were, that leaves room.)
    let open: std::collections::HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let lowest_free = (0..).find(|n| !open.contains(n)).expect("a free number");
    let st = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={lowest_free}:{lowest_free}"),
        ])
        .status()
        .expect("prlimit");
    assert!(st.success(), "prlimit failed");
    let mut sleeper = Command::new("sleep").arg("10").spawn().expect("sleep");
    let seen = t.wait_for(Duration::from_secs(15), until);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    seen
}
