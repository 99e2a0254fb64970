//! Scanning `/proc` into process rows.
//!
//! The scanner is stateful so each tick costs about one read of
//! `/proc/PID/stat` per process: the command line, user and cgroup are read
//! once per process and cached, keyed by pid + start time (pids are reused)
//! and `comm` (which changes on exec, when the command line does). The cgroup
//! is re-read every few ticks so a process moved to another group shows up
//! there (see [`ProcessScanner::set_cgroup_refresh`]).
//!
//! Most processes sleep through most ticks, and for those even `stat` is
//! skipped: a single-threaded process whose run time in
//! `/proc/PID/schedstat` (a third of the cost of `stat` to read) has not
//! moved since its last `stat` read has not run, so its CPU time, state,
//! threads and comm are what they were — exactly, not approximately. Its
//! parent can still die (ppid changes without it running) and its RSS can
//! shrink under reclaim, so `stat` is re-read when its parent is gone or a
//! zombie and every [`FULL_EVERY`] ticks anyway (staggered by pid).
//!
//! Hand-written raw reads instead of the `procfs` crate: this is the hot loop
//! (measured in issue 2: procfs `status()` ≈ 3× a raw read, ~200 allocations).

pub mod ebpf;
pub mod pio;
mod stat;
mod users;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::cgroup::{display_path, primary_path_of, Layout};
use crate::fnv::PidMap;

pub use crate::fds::FdBudget;
pub use pio::{parse_io, IoSample, ProcIoView};
pub use stat::{parse_stat, Stat};
pub use users::{parse_passwd, Users};

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: no `{what}` found (is this a proc filesystem?)")]
    Malformed { path: PathBuf, what: &'static str },
}

/// One process at one instant. Strings are shared with the scanner's cache,
/// so producing rows every tick does not copy them.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcRow {
    pub pid: i32,
    pub ppid: i32,
    /// Owner of `/proc/PID`: the effective uid (read from the process's
    /// open `stat`, which says root for a non-dumpable process; from its
    /// directory, or from an eBPF pass, the euid whatever it is).
    pub uid: u32,
    pub user: Arc<str>,
    /// One letter, as in top: R S D Z T I …
    pub state: char,
    /// utime + stime since the process started, ns.
    pub cpu_time_ns: u64,
    pub rss_bytes: u64,
    pub threads: u64,
    /// Start in clock ticks after boot: with `pid`, the identity of a process.
    pub start_ticks: u64,
    /// Start, seconds since the Unix epoch.
    pub start_time: u64,
    /// Command line with NULs as spaces, or `[comm]` when it is empty
    /// (kernel threads, zombies). While command lines are read lazily
    /// ([`ProcessScanner::set_lazy_commands`]) and this one was not read:
    /// the process's name (`comm`), and `command_pending` is set.
    pub command: Arc<str>,
    /// `command` is only the name: the command line was not read.
    pub command_pending: bool,
    /// Primary cgroup path in display form (`/` for the root, `cgdash/demo`),
    /// empty when it could not be resolved.
    pub cgroup: Arc<str>,
    /// First seen (or pid reused, or exec'd) in this scan: command line,
    /// user and cgroup were read just now rather than taken from the cache.
    pub fresh: bool,
    /// When `stat` was read: rates over exactly the time between two reads of
    /// this process, however long the rest of the scan took.
    pub read_at: Instant,
    /// The previous scan's reading of this same process (pid and start
    /// time): its CPU time (ns) and when it was taken. `None` when new.
    pub prev: Option<(u64, Instant)>,
    /// `/proc/PID/io` now and at the previous scan, while the scanner reads
    /// it ([`ProcessScanner::set_io`]); `None`: not read, or unreadable
    /// (another user's process when not root).
    pub io: Option<IoSample>,
    pub io_prev: Option<IoSample>,
    /// Lazy I/O ([`ProcessScanner::set_lazy_io`]): `/proc/PID/io` not read
    /// yet, and the process has not run since it was first seen, so it has
    /// read and written nothing since: its rates are 0, its totals unknown.
    pub io_idle: bool,
}

/// What the scanner remembers about a process between ticks.
#[derive(Debug)]
struct Cached {
    starttime: u64,
    /// A hash of `comm` (which exec changes): compared, never shown.
    comm: u64,
    uid: u32,
    user: Arc<str>,
    command: Arc<str>,
    cgroup: Arc<str>,
    /// Tick of the last `/proc/PID/cgroup` read.
    cgroup_tick: u64,
    /// The groups' lists placed it when it was last read (then `cgroup`
    /// may be empty or stale: see `scan_one`).
    placed: bool,
    /// Tick this pid was last seen, to forget the gone ones.
    seen_tick: u64,
    /// `/proc/PID/stat`, kept open to be re-read with pread. It stays bound
    /// to this process: once it is gone the read fails (ESRCH), even if the
    /// pid has been reused.
    stat_fd: Option<File>,
    /// `/proc/PID/schedstat`, kept open the same way.
    sched_fd: Option<File>,
    /// Run time of the task (schedstat's first field, ns) read just *before*
    /// the last `stat` read; 0 = unknown (never skip `stat` then).
    ran_ns: u64,
    /// Tick of the last `stat` read, and what it said.
    stat_tick: u64,
    last: Last,
    /// When `last` was last confirmed (a `stat` read, or a schedstat read
    /// that showed it unchanged).
    read_at: Option<Instant>,
    /// The last `/proc/PID/io` reading (while I/O is read).
    io: Option<IoSample>,
    /// Lazy I/O: not read, and the process has not run since it was first
    /// seen with I/O on.
    io_unread: bool,
    /// The command line was empty when read (shown as `[comm]`) in a
    /// process that is not a kernel thread: caught between fork and exec's
    /// argument setup. Read again the next time the process is read.
    provisional: bool,
    /// `command` is the name only: the command line is not read yet
    /// (lazy command lines).
    command_pending: bool,
    /// An eBPF pass has named it (the eBPF path takes only such processes
    /// from the cache: one the kernel's task iterator does not visit — on
    /// 6.18, pid 1 — is read every tick).
    named: bool,
    /// Its last thread exited (the eBPF path's `F_ORPHANS`): read every
    /// tick until it is gone (see `scan_ran`).
    dying: bool,
}

/// The per-tick numbers of the last `stat` read.
#[derive(Clone, Copy, Debug, Default)]
struct Last {
    ppid: i32,
    state: u8,
    cpu_ticks: u64,
    rss_pages: u64,
    threads: u64,
}

/// The eBPF path lists `/proc` every this many ticks besides its first
/// (processes the task iterator does not visit; see [`ProcessScanner`]'s
/// `scan_ran`).
pub const RELIST: u64 = 30;

/// `stat` is re-read at least every this many ticks even for a process
/// that has not run (its RSS can shrink under reclaim while it sleeps).
/// On the eBPF path only while its group's memory moves ([`Ran::shrink`]).
pub const FULL_EVERY: u64 = 10;

/// On the eBPF path, the `stat` of a process that has not run, in a group
/// whose memory has not moved, is still re-read every this many ticks
/// (staggered by pid and the pass's count): what can change a sleeper's RSS
/// without its group's charge moving (another process writing into it with
/// process_vm_writev, or a group's pages moving the other way at the same
/// time) is rare. The pass names each leader on that slot with its fields
/// (`ebpf::flags::DUE`; `IDLE_EVERY` in `src/bpf/tasks.bpf.c`, the same
/// number), which are taken instead of the file where they say all it would.
pub const IDLE_EVERY: u64 = 60;

/// Whether a cached process may be taken from the cache this tick, and if
/// not, its schedstat run time if it was read.
enum Gate {
    Unchanged(ProcRow),
    Read(Option<u64>),
}

/// What the caller of [`ProcessScanner::scan_each_with`] knows already.
#[derive(Default)]
pub struct Hints<'a> {
    pub quiet: Option<Quiet<'a>>,
    /// Processes whose group the caller knows (the sampler: from the
    /// groups' `cgroup.procs`): a new one's `/proc/PID/cgroup` is not read
    /// and its row's `cgroup` is empty (issue 18: one file less per process
    /// at startup).
    pub placed: Option<&'a dyn Fn(i32) -> bool>,
    /// The eBPF pass's word on which processes changed (issue 18): when
    /// given, `/proc` is not listed; see [`Ran`].
    pub ran: Option<Ran<'a>>,
}

/// What an eBPF pass (`ebpf::Tasks::pass`) said: every process not named
/// in `pids`, not in `exits`, and already cached has not run, moved or been
/// reparented since the last scan, so its cached row is exact (only the
/// periodic `stat` re-read for RSS is still done). A named one whose
/// `fields` say all its `stat` would (`ebpf::Fields::stat`) is taken from
/// them, without the file.
pub struct Ran<'a> {
    pub pass: &'a ebpf::Ran,
    /// When the pass ran: the unchanged rows' reading time.
    pub at: Instant,
    /// Whether a process's RSS may have changed without it running: its
    /// group's memory charge moved in the last FULL_EVERY ticks (reclaim
    /// takes pages from sleepers; the sampler knows from the group's
    /// counter). Such a process's `stat` is re-read every FULL_EVERY ticks,
    /// any other unnamed one every IDLE_EVERY.
    pub shrink: &'a dyn Fn(i32) -> bool,
}

/// Processes to take from the cache without reading anything (issue 18):
/// the sampler's word that nothing in their group ran since the last scan
/// (see `sampler::quiet`). Only single-threaded processes seen in the last
/// scan, with no `stat` re-read due, are taken on it.
pub struct Quiet<'a> {
    pub pids: &'a dyn Fn(i32) -> bool,
    /// When the group counters were read: the skipped rows' reading time
    /// (they did not run between then and their previous reading).
    pub at: Instant,
}

/// Clock and memory units the kernel reports in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Units {
    pub ticks_per_sec: u64,
    pub page_size: u64,
    /// Boot time, seconds since the Unix epoch (`btime` in `/proc/stat`).
    pub boot_time: u64,
}

impl Units {
    /// CLK_TCK and the page size from sysconf, btime from `proc_root/stat`.
    pub fn read(proc_root: &Path) -> Result<Units, ProcessError> {
        let path = proc_root.join("stat");
        let text = fs::read_to_string(&path).map_err(|source| ProcessError::Read {
            path: path.clone(),
            source,
        })?;
        let boot_time =
            crate::cgroup::parse::flat_key(&text, "btime").ok_or(ProcessError::Malformed {
                path,
                what: "btime",
            })?;
        Ok(Units {
            ticks_per_sec: sysconf(libc::_SC_CLK_TCK).unwrap_or(100),
            page_size: sysconf(libc::_SC_PAGESIZE).unwrap_or(4096),
            boot_time,
        })
    }

    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        let ns = u128::from(ticks) * 1_000_000_000 / u128::from(self.ticks_per_sec.max(1));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|&v| v > 0)
}

/// Longest command line kept (a row in a table; a JVM's can be 100 KiB).
const MAX_CMDLINE: usize = 4096;

pub struct ProcessScanner {
    proc_root: PathBuf,
    /// `proc_root` as text, the prefix of every path built per tick.
    root: String,
    layout: Layout,
    units: Units,
    users: Users,
    /// Boxed: a hash table is sized to a power of two above the count, so
    /// slots hold a pointer and only live entries take a `Cached`'s room.
    cache: PidMap<Box<Cached>>,
    /// Command lines and cgroup paths, one copy each however many
    /// processes share them (workers, a service's processes).
    strings: HashSet<Arc<str>>,
    tick: u64,
    /// What kept the last scan from being complete: `/proc` unreadable, or
    /// out of descriptors (EMFILE/ENFILE) for a process's files. A process
    /// that exits mid-scan is not a problem (ENOENT/ESRCH).
    problem: Option<String>,
    cgroup_refresh: u64,
    fd_budget: FdBudget,
    /// Descriptors held by cached entries (`stat_fd` and `sched_fd`).
    open_fds: usize,
    /// `cache.len()` as of the last scan (read while an entry is borrowed).
    cache_len: usize,
    /// Rows of the last scan taken on [`Quiet`]'s word.
    skipped: usize,
    /// The descriptor budget said no during this scan: don't ask again
    /// until the next (each refusal costs a getrlimit once at the hard limit).
    fd_full: bool,
    /// Reused buffers: no allocation per process in the steady state
    /// except the rows' own Vec.
    path: String,
    buf: Box<[u8; 4096]>,
    /// Read `/proc/PID/io` too (see [`ProcessScanner::set_io`]).
    io: bool,
    /// Command lines only on demand (see [`ProcessScanner::set_lazy_commands`]).
    lazy_commands: bool,
    /// Lazy command lines were turned off: the next scan reads the pending ones.
    fill_commands: bool,
    /// `/proc/PID/io` of the processes already there when I/O was turned
    /// on is read only once they run (see [`ProcessScanner::set_lazy_io`]).
    lazy_io: bool,
    /// This scan is the first since I/O was turned on.
    io_first_scan: bool,
}

impl ProcessScanner {
    /// A scanner of `proc_root` (normally `/proc`) whose cgroup paths are
    /// resolved against `layout`'s primary hierarchy. User names come from
    /// `/etc/passwd` (see [`ProcessScanner::with_passwd`]).
    pub fn new(proc_root: PathBuf, layout: &Layout) -> Result<ProcessScanner, ProcessError> {
        let units = Units::read(&proc_root)?;
        Ok(ProcessScanner {
            root: proc_root
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string(),
            proc_root,
            layout: layout.clone(),
            units,
            users: Users::new(PathBuf::from("/etc/passwd")),
            cache: PidMap::default(),
            strings: HashSet::new(),
            tick: 0,
            problem: None,
            cgroup_refresh: 2,
            fd_budget: FdBudget::auto(),
            open_fds: 0,
            cache_len: 0,
            skipped: 0,
            fd_full: false,
            path: String::with_capacity(64),
            buf: Box::new([0; 4096]),
            io: false,
            lazy_commands: false,
            fill_commands: false,
            lazy_io: false,
            io_first_scan: false,
        })
    }

    /// Reads user names from `passwd` instead of `/etc/passwd` (fixtures).
    pub fn with_passwd(mut self, passwd: PathBuf) -> ProcessScanner {
        self.users = Users::new(passwd);
        self
    }

    /// Re-read each process's `/proc/PID/cgroup` every `ticks` scans
    /// (staggered by pid so the cost is spread); 0 = only when first seen.
    /// Default 2: a moved process shows its new group within two scans.
    pub fn set_cgroup_refresh(&mut self, ticks: u64) {
        self.cgroup_refresh = ticks;
    }

    /// Takes 1/`share` of the descriptors instead of half (unless a fixed
    /// number was set): the eBPF path reads `stat` only for processes that
    /// ran, so the group reader gets the bigger share then.
    pub fn set_fd_share(&mut self, share: u64) {
        if !self.fd_budget.is_fixed() {
            self.fd_budget = FdBudget::share_of(share);
        }
    }

    /// At most `n` `/proc/PID/stat` and `schedstat` files kept open between
    /// scans (0: open and close every file every tick). Default: follow RLIMIT_NOFILE,
    /// raising the soft limit within the hard one when needed.
    pub fn set_fd_budget(&mut self, n: Option<usize>) {
        self.fd_budget = n.map_or_else(FdBudget::auto, FdBudget::fixed);
        if let Some(n) = n {
            // Close what is over the new budget now.
            let mut left = n;
            for c in self.cache.values_mut() {
                for slot in [&mut c.stat_fd, &mut c.sched_fd] {
                    if slot.is_some() {
                        if left == 0 {
                            *slot = None;
                        } else {
                            left -= 1;
                        }
                    }
                }
            }
            self.open_fds = self.cache.values().map(|c| c.fds()).sum();
        }
    }

    /// Whether to read each process's `/proc/PID/io` (storage bytes read
    /// and written) into [`ProcRow::io`]: one more open and read per process
    /// that ran since the last scan, so off unless something shows it.
    /// Turning it off forgets the readings (rates start over when it is
    /// turned on again).
    pub fn set_io(&mut self, on: bool) {
        if self.io && !on {
            for c in self.cache.values_mut() {
                c.io = None;
                c.io_unread = false;
            }
        }
        if on && !self.io {
            self.io_first_scan = true;
        }
        self.io = on;
    }

    /// Whether to leave `/proc/PID/io` unread for the processes already
    /// there when I/O was turned on, until they run (issue 18, startup: at
    /// 10,000 mostly sleeping processes the first sample's 10,000 reads,
    /// ~60 ms, for rates that are 0). Such a process's counters can't have
    /// moved — they move only in its own system calls and page faults —
    /// so its row has rates of 0 and unknown totals ([`ProcRow::io_idle`]);
    /// the tick it first runs, the file is read (its first reading: no rate
    /// that tick), as for a process born since. For the dashboard, which
    /// shows rates only; `snapshot` reads them all.
    pub fn set_lazy_io(&mut self, on: bool) {
        self.lazy_io = on;
    }

    /// Whether to leave command lines unread (issue 18: at 10,000 processes
    /// a third of the first sample's process reads, for a table that shows
    /// ~40 rows): a new process's row then carries its name (`comm`) with
    /// [`ProcRow::command_pending`] set, and whoever shows it reads the
    /// command line ([`read_command_line`]). Kernel threads, whose command
    /// line is always empty, get `[comm]` as before. Turned off, the next
    /// scan reads every pending command line (a filter or a sort by command
    /// needs them all).
    pub fn set_lazy_commands(&mut self, on: bool) {
        if self.lazy_commands && !on {
            self.fill_commands = true;
        }
        self.lazy_commands = on;
    }

    pub fn lazy_commands(&self) -> bool {
        self.lazy_commands
    }

    /// Reads the command lines left pending (lazy command lines turned off).
    fn fill_pending_commands(&mut self) {
        self.fill_commands = false;
        let pending: Vec<i32> = self
            .cache
            .iter()
            .filter(|(_, c)| c.command_pending)
            .map(|(&pid, _)| pid)
            .collect();
        for pid in pending {
            let Some(name) = self.cache.get(&pid).map(|c| c.command.clone()) else {
                continue;
            };
            // Gone since (or unreadable): the name stays, and so does the
            // flag, for the next time it is described.
            let Some(command) = self.read_cmdline(pid, name.as_bytes()) else {
                continue;
            };
            if let Some(c) = self.cache.get_mut(&pid) {
                c.provisional = command.starts_with('[');
                c.command = command;
                c.command_pending = false;
            }
        }
    }

    pub fn io(&self) -> bool {
        self.io
    }

    /// The proc filesystem scanned (`/proc`, or a fixture tree).
    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }

    /// Number of `/proc/PID/{stat,schedstat}` files currently kept open.
    pub fn open_files(&self) -> usize {
        self.open_fds
    }

    pub fn units(&self) -> Units {
        self.units
    }

    /// Number of processes remembered from the last scan.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Whether `pid` is a kernel thread (kthreadd or its child), as last read.
    pub fn is_kernel_thread(&self, pid: i32) -> bool {
        pid == 2 || self.cache.get(&pid).is_some_and(|c| c.last.ppid == 2)
    }

    pub fn scan(&mut self) -> Vec<ProcRow> {
        let mut out = Vec::new();
        self.scan_into(&mut out);
        out
    }

    /// Scans every process into `out` (cleared first). Processes that vanish
    /// mid-scan are left out silently.
    pub fn scan_into(&mut self, out: &mut Vec<ProcRow>) {
        out.clear();
        out.reserve_exact(self.cache.len() + 64);
        self.scan_each(&mut |row| out.push(row));
    }

    /// Scans every process, handing each row to `emit` (in no particular
    /// order) instead of collecting them: the sampler turns rows into its
    /// snapshot as they come, with no second per-process array.
    pub fn scan_each(&mut self, emit: &mut dyn FnMut(ProcRow)) {
        self.scan_each_with(Hints::default(), emit);
    }

    /// [`Self::scan_each`] with what the caller knows already (see [`Hints`]).
    pub fn scan_each_with(&mut self, hints: Hints<'_>, emit: &mut dyn FnMut(ProcRow)) {
        let quiet = hints.quiet;
        let placed = |pid| hints.placed.is_some_and(|f| f(pid));
        self.tick += 1;
        self.problem = None;
        self.skipped = 0;
        self.fd_full = false;
        if self.fill_commands {
            self.fill_pending_commands();
        }
        if let Some(ran) = hints.ran {
            self.scan_ran(&ran, &placed, emit);
            self.finish_scan();
            return;
        }
        let dir = match fs::read_dir(&self.proc_root) {
            Ok(d) => d,
            Err(e) => {
                self.problem = Some(format!("cannot list {}: {e}", self.root));
                return;
            }
        };
        // Rows taken from the cache whose parent was not seen alive yet this
        // tick: a process is reparented when its parent exits, without
        // running, so if the parent turns out to be gone (or a zombie: it
        // exited and is not reaped yet) its stat is read after all.
        let mut deferred = Vec::new();
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let ran = match self.gate(pid, quiet.as_ref()) {
                Gate::Unchanged(mut row) => {
                    if row.ppid > 0 && !self.alive_now(row.ppid) {
                        deferred.push(row);
                    } else {
                        self.add_io(&mut row, true);
                        emit(row);
                    }
                    continue;
                }
                Gate::Read(ran) => ran,
            };
            // Its run time before this scan: a process whose `stat` is re-read
            // only because it is due (every FULL_EVERY ticks) may not have
            // run, and then its I/O counters stand too.
            let ran_before = self.cache.get(&pid).map_or(0, |c| c.ran_ns);
            if let Some(mut row) = self.scan_one(pid, ran, placed(pid), None, false) {
                let idle = ran_before != 0
                    && !row.fresh
                    && row.threads == 1
                    && self.cache.get(&pid).map(|c| c.ran_ns) == Some(ran_before);
                self.add_io(&mut row, idle);
                emit(row);
            }
        }
        for mut row in deferred {
            if self.alive_now(row.ppid) {
                self.add_io(&mut row, true);
                emit(row);
                continue;
            }
            let pid = row.pid;
            match self.scan_one(pid, None, placed(pid), None, false) {
                Some(mut row) => {
                    self.add_io(&mut row, false);
                    emit(row)
                }
                // Exited just now: forget it.
                None => {
                    if let Some(c) = self.cache.get_mut(&pid) {
                        c.seen_tick = 0;
                    }
                }
            }
        }
        self.finish_scan();
    }

    /// Forgets processes not seen in the scan just done, trims kept files.
    fn finish_scan(&mut self) {
        let tick = self.tick;
        if self.io {
            self.io_first_scan = false;
        }
        self.cache.retain(|_, c| c.seen_tick == tick);
        self.cache_len = self.cache.len();
        self.trim_stat_files();
        self.open_fds = self.cache.values().map(|c| c.fds()).sum();
        if tick.is_multiple_of(64) {
            // Strings only the set still holds belong to gone processes.
            self.strings.retain(|s| Arc::strong_count(s) > 1);
        }
    }

    /// The eBPF path's scan: the processes are the cached ones and those
    /// the pass named, less the exits; only the named (and those due for
    /// their periodic `stat`) are read.
    fn scan_ran(
        &mut self,
        ran: &Ran<'_>,
        placed: &dyn Fn(i32) -> bool,
        emit: &mut dyn FnMut(ProcRow),
    ) {
        let tick = self.tick;
        let pass = ran.pass;
        for &(pid, start_ns) in &pass.exits {
            let ticks = ebpf_start_ticks(&self.units, start_ns);
            if self.cache.get(&pid).is_some_and(|c| c.starttime == ticks) {
                self.cache.remove(&pid);
            }
        }
        let mut pids: Vec<i32> = self.cache.keys().copied().collect();
        pids.extend(pass.pids.keys().filter(|p| !self.cache.contains_key(p)));
        // `/proc` is listed too every RELIST ticks: the task iterator is
        // not the only word on which processes exist (6.18's does not visit
        // the host's pid 1). At the start only pid 1 is added: a listing
        // makes a dentry per process (`proc_fill_cache`, ~1 µs each), and
        // found nothing else once a pass stopped losing the records past
        // one read's worth (session 21: ~32 at 10,000 processes, which the
        // listing at the start used to find).
        if tick.is_multiple_of(RELIST) {
            match fs::read_dir(&self.proc_root) {
                Ok(dir) => {
                    let listed = dir
                        .flatten()
                        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()));
                    let extra: Vec<i32> = listed
                        .filter(|p| !self.cache.contains_key(p) && !pass.pids.contains_key(p))
                        .collect();
                    pids.extend(extra);
                }
                Err(e) => self.problem = Some(format!("cannot list {}: {e}", self.root)),
            }
        } else if self.cache.is_empty() && !pass.pids.contains_key(&1) {
            pids.push(1);
        }
        // Processes whose parent's last thread exited: reparented without
        // running (`Ran::orphaned`; usually none).
        let orphaned: HashSet<i32> = pass.orphaned.iter().copied().collect();
        // Freed since the last pass, and perhaps named by it too: the
        // iterator visited it before it went (its exit is drained after the
        // pass's records), so its fields say alive. Its `stat` is read
        // instead: gone, the row goes; a pid reused since, the new process.
        // (From the fields, with lazy command lines and its group known,
        // nothing of it would be read, and its row would stay.)
        let exited: HashSet<i32> = pass.exits.iter().map(|&(pid, _)| pid).collect();
        for pid in pids {
            // A lost record may have named any process: all are read.
            // Why the pass named it (looked up once: every process, every tick).
            let why = pass.pids.get(&pid).copied();
            let reparented = !orphaned.is_empty()
                && self
                    .cache
                    .get(&pid)
                    .is_some_and(|c| orphaned.contains(&c.last.ppid));
            // Its last thread exited (`Ran::orphaned` names it too): read
            // every tick from now on, until it is gone. Its exit is learnt
            // when it is freed, which can be seconds after its parent reaps
            // it: taken from the cache meanwhile, a row outlived its
            // process by 6 ticks and more (ebpf_live's equivalence test,
            // about 1 run in 5, with 400 processes killed at once beside
            // it: by `perf`, reaped, and not freed before the test ended).
            let dying = orphaned.contains(&pid) || self.cache.get(&pid).is_some_and(|c| c.dying);
            let named = pass.lost_exits || why.is_some() || reparented || dying;
            // Named by the pass only because its periodic `stat` is due.
            let only_due =
                why == Some(ebpf::flags::DUE) && !pass.lost_exits && !reparented && !dying;
            // The pass's count, where known: the pass names each leader
            // that did not change on this same slot (`flags::DUE`), with
            // its fields, so that its periodic read opens no file.
            let base = if pass.pass > 0 { pass.pass } else { tick };
            let slot = base + u64::from(pid.unsigned_abs());
            let quiet = !named
                && self.cache.get(&pid).is_some_and(|c| {
                    let age = tick.saturating_sub(c.stat_tick);
                    let due = if (ran.shrink)(pid) {
                        slot.is_multiple_of(FULL_EVERY) || age >= FULL_EVERY
                    } else {
                        slot.is_multiple_of(IDLE_EVERY) || age >= IDLE_EVERY
                    };
                    c.named && !due
                });
            if quiet {
                if let Some(mut row) = self.skip(pid, ran.at) {
                    self.add_io(&mut row, true);
                    emit(row);
                }
                continue;
            }
            let before = self.cache.get(&pid).map(|c| c.last.cpu_ticks);
            // Only a process that ran keeps its `stat` open (not one merely
            // new: the first pass names every process so): the others' are
            // read once in IDLE_EVERY (or FULL_EVERY) ticks, and an open
            // file holds a page of kernel memory (its `seq_file` buffer,
            // charged to cgdash's cgroup), ~4.5 KB with the file (issue 18).
            let ran_now = why.is_some_and(|why| why & !(ebpf::flags::NEW | ebpf::flags::DUE) != 0);
            // What the pass read of the process, if it says all `stat`
            // would (`Fields::stat`): not for a process re-read only because
            // its parent went (the pass may have read it before the
            // reparenting), nor one dying or freed since (above), nor after
            // lost records.
            let fields = (why.is_some()
                && !pass.lost_exits
                && !reparented
                && !dying
                && !exited.contains(&pid))
            .then(|| pass.taken(pid))
            .flatten()
            .map(|f| (f, ran.at));
            // Its CPU time moved only if it ran, is new, or a thread of it
            // exited (the pass's word, for a process the iterator visits:
            // one a pass has named before): a process read for another
            // reason (its RSS, a move, a new parent) keeps the CPU time it
            // had, which `stat` would repeat, so that a time the pass read
            // to the nanosecond is not followed by `stat`'s, which can be a
            // tick less.
            let cpu_moved = pass.lost_exits
                || !self.cache.get(&pid).is_some_and(|c| c.named)
                || why.is_some_and(|why| {
                    why & (ebpf::flags::NEW | ebpf::flags::RAN | ebpf::flags::DEAD) != 0
                });
            // Some(0): no `schedstat` read (0 = unknown run time: the `/proc`
            // path's gate reads `stat` if it takes over).
            if let Some(mut row) = self.scan_one(pid, Some(0), placed(pid), fields, !cpu_moved) {
                if let Some(c) = self.cache.get_mut(&pid) {
                    if named {
                        c.named = true;
                    }
                    // A zombie the pass never saw exit (it did before
                    // cgdash started, or before the pass it belongs to):
                    // dying as well. Its exit, too, is learnt only when
                    // it is freed, after its parent reaps it (a CI run
                    // kept one reparented to pid 1 for 6 ticks).
                    c.dying |= dying || matches!(c.last.state, b'Z' | b'X' | b'x');
                    if !ran_now && c.stat_fd.take().is_some() {
                        self.open_fds -= 1;
                    }
                }
                // Not named, or named only for its periodic `stat`: it did
                // not run; its I/O counters stand too.
                let idle = (!named || only_due) && !row.fresh && before.is_some();
                self.add_io(&mut row, idle);
                emit(row);
            }
        }
    }

    /// Rows the last scan took from the cache on [`Quiet`]'s word alone.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Why the last scan may have left processes out (`None`: it is
    /// complete). An empty list is then not "no processes".
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Whether one more file may be kept open (asks the budget at most until
    /// its first refusal in a scan).
    fn may_keep(&mut self) -> bool {
        if self.fd_full {
            return false;
        }
        let ok = self.fd_budget.allows(self.open_fds);
        self.fd_full = !ok;
        ok
    }

    /// `stat` files are kept only while every process's `schedstat` has
    /// room besides. The first scan can't know how many processes there
    /// are, and kept the `stat` of the first ones it met (at 10,000
    /// processes half the budget, so the other half's `schedstat` was
    /// opened and closed every tick): close what is over.
    fn trim_stat_files(&mut self) {
        let room = self.fd_budget.limit().saturating_sub(self.cache_len);
        let mut stat = self.cache.values().filter(|c| c.stat_fd.is_some()).count();
        if stat <= room {
            return;
        }
        for c in self.cache.values_mut() {
            if stat <= room {
                break;
            }
            if c.stat_fd.take().is_some() {
                stat -= 1;
            }
        }
    }

    /// Opens `self.path`; running out of descriptors is recorded as the
    /// scan's problem (a vanished process is not).
    fn open_path(&mut self) -> Option<File> {
        match File::open(&self.path) {
            Ok(f) => Some(f),
            Err(e) => {
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
                    && self.problem.is_none()
                {
                    self.problem = Some(format!("cannot open {}: {e} (RLIMIT_NOFILE)", self.path));
                }
                None
            }
        }
    }

    /// Fills `row.io` when I/O is read. A single-threaded process that has
    /// not run since its last reading (`unchanged`: its schedstat run time
    /// stood still) has neither read nor dirtied anything — the counters
    /// move only in the task's own system calls and page faults (reaping a
    /// child, which adds the child's, is one) — so its last reading stands,
    /// confirmed now, without reading the file.
    fn add_io(&mut self, row: &mut ProcRow, unchanged: bool) {
        if !self.io {
            return;
        }
        let pid = row.pid;
        let (prev, unread) = self
            .cache
            .get(&pid)
            .map_or((None, false), |c| (c.io, c.io_unread));
        // Lazy I/O: first seen in the first scan with I/O on, or not run
        // since.
        let first = self.lazy_io && self.io_first_scan && prev.is_none() && !unread;
        if first || (unread && unchanged) {
            if let Some(c) = self.cache.get_mut(&pid) {
                c.io_unread = true;
            }
            row.io = None;
            row.io_prev = None;
            row.io_idle = !first;
            return;
        }
        let cur = match prev {
            Some(p) if unchanged => Some(IoSample {
                at: Instant::now(),
                ..p
            }),
            _ => self.read_proc_file(pid, "io").and_then(|n| {
                let (read_bytes, write_bytes) = parse_io(&self.buf[..n])?;
                Some(IoSample {
                    read_bytes,
                    write_bytes,
                    at: Instant::now(),
                })
            }),
        };
        if let Some(c) = self.cache.get_mut(&pid) {
            c.io = cur;
            c.io_unread = false;
        }
        row.io = cur;
        row.io_prev = prev.filter(|_| cur.is_some());
    }

    /// Whether `pid` has been seen in the scan under way, and is not a
    /// zombie: a process's children are
    /// reparented as it exits, before it shows `Z` (`exit_notify`), and it
    /// stays in `/proc` until its parent reaps it, which may be never.
    fn alive_now(&self, pid: i32) -> bool {
        self.cache
            .get(&pid)
            .is_some_and(|c| c.seen_tick == self.tick && c.last.state != b'Z')
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(a.clone());
        a
    }

    /// A cached single-threaded process whose run time has not moved since
    /// its last `stat` read: its row from the cache (see the module docs).
    fn gate(&mut self, pid: i32, quiet: Option<&Quiet<'_>>) -> Gate {
        let tick = self.tick;
        let Some(c) = self.cache.get(&pid) else {
            return Gate::Read(None);
        };
        let l = c.last;
        let full_due = (tick + u64::from(pid.unsigned_abs())).is_multiple_of(FULL_EVERY)
            || tick.saturating_sub(c.stat_tick) >= FULL_EVERY;
        let vouched = quiet.filter(|q| {
            c.seen_tick + 1 == tick
                && l.threads == 1
                && !matches!(l.state, b'Z' | b'X' | b'x')
                && !c.cgroup_due(tick, self.cgroup_refresh)
                && !full_due
                && (q.pids)(pid)
        });
        if let Some(q) = vouched {
            return match self.skip(pid, q.at) {
                Some(row) => Gate::Unchanged(row),
                None => Gate::Read(None),
            };
        }
        if c.ran_ns == 0
            || l.threads != 1
            || matches!(l.state, b'Z' | b'X' | b'x')
            || c.cgroup_due(tick, self.cgroup_refresh)
            || full_due
        {
            return Gate::Read(None);
        }
        // The kept file, or (past the descriptor budget) open and read: still
        // cheaper than `stat`.
        let Some((ran, opened)) = self.read_ran(pid) else {
            return Gate::Read(None);
        };
        let keep = opened.is_some() && self.may_keep();
        let Some(c) = self.cache.get_mut(&pid) else {
            return Gate::Read(Some(ran));
        };
        if keep && c.sched_fd.is_none() {
            c.sched_fd = opened;
            self.open_fds += 1;
        }
        if ran != c.ran_ns {
            return Gate::Read(Some(ran));
        }
        c.seen_tick = tick;
        let now = Instant::now();
        let prev = c.read_at.replace(now);
        let mut row = row_of(&self.units, pid, c, l, false, now);
        row.prev = prev.map(|t| (row.cpu_time_ns, t));
        Gate::Unchanged(row)
    }

    /// The cached row of a process [`Quiet`] vouches for, as of `at`.
    fn skip(&mut self, pid: i32, at: Instant) -> Option<ProcRow> {
        let tick = self.tick;
        let c = self.cache.get_mut(&pid)?;
        self.skipped += 1;
        c.seen_tick = tick;
        let prev = c.read_at.replace(at);
        let mut row = row_of(&self.units, pid, c, c.last, false, at);
        row.prev = prev.map(|t| (row.cpu_time_ns, t));
        Some(row)
    }

    /// `ran`: the process's schedstat run time if [`Self::gate`] read it.
    /// `placed`: the caller knows the process's group (its
    /// `/proc/PID/cgroup` is not read for a new process).
    /// Reads a process (its `stat`, or what an eBPF pass read of it, and
    /// when: `fields`); `keep_cpu`: it has not run since it was last read,
    /// so its cached CPU time stands.
    fn scan_one(
        &mut self,
        pid: i32,
        ran: Option<u64>,
        placed: bool,
        fields: Option<(&ebpf::Taken, Instant)>,
        keep_cpu: bool,
    ) -> Option<ProcRow> {
        // Run time first, then stat: if it has not moved by the next tick,
        // nothing in stat has either.
        // (Only single-threaded processes are ever taken from the cache, so
        // a multi-threaded one's run time would be read for nothing.)
        let single = self.cache.get(&pid).is_none_or(|c| c.last.threads <= 1);
        let (ran, sched_opened) = match ran {
            Some(r) => (Some(r), None),
            None if !single => (None, None),
            None => match self.read_ran(pid) {
                Some((r, f)) => (Some(r), f),
                None => (None, None),
            },
        };
        let units = self.units;
        let from_pass = fields.map(|(t, at)| (t.stat(pid, &units), at));
        let pass_euid = fields.map(|(t, _)| t.euid);
        let (st, opened, read_at) = match from_pass {
            Some((st, at)) => (st, None, at),
            None => {
                let (n, opened) = self.read_kept(pid, Kept::Stat)?;
                let read_at = Instant::now();
                (parse_stat(&self.buf[..n])?, opened, read_at)
            }
        };
        // Equal names, equal keys; another name (exec, prctl) another key.
        let comm = crate::fnv::hash(st.comm);
        // The same process as last tick (pid and start time): its previous
        // reading, and whether it still runs the same program.
        let (prev, same_comm) = match self.cache.get(&pid).filter(|c| c.starttime == st.starttime) {
            Some(c) => (
                c.read_at
                    .map(|t| (self.units.ticks_to_ns(c.last.cpu_ticks), t)),
                c.comm == comm,
            ),
            None => (None, false),
        };
        // Copied only when needed: the buffer is reused for the reads below.
        let new_comm = (!same_comm).then(|| st.comm.to_vec());
        let provisional = self.cache.get(&pid).is_some_and(|c| c.provisional);
        let retry_comm = (same_comm && provisional).then(|| st.comm.to_vec());
        // Copy the numbers out: the buffer is reused for the reads below.
        let (ppid, state, starttime) = (st.ppid, st.state, st.starttime);
        let (mut cpu_ticks, rss_pages, threads) = (
            st.utime.saturating_add(st.stime),
            st.rss_pages,
            st.num_threads,
        );
        if keep_cpu {
            if let Some(c) = self.cache.get(&pid).filter(|c| c.starttime == starttime) {
                cpu_ticks = c.last.cpu_ticks;
            }
        }
        let tick = self.tick;
        let fresh = new_comm.is_some();
        if let Some(name) = new_comm {
            // New pid, pid reused (other start time) or exec (other comm).
            // After an exec it is the same process: keep its open files.
            // Its I/O counters too (they count across exec).
            let kept = match self.cache.get_mut(&pid) {
                Some(c) if c.starttime == starttime => {
                    (c.stat_fd.take(), c.sched_fd.take(), c.io.take())
                }
                _ => (None, None, None),
            };
            // The owner of its files is the process's (`task_dump_owner`):
            // the open `stat` saves a path lookup, the pass's euid both.
            let uid = match (
                &opened,
                self.cache.get(&pid).and_then(|c| c.stat_fd.as_ref()),
            ) {
                _ if pass_euid.is_some() => pass_euid,
                (Some(f), _) | (None, Some(f)) => f.metadata().ok().map(|m| m.uid()),
                _ => None,
            };
            let kthread = pid == 2 || ppid == 2;
            let mut entry = self.describe(pid, &name, comm, starttime, uid, placed, kthread)?;
            (entry.stat_fd, entry.sched_fd, entry.io) = kept;
            // Kernel threads (kthreadd, 2, and its children) have no
            // command line; any other process's is read again.
            entry.provisional = entry.command.starts_with('[') && !kthread;
            self.cache.insert(pid, entry);
        } else {
            if let Some(name) = retry_comm {
                let command = self.read_cmdline(pid, &name)?;
                if let Some(c) = self.cache.get_mut(&pid) {
                    c.provisional = command.starts_with('[');
                    c.command = command;
                }
            }
            // Dropped out of the groups' lists since it was last read: it
            // exited (a zombie is in none, and `/proc/PID/cgroup` says the
            // root) or moved to a group not read. Its group, not read while
            // the lists placed it, is read now.
            let due = self
                .cache
                .get(&pid)
                .is_some_and(|c| c.cgroup_due(tick, self.cgroup_refresh) || (c.placed && !placed));
            if due {
                let cgroup = self.read_cgroup(pid)?;
                if let Some(c) = self.cache.get_mut(&pid) {
                    c.cgroup = cgroup;
                    c.cgroup_tick = tick;
                }
            }
        }
        let c = self.cache.get_mut(&pid)?;
        c.placed = placed;
        c.seen_tick = tick;
        c.stat_tick = tick;
        c.ran_ns = ran.unwrap_or(0);
        c.last = Last {
            ppid,
            state,
            cpu_ticks,
            rss_pages,
            threads,
        };
        // Descriptors go to `schedstat` first (read every tick); `stat`,
        // read only when a process ran, is kept open only while there is
        // room for every process's `schedstat` besides.
        if let Some(f) = sched_opened {
            if c.sched_fd.is_none() && !self.fd_full && self.fd_budget.allows(self.open_fds) {
                c.sched_fd = Some(f);
                self.open_fds += 1;
            }
        }
        if let Some(f) = opened {
            if c.stat_fd.is_none() && self.open_fds + self.cache_len < self.fd_budget.limit() {
                c.stat_fd = Some(f);
                self.open_fds += 1;
            }
        }
        c.read_at = Some(read_at);
        let last = c.last;
        let mut row = row_of(&self.units, pid, c, last, fresh, read_at);
        row.prev = prev;
        Some(row)
    }

    /// Reads what changes only on exec or migration: uid (unless known),
    /// command line (unless lazy), cgroup (unless `placed`: left empty).
    /// `kthread`: a kernel thread (no command line to read when lazy).
    #[allow(clippy::too_many_arguments)]
    fn describe(
        &mut self,
        pid: i32,
        name: &[u8],
        comm: u64,
        starttime: u64,
        uid: Option<u32>,
        placed: bool,
        kthread: bool,
    ) -> Option<Box<Cached>> {
        let uid = match uid {
            Some(u) => u,
            None => {
                self.set_path(pid, "");
                fs::metadata(&self.path).ok()?.uid()
            }
        };
        let (command, command_pending) = match (self.lazy_commands, kthread) {
            (false, _) => (self.read_cmdline(pid, name)?, false),
            (true, true) => (self.intern(&bracketed(name)), false),
            (true, false) => (self.intern(&String::from_utf8_lossy(name)), true),
        };
        let cgroup = if placed {
            self.intern("")
        } else {
            self.read_cgroup(pid)?
        };
        let refresh = self.cgroup_refresh.max(1);
        Some(Box::new(Cached {
            starttime,
            comm,
            uid,
            user: self.users.name(uid),
            command,
            cgroup,
            // Staggered so that not every cached process is re-read on the same tick.
            cgroup_tick: self
                .tick
                .saturating_sub(u64::from(pid.unsigned_abs()) % refresh),
            placed,
            seen_tick: self.tick,
            stat_fd: None,
            sched_fd: None,
            ran_ns: 0,
            stat_tick: self.tick,
            last: Last::default(),
            read_at: None,
            io: None,
            io_unread: false,
            named: false,
            dying: false,
            provisional: false,
            command_pending,
        }))
    }

    /// The command line, at most [`MAX_CMDLINE`] bytes, in one `read`
    /// where it fits: each `read` of `/proc/PID/cmdline` reaches into the
    /// process's memory (`access_remote_vm`), and `read_to_end`'s probe and
    /// end-of-file reads made that three per process (issue 18: ~15 % of
    /// the first sample's CPU at 10,000 processes). A short read is the end
    /// (the kernel copies up to the count or the end of the arguments).
    fn read_cmdline(&mut self, pid: i32, comm: &[u8]) -> Option<Arc<str>> {
        self.set_path(pid, "cmdline");
        let mut f = self.open_path()?;
        let n = read_cmdline_into(&mut f, &mut self.buf[..MAX_CMDLINE])?;
        drop(f);
        let text = command_text(&self.buf[..n], comm);
        Some(self.intern(&text))
    }

    /// The process's group in the primary hierarchy, display form.
    fn read_cgroup(&mut self, pid: i32) -> Option<Arc<str>> {
        let n = self.read_proc_file(pid, "cgroup")?;
        let text = String::from_utf8_lossy(&self.buf[..n]);
        let path = primary_path_of(&self.layout, &text);
        Some(self.intern(path.as_deref().map_or("", display_path)))
    }

    /// `/proc/PID/stat` or `schedstat` into the buffer: pread on the kept
    /// file if there is one, else open and read (returning the file, which
    /// the caller may keep).
    fn read_kept(&mut self, pid: i32, which: Kept) -> Option<(usize, Option<File>)> {
        if let Some(slot) = self.cache.get_mut(&pid).map(|c| which.slot(c)) {
            if let Some(f) = slot {
                match f.read_at(&mut self.buf[..], 0) {
                    Ok(n) if n > 0 => return Some((n, None)),
                    // ESRCH: the process is gone (a new one may have its pid).
                    _ => *slot = None,
                }
            }
        }
        self.set_path(pid, which.file());
        let mut f = self.open_path()?;
        let n = fill(&mut f, &mut self.buf[..])?;
        Some((n, Some(f)))
    }

    /// The task's run time from `/proc/PID/schedstat`, and the file if it
    /// was opened (to keep).
    fn read_ran(&mut self, pid: i32) -> Option<(u64, Option<File>)> {
        let (n, f) = self.read_kept(pid, Kept::Sched)?;
        Some((parse_ran(&self.buf[..n])?, f))
    }

    /// One open/read/close of `/proc/PID/FILE` into the reused buffer.
    fn read_proc_file(&mut self, pid: i32, file: &str) -> Option<usize> {
        self.set_path(pid, file);
        let mut f = self.open_path()?;
        fill(&mut f, &mut self.buf[..])
    }

    fn set_path(&mut self, pid: i32, file: &str) {
        self.path.clear();
        self.path.push_str(&self.root);
        let _ = write!(self.path, "/{pid}");
        if !file.is_empty() {
            self.path.push('/');
            self.path.push_str(file);
        }
    }
}

impl Cached {
    fn fds(&self) -> usize {
        usize::from(self.stat_fd.is_some()) + usize::from(self.sched_fd.is_some())
    }

    /// Whether `/proc/PID/cgroup` is due for a re-read (`refresh` 0: never).
    fn cgroup_due(&self, tick: u64, refresh: u64) -> bool {
        refresh > 0 && tick.saturating_sub(self.cgroup_tick) >= refresh
    }
}

/// The two per-process files kept open between ticks.
#[derive(Clone, Copy)]
enum Kept {
    Stat,
    Sched,
}

impl Kept {
    fn file(self) -> &'static str {
        match self {
            Kept::Stat => "stat",
            Kept::Sched => "schedstat",
        }
    }

    fn slot(self, c: &mut Cached) -> &mut Option<File> {
        match self {
            Kept::Stat => &mut c.stat_fd,
            Kept::Sched => &mut c.sched_fd,
        }
    }
}

fn row_of(u: &Units, pid: i32, c: &Cached, l: Last, fresh: bool, read_at: Instant) -> ProcRow {
    ProcRow {
        pid,
        ppid: l.ppid,
        uid: c.uid,
        user: c.user.clone(),
        state: char::from(l.state),
        cpu_time_ns: u.ticks_to_ns(l.cpu_ticks),
        rss_bytes: l.rss_pages.saturating_mul(u.page_size),
        threads: l.threads,
        start_ticks: c.starttime,
        start_time: u.boot_time + c.starttime / u.ticks_per_sec.max(1),
        command: c.command.clone(),
        command_pending: c.command_pending,
        cgroup: c.cgroup.clone(),
        fresh,
        read_at,
        prev: None,
        io: None,
        io_prev: None,
        io_idle: false,
    }
}

/// A task's `start_boottime` (ns, as the eBPF program reports it) in the
/// clock ticks of `/proc/PID/stat`'s start time (the kernel's
/// `nsec_to_clock_t`: a division by NSEC_PER_SEC / USER_HZ).
fn ebpf_start_ticks(u: &Units, ns: u64) -> u64 {
    ns / (1_000_000_000 / u.ticks_per_sec.clamp(1, 1_000_000_000))
}

/// `[name]`: how a process without a command line is shown (kernel
/// threads, zombies), as ps and top do.
fn bracketed(name: &[u8]) -> String {
    format!("[{}]", String::from_utf8_lossy(name))
}

/// A command line as shown: the raw `/proc/PID/cmdline` with its NULs (and
/// newlines) as spaces, trailing NULs dropped; `[name]` when empty.
fn command_text(raw: &[u8], name: &[u8]) -> String {
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if end == 0 {
        return bracketed(name);
    }
    let text: Vec<u8> = raw[..end]
        .iter()
        .map(|&b| if b == 0 || b == b'\n' { b' ' } else { b })
        .collect();
    String::from_utf8_lossy(&text).into_owned()
}

/// The command line of `pid` under `proc_root` as the scanner shows it
/// (at most [`MAX_CMDLINE`] bytes), for a row whose command line was left
/// pending ([`ProcessScanner::set_lazy_commands`]); `name` (its `comm`) for
/// `[name]` when it has none. `None`: the process is gone (or unreadable).
pub fn read_command_line(proc_root: &Path, pid: i32, name: &str) -> Option<String> {
    let mut f = File::open(proc_root.join(pid.to_string()).join("cmdline")).ok()?;
    let mut buf = vec![0; MAX_CMDLINE];
    let n = read_cmdline_into(&mut f, &mut buf)?;
    Some(command_text(&buf[..n], name.as_bytes()))
}

/// Reads `cmdline` into `buf`, in one `read` where it fits: each `read`
/// reaches into the process's memory, and a short read is the end (the
/// kernel copies up to the count or the end of the arguments).
fn read_cmdline_into(f: &mut File, buf: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => {
                let asked = buf.len() - n;
                n += k;
                if k < asked {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(n)
}

/// The first field of `/proc/PID/schedstat`: the task's total run time, ns.
/// (A kernel without schedstats prints `0 0 0`: 0 means unknown.)
fn parse_ran(b: &[u8]) -> Option<u64> {
    let end = b
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len());
    std::str::from_utf8(&b[..end]).ok()?.parse().ok()
}

/// Reads a small procfs file into `buf`. procfs hands out a whole small
/// file in one read; a short read ending in a newline is the end, which saves
/// the read() that would return 0 (a syscall per process per tick).
fn fill(f: &mut File, buf: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if n < buf.len() && buf[n - 1] == b'\n' {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests;
