//! Sampler cost vs the naive floor (issue 2, "Performance").
//!
//! As root: starts 2,000 extra `sleep 600` processes and 200 groups under
//! `cgdash-sample-<pid>/` (half the sleepers placed in them), then times, in
//! the same run and interleaved round by round,
//!   - the process scanner (steady state: one `stat` read per process),
//!   - the group reader (`Layout::read_all`),
//!   - a whole `Sampler::sample`,
//!   - the floor: readdir `/proc` + open/read/close `/proc/PID/stat` per pid,
//!     and a walk of the cpuacct hierarchy + open/read/close of
//!     `cpuacct.usage` and `memory.usage_in_bytes` per group.
//!
//! Cost is this thread's CPU time (user + system), the median over rounds;
//! wall time is printed too. Everything it starts is killed by pid and every
//! group removed at the end, also on panic or Ctrl-C.
//!
//! Run: `cargo bench --bench sample` (env: BENCH_PROCS, BENCH_GROUPS, BENCH_ROUNDS).

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cgdash::cgroup::{Layout, Version};
use cgdash::process::ProcessScanner;
use cgdash::sampler::Sampler;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Everything the bench created; dropping it cleans up.
struct Load {
    layout: Layout,
    parent: String,
    children: Vec<Child>,
}

impl Drop for Load {
    fn drop(&mut self) {
        let t = Instant::now();
        for c in &mut self.children {
            let _ = c.kill();
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
        if let Err(e) = self
            .layout
            .remove_group(&self.parent, Duration::from_secs(10))
        {
            eprintln!("cleanup of {} failed: {e}", self.parent);
        }
        eprintln!(
            "cleaned up {} processes and {} in {:.1} s",
            self.children.len(),
            self.parent,
            t.elapsed().as_secs_f64()
        );
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// (CPU, wall) of one call.
fn timed<T>(f: impl FnOnce() -> T) -> (Duration, Duration, T) {
    let (c0, w0) = (thread_cpu(), Instant::now());
    let r = f();
    (thread_cpu() - c0, w0.elapsed(), r)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn read_once(path: &Path, buf: &mut [u8]) -> usize {
    match File::open(path) {
        Ok(mut f) => f.read(buf).unwrap_or(0),
        Err(_) => 0,
    }
}

/// The floor for processes: what any top-like tool must at least do.
fn floor_procs(buf: &mut [u8]) -> usize {
    let mut n = 0;
    let mut path = String::with_capacity(32);
    let dir = match fs::read_dir("/proc") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("floor: /proc: {e}");
            return 0;
        }
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(name) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        path.clear();
        path.push_str("/proc/");
        path.push_str(name);
        path.push_str("/stat");
        if read_once(Path::new(&path), buf) > 0 {
            n += 1;
        }
    }
    n
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&e.path(), out);
            }
        }
    }
}

/// The floor for groups: list them (one hierarchy) and read CPU and memory usage.
fn floor_groups(acct: &Path, mem: &Path, buf: &mut [u8]) -> usize {
    let mut dirs = Vec::new();
    walk(acct, &mut dirs);
    for d in &dirs {
        read_once(&d.join("cpuacct.usage"), buf);
        if let Ok(rel) = d.strip_prefix(acct) {
            read_once(&mem.join(rel).join("memory.usage_in_bytes"), buf);
        }
    }
    dirs.len()
}

/// What a group reader could cost (issue 6): the per-tick counters only
/// (limits change only when written), from files kept open and re-read with
/// pread. Not used by cgdash yet; printed to size the opportunity.
struct KeptCounters {
    files: Vec<File>,
}

/// The files that change on their own, per group (v1 names).
const COUNTERS: [(&str, &str); 7] = [
    ("cpuacct", "cpuacct.usage"),
    ("cpu", "cpu.stat"),
    ("memory", "memory.usage_in_bytes"),
    ("memory", "memory.failcnt"),
    ("memory", "memory.oom_control"),
    ("pids", "pids.current"),
    ("pids", "pids.events"),
];

impl KeptCounters {
    fn open(layout: &Layout, groups: &[String]) -> KeptCounters {
        let mut files = Vec::new();
        for g in groups {
            for (ctrl, file) in COUNTERS {
                if let Some(h) = layout.hierarchy(ctrl) {
                    if let Ok(f) = File::open(h.dir(g).join(file)) {
                        files.push(f);
                    }
                }
            }
        }
        KeptCounters { files }
    }

    fn read(&self, buf: &mut [u8]) -> usize {
        use std::os::unix::fs::FileExt;
        self.files
            .iter()
            .filter(|f| f.read_at(buf, 0).is_ok())
            .count()
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks harness-less benches to list
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: the sample bench creates cgroups and needs root");
        return;
    }
    let layout = match Layout::detect() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("SKIP: {e}");
            return;
        }
    };
    let (acct, mem) = match (layout.hierarchy("cpuacct"), layout.hierarchy("memory")) {
        (Some(a), Some(m)) if a.version == Version::V1 && m.version == Version::V1 => {
            (a.mount.clone(), m.mount.clone())
        }
        _ => {
            eprintln!("SKIP: the floor is defined on v1 (cpuacct.usage, memory.usage_in_bytes)");
            return;
        }
    };
    {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        let act = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::empty(),
            SigSet::empty(),
        );
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: the handler only stores to an atomic (async-signal-safe).
            let _ = unsafe { sigaction(sig, &act) };
        }
    }
    let nprocs = env_usize("BENCH_PROCS", 2000);
    let ngroups = env_usize("BENCH_GROUPS", 200);
    let rounds = env_usize("BENCH_ROUNDS", 15).max(1);

    let parent = format!("cgdash-sample-{}", std::process::id());
    let mut load = Load {
        layout: layout.clone(),
        parent: parent.clone(),
        children: Vec::with_capacity(nprocs),
    };
    let t = Instant::now();
    let groups: Vec<String> = (0..ngroups).map(|i| format!("{parent}/g{i:03}")).collect();
    for g in &groups {
        layout
            .create_group(g)
            .unwrap_or_else(|e| panic!("create {g}: {e}"));
    }
    for i in 0..nprocs {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return;
        }
        // Each sleeper is its own deadline: it ends after 600 s even if the
        // bench is killed before cleaning up.
        let child = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        load.children.push(child);
        if i % 2 == 0 && !groups.is_empty() {
            let g = &groups[(i / 2) % groups.len()];
            layout
                .attach(g, pid)
                .unwrap_or_else(|e| panic!("attach {pid} to {g}: {e}"));
        }
    }
    eprintln!(
        "load: {nprocs} sleepers, {ngroups} groups under {parent} ({:.1} s to set up)",
        t.elapsed().as_secs_f64()
    );

    let mut buf = vec![0u8; 4096];
    let mut scanner = ProcessScanner::new("/proc".into(), &layout).expect("scanner");
    // As inside the Sampler, which learns group membership from cgroup.procs.
    scanner.set_cgroup_refresh(0);
    let mut sampler = Sampler::new(layout.clone(), "/proc".into()).expect("sampler");
    let (cold, cold_wall, rows) = timed(|| scanner.scan());
    let (sampler_cold, _, _) = timed(|| sampler.sample());
    let nrows = rows.len();
    let mut rows = rows;

    let kept = KeptCounters::open(&layout, &layout.list_groups());
    // The sampler's group reader: counters by pread from kept-open files,
    // a full read of each group every 5th tick (so rounds are averaged too).
    // (The sampler's own reader: a second one would double the kept fds.)
    sampler.reader_mut().read(None);
    let mut m: [Vec<Duration>; 14] = Default::default();
    let (mut np, mut ng) = (0, 0);
    for _ in 0..rounds {
        if INTERRUPTED.load(Ordering::SeqCst) {
            eprintln!("interrupted");
            return;
        }
        let (c, w, n) = timed(|| floor_procs(&mut buf));
        m[0].push(c);
        m[1].push(w);
        np = n;
        let (c, w, _) = timed(|| scanner.scan_into(&mut rows));
        m[2].push(c);
        m[3].push(w);
        let (c, w, n) = timed(|| floor_groups(&acct, &mem, &mut buf));
        m[4].push(c);
        m[5].push(w);
        ng = n;
        let (c, w, gs) = timed(|| sampler.reader_mut().read(None));
        m[6].push(c);
        m[7].push(w);
        ng = ng.max(gs.len());
        let (c, w, _) = timed(|| sampler.sample());
        m[8].push(c);
        m[9].push(w);
        let (c, w, _) = timed(|| {
            for g in &gs {
                let _ = fs::read_to_string(layout.primary().dir(&g.path).join("cgroup.procs"));
            }
        });
        m[10].push(c);
        m[11].push(w);
        let (c, w, _) = timed(|| kept.read(&mut buf));
        m[12].push(c);
        m[13].push(w);
    }
    let mean_reader = m[6].iter().sum::<Duration>() / m[6].len().max(1) as u32;
    let med: Vec<Duration> = m.iter_mut().map(|v| median(v)).collect();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let per = |d: Duration, n: usize| us(d) / n.max(1) as f64;

    println!();
    println!("{np} processes ({nrows} scanned), {ng} groups, median of {rounds} rounds, CPU time of the sampling thread");
    println!();
    println!(
        "{:<36} {:>10} {:>10} {:>10} {:>8}",
        "", "CPU ms", "wall ms", "µs/item", "× floor"
    );
    let row = |name: &str, c: Duration, w: Duration, n: usize, floor: Option<Duration>| {
        let ratio = floor
            .map(|f| format!("{:.2}", us(c) / us(f)))
            .unwrap_or_default();
        println!(
            "{name:<36} {:>10.2} {:>10.2} {:>10.2} {:>8}",
            us(c) / 1000.0,
            us(w) / 1000.0,
            per(c, n),
            ratio
        );
    };
    row("floor: /proc/PID/stat", med[0], med[1], np, None);
    row("process scanner (steady)", med[2], med[3], np, Some(med[0]));
    row("floor: cpuacct+memory usage", med[4], med[5], ng, None);
    row(
        "group reader (GroupReader)",
        med[6],
        med[7],
        ng,
        Some(med[4]),
    );
    row(
        "  …mean, incl. full reads",
        mean_reader,
        mean_reader,
        ng,
        Some(med[4]),
    );
    row(
        "whole sample (groups+processes)",
        med[8],
        med[9],
        np,
        Some(med[0] + med[4]),
    );
    row(
        "  of it: cgroup.procs of each group",
        med[10],
        med[11],
        ng,
        None,
    );
    row(
        "idea: 7 counters/group, kept open+pread",
        med[12],
        med[13],
        ng,
        Some(med[4]),
    );
    println!();
    println!(
        "first scan (reads cmdline/user/cgroup of every process): {:.2} ms CPU, {:.2} ms wall; first whole sample {:.2} ms CPU",
        us(cold) / 1000.0,
        us(cold_wall) / 1000.0,
        us(sampler_cold) / 1000.0
    );
    println!(
        "per process: {:.2} µs (floor {:.2}), per group: {:.2} µs (floor {:.2})",
        per(med[2], np),
        per(med[0], np),
        per(med[6], ng),
        per(med[4], ng)
    );
    drop(load);
}
