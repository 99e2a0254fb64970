//! The throttling microscope's sampler: one group's CPU counters read every
//! few milliseconds on a thread of its own, and the CPU time assigned to
//! the CFS enforcement periods by the kernel's own period count.
//!
//! The kernel counts a period (`nr_periods`) when the group's period timer
//! fires, and at that same instant counts it throttled (`nr_throttled`) if
//! the group ran out of quota in it, and bursted (`nr_bursts`,
//! `burst_time`) if it ran on its burst allowance. So a reading in which
//! `nr_periods` moved is just after a period's end: the usage read since the
//! previous boundary is that period's CPU time. The usage between the last
//! reading before a boundary and the first after it cannot be split exactly;
//! it goes to the period that ended unless that period was throttled (then
//! the group could not run before the boundary, and the usage is the next
//! period's). The error is bounded by one reading interval of usage.
//!
//! By construction the periods add up to the kernel's counters: the
//! [`Tracker`] keeps, from the first boundary it saw, `Σ used + open =
//! Δusage`, `count = Δnr_periods`, `Σ throttled = Δnr_throttled`, `Σ burst
//! = Δburst_time` (tested below over synthetic sequences, and live).
//!
//! Files are opened once and re-read with `pread` (no open/close per tick).
//! The thread exists only while a [`Watch`] does: nothing runs while the
//! microscope is closed.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cgroup::Version;
use crate::cgroup::{parse, Layout};

/// One reading of a group's cumulative CPU counters (all in ns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub usage_ns: u64,
    pub nr_periods: u64,
    pub nr_throttled: u64,
    pub throttled_ns: u64,
    pub nr_bursts: u64,
    pub burst_ns: u64,
}

impl Counters {
    /// Whether any counter is below `earlier`'s (the group was recreated).
    fn went_back(&self, earlier: &Counters) -> bool {
        self.usage_ns < earlier.usage_ns
            || self.nr_periods < earlier.nr_periods
            || self.nr_throttled < earlier.nr_throttled
            || self.throttled_ns < earlier.throttled_ns
            || self.nr_bursts < earlier.nr_bursts
            || self.burst_ns < earlier.burst_ns
    }
}

/// One CFS period as seen from the readings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    /// CPU time the group used in it, ns.
    pub used_ns: u64,
    /// The kernel counted it throttled (the quota ran out).
    pub throttled: bool,
    /// Time the group's runqueues spent throttled, counted in this period, ns
    /// (summed over CPUs, as the kernel does).
    pub throttled_ns: u64,
    /// CPU time run beyond the quota on the burst allowance, ns.
    pub burst_ns: u64,
    /// Most threads seen runnable (state R) in it; 0 when not looked at.
    pub runnable: u32,
    /// When the reading that closed it was taken, ns on the tracker's clock.
    pub end_ns: u64,
}

/// Cumulative sums of the periods a [`Tracker`] closed (the ring forgets;
/// these do not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sums {
    pub periods: u64,
    pub throttled: u64,
    pub used_ns: u64,
    pub throttled_ns: u64,
    pub burst_ns: u64,
}

/// Turns a sequence of [`Counters`] readings into periods. Pure.
#[derive(Clone, Debug)]
pub struct Tracker {
    cap: usize,
    last: Option<Counters>,
    /// The reading that started the accounting (at the first boundary seen),
    /// with the part of its usage already in `open` taken out.
    base: Option<Counters>,
    /// Usage since the last boundary: the open period's so far.
    open_ns: u64,
    open_runnable: u32,
    pub periods: VecDeque<Period>,
    pub sums: Sums,
}

impl Tracker {
    /// Keeps the last `cap` periods.
    pub fn new(cap: usize) -> Tracker {
        Tracker {
            cap: cap.max(1),
            last: None,
            base: None,
            open_ns: 0,
            open_runnable: 0,
            periods: VecDeque::new(),
            sums: Sums::default(),
        }
    }

    /// The reading accounting starts from (first boundary seen), if any.
    pub fn base(&self) -> Option<Counters> {
        self.base
    }

    /// Usage of the period still open, ns.
    pub fn open_ns(&self) -> u64 {
        self.open_ns
    }

    /// Forgets everything (the group went away or was recreated).
    pub fn reset(&mut self) {
        *self = Tracker::new(self.cap);
    }

    /// Feeds a reading taken at `at_ns`, with the threads seen runnable now
    /// (if looked at). Returns how many periods it closed.
    pub fn push(&mut self, c: Counters, at_ns: u64, runnable: Option<u32>) -> usize {
        let Some(last) = self.last else {
            self.last = Some(c);
            return 0;
        };
        if c.went_back(&last) {
            self.reset();
            self.last = Some(c);
            return 0;
        }
        self.last = Some(c);
        if let Some(r) = runnable {
            self.open_runnable = self.open_runnable.max(r);
        }
        let du = c.usage_ns - last.usage_ns;
        let k = c.nr_periods - last.nr_periods;
        if k == 0 {
            self.open_ns += du;
            return 0;
        }
        let throttled = (c.nr_throttled - last.nr_throttled).min(k);
        // A throttled period could not run up to its end: what ran since
        // the last reading ran after the boundary.
        let (before, after) = if throttled > 0 { (0, du) } else { (du, 0) };
        if self.base.is_none() {
            // The first boundary: the period it closes began unseen.
            self.base = Some(Counters {
                usage_ns: c.usage_ns - after,
                ..c
            });
            self.open_ns = after;
            self.open_runnable = runnable.unwrap_or(0);
            return 0;
        }
        let used = self.open_ns + before;
        let bursts = (c.nr_bursts - last.nr_bursts).min(k);
        let burst_ns = c.burst_ns - last.burst_ns;
        let thr_ns = c.throttled_ns - last.throttled_ns;
        for i in 0..k {
            // Several periods at once (a late timer): usage split evenly
            // (remainder to the first), throttling and burst on the last ones.
            let share = |total: u64| total / k + if i == 0 { total % k } else { 0 };
            let last_ones = |n: u64| i >= k - n;
            let p = Period {
                used_ns: share(used),
                throttled: last_ones(throttled),
                throttled_ns: if i == k - 1 { thr_ns } else { 0 },
                burst_ns: if bursts > 0 && last_ones(bursts) {
                    burst_ns / bursts
                        + if i == k - bursts {
                            burst_ns % bursts
                        } else {
                            0
                        }
                } else if bursts == 0 && i == k - 1 {
                    // Burst time without a burst counted (counters read
                    // across the boundary): kept, so the sums hold.
                    burst_ns
                } else {
                    0
                },
                runnable: self.open_runnable,
                end_ns: at_ns,
            };
            self.sums.periods += 1;
            self.sums.throttled += u64::from(p.throttled);
            self.sums.used_ns += p.used_ns;
            self.sums.throttled_ns += p.throttled_ns;
            self.sums.burst_ns += p.burst_ns;
            if self.periods.len() == self.cap {
                self.periods.pop_front();
            }
            self.periods.push_back(p);
        }
        self.open_ns = after;
        self.open_runnable = runnable.unwrap_or(0);
        usize::try_from(k).unwrap_or(usize::MAX)
    }
}

// ---- reading the counters ---------------------------------------------------

/// The open counter files of one group.
struct Source {
    /// v1 `cpuacct.usage` (ns); `None` on v2, where `cpu.stat` has `usage_usec`.
    usage: Option<File>,
    stat: File,
    version: Version,
    buf: Vec<u8>,
}

impl Source {
    fn open(layout: &Layout, group: &str) -> Result<Source, String> {
        let cpu = layout
            .hierarchy("cpu")
            .ok_or("no cpu controller is mounted (or enabled at the root)")?;
        let open = |p: PathBuf| File::open(&p).map_err(|e| format!("{}: {e}", p.display()));
        let stat = open(cpu.dir(group).join("cpu.stat"))?;
        let usage = match cpu.version {
            Version::V1 => {
                let acct = layout
                    .hierarchy("cpuacct")
                    .ok_or("the v1 cpuacct controller is not mounted")?;
                Some(open(acct.dir(group).join("cpuacct.usage"))?)
            }
            Version::V2 => None,
        };
        Ok(Source {
            usage,
            stat,
            version: cpu.version,
            buf: vec![0; 512],
        })
    }

    fn pread(f: &File, buf: &mut [u8]) -> Option<usize> {
        f.read_at(buf, 0).ok()
    }

    fn read(&mut self) -> Option<Counters> {
        let n = Source::pread(&self.stat, &mut self.buf)?;
        let text = std::str::from_utf8(&self.buf[..n]).ok()?;
        let key = |k: &str| parse::flat_key(text, k);
        let v2 = self.version == Version::V2;
        let mut c = Counters {
            usage_ns: 0,
            nr_periods: key("nr_periods")?,
            nr_throttled: key("nr_throttled")?,
            throttled_ns: if v2 {
                key("throttled_usec")? * 1000
            } else {
                key("throttled_time")?
            },
            nr_bursts: key("nr_bursts").unwrap_or(0),
            burst_ns: if v2 {
                key("burst_usec").unwrap_or(0) * 1000
            } else {
                key("burst_time").unwrap_or(0)
            },
        };
        c.usage_ns = match &self.usage {
            Some(f) => {
                let mut b = [0u8; 32];
                let n = Source::pread(f, &mut b)?;
                parse::single_u64(std::str::from_utf8(&b[..n]).ok()?)?
            }
            None => key("usage_usec")? * 1000,
        };
        Some(c)
    }
}

/// Reads the counters of `group` once (the live tests compare with this).
pub fn read_counters(layout: &Layout, group: &str) -> Result<Counters, String> {
    Source::open(layout, group)?
        .read()
        .ok_or_else(|| format!("{group}: cpu.stat unreadable or without nr_periods"))
}

// ---- runnable threads -------------------------------------------------------

/// The group's threads (its subtree's, up to [`MAX_THREADS`]) and their
/// `/proc/TID/stat`, kept open.
struct Threads {
    files: Vec<File>,
    buf: Vec<u8>,
}

/// Threads looked at, at most (a group of thousands is sampled partly).
pub const MAX_THREADS: usize = 256;

impl Threads {
    fn list(dir: &Path, version: Version, out: &mut Vec<i32>) {
        let file = match version {
            Version::V1 => "tasks",
            Version::V2 => "cgroup.threads",
        };
        if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
            out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if out.len() >= MAX_THREADS {
            return;
        }
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    Threads::list(&e.path(), version, out);
                }
            }
        }
    }

    fn open(layout: &Layout, group: &str) -> Threads {
        let mut tids = Vec::new();
        if let Some(h) = layout.hierarchy("cpu") {
            Threads::list(&h.dir(group), h.version, &mut tids);
        }
        tids.truncate(MAX_THREADS);
        let files = tids
            .iter()
            .filter_map(|t| File::open(format!("/proc/{t}/stat")).ok())
            .collect();
        Threads {
            files,
            buf: vec![0; 512],
        }
    }

    /// Threads in state R now.
    fn runnable(&mut self) -> u32 {
        let mut n = 0;
        for f in &self.files {
            let Ok(len) = f.read_at(&mut self.buf, 0) else {
                continue;
            };
            if stat_state(&self.buf[..len]) == Some(b'R') {
                n += 1;
            }
        }
        n
    }
}

/// The state letter of a `/proc/PID/stat` line (after the command's `)`).
pub fn stat_state(line: &[u8]) -> Option<u8> {
    let close = line.iter().rposition(|&b| b == b')')?;
    line.get(close + 2).copied()
}

/// Threads runnable (state R) now in `group` and below (the microscope's
/// and `snapshot`'s `cpu.runnable_threads`); `None` without a cpu hierarchy.
pub fn runnable_threads(layout: &Layout, group: &str) -> Option<u64> {
    let h = layout.hierarchy("cpu")?;
    if !h.dir(group).is_dir() {
        return None;
    }
    Some(u64::from(Threads::open(layout, group).runnable()))
}

/// Threads runnable now directly in `group` (not below), `None` without a
/// cpu hierarchy or when the group is not in it.
pub fn runnable_direct(layout: &Layout, group: &str) -> Option<u64> {
    let h = layout.hierarchy("cpu")?;
    let file = match h.version {
        Version::V1 => "tasks",
        Version::V2 => "cgroup.threads",
    };
    let text = std::fs::read_to_string(h.dir(group).join(file)).ok()?;
    let mut buf = [0u8; 512];
    let mut n = 0;
    for tid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let Ok(f) = File::open(format!("/proc/{tid}/stat")) else {
            continue;
        };
        if let Ok(len) = f.read_at(&mut buf, 0) {
            n += u64::from(stat_state(&buf[..len]) == Some(b'R'));
        }
    }
    Some(n)
}

// ---- the thread -------------------------------------------------------------

/// Time between readings until the period timer's phase is known (and
/// always for periods under [`MIN_TIMED_PERIOD`]).
pub const INTERVAL: Duration = Duration::from_millis(5);
/// How often runnable threads are counted while the group runs.
const RUNNABLE_EVERY: Duration = Duration::from_millis(500);
/// How often the thread list is read again.
const THREADS_EVERY: Duration = Duration::from_millis(5000);
/// How often the period is read again (`[` / `]` change it).
const PERIOD_EVERY: Duration = Duration::from_millis(1000);
/// Two readings at most this far apart place a period's end precisely
/// (the 5 ms interval plus a late wake-up).
const PRECISE_NS: u64 = 8_000_000;
/// Periods shorter than this are read every [`INTERVAL`] (around each end
/// would be as often).
const MIN_TIMED_PERIOD: u64 = 40_000_000;

/// When to read next. The kernel's period timer keeps its phase (it is
/// forwarded by whole periods, also after the group was idle), so once a
/// period's end has been placed within a few ms, readings are needed only
/// around the next ends: 3 ms before, 1 ms after (and 3 ms after if the end
/// was not seen yet) — 2 or 3 readings a period instead of 20 (the cost:
/// README). Any
/// end seen imprecisely twice in a row (the phase moved: a new period, a
/// late timer) goes back to reading every [`INTERVAL`] until one is placed.
#[derive(Clone, Debug)]
pub struct Schedule {
    interval_ns: u64,
    period_ns: Option<u64>,
    /// A period end, ns on the watch's clock.
    end: Option<u64>,
    misses: u32,
    last_read: Option<u64>,
    /// The last reading that saw a period end (its after-readings are done).
    last_closed: Option<u64>,
    /// Ends seen precisely / imprecisely (how well the timing works).
    pub precise: u64,
    pub imprecise: u64,
}

impl Schedule {
    pub fn new(interval: Duration) -> Schedule {
        Schedule {
            interval_ns: u64::try_from(interval.as_nanos())
                .unwrap_or(5_000_000)
                .max(1),
            period_ns: None,
            end: None,
            misses: 0,
            last_read: None,
            last_closed: None,
            precise: 0,
            imprecise: 0,
        }
    }

    /// The group's period (a change forgets the phase).
    pub fn set_period(&mut self, period_ns: Option<u64>) {
        if period_ns != self.period_ns {
            self.period_ns = period_ns;
            self.end = None;
        }
    }

    /// A reading was taken at `at`; `closed`: it saw a period end.
    pub fn observed(&mut self, at: u64, closed: bool) {
        if closed {
            self.last_closed = Some(at);
            match self.last_read {
                Some(prev) if at.saturating_sub(prev) <= PRECISE_NS => {
                    self.end = Some(at - (at - prev) / 2);
                    self.misses = 0;
                    self.precise += 1;
                }
                _ => {
                    self.imprecise += 1;
                    self.misses += 1;
                    if self.misses >= 2 {
                        self.end = None;
                        self.misses = 0;
                    }
                }
            }
        }
        self.last_read = Some(at);
    }

    /// Whether readings are timed around period ends (else every interval).
    pub fn timed(&self) -> bool {
        self.end.is_some() && self.period_ns.is_some_and(|p| p >= MIN_TIMED_PERIOD)
    }

    /// The time of the next reading after `now`.
    pub fn next(&self, now: u64) -> u64 {
        let (Some(end), Some(p)) = (self.end, self.period_ns) else {
            return now + self.interval_ns;
        };
        if p < MIN_TIMED_PERIOD {
            return now + self.interval_ns;
        }
        let ms = 1_000_000i64;
        let offsets = [-3 * ms, ms, 3 * ms];
        // The period end at or before now (ends before `end` too: `end`
        // may be in the future of an old `now`).
        let k = if now >= end {
            ((now - end) / p) as i64
        } else {
            -(((end - now) / p) as i64) - 1
        };
        let soon = now as i64 + 200_000;
        let seen = |b: i64| {
            self.last_closed
                .is_some_and(|c| (c as i64 - b).abs() <= 4 * ms)
        };
        (k..k + 3)
            .flat_map(|k| {
                let b = end as i64 + k * p as i64;
                offsets.map(move |o| (b, o))
            })
            // The readings just after an end already seen are not needed.
            .filter(|&(b, o)| !(o > 0 && o <= 3 * ms && seen(b)))
            .map(|(b, o)| b + o)
            .filter(|&t| t > soon)
            .min()
            .map_or(now + self.interval_ns, |t| t as u64)
    }
}

/// The group's CFS period, ns, from its files (re-read every second).
fn read_period(layout: &Layout, group: &str) -> Option<u64> {
    let h = layout.hierarchy("cpu")?;
    let dir = h.dir(group);
    let us = match h.version {
        Version::V1 => {
            parse::single_u64(&std::fs::read_to_string(dir.join("cpu.cfs_period_us")).ok()?)?
        }
        Version::V2 => parse::cpu_max(&std::fs::read_to_string(dir.join("cpu.max")).ok()?)?.1,
    };
    Some(us * 1000)
}

/// Periods kept (at 100 ms: a minute).
pub const KEEP: usize = 600;

/// What the microscope shows: the latest periods and counters of one group.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Internal form (`cgdash/demo`).
    pub group: String,
    pub periods: Vec<Period>,
    pub sums: Sums,
    pub base: Option<Counters>,
    pub last: Option<Counters>,
    /// Thread id of the sampling thread (for the cost bench).
    pub tid: i32,
    /// Why there are no readings, if there are none.
    pub problem: Option<String>,
    /// The running kernel's version (major, minor), for the note on kernels
    /// before 5.4.
    pub kernel: Option<(u32, u32)>,
    /// Readings are timed around the period ends (the phase is known).
    pub timed: bool,
    /// Period ends seen precisely (two readings ≤ 5 ms apart around it) and not.
    pub ends: (u64, u64),
}

/// (major, minor) of a kernel release string (`6.1.0-18-amd64`).
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.trim().split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// A running microscope sampler; dropping it stops the thread.
pub struct Watch {
    pub group: String,
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Report>>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts reading `group` (internal form) every `interval`.
    pub fn start(layout: Layout, group: &str, interval: Duration) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Report {
            group: group.to_string(),
            ..Report::default()
        }));
        let (s, sh, g) = (Arc::clone(&stop), Arc::clone(&shared), group.to_string());
        let thread = std::thread::Builder::new()
            .name("cgdash-periods".into())
            .spawn(move || run(&layout, &g, interval, &s, &sh))
            .ok();
        Watch {
            group: group.to_string(),
            stop,
            shared,
            thread,
        }
    }

    /// A copy of what has been seen so far.
    pub fn report(&self) -> Report {
        self.shared.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

fn run(layout: &Layout, group: &str, interval: Duration, stop: &AtomicBool, out: &Mutex<Report>) {
    let set = |f: &mut dyn FnMut(&mut Report)| {
        if let Ok(mut r) = out.lock() {
            f(&mut r)
        }
    };
    let tid = gettid();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|r| kernel_version(&r));
    set(&mut |r| {
        r.tid = tid;
        r.kernel = kernel;
    });
    let mut src = match Source::open(layout, group) {
        Ok(s) => s,
        Err(e) => {
            set(&mut |r| r.problem = Some(e.clone()));
            return;
        }
    };
    let clock = Instant::now();
    let since = |t: Instant| u64::try_from(t.duration_since(clock).as_nanos()).unwrap_or(u64::MAX);
    let mut tracker = Tracker::new(KEEP);
    let mut schedule = Schedule::new(interval);
    schedule.set_period(read_period(layout, group));
    let mut threads = Threads::open(layout, group);
    let mut threads_at = Instant::now();
    let mut period_at = Instant::now();
    let mut runnable_at: Option<Instant> = None;
    let mut prev_usage = 0;
    let mut published = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match src.read() {
            Some(c) => {
                // Runnable threads: counted only while the group uses CPU,
                // at most every RUNNABLE_EVERY.
                let busy = c.usage_ns > prev_usage;
                prev_usage = c.usage_ns;
                let runnable = if busy && runnable_at.is_none_or(|t| t.elapsed() >= RUNNABLE_EVERY)
                {
                    runnable_at = Some(Instant::now());
                    Some(threads.runnable())
                } else {
                    None
                };
                let at = since(Instant::now());
                let closed = tracker.push(c, at, runnable);
                schedule.observed(at, closed > 0);
                if closed > 0 || published.elapsed() >= Duration::from_millis(200) {
                    published = Instant::now();
                    set(&mut |r| {
                        r.periods.clear();
                        r.periods.extend(tracker.periods.iter().copied());
                        r.sums = tracker.sums;
                        r.base = tracker.base();
                        r.last = Some(c);
                        r.problem = None;
                        r.timed = schedule.timed();
                        r.ends = (schedule.precise, schedule.imprecise);
                    });
                }
            }
            None => set(&mut |r| r.problem = Some(format!("{group}: cpu.stat unreadable"))),
        }
        if threads_at.elapsed() >= THREADS_EVERY {
            threads = Threads::open(layout, group);
            threads_at = Instant::now();
        }
        if period_at.elapsed() >= PERIOD_EVERY {
            schedule.set_period(read_period(layout, group));
            period_at = Instant::now();
        }
        let now = since(Instant::now());
        let next = schedule.next(now);
        // Never more than a second asleep: `stop` is looked at in between.
        std::thread::sleep(Duration::from_nanos(
            next.saturating_sub(now).min(1_000_000_000),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel model: each step is (usage ns added before the boundary,
    /// boundaries crossed, throttled among them, bursts, burst ns, usage
    /// after the boundary); readings are taken between steps.
    fn feed(t: &mut Tracker, steps: &[(u64, u64, u64, u64, u64)]) -> Vec<Counters> {
        let mut c = Counters::default();
        let mut seen = vec![c];
        t.push(c, 0, None);
        for (i, &(du, k, thr, bursts, bns)) in steps.iter().enumerate() {
            c.usage_ns += du;
            c.nr_periods += k;
            c.nr_throttled += thr;
            c.throttled_ns += thr * 7_000;
            c.nr_bursts += bursts;
            c.burst_ns += bns;
            t.push(c, i as u64, Some(3));
            seen.push(c);
        }
        seen
    }

    /// The sums of the closed periods plus the open one equal the counters'
    /// deltas from the base reading, whatever the sequence.
    fn check_sums(t: &Tracker, last: Counters) {
        let b = t.base().expect("a boundary was seen");
        assert_eq!(t.sums.periods, last.nr_periods - b.nr_periods, "periods");
        assert_eq!(
            t.sums.throttled,
            last.nr_throttled - b.nr_throttled,
            "throttled"
        );
        assert_eq!(
            t.sums.used_ns + t.open_ns(),
            last.usage_ns - b.usage_ns,
            "usage"
        );
        assert_eq!(t.sums.burst_ns, last.burst_ns - b.burst_ns, "burst");
        assert_eq!(
            t.sums.throttled_ns,
            last.throttled_ns - b.throttled_ns,
            "throttled time"
        );
        let ring: u64 = t.periods.iter().map(|p| p.used_ns).sum();
        if t.sums.periods as usize <= t.cap {
            assert_eq!(ring, t.sums.used_ns, "the ring holds every period");
        }
    }

    #[test]
    fn micro_periods_assign_usage_by_boundaries() {
        let mut t = Tracker::new(100);
        let steps = [
            (5, 0, 0, 0, 0),
            (5, 1, 0, 0, 0), // first boundary: the unseen period is dropped
            (10, 0, 0, 0, 0),
            (20, 0, 0, 0, 0),
            (3, 1, 0, 0, 0), // period A: 10 + 20 + 3
            (50, 0, 0, 0, 0),
            (4, 1, 1, 0, 0), // period B throttled: the 4 ran after its end
            (0, 0, 0, 0, 0),
            (6, 1, 0, 1, 2), // period C: 4 + 6, bursted 2
        ];
        let seen = feed(&mut t, &steps);
        let used: Vec<u64> = t.periods.iter().map(|p| p.used_ns).collect();
        assert_eq!(used, [33, 50, 10]);
        let thr: Vec<bool> = t.periods.iter().map(|p| p.throttled).collect();
        assert_eq!(thr, [false, true, false]);
        assert_eq!(t.periods[2].burst_ns, 2);
        assert_eq!(t.periods[1].throttled_ns, 7_000);
        assert!(t.periods.iter().all(|p| p.runnable == 3));
        check_sums(&t, *seen.last().unwrap());
    }

    #[test]
    fn micro_periods_several_at_once_and_resets() {
        let mut t = Tracker::new(100);
        let seen = feed(
            &mut t,
            &[(1, 1, 0, 0, 0), (10, 3, 2, 2, 9), (7, 0, 0, 0, 0)],
        );
        let p: Vec<(u64, bool, u64)> = t
            .periods
            .iter()
            .map(|p| (p.used_ns, p.throttled, p.burst_ns))
            .collect();
        // 10 ns over 3 periods (throttled: all after the boundary → 0 before).
        assert_eq!(p, [(0, false, 0), (0, true, 5), (0, true, 4)]);
        assert_eq!(t.open_ns(), 17);
        check_sums(&t, *seen.last().unwrap());
        // A counter going back: the group was recreated; start over.
        t.push(Counters::default(), 99, None);
        assert!(t.base().is_none() && t.periods.is_empty() && t.sums == Sums::default());
    }

    /// Any sequence: pseudo-random steps, checked after every reading, with
    /// a ring smaller than the run.
    #[test]
    fn micro_periods_sums_hold_over_random_sequences() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..50 {
            let mut t = Tracker::new(16);
            let mut c = Counters::default();
            t.push(c, 0, None);
            for i in 0..400 {
                let k = match rnd(10) {
                    0..=5 => 0,
                    6..=8 => 1,
                    _ => 1 + rnd(3),
                };
                c.usage_ns += rnd(5_000_000);
                c.nr_periods += k;
                let thr = if k > 0 { rnd(k + 1) } else { 0 };
                c.nr_throttled += thr;
                c.throttled_ns += thr * rnd(1_000_000);
                let b = if k > 0 { rnd(2) } else { 0 };
                c.nr_bursts += b;
                c.burst_ns += b * rnd(3_000_000);
                t.push(c, i, None);
                if t.base().is_some() {
                    check_sums(&t, c);
                }
            }
            assert!(t.periods.len() <= 16);
        }
    }

    #[test]
    fn micro_schedule_reads_around_period_ends() {
        let ms = 1_000_000u64;
        let mut s = Schedule::new(Duration::from_millis(5));
        s.set_period(Some(100 * ms));
        // Learning: every 5 ms.
        assert_eq!(s.next(1_000 * ms), 1_005 * ms);
        s.observed(1_000 * ms, false);
        s.observed(1_004 * ms, true); // an end placed at 1002 ms
        assert!(s.timed());
        // Around the next end (1102): 1099, 1103, 1105.
        assert_eq!(s.next(1_004 * ms), 1_099 * ms);
        assert_eq!(s.next(1_099 * ms), 1_103 * ms);
        assert_eq!(s.next(1_103 * ms), 1_105 * ms, "not seen at +1: +3");
        s.observed(1_099 * ms, false);
        s.observed(1_103 * ms, true);
        assert_eq!(s.next(1_103 * ms), 1_198 * ms, "seen: the next end's");
        // Far later (an idle group): the same phase (now at 1101 ms).
        assert_eq!(s.next(5_000 * ms), 5_002 * ms);
        assert_eq!(s.next(5_002 * ms), 5_004 * ms);
        assert_eq!(s.next(5_004 * ms), 5_098 * ms);
        // Two imprecise ends in a row: back to learning.
        s.observed(5_050 * ms, false);
        s.observed(5_150 * ms, true);
        assert!(s.timed());
        s.observed(5_250 * ms, true);
        assert!(!s.timed());
        assert_eq!(s.next(5_250 * ms), 5_255 * ms);
        // A new period forgets the phase; short periods are read every 5 ms.
        s.observed(6_000 * ms, false);
        s.observed(6_003 * ms, true);
        assert!(s.timed());
        s.set_period(Some(10 * ms));
        assert!(!s.timed());
        s.observed(6_010 * ms, false);
        s.observed(6_013 * ms, true);
        assert_eq!(s.next(6_013 * ms), 6_018 * ms);
    }

    #[test]
    fn micro_kernel_version() {
        assert_eq!(kernel_version("6.1.0-18-amd64\n"), Some((6, 1)));
        assert_eq!(kernel_version("4.19.0"), Some((4, 19)));
        assert_eq!(kernel_version("x"), None);
    }

    #[test]
    fn micro_stat_state() {
        assert_eq!(stat_state(b"12 (a b) c) R 1 2 3"), Some(b'R'));
        assert_eq!(stat_state(b"12 (sleep) S 1"), Some(b'S'));
        assert_eq!(stat_state(b"12 (x"), None);
    }
}
