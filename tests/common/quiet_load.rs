//! Workloads for the sampler-comparison tests (issue 18): bash processes
//! that sleep without running (so their group's CPU counter stays still)
//! and then do what the test needs, and samplers that share the
//! descriptors when two run in one test.

use std::process::Command;
use std::time::{Duration, Instant};

use cgdash::model::Snapshot;
use cgdash::sampler::Sampler;

use super::TestGroup;

/// bash sleeping without a child for S seconds: a `read -t` on a FIFO
/// nobody writes (builtins only: the process does not run meanwhile).
/// Needs the FIFO on fd 3 that [`spawn_bash`] opens.
pub fn nap(s: &str) -> String {
    format!("read -t {s} -u 3 x")
}

const FIFO: &str =
    r#"f=$(mktemp -u /tmp/cgdash-quiet.XXXXXX); mkfifo "$f"; exec 3<>"$f"; rm -f "$f"; "#;

/// `bash -c SCRIPT` in `g` under `timeout` (killed after 40 s at the
/// latest), with fd 3 open on a FIFO for [`nap`]. Returns `timeout`'s pid.
pub fn spawn_bash(g: &mut TestGroup, script: &str) -> u32 {
    spawn_bash_for(g, 40, script)
}

/// [`spawn_bash`], killed after `secs` seconds at the latest.
pub fn spawn_bash_for(g: &mut TestGroup, secs: u32, script: &str) -> u32 {
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", &secs.to_string(), "bash", "-c"])
        .arg(format!("{FIFO}{script}"));
    g.spawn(cmd)
}

/// The child of `parent` (the workload under `timeout`), once a sample
/// shows it.
pub fn child_of(snap: &Snapshot, parent: u32) -> Option<i32> {
    snap.processes
        .iter()
        .find(|p| p.ppid == parent as i32)
        .map(|p| p.pid)
}

/// Two samplers in one process: each gets an eighth of the descriptors for
/// its processes' files and a sixteenth for its groups' (one alone takes a
/// half and a quarter), or on a loaded machine (10,000 processes) they run
/// out of descriptors and groups drop out of both.
pub fn frugal(s: &mut Sampler) {
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    let soft = usize::try_from(soft).unwrap_or(1024).min(1 << 20);
    if let Some(sc) = s.scanner_mut() {
        sc.set_fd_budget(Some(soft / 8));
    }
    s.reader_mut().set_max_open(soft / 16);
}

/// Whether a comparison loop started at `started` goes on after `ticks`
/// ticks: for the `planned` window the workload's timeline needs, and
/// past it until `MIN_TICKS` ticks were taken (at most 30 s: the
/// workloads live 40). On a slow machine a tick can take seconds: the v2
/// VM emulates its CPUs, and another test binary there may be forking
/// 1,200 sleepers meanwhile. A loop bounded by time alone then compared 2
/// ticks and proved nothing (it failed `.ci/run` once that way).
pub fn keep_ticking(started: Instant, planned: Duration, ticks: usize) -> bool {
    const MIN_TICKS: usize = 12;
    let t = started.elapsed();
    t < planned || (ticks < MIN_TICKS && t < Duration::from_secs(30))
}
