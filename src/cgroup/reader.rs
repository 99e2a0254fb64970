//! A stateful group reader for the sampler's hot loop.
//!
//! `Layout::read_all` walks every hierarchy and opens ~30 files per group:
//! right for one-off reads (`snapshot`, `set`), far too much every second.
//! [`GroupReader`] keeps the counter files that change every tick open and
//! re-reads them with `pread` (no path walk, no open/close), and re-reads the
//! rest (limits, PSI, peak, freezer; also kept open) only every few ticks, and
//! (v1's `cgroup.procs` excepted: opened each time, see `read_each_as`)
//! everything through `read_group` for a new group or after
//! [`GroupReader::invalidate`] (cgdash wrote a limit or launched a group).
//!
//! The directory walk that finds groups is the most expensive read of all
//! (every file of every group directory is listed: ~8 ms for 600 group
//! directories), so it runs only when a hierarchy changed: the hierarchies
//! are watched (`watch`: a fanotify mark per hierarchy, else an inotify
//! watch per group directory) for group directories created, removed or
//! renamed (mkdir/rmdir/rename on cgroupfs raise the usual events), plus a
//! slow safety walk. Unwatched (or out of inotify watches) it walks every
//! few seconds instead. A removed group is noticed at once, because its open
//! files then fail with ENODEV; a group recreated or renamed under the same
//! path is read afresh (new inode), never merged with the old one's counters.
//!
//! The same watch sees writes (any `write(2)` to a cgroupfs file), in the
//! hierarchies that hold limits. A group's limits change only
//! when their file is written, so where the caller vouches that a group is
//! quiet (the eBPF path: nothing in it ran, joined or left), its slow tick
//! re-reads only what moves on its own (memory charge, PSI, freezer and
//! effective cpusets, …) and leaves its limits and process list alone:
//! the limits until a write was seen, both until SETTINGS_EVERY_SLOW slow
//! ticks passed.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::controllers::{plan_group_in, Apply, Found};
use super::layout::Layout;
use super::roots::Roots;
use super::stats::GroupStats;
use super::watch::Watch;
use crate::fds::FdBudget;

/// What a group needs read this tick, by the caller's word
/// ([`GroupReader::read_each_as`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing can have changed: its last readings stand.
    Nothing,
    /// Its counters, not its process list (no process joined or left).
    Counters,
    /// Everything read every tick, the process list too.
    All,
}

/// The caller's word on a group, given its path and last readings.
pub type Needs<'a> = dyn Fn(&str, &GroupStats) -> Need + 'a;

/// Re-read limits and other slow-moving files every this many ticks.
const SLOW_EVERY: u32 = 5;
/// A quiet group's limits (see [`is_setting`]) and process list are
/// re-read on its slow tick only every this many slow ticks (60 ticks);
/// its limits also when a write was seen. At 10,000 processes / 1,000 groups on v1 the quiet groups' slow
/// ticks were half the eBPF path's CPU per refresh: ~15 files per group,
/// 200 groups a second; their limits and process lists are 7 of those files
/// (issue 18).
const SETTINGS_EVERY_SLOW: u8 = 12;

/// Files holding a group's own limits: the value changes only when the file
/// itself is written (unlike `cpuset.cpus`, which CPU hot-unplug rewrites on
/// v1, or an effective or counter file).
fn is_setting(file: &str) -> bool {
    matches!(
        file,
        "cpu.shares"
            | "cpu.cfs_quota_us"
            | "cpu.cfs_period_us"
            | "cpu.cfs_burst_us"
            | "cpu.max"
            | "cpu.max.burst"
            | "cpu.weight"
            | "cpu.weight.nice"
            | "cpu.idle"
            | "memory.limit_in_bytes"
            | "memory.memsw.limit_in_bytes"
            | "memory.soft_limit_in_bytes"
            | "memory.max"
            | "memory.high"
            | "memory.low"
            | "memory.min"
            | "memory.swap.max"
            | "memory.swap.high"
            | "pids.max"
            | "io.max"
            | "io.weight"
            | "blkio.weight"
            | "blkio.throttle.read_bps_device"
            | "blkio.throttle.write_bps_device"
            | "blkio.throttle.read_iops_device"
            | "blkio.throttle.write_iops_device"
    )
}

/// Files whose readings the dashboard shows only in its limit editor (the
/// current weight, swap and low limits) or not at all (the peak, v1's count
/// of the times usage hit the limit): exported and printed by
/// `snapshot`/`limits`, never in a panel, chart or header. A reader for the
/// dashboard leaves them unread ([`GroupReader::set_unshown`]); its editor
/// reads the group afresh when it opens (`app::GroupDetails`). On v1 that
/// is 4 of a memory + cpu group's ~15 files, at the first read of every
/// group (startup), and `memory.failcnt` on every tick after (read every
/// tick: it is a counter; issue 18). v2's count is in `memory.events`,
/// read anyway for the OOM kills the dashboard shows.
pub fn unshown(file: &str) -> bool {
    matches!(
        file,
        "cpu.shares"
            | "cpu.weight"
            | "memory.max_usage_in_bytes"
            | "memory.peak"
            | "memory.memsw.limit_in_bytes"
            | "memory.swap.max"
            | "memory.low"
            | "memory.failcnt"
    )
}

/// The CFS bandwidth files that matter only while the group has a quota:
/// the period (v1's own file; v2's is in `cpu.max`, read anyway), the
/// burst, and v1's `cpu.stat` (`v1`: in a v1 hierarchy), whose counters
/// (periods, throttled, burst) are its own quota's and stand still
/// without one (v2's holds the usage too). Where the quota read just
/// before says there is none, a dashboard's reader
/// ([`GroupReader::set_unshown`] off) leaves them unread
/// (`CpuStats::unread_without_quota`): the dashboard shows none of them
/// without a quota (THR% "–", the throttling chart says why), and what
/// acts on the period and burst (its editor, `[` `]` and `b`) reads the
/// group afresh (`app::GroupDetails`). On v1 that is 3 of a cpu + memory
/// group's ~10 files at its first read (~0.8 ms of a start at 200
/// processes / 20 groups; 3,000 files at 1,000 groups), and `cpu.stat`
/// on every tick the group is read (issue 18). A quota set later (a
/// write seen, or the periodic re-read of limits) makes the group read
/// whole again.
pub fn quota_only(file: &str, v1: bool) -> bool {
    match file {
        "cpu.cfs_period_us" | "cpu.cfs_burst_us" | "cpu.max.burst" => true,
        "cpu.stat" => v1,
        _ => false,
    }
}

/// When a kept file is re-read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// Every tick the group is read.
    Tick,
    /// On the group's slow tick.
    Slow,
    /// A limit ([`is_setting`]): on the slow tick, but a quiet group's only
    /// when a write was seen or every SETTINGS_EVERY_SLOW slow ticks.
    Setting,
}
/// Without inotify: re-walk the hierarchies for new groups this often.
const REWALK_EVERY: Duration = Duration::from_secs(5);
/// With inotify: re-walk anyway this often (a missed event costs at most this).
const SAFETY_REWALK_EVERY: Duration = Duration::from_secs(60);

/// What a kept file feeds: the group's process list, or the declared
/// readings of the controllers (`controllers::plan_group`, the same mapping
/// `Layout::read_group` applies).
///
/// Most files feed one reading: `One` holds it in place, so the ~14 kept
/// files per group don't each cost an allocation (at 1,000 groups, ~0.4 MB
/// of the dashboard's peak, issue 18).
enum Feeds {
    Procs,
    One(Apply),
    Stats(Box<[Apply]>),
}

struct Kept {
    feeds: Feeds,
    pace: Pace,
    src: Source,
}

/// A kept-open file (pread each tick) or, past the descriptor budget (or a
/// limit not kept open, `set_limits_open`), where to find it (open/read/
/// close each time: still only the files due, not every file).
enum Source {
    Open(File),
    /// Hierarchy `.0`'s directory of the group, file `.1`: no path kept (a
    /// boxed path per file was ~330 KB of the dashboard's peak at 1,000
    /// groups, once their limits were no longer kept open; issue 18).
    At(u8, &'static str),
}

/// How many descriptors these kept files hold.
fn fds(files: &[Kept]) -> usize {
    files
        .iter()
        .filter(|k| matches!(k.src, Source::Open(_)))
        .count()
}

struct Cached {
    stats: GroupStats,
    /// The directory `stats.id` is the inode of (as `read_group` chose it).
    id_dir: PathBuf,
    /// The hierarchies its read looked at, and those that held it
    /// (`GroupPlan::held`): a walk finding it in others is re-read whole.
    looked: u64,
    held: u64,
    files: Vec<Kept>,
    /// Ticks until the slow files are re-read.
    until_full: u32,
    /// Quiet slow ticks until its limits are due anyway (0: due).
    settings_in: u8,
    /// Re-read with `read_group` (after `invalidate`: a write may have
    /// created files that were not kept, e.g. on v2 a first `memory.high`).
    stale: bool,
}

pub struct GroupReader {
    layout: Layout,
    /// Each hierarchy's mount, held open: group directories and the files
    /// not kept open are opened from it (counted in `open`).
    roots: Roots,
    /// The groups of the last walk, and the hierarchies it found each in.
    groups: Vec<(String, u64)>,
    walked_at: Option<Instant>,
    /// The hierarchies under watch (`watch`); `None`: walk every
    /// REWALK_EVERY.
    watch: Option<Watch>,
    /// Boxed: a group's entry is ~750 bytes (its last stats) and a map's
    /// table has up to twice as many slots as entries, so inline entries
    /// cost 1.57 MB at 1,007 groups where boxed ones cost ~0.8 (issue 18,
    /// heaptrack).
    cache: HashMap<String, Box<Cached>>,
    buf: Vec<u8>,
    /// Keep files open only while there is room for them (a quarter of
    /// `RLIMIT_NOFILE`, raised within the hard limit when needed).
    budget: FdBudget,
    open: usize,
    /// The next new group's phase of the slow re-read, when staggered (so
    /// that a fifth of the groups re-read everything each tick, not all of
    /// them on one); `None`: every group's slow tick is the same one.
    next_phase: Option<u32>,
    /// Whether limits ([`is_setting`]) are kept open (see
    /// [`GroupReader::set_limits_open`]).
    limits_open: bool,
    /// Whether the [`unshown`] files are read (see
    /// [`GroupReader::set_unshown`]).
    unshown: bool,
    /// Ticks left in which every slow tick re-reads the limits: a write
    /// was seen in a watched directory (or events were lost).
    settings_round: u32,
    /// Files read (or opened and read) by the last read: tests.
    files_read: usize,
    /// Groups that kept their last readings on the caller's word in the
    /// last read.
    skipped: usize,
    /// Why the last walk may have missed groups (see `problem`).
    walk_problem: Option<String>,
    /// This tick: a kept group's file could not be opened (out of
    /// descriptors); the group shows its last readings.
    fd_problem: Option<String>,
}

impl GroupReader {
    pub fn new(layout: Layout) -> GroupReader {
        let roots = Roots::open(&layout);
        let watch = Watch::new(&layout);
        GroupReader {
            open: roots.held(),
            roots,
            layout,
            groups: Vec::new(),
            walked_at: None,
            watch,
            cache: HashMap::new(),
            buf: Vec::with_capacity(4096),
            budget: FdBudget::share_of(4),
            next_phase: None,
            limits_open: true,
            unshown: true,
            settings_round: 0,
            files_read: 0,
            skipped: 0,
            walk_problem: None,
            fd_problem: None,
        }
    }

    /// Sets how many files may be kept open (tests: a low fd limit).
    pub fn set_max_open(&mut self, n: usize) {
        self.budget = FdBudget::fixed(n);
    }

    /// Staggers the groups' slow ticks from now on (each new group's comes
    /// one tick after the last one's), for a reader that reads a group
    /// whole only on its slow tick unless told otherwise
    /// ([`GroupReader::read_each_as`]): its cost is then spread evenly.
    pub fn set_stagger(&mut self, on: bool) {
        self.next_phase = on.then_some(self.next_phase.unwrap_or(0));
    }

    /// Whether a group's limits ([`is_setting`]) are kept open like its
    /// other files (the default) or opened each time they are read. For a
    /// reader told which groups are quiet ([`GroupReader::read_each_as`]),
    /// which reads a quiet group's limits once in SETTINGS_EVERY_SLOW slow
    /// ticks (or after a write): an open file holds a page of kernel memory
    /// (its `seq_file` buffer, charged to cgdash's cgroup), ~4.5 KB with
    /// the file, for a saving of a few µs a minute (issue 18).
    pub fn set_limits_open(&mut self, on: bool) {
        self.limits_open = on;
    }

    /// Whether the [`unshown`] files are read (the default) or left unread,
    /// their readings `None`, for a reader whose caller never shows them
    /// (the dashboard). Applies from the next read: every group is then
    /// read afresh.
    pub fn set_unshown(&mut self, on: bool) {
        if on != self.unshown {
            self.unshown = on;
            self.invalidate();
        }
    }

    /// Takes 1/`share` of the descriptors instead of a quarter (unless a
    /// fixed number was set). Files kept beyond it stay open.
    pub fn set_share(&mut self, share: u64) {
        if !self.budget.is_fixed() {
            self.budget = FdBudget::share_of(share);
        }
    }

    /// Forgets everything cached: the next read walks the hierarchies and
    /// reads every file of every group (after cgdash changed something).
    pub fn invalidate(&mut self) {
        self.walked_at = None;
        for c in self.cache.values_mut() {
            c.stale = true;
        }
    }

    /// Makes the next read re-read every kept file, the slow ones (limits)
    /// too, without re-walking or reopening anything: for a reader that
    /// reads rarely (`cgdash export`, once per scrape), where every fifth
    /// read would leave limits minutes old. (`invalidate` reopens every
    /// file of every group: ~15× the cost at 200 groups.)
    pub fn refresh_all_next(&mut self) {
        for c in self.cache.values_mut() {
            c.until_full = 0;
            c.settings_in = 0;
        }
    }

    /// How many of the groups' files are kept open.
    pub fn open_files(&self) -> usize {
        self.open
    }

    /// How many files the last read read (kept ones and whole-group reads'
    /// alike). For tests.
    pub fn files_read(&self) -> usize {
        self.files_read
    }

    /// Why the group list or readings may be incomplete: a directory of the
    /// last walk could not be listed (out of descriptors, permission), or a
    /// group's file could not be opened this tick. `None`: complete.
    pub fn problem(&self) -> Option<&str> {
        self.walk_problem.as_deref().or(self.fd_problem.as_deref())
    }

    /// How many groups the last read left unread on the caller's word
    /// ([`GroupReader::read_each_as`]).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Whether the hierarchies are watched (the walk runs only when a
    /// hierarchy changed) rather than re-walked every few seconds.
    pub fn watching(&self) -> bool {
        self.watch.is_some()
    }

    /// How: "fanotify" (a mark per hierarchy) or "inotify" (a watch per
    /// group directory); `None`: not watched.
    pub fn watch_kind(&self) -> Option<&'static str> {
        self.watch.as_ref().map(Watch::kind)
    }

    /// Watches with inotify from the next read on, whatever the kernel
    /// would take (tests of that way on a real cgroupfs). The next read
    /// walks, watching every directory.
    pub fn use_inotify(&mut self) {
        self.watch = Watch::dirs();
        self.walked_at = None;
    }

    /// Whether a group directory was created, removed or renamed since the
    /// last call (or events were lost). A write to a limit (or lost events)
    /// starts a round of SLOW_EVERY ticks in which every group's slow tick
    /// re-reads its limits.
    fn hierarchy_changed(&mut self) -> bool {
        self.settings_round = self.settings_round.saturating_sub(1);
        let Some(w) = &self.watch else { return false };
        let seen = w.drain();
        if seen.written {
            self.settings_round = SLOW_EVERY;
        }
        seen.changed
    }

    /// Walks the hierarchies. With inotify, every group directory is
    /// watched just before it is listed (so nothing created after the
    /// listing is missed); watching one already watched is a no-op, removed
    /// ones drop out by themselves. Out of watches
    /// (`fs.inotify.max_user_watches`): periodic walks. (fanotify's marks
    /// were made before the first walk.)
    fn walk(&mut self) {
        let mut failed = false;
        let watch = self.watch.as_ref();
        let (groups, problem) = self
            .layout
            .list_groups_found_in(&self.roots, &mut |dir, h| {
                if let (Some(w), false) = (watch, failed) {
                    failed = w.add_dir(dir, h).is_err();
                }
            });
        self.groups = groups;
        self.walk_problem = problem;
        if failed {
            self.watch = None;
        }
        self.walked_at = Some(Instant::now());
    }

    /// Reads the groups at or below `filter` (all when `None`).
    pub fn read(&mut self, filter: Option<&str>) -> Vec<GroupStats> {
        let mut out = Vec::new();
        self.read_each(filter, &mut |g| out.push(g.clone()));
        out
    }

    /// [`GroupReader::read`], handing each group to `f` by reference (the
    /// sampler's way: nothing is copied per tick).
    pub fn read_each(&mut self, filter: Option<&str>, f: &mut dyn FnMut(&GroupStats)) {
        self.read_each_as(filter, None, f)
    }

    /// [`GroupReader::read_each`], reading of each group only what `needs`
    /// says (given its path and last readings): nothing (its last readings
    /// stand this tick), its counters but not its process list, or all.
    /// Every group is still read whole on its slow tick (one tick in
    /// SLOW_EVERY, a fifth of the groups each tick), when new, and after
    /// [`GroupReader::invalidate`]. The sampler's eBPF path says which
    /// groups something ran in, joined or left (`sampler::active`).
    pub fn read_each_as(
        &mut self,
        filter: Option<&str>,
        needs: Option<&Needs<'_>>,
        f: &mut dyn FnMut(&GroupStats),
    ) {
        self.fd_problem = None;
        self.skipped = 0;
        self.files_read = 0;
        let changed = self.hierarchy_changed();
        // Writes are seen only while every group directory is watched (a
        // walk that could not list one did not watch it, with inotify; kept
        // for fanotify too, where it is only cautious).
        let writes_seen = self.watch.is_some() && self.walk_problem.is_none();
        let every = if self.watch.is_some() {
            SAFETY_REWALK_EVERY
        } else {
            REWALK_EVERY
        };
        // After a change (or without watches) a cached group's directory may
        // be another one under the same path: compare inodes this tick.
        let verify = changed || self.watch.is_none();
        let walked_now = changed || self.walked_at.is_none_or(|t| t.elapsed() >= every);
        if walked_now {
            self.walk();
            let live: HashMap<&str, u64> =
                self.groups.iter().map(|(g, m)| (g.as_str(), *m)).collect();
            let complete = self.walk_problem.is_none();
            let mut closed = 0;
            self.cache.retain(|k, c| match live.get(k.as_str()) {
                None => {
                    closed += fds(&c.files);
                    false
                }
                // Made in (or removed from) another hierarchy since it was
                // read (a v1 group is made one hierarchy at a time): its
                // files there are not kept, so read it whole.
                Some(m) => {
                    if complete && (m ^ c.held) & c.looked != 0 {
                        c.stale = true;
                    }
                    true
                }
            });
            self.open -= closed;
        }
        // Where the walk found each group stands for a `stat` per hierarchy
        // (issue 18) while it is current: walked just now, or since then
        // watched for every directory created or removed (no event this
        // tick) and complete. Else the directories are probed.
        let found_current = walked_now || (self.watch.is_some() && self.walk_problem.is_none());
        let mut gone = Vec::new();
        for (path, in_h) in &self.groups {
            let found: Found = found_current.then_some(*in_h);
            if let Some(f) = filter {
                if !(path == f
                    || path.strip_prefix(f).is_some_and(|r| r.starts_with('/'))
                    || f.is_empty())
                {
                    continue;
                }
            }
            match self.cache.get_mut(path) {
                Some(c) if !c.files.is_empty() && !c.stale => {
                    let slow = c.until_full == 0;
                    c.until_full = if slow {
                        SLOW_EVERY - 1
                    } else {
                        c.until_full - 1
                    };
                    // Same directory still? (A group can be renamed and its
                    // path reused by a new one: new inode.)
                    let same = !verify
                        || std::fs::metadata(&c.id_dir)
                            .map(|m| Some(std::os::unix::fs::MetadataExt::ino(&m)) == c.stats.id)
                            .unwrap_or(false);
                    let word = needs.map(|n| n(path, &c.stats));
                    let need = match word {
                        Some(w) if !slow => w,
                        _ => Need::All,
                    };
                    if same && need == Need::Nothing {
                        self.skipped += 1;
                        f(&c.stats);
                        continue;
                    }
                    // A quiet group's slow tick: what moves on its own; its
                    // limits when a write was seen; its process list not
                    // (nothing joined or left, on the caller's word). Every
                    // SETTINGS_EVERY_SLOW slow ticks, everything.
                    let quiet_slow = slow && word == Some(Need::Nothing) && writes_seen;
                    let (settings, procs) = if quiet_slow {
                        let periodic = c.settings_in == 0;
                        c.settings_in = match c.settings_in {
                            0 => SETTINGS_EVERY_SLOW - 1,
                            n => n - 1,
                        };
                        (periodic || self.settings_round > 0, periodic)
                    } else {
                        (slow, need == Need::All)
                    };
                    if same {
                        let what = Reads {
                            slow,
                            settings,
                            procs,
                        };
                        let (layout, roots) = (&self.layout, &self.roots);
                        let open = |h: u8, file: &str| {
                            let h = usize::from(h);
                            roots
                                .open_in(layout, h, path, Some(file), libc::O_RDONLY)
                                .map_err(|e| {
                                    let p = layout.hierarchies[h].dir(path).join(file);
                                    (e, p)
                                })
                        };
                        match refresh(c, &mut self.buf, what, &mut self.files_read, &open) {
                            Refresh::Read => {
                                f(&c.stats);
                                continue;
                            }
                            // Still there (a full read would fail the same
                            // way and drop it silently): its last readings,
                            // and the sample says it is incomplete.
                            Refresh::NoDescriptors(why) => {
                                self.fd_problem.get_or_insert(why);
                                f(&c.stats);
                                continue;
                            }
                            Refresh::Failed => {}
                        }
                    }
                    // A file failed: the group is gone or was recreated.
                    self.open -= fds(&c.files);
                    self.cache.remove(path);
                    if !self.layout.group_exists(path) {
                        gone.push(path.clone());
                        continue;
                    }
                }
                Some(c) => {
                    self.open -= fds(&c.files);
                    self.cache.remove(path);
                }
                None => {}
            }
            // Full read, keeping its files (open, or their paths past the
            // descriptor budget) for the next ticks: each is opened once.
            // Room for all of this group's files (at most ~25); else for the
            // ones read every tick (at most ~10: the slow ones are then
            // opened on their slow tick, a fifth of the ticks); else none.
            let keep_slow = self.budget.allows(self.open + 25);
            let keep = keep_slow || self.budget.allows(self.open + 10);
            // The plan holds the group's directories open (one per
            // hierarchy holding it, `O_PATH`) until it is dropped below,
            // after this group's files are opened: not counted, never kept.
            let mut plan = plan_group_in(&self.layout, path, found, &self.roots);
            if !self.unshown {
                plan.reads.retain(|r| !unshown(r.file()));
                plan.quota_only_with_quota = true;
            }
            let mut files: Vec<Kept> = Vec::with_capacity(plan.reads.len() + 1);
            let buf = &mut self.buf;
            // The primary hierarchy's `cgroup.procs` (the process list) is
            // kept open only on v2. On v1 the kernel builds the list once
            // per open file and hands the same list to every later read of
            // that file for as long as it is read again within a second
            // (`cgroup_pidlist_start`: the list is destroyed one second
            // after the last read, `CGROUP_PIDLIST_DESTROY_DELAY`). A kept
            // v1 file read at intervals under a second never sees a process
            // join or leave (measured: empty for 6 s after a process joined
            // while read every 0.5 s) — so v1's is opened each time. v2's
            // restarts its walk of the group at offset 0
            // (`cgroup_procs_start`).
            let v2_procs = self.layout.primary().version == super::layout::Version::V2;
            let mut procs = None;
            let mut no_fds = None;
            let read = self.layout.read_group_with(path, &plan, &mut |r, f| {
                let f = match f {
                    Ok(f) => f,
                    Err(e) => {
                        if out_of_fds(&e) && no_fds.is_none() {
                            no_fds = Some(format!("cannot open {}: {e}", r.path.display()));
                        }
                        return None;
                    }
                };
                // Files that don't exist here (the root has no
                // memory.current, …) are simply not kept (not even opened
                // when their directory is missing: the plan knows).
                if !pread_all(&f, buf) {
                    return None;
                }
                let text = String::from_utf8_lossy(buf).into_owned();
                self.files_read += 1;
                let setting = is_setting(r.file());
                let open = keep
                    && (keep_slow || !r.slow)
                    && (!r.procs || v2_procs)
                    && (!setting || self.limits_open);
                files.push(Kept {
                    feeds: match r.applies.as_slice() {
                        _ if r.procs => Feeds::Procs,
                        &[one] => Feeds::One(one),
                        many => Feeds::Stats(many.into()),
                    },
                    pace: match (r.slow, setting) {
                        (false, _) => Pace::Tick,
                        (true, false) => Pace::Slow,
                        (true, true) => Pace::Setting,
                    },
                    src: match plan.place(r) {
                        _ if open => Source::Open(f),
                        (h, file) => Source::At(h as u8, file),
                    },
                });
                if r.procs {
                    procs = Some(text.clone());
                }
                Some(text)
            });
            // Read, or (still there) unreadable: out of descriptors. A
            // group in the primary hierarchy whose process list could not
            // be read is unread too (kept without it, it would never get one).
            let stats = read.filter(|_| plan.procs.is_none() || procs.is_some());
            let Some(mut stats) = stats else {
                // Still there, yet unreadable (out of descriptors): say so
                // rather than drop it without a word.
                if self.fd_problem.is_none() && self.layout.group_exists(path) {
                    let why = no_fds.unwrap_or_else(|| "its files could not be opened".into());
                    self.fd_problem = Some(format!("cannot read group {path} ({why})"));
                }
                gone.push(path.clone());
                continue;
            };
            // The process list from the same read (read_group only counts).
            if let Some(t) = &procs {
                fill_procs(t, &mut stats);
            }
            self.open += fds(&files);
            let id_dir = plan.id_dir().map(Path::to_path_buf).unwrap_or_default();
            let (looked, held) = plan.held();
            drop(plan);
            // Staggered: each group's slow tick comes in turn.
            let until_full = match self.next_phase.as_mut() {
                Some(p) => {
                    *p = (*p + 1) % SLOW_EVERY;
                    *p
                }
                None => SLOW_EVERY - 1,
            };
            let c = Cached {
                stats,
                id_dir,
                looked,
                held,
                files,
                until_full,
                // Staggered: of the groups sharing a slow tick, a twelfth
                // has its limits due on each.
                settings_in: ((self.cache.len() as u32 / SLOW_EVERY)
                    % u32::from(SETTINGS_EVERY_SLOW)) as u8,
                stale: false,
            };
            f(&c.stats);
            self.cache.insert(path.clone(), Box::new(c));
        }
        if !gone.is_empty() {
            self.groups.retain(|(g, _)| !gone.contains(g));
        }
    }
}

fn fill_procs(text: &str, s: &mut GroupStats) {
    let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    s.nprocs = Some(pids.len() as u64);
    s.procs = Some(pids);
}

/// What [`refresh`] found.
enum Refresh {
    Read,
    /// A file failed: the group is gone or was recreated.
    Failed,
    /// A file could not be opened for want of descriptors (EMFILE/ENFILE):
    /// the group is there, its readings are the last ones (the message says
    /// which file).
    NoDescriptors(String),
}

/// Whether opening failed for want of descriptors, not because the file is gone.
fn out_of_fds(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Which of a group's kept files [`refresh`] reads: those read every tick,
/// and the slow ones, the limits, the process list as said.
#[derive(Clone, Copy)]
struct Reads {
    slow: bool,
    settings: bool,
    procs: bool,
}

/// Opens a file of a group in hierarchy `h`; on error, also its path.
type OpenFile<'a> = dyn Fn(u8, &str) -> Result<File, (std::io::Error, PathBuf)> + 'a;

/// pread the kept files `what` says into `c.stats`, counting them in `read`.
/// `open`: opens a file of the group not kept open.
fn refresh(
    c: &mut Cached,
    buf: &mut Vec<u8>,
    what: Reads,
    read: &mut usize,
    open: &OpenFile<'_>,
) -> Refresh {
    for k in &c.files {
        let wanted = match k.pace {
            Pace::Tick => true,
            Pace::Slow => what.slow,
            Pace::Setting => what.settings,
        };
        if !wanted || (!what.procs && matches!(k.feeds, Feeds::Procs)) {
            continue;
        }
        *read += 1;
        let ok = match &k.src {
            Source::Open(f) => pread_all(f, buf),
            Source::At(h, file) => match open(*h, file) {
                Ok(f) => pread_all(&f, buf),
                Err((e, p)) if out_of_fds(&e) => {
                    return Refresh::NoDescriptors(format!("cannot open {}: {e}", p.display()));
                }
                Err(_) => false,
            },
        };
        if !ok {
            return Refresh::Failed;
        }
        let text = String::from_utf8_lossy(buf);
        let s = &mut c.stats;
        match &k.feeds {
            Feeds::Procs => fill_procs(&text, s),
            Feeds::One(apply) => apply(Some(&text), s),
            Feeds::Stats(applies) => {
                for a in applies {
                    a(Some(&text), s);
                }
            }
        }
    }
    // A quota set since the group was read without the files that matter
    // only with one (`quota_only`): they are not kept, so the group is
    // read whole.
    if c.stats.cpu.unread_without_quota && !c.stats.cpu.no_quota() {
        return Refresh::Failed;
    }
    Refresh::Read
}

/// Reads a whole (small, virtual) file from offset 0 into `buf`.
pub(crate) fn pread_all(f: &File, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        match f.read_at(&mut chunk, buf.len() as u64) {
            Ok(0) => return true,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                // Counter files fit in one read; a read well short of the
                // buffer is the end. (Not any short read: a seq_file hands
                // out at most a page of whole records per read, so a long
                // `cgroup.procs` comes 4,092 bytes at a time.)
                if n < chunk.len() / 2 {
                    return true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}
