//! Built-in workloads, so demos and tests need nothing installed: a CPU
//! burner, a memory ramp and a bounded fork storm (`cgdash stress …`). Each
//! stops by itself after its duration when one is given; progress goes to a
//! callback (the CLI prints it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};

use crate::cgroup::knob::format_size;

#[derive(Debug, thiserror::Error)]
pub enum StressError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot start worker thread: {0}")]
    Thread(std::io::Error),
    #[error(
        "the system refused to allocate {} more (after {}): lower --rate or --ceiling",
        format_size(*size),
        format_size(*total)
    )]
    Alloc { size: u64, total: u64 },
}

/// When to stop: `None` = run until killed.
fn deadline(duration: Option<Duration>) -> Option<Instant> {
    duration.map(|d| Instant::now() + d)
}

fn expired(end: Option<Instant>) -> bool {
    end.is_some_and(|e| Instant::now() >= e)
}

/// Burns CPU in `workers` threads (each wants one full CPU).
pub fn cpu(
    workers: u32,
    duration: Option<Duration>,
    progress: &mut dyn FnMut(String),
) -> Result<(), StressError> {
    if workers == 0 || workers > 4096 {
        return Err(StressError::Invalid("--workers must be 1–4096".into()));
    }
    progress(format!(
        "stress cpu: {workers} worker(s){}",
        duration.map(|d| format!(" for {d:?}")).unwrap_or_default()
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for i in 0..workers {
        let stop = stop.clone();
        let h = std::thread::Builder::new()
            .name(format!("burn-{i}"))
            .spawn(move || {
                let mut x: u64 = 1;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..100_000 {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                }
                x
            })
            .map_err(StressError::Thread)?;
        handles.push(h);
    }
    let end = deadline(duration);
    while !expired(end) {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    progress("stress cpu: done".into());
    Ok(())
}

/// The CPU time this thread has used (CLOCK_THREAD_CPUTIME_ID).
pub(crate) fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Bursty CPU work, the shape that CFS quotas throttle while the average
/// looks fine: `threads` threads that each burn `burst` of CPU time (not
/// wall time: under throttling a burst takes longer) at the same instants,
/// every `every` of wall time. A burst that runs past the next instant
/// skips it. The average demand is `threads × burst / every` CPUs.
pub fn bursty(
    threads: u32,
    burst: Duration,
    every: Duration,
    duration: Option<Duration>,
    progress: &mut dyn FnMut(String),
) -> Result<(), StressError> {
    if threads == 0 || threads > 4096 {
        return Err(StressError::Invalid("--threads must be 1–4096".into()));
    }
    if burst.is_zero() || every.is_zero() || burst > every * 100 {
        return Err(StressError::Invalid(
            "--burst and --every must be above zero (and --burst at most 100 × --every)".into(),
        ));
    }
    progress(format!(
        "stress bursty: {threads} thread(s) × {burst:?} of CPU every {every:?} (average {:.2} CPUs){}",
        f64::from(threads) * burst.as_secs_f64() / every.as_secs_f64(),
        duration.map(|d| format!(" for {d:?}")).unwrap_or_default()
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let end = deadline(duration);
    let mut handles = Vec::new();
    for i in 0..threads {
        let stop = stop.clone();
        let h = std::thread::Builder::new()
            .name(format!("burst-{i}"))
            .spawn(move || {
                let mut x: u64 = 1;
                let mut n: u32 = 0;
                while !stop.load(Ordering::Relaxed) && !expired(end) {
                    // Wait for the next instant (all threads share them).
                    let next = epoch + every * n;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let start = thread_cpu();
                    while thread_cpu().saturating_sub(start) < burst {
                        for _ in 0..10_000 {
                            x = std::hint::black_box(
                                x.wrapping_mul(6364136223846793005).wrapping_add(1),
                            );
                        }
                    }
                    // The next instant still ahead (a late burst skips some).
                    let behind = epoch.elapsed().as_nanos() / every.as_nanos().max(1);
                    n = u32::try_from(behind + 1).unwrap_or(u32::MAX);
                }
                x
            })
            .map_err(StressError::Thread)?;
        handles.push(h);
    }
    while !expired(end) {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    progress("stress bursty: done".into());
    Ok(())
}

const PAGE: usize = 4096;
const TICK: Duration = Duration::from_millis(100);
/// Largest single allocation: a tick's share of a huge `--rate` is
/// allocated in pieces this big, each a fallible allocation (one `vec!` of
/// 100 GiB used to abort the process: `--rate 1T`).
const CHUNK: usize = 64 << 20;

/// Allocates and touches `rate` bytes per second until `ceiling`, then holds
/// it. Every page is written, so it is really resident (and charged to the
/// cgroup); under a lower memory limit the OOM killer ends it. An
/// allocation the system refuses (address space, overcommit) ends it with
/// [`StressError::Alloc`], never an abort.
pub fn memory(
    rate: u64,
    ceiling: u64,
    duration: Option<Duration>,
    progress: &mut dyn FnMut(String),
) -> Result<(), StressError> {
    if rate < PAGE as u64 || ceiling < PAGE as u64 {
        return Err(StressError::Invalid(
            "--rate and --ceiling must be at least 4K".into(),
        ));
    }
    progress(format!(
        "stress memory: {}/s up to {}{}",
        format_size(rate),
        format_size(ceiling),
        duration.map(|d| format!(" for {d:?}")).unwrap_or_default()
    ));
    let end = deadline(duration);
    // The float product saturates (no overflow) for any u64 rate.
    let per_tick = ((rate as f64 * TICK.as_secs_f64()) as u64).max(PAGE as u64);
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut total: u64 = 0;
    let mut last_report = Instant::now();
    let mut held = false;
    while !expired(end) {
        let t0 = Instant::now();
        if total < ceiling {
            let mut due = per_tick.min(ceiling - total);
            while due > 0 && !expired(end) {
                let n = usize::try_from(due).unwrap_or(CHUNK).min(CHUNK);
                let v = touched(n).ok_or(StressError::Alloc {
                    size: n as u64,
                    total,
                })?;
                total += n as u64;
                due -= n as u64;
                chunks.push(v);
            }
        } else if !held {
            held = true;
            progress(format!("stress memory: holding {}", format_size(total)));
        }
        if last_report.elapsed() >= Duration::from_secs(1) && !held {
            last_report = Instant::now();
            progress(format!("stress memory: {} allocated", format_size(total)));
        }
        if let Some(rest) = TICK.checked_sub(t0.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    progress(format!("stress memory: done ({} held)", format_size(total)));
    Ok(())
}

/// `n` bytes, every page written (so resident); `None` if the allocator
/// refuses.
fn touched(n: usize) -> Option<Vec<u8>> {
    let mut v: Vec<u8> = Vec::new();
    v.try_reserve_exact(n).ok()?;
    // Zeroing writes every page: the memory is really resident.
    v.resize(n, 0);
    Some(std::hint::black_box(v))
}

/// What a fork storm achieved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ForkReport {
    /// Children alive at the peak.
    pub forked: u32,
    /// fork() calls refused with EAGAIN (pids.max or RLIMIT_NPROC).
    pub refused_eagain: u64,
    /// Other fork errors.
    pub other_errors: u64,
}

/// Forks up to `max` sleeping children, retrying refused forks until the
/// duration ends. Children die with this process (PDEATHSIG) and at the end.
pub fn fork_storm(
    max: u32,
    duration: Option<Duration>,
    progress: &mut dyn FnMut(String),
) -> Result<ForkReport, StressError> {
    if max == 0 || max > 100_000 {
        return Err(StressError::Invalid("--max must be 1–100000".into()));
    }
    progress(format!(
        "stress fork: up to {max} children{}",
        duration.map(|d| format!(" for {d:?}")).unwrap_or_default()
    ));
    let end = deadline(duration);
    let me = nix::unistd::getpid();
    let mut children: Vec<Pid> = Vec::new();
    let mut r = ForkReport::default();
    let mut last_report = Instant::now();
    while !expired(end) {
        if children.len() < max as usize {
            // SAFETY: the child only calls async-signal-safe functions
            // (prctl, getppid, nanosleep/pause, _exit) before it exits.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => child_sleep(me, end),
                Ok(ForkResult::Parent { child }) => {
                    children.push(child);
                    r.forked = r.forked.max(children.len() as u32);
                }
                Err(Errno::EAGAIN) => {
                    r.refused_eagain += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => {
                    r.other_errors += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            progress(format!(
                "stress fork: {} children, {} forks refused (EAGAIN)",
                children.len(),
                r.refused_eagain
            ));
        }
    }
    for c in &children {
        let _ = kill(*c, Signal::SIGKILL);
    }
    for c in &children {
        let _ = waitpid(*c, None);
    }
    progress(format!(
        "stress fork: done: {} children at most, {} forks refused (EAGAIN), {} other errors",
        r.forked, r.refused_eagain, r.other_errors
    ));
    Ok(r)
}

/// A fork-storm child: sleeps until the deadline, or until its parent dies.
fn child_sleep(parent: Pid, end: Option<Instant>) -> ! {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // The parent may have died before prctl took effect.
    if nix::unistd::getppid() != parent {
        // SAFETY: _exit in a forked child.
        unsafe { libc::_exit(0) }
    }
    loop {
        let left = match end {
            Some(e) => e.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        if left.is_zero() {
            break;
        }
        let ts = libc::timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as libc::c_long,
        };
        // SAFETY: nanosleep with a valid timespec.
        unsafe {
            libc::nanosleep(&ts, std::ptr::null_mut());
        }
    }
    // SAFETY: _exit in a forked child.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_stops_after_duration() {
        let t = Instant::now();
        let mut lines = Vec::new();
        cpu(2, Some(Duration::from_millis(300)), &mut |l| lines.push(l)).unwrap();
        assert!(t.elapsed() < Duration::from_secs(3));
        assert!(lines.last().unwrap().contains("done"));
        assert!(cpu(0, None, &mut |_| {}).is_err());
    }

    #[test]
    fn memory_reaches_ceiling_and_holds() {
        let mut lines = Vec::new();
        memory(
            64 << 20,
            8 << 20,
            Some(Duration::from_millis(600)),
            &mut |l| lines.push(l),
        )
        .unwrap();
        assert!(lines.iter().any(|l| l.contains("holding 8M")), "{lines:?}");
    }

    #[test]
    fn bursty_burns_cpu_time_in_bursts() {
        // 2 threads × 20 ms every 100 ms for 0.5 s: ~10 bursts of 20 ms
        // of CPU (200 ms in all), whatever the load on the machine.
        let t0 = process_cpu();
        let mut lines = Vec::new();
        bursty(
            2,
            Duration::from_millis(20),
            Duration::from_millis(100),
            Some(Duration::from_millis(500)),
            &mut |l| lines.push(l),
        )
        .unwrap();
        // The process's CPU clock also counts the other unit tests running
        // beside this one in the same process: only the floor is this test's.
        let used = process_cpu() - t0;
        assert!(used >= Duration::from_millis(100), "{used:?}");
        assert!(lines[0].contains("average 0.40 CPUs"), "{lines:?}");
        assert!(bursty(
            0,
            Duration::from_millis(1),
            Duration::from_millis(1),
            None,
            &mut |_| {}
        )
        .is_err());
    }

    fn process_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    #[test]
    fn fork_storm_is_bounded() {
        let r = fork_storm(5, Some(Duration::from_millis(500)), &mut |_| {}).unwrap();
        assert_eq!(r.forked, 5);
    }
}
