//! Two reads → rates. The [`Sampler`] reads every group and process, keeps the
//! previous reading, and publishes a [`Snapshot`] with rates over the time
//! between the two (CPU %, throttled %, events per second). [`History`] keeps
//! per-group series for the charts; [`spawn`] runs a sampler on its own thread.
//!
//! A rate is `None` when it can't be honest: on the first sample, for a group
//! recreated under the same path (new inode), for a pid reused by another
//! process (new start time), and when a counter went backwards.

mod active;
mod binding;
mod history;
pub mod net;
pub mod periods;
mod quiet;
pub mod rates;
mod thread;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cgroup::{display_path, normalize_path, GroupReader, GroupStats, Layout};
// The swap limit's translation is the memory controller's (tested here too).
#[cfg(test)]
use crate::cgroup::{controllers::memory::swap_max, Limit};
use crate::fnv::PidMap;
use crate::model::{
    CpuView, GroupSnapshot, Identity, MemoryView, PidsView, ProcessSnapshot, Snapshot,
    SCHEMA_VERSION,
};
use crate::process::{Hints, ProcessError, ProcessScanner, Quiet};
use quiet::QuietPids;

pub use history::{read_limit, write_limit, GroupHistory, History, Ring, Series};
pub use thread::{spawn, SamplerHandle};

/// The counters of a group kept for the next delta.
#[derive(Clone, Debug, Default)]
struct GroupPrev {
    /// `Sampler::generation` of the sample that last saw the group.
    seen: u64,
    id: Option<u64>,
    usage_ns: Option<u64>,
    throttled_ns: Option<u64>,
    nr_periods: Option<u64>,
    nr_throttled: Option<u64>,
    oom_kills: Option<u64>,
    max_events: Option<u64>,
    /// I/O counters per device (the list only: limits are not kept).
    io: Option<Vec<crate::cgroup::controllers::io::IoDevice>>,
    /// Memory charged (`memory.current` / `usage_in_bytes`).
    mem: Option<u64>,
    /// The generation whose sample last saw `mem` move; `None`: not since
    /// the group was first read ([`moved_recently`]).
    mem_moved: Option<u64>,
}

pub struct Sampler {
    layout: Layout,
    /// Keeps counter files open between ticks (see `cgroup::GroupReader`).
    reader: GroupReader,
    scanner: Option<ProcessScanner>,
    /// Only groups at or below this path (internal form; `None` = all).
    filter: Option<String>,
    host: String,
    cpus: u32,
    memory_total: Option<u64>,
    /// When the groups / processes were last read (monotonic).
    groups_at: Option<Instant>,
    /// Boxed: a table has up to twice the slots of its entries, and an
    /// entry is ~150 bytes (issue 18: ~170 KB less at 1,000 groups).
    groups_prev: HashMap<String, Box<GroupPrev>>,
    /// Counts samples (to drop the `groups_prev` of groups gone).
    generation: u64,
    /// The previous process scan: its start on the sampler's clock and on
    /// the real one (each row's previous reading is placed between them).
    prev_scan: Option<(Instant, Instant)>,
    /// pid → index of its group in this tick's groups (32 bits: a slot of
    /// 8 bytes, not 16, in a table of one per process).
    members: PidMap<u32>,
    /// The vectors of a snapshot no longer shown, emptied, to fill again
    /// (see [`Sampler::recycle`]; empty, they allocate as new ones would).
    spare_groups: Vec<GroupSnapshot>,
    spare_rows: Vec<ProcessSnapshot>,
    /// Whether every read group's `cgroup.procs` could be read.
    members_complete: bool,
    /// Names groups (issue 13) when they appear; `None`: paths only.
    names: Option<crate::names::Resolver>,
    /// Network readings of groups in namespaces of their own (`None`: off,
    /// e.g. a fixture tree whose pids are not this host's).
    net: Option<net::NetReader>,
    /// Processes in groups whose CPU counter did not move are not read
    /// (issue 18); `None`: every process is read (`proc`).
    quiet: Option<QuietPids>,
    /// The eBPF path (issue 18): which processes ran, from the kernel;
    /// `None`: the `/proc` path (see [`Sampler::choose`]).
    ebpf: Option<crate::process::ebpf::Tasks>,
    ran: crate::process::ebpf::Ran,
    /// When this tick's eBPF pass ran (`None`: no pass this tick).
    pass_at: Option<Instant>,
    /// Which groups the pass says may have changed (`None`: no scanner).
    active: Option<active::Active>,
    /// The paths of last tick's groups, by index (`members` indexes them).
    prev_paths: Vec<Arc<str>>,
    /// Pages reclaimed machine-wide (`/proc/vmstat`), and the generation
    /// that last saw the count move, `None` if none since the first reading
    /// (eBPF path: sleepers' RSS may shrink).
    reclaimed: Option<(u64, Option<u64>)>,
    /// Why the eBPF path is not used (after `choose` with `Auto`, or a
    /// failed pass).
    ebpf_off: Option<String>,
}

/// Which path reads the processes (`--sampler`, `CGDASH_SAMPLER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathChoice {
    /// eBPF when it loads (root, BTF, the kernel accepts it), else `/proc`.
    Auto,
    /// `/proc` only (quiet groups skipped: `proc-skip`).
    Proc,
    /// eBPF or an error saying why not.
    Ebpf,
}

static CHOICE: std::sync::OnceLock<PathChoice> = std::sync::OnceLock::new();

/// The process path the commands choose (`main` sets it from `--sampler`
/// or `CGDASH_SAMPLER`; once).
pub fn set_choice(c: PathChoice) {
    let _ = CHOICE.set(c);
}

/// The choice [`set_choice`] made; `Auto` when none was.
pub fn choice() -> PathChoice {
    CHOICE.get().copied().unwrap_or(PathChoice::Auto)
}

impl PathChoice {
    /// `auto`, `proc` or `ebpf`; anything else is an error naming it.
    pub fn parse(s: &str) -> Result<PathChoice, String> {
        match s.trim() {
            "auto" | "" => Ok(PathChoice::Auto),
            "proc" => Ok(PathChoice::Proc),
            "ebpf" => Ok(PathChoice::Ebpf),
            other => Err(format!(
                "unknown sampler {other:?}: expected auto, proc or ebpf"
            )),
        }
    }

    /// From the `CGDASH_SAMPLER` environment variable (unset: `auto`).
    pub fn from_env() -> Result<PathChoice, String> {
        match std::env::var("CGDASH_SAMPLER") {
            Ok(v) => PathChoice::parse(&v).map_err(|e| format!("CGDASH_SAMPLER: {e}")),
            Err(_) => Ok(PathChoice::Auto),
        }
    }
}

impl Sampler {
    /// Samples the groups of `layout` and the processes of `proc_root`
    /// (normally `/proc`). Fails only if `proc_root` isn't a proc filesystem.
    pub fn new(layout: Layout, proc_root: PathBuf) -> Result<Sampler, ProcessError> {
        let mut scanner = ProcessScanner::new(proc_root.clone(), &layout)?;
        // Group membership comes from the groups' `cgroup.procs` each tick
        // (`read_members`); the scanner reads `/proc/PID/cgroup` only for
        // processes it hasn't seen yet.
        scanner.set_cgroup_refresh(0);
        let mut s = Sampler::cgroups_only(layout);
        s.memory_total = read_mem_total(&proc_root);
        s.net = Some(net::NetReader::new(proc_root.clone()));
        s.scanner = Some(scanner);
        s.active = Some(active::Active::new(proc_root));
        s.set_skip_quiet(true);
        Ok(s)
    }

    /// Samples groups only; `processes` stays empty. For trees that are not
    /// the host's (`snapshot --root`), whose processes `/proc` doesn't describe.
    pub fn cgroups_only(layout: Layout) -> Sampler {
        Sampler {
            reader: GroupReader::new(layout.clone()),
            layout,
            scanner: None,
            filter: None,
            host: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            cpus: online_cpus(),
            memory_total: read_mem_total(Path::new("/proc")),
            groups_at: None,
            groups_prev: HashMap::new(),
            generation: 0,
            prev_scan: None,
            members: PidMap::default(),
            spare_groups: Vec::new(),
            spare_rows: Vec::new(),
            members_complete: false,
            names: Some(crate::names::Resolver::new(Default::default())),
            net: None,
            quiet: None,
            ebpf: None,
            ran: Default::default(),
            pass_at: None,
            active: None,
            prev_paths: Vec::new(),
            reclaimed: None,
            ebpf_off: None,
        }
    }

    /// Chooses the process path. `Auto` and `Ebpf` load the eBPF programs
    /// (a few ms where they can't work: see `process::ebpf`); `Ebpf` fails
    /// with the reason when they don't load, `Auto` keeps `/proc` and
    /// remembers why ([`Sampler::ebpf_off`]). Groups-only samplers have no
    /// processes to read: nothing is loaded.
    pub fn choose(&mut self, choice: PathChoice) -> Result<&'static str, String> {
        if self.ebpf.take().is_some() && self.quiet.is_some() {
            // Its lists stopped at the tick the eBPF path took over: start over.
            self.quiet = Some(QuietPids::new(&self.layout));
        }
        self.ebpf_off = None;
        self.share_descriptors();
        let Some(scanner) = self.scanner.as_ref() else {
            return Ok(self.path_name());
        };
        if choice == PathChoice::Proc {
            return Ok(self.path_name());
        }
        // The kernel's tasks are the host's `/proc`, not a fixture tree's.
        let loaded = if scanner.proc_root() == Path::new("/proc") {
            let primary = self.layout.primary();
            let cpuset_v1 = primary.version == crate::cgroup::Version::V1 && primary.has("cpuset");
            crate::process::ebpf::Tasks::load_for(cpuset_v1)
        } else {
            Err(crate::process::ebpf::Unavailable(format!(
                "processes come from {}, not /proc",
                scanner.proc_root().display()
            )))
        };
        match loaded {
            Ok(t) => {
                self.ebpf = Some(t);
                self.share_descriptors();
                // The processes the last scan knew are not in the kernel's
                // memory: the first pass names every task anyway.
            }
            Err(e) if choice == PathChoice::Ebpf => {
                return Err(format!("the eBPF sampler is not available: {e}"))
            }
            Err(e) => self.ebpf_off = Some(e.0),
        }
        Ok(self.path_name())
    }

    /// Why `auto` did not take the eBPF path, or why it was left (`None`:
    /// it is used, or was not asked for).
    pub fn ebpf_off(&self) -> Option<&str> {
        self.ebpf_off.as_deref()
    }

    /// Whether processes in groups whose CPU counter did not move since the
    /// last sample are taken from the cache without reading their files
    /// (issue 18; on by default where a counter hierarchy exists). Off,
    /// every process is read as before: the equivalence tests' reference.
    pub fn set_skip_quiet(&mut self, on: bool) {
        self.quiet = on
            .then(|| QuietPids::new(&self.layout))
            .filter(|q| q.enabled() && self.scanner.is_some());
    }

    /// Which path reads the processes: `proc-skip` (processes in quiet
    /// groups are not read), `proc` (every process), `none` (groups only).
    pub fn path_name(&self) -> &'static str {
        match (&self.scanner, &self.quiet) {
            (None, _) => "none",
            _ if self.ebpf.is_some() => "ebpf",
            (Some(_), None) => "proc",
            (Some(_), Some(_)) => "proc-skip",
        }
    }

    /// Groups the last sample left unread because the eBPF pass said
    /// nothing in them ran (`sampler::active`).
    pub fn groups_skipped(&self) -> usize {
        self.reader.skipped()
    }

    /// Rows the last sample took from the cache because their group's CPU
    /// counter did not move (0 with `proc`).
    pub fn skipped(&self) -> usize {
        match (&self.scanner, &self.quiet) {
            (Some(s), _) if self.ebpf.is_some() => s.skipped(),
            (Some(s), Some(_)) => s.skipped(),
            _ => 0,
        }
    }

    /// Reads the network of groups in namespaces of their own from
    /// `proc_root` (`/proc`); on by default with processes (`new`), off for
    /// `cgroups_only`. `None` turns it off.
    pub fn set_net(&mut self, proc_root: Option<PathBuf>) {
        self.net = proc_root.map(net::NetReader::new);
    }

    /// `(net/dev reads, net/dev stats)` so far, `None` when off (tests, benches).
    pub fn net_reads(&self) -> Option<(u64, u64)> {
        self.net.as_ref().map(|n| (n.reads, n.stats))
    }

    /// Only groups at or below `prefix` (a group path, compared by whole
    /// components: `a/b` matches `a/b` and `a/b/c`, not `a/bc`), and only
    /// processes in them. `None` or `/` = everything.
    pub fn set_group_filter(&mut self, prefix: Option<&str>) {
        self.filter = prefix.map(normalize_path).filter(|p| !p.is_empty());
    }

    /// Read each process's `/proc/PID/io` (`ProcessSnapshot::io`) from the
    /// next sample on, or stop reading it: one more file per process, so
    /// only while something shows it.
    pub fn set_process_io(&mut self, on: bool) {
        if let Some(s) = self.scanner.as_mut() {
            s.set_io(on);
        }
    }

    /// Leave `/proc/PID/io` unread until a process runs, for those there
    /// when I/O is turned on (see `ProcessScanner::set_lazy_io`).
    pub fn set_lazy_io(&mut self, on: bool) {
        if let Some(s) = self.scanner.as_mut() {
            s.set_lazy_io(on);
        }
    }

    /// Read the groups' files that only the limit editor shows, or none do
    /// (the default: read; see `cgroup::reader::unshown`). The dashboard
    /// leaves them unread and fills them in with [`fill_unshown`] when its
    /// editor opens.
    pub fn set_unshown(&mut self, on: bool) {
        self.reader.set_unshown(on);
    }

    /// Leave command lines unread until shown, or read them all from the
    /// next sample on (see `ProcessScanner::set_lazy_commands`).
    pub fn set_lazy_commands(&mut self, on: bool) {
        if let Some(s) = self.scanner.as_mut() {
            s.set_lazy_commands(on);
        }
    }

    /// The process scanner, e.g. to tune how often cgroups are re-read.
    pub fn scanner_mut(&mut self) -> Option<&mut ProcessScanner> {
        self.scanner.as_mut()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Makes the next sample re-read everything (limits, new groups): call it
    /// after cgdash changed a limit or launched a group.
    pub fn invalidate(&mut self) {
        self.reader.invalidate();
    }

    /// Why the last sample may be incomplete (a hierarchy or `/proc` could
    /// not be listed, descriptors ran out): shown to the user, never an
    /// empty list passed off as the truth. `None`: complete.
    pub fn problem(&self) -> Option<String> {
        let scan = self.scanner.as_ref().and_then(|s| s.problem());
        self.reader.problem().or(scan).map(str::to_string)
    }

    /// Where group names come from (`None`: none resolved, paths only).
    pub fn set_names(&mut self, names: Option<crate::names::Resolver>) {
        self.names = names;
    }

    /// The name resolver, e.g. to count its resolutions.
    pub fn names(&self) -> Option<&crate::names::Resolver> {
        self.names.as_ref()
    }

    /// The group reader, e.g. to lower how many files it keeps open.
    pub fn reader_mut(&mut self) -> &mut GroupReader {
        &mut self.reader
    }

    /// Reads everything once more. Rates are over the time since the
    /// previous call (`None` on the first).
    pub fn sample(&mut self) -> Snapshot {
        self.sample_with(&mut Instant::now)
    }

    /// `sample` with an injected monotonic clock (tests fake the time between
    /// reads; called once before the groups are read, once before processes).
    pub(crate) fn sample_with(&mut self, clock: &mut dyn FnMut() -> Instant) -> Snapshot {
        let groups_at = clock();
        // The same instant on the real clock: rows skipped on their group's
        // word are as of then.
        let groups_real = Instant::now();
        // The eBPF pass first: which processes ran since the last one, and
        // so which groups can have changed (the others keep their readings).
        self.pass_at = self.ebpf_pass();
        let vouch = match (self.pass_at, self.active.as_mut(), self.scanner.as_ref()) {
            (Some(_), Some(a), Some(s)) => a
                .compute(&self.ran, &self.members, &self.prev_paths, &|pid| {
                    s.is_kernel_thread(pid)
                })
                .then_some(&*a),
            _ => None,
        };
        let needs = vouch.map(|a| {
            move |path: &str, g: &crate::cgroup::GroupStats| {
                use crate::cgroup::Need;
                if a.relists(path) {
                    Need::All
                } else if a.contains(path)
                    // The flusher may write its pages back (v2 charges it the I/O).
                    || g.memory.dirty.unwrap_or(0) != 0
                    || g.memory.writeback.unwrap_or(0) != 0
                {
                    Need::Counters
                } else {
                    Need::Nothing
                }
            }
        });
        // The eBPF path knows who ran without the groups' word.
        let use_quiet = self.ebpf.is_none();
        if let Some(q) = self.quiet.as_mut().filter(|_| use_quiet) {
            q.begin();
        }
        let group_wall = self.groups_at.map(|t| ns_between(t, groups_at));
        self.groups_at = Some(groups_at);
        self.generation += 1;
        let generation = self.generation;
        let track_members = self.scanner.is_some();
        self.members.clear();
        self.members_complete = true;
        // Groups whose pid list the reader did not keep: read after.
        let mut unlisted = Vec::new();
        let mut out_groups = std::mem::take(&mut self.spare_groups);
        out_groups.reserve(self.groups_prev.len() + 8);
        let (groups_prev, members) = (&mut self.groups_prev, &mut self.members);
        let mut net = self.net.as_mut();
        if let Some(n) = net.as_mut() {
            n.begin();
            let netns = &self.ran.netns;
            let mut named = self
                .ran
                .pids
                .keys()
                .map(|&p| (p, netns.get(&p).copied().unwrap_or(0)));
            n.set_named(self.pass_at.is_some().then_some(&mut named as _));
        }
        let mut quiet = self.quiet.as_mut().filter(|_| use_quiet);
        // By reference: the reader's cached stats are not copied per tick.
        let needs = needs.as_ref().map(|n| n as &crate::cgroup::Needs<'_>);
        // By index, like `out_groups`: whether the group's memory charge
        // moved in the last FULL_EVERY samples (its sleepers' RSS may have).
        let mut mem_recent = Vec::with_capacity(out_groups.capacity());
        self.reader
            .read_each_as(self.filter.as_deref(), needs, &mut |g| {
                let mut cur = group_prev(g, generation);
                let slot = groups_prev.get_mut(&g.path);
                let prev = slot.as_deref().map(|p| &**p).filter(|p| p.id == cur.id);
                cur.mem_moved = mem_moved_at(prev, cur.mem, generation);
                // The root's charge is the machine's, moving all the time: its
                // processes go by machine-wide reclaim (`reclaim_recent`).
                let root = g.path.trim_matches('/').is_empty();
                mem_recent.push(!root && moved_recently(cur.mem_moved, generation));
                if let Some(q) = quiet.as_deref_mut() {
                    // Nothing in it ran since the last sample.
                    if prev.is_some_and(|p| p.usage_ns.is_some() && p.usage_ns == cur.usage_ns) {
                        q.add_group(&g.path, g.id, g.procs.as_deref());
                    }
                }
                out_groups.push(group_snapshot(g, prev, &cur, group_wall));
                match slot {
                    Some(p) => **p = cur,
                    None => {
                        groups_prev.insert(g.path.clone(), Box::new(cur));
                    }
                }
                if let (Some(n), Some(pids)) = (net.as_mut(), &g.procs) {
                    n.observe(out_groups.len() - 1, pids);
                }
                if track_members {
                    let i = out_groups.len() - 1;
                    match &g.procs {
                        Some(pids) => members.extend(pids.iter().map(|&pid| (pid, i as u32))),
                        None => unlisted.push(i),
                    }
                }
            });
        self.groups_prev.retain(|_, p| p.seen == generation);
        // Cached per group: metadata is read only when a group appears.
        if let Some(names) = self.names.as_mut() {
            names.begin_tick();
            for g in &mut out_groups {
                g.identity = names.identity(&g.path, g.id);
            }
            names.end_tick();
        }
        self.read_unlisted(&out_groups, &unlisted);
        if let Some(n) = self.net.as_mut() {
            n.finish(&mut out_groups);
        }
        let names: Vec<Arc<str>> = out_groups
            .iter()
            .map(|g| Arc::from(g.path.as_str()))
            .collect();
        let reclaim_recent = self.pass_at.is_some() && self.reclaim_recent(generation);
        let processes =
            self.sample_processes(clock(), groups_real, &names, &mem_recent, reclaim_recent);
        // The first pass names every process, with each leader's fields;
        // later ones name those that ran. Its tables, kept for the next
        // pass to refill, would stay resident through every tick after (at
        // 10,000 processes ~0.9 MB: the fields, the pid and namespace maps):
        // let go of them once used.
        if self.ebpf.as_ref().is_some_and(|t| t.passes() == 1) {
            self.ran = Default::default();
        }
        self.prev_paths = names;
        if let Some(q) = self.quiet.as_mut().filter(|_| use_quiet) {
            q.end();
        }
        // The quota that binds each group (ancestors outside a filter read from their files).
        binding::fill(
            &mut out_groups,
            self.filter.is_some().then_some(&self.layout),
        );
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Snapshot {
            schema: SCHEMA_VERSION,
            timestamp_ms,
            interval_ms: group_wall.map(|ns| ns / 1_000_000).unwrap_or(0),
            host: self.host.clone(),
            mode: Some(self.layout.mode),
            cpus: self.cpus,
            memory_total_bytes: self.memory_total,
            sampler: self.path_name(),
            groups: out_groups,
            processes,
        }
    }

    /// Which group each process is in comes from the groups' `cgroup.procs`
    /// in the primary hierarchy: exact on every tick for the cost of one read
    /// per group, instead of one `/proc/PID/cgroup` read per process. The
    /// reader keeps those files open; the groups it could not (no
    /// descriptors to spare) are read here.
    fn read_unlisted(&mut self, groups: &[GroupSnapshot], unlisted: &[usize]) {
        let primary = self.layout.primary();
        for &i in unlisted {
            let dir = primary.dir(groups[i].path.trim_matches('/'));
            let text = match std::fs::read_to_string(dir.join("cgroup.procs")) {
                Ok(t) => t,
                // Not in the primary hierarchy (v1: a group only under
                // another controller): no process is placed in it.
                Err(_) if !dir.is_dir() && groups[i].nprocs.is_none() => continue,
                Err(_) => {
                    self.members_complete = false;
                    continue;
                }
            };
            let pids: Vec<i32> = text
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .collect();
            if let Some(n) = self.net.as_mut() {
                n.observe(i, &pids);
            }
            self.members.extend(pids.iter().map(|&pid| (pid, i as u32)));
        }
    }

    /// Splits the kept-file descriptors by path (`fds`), and staggers the
    /// groups' slow ticks on the eBPF path. On `/proc`, half
    /// to the scanner (two files per process, read every tick) and a
    /// quarter to the group reader; on the eBPF path, which reads a
    /// process's `stat` only when it ran, the other way round (~6 counter
    /// files per group, e.g. 1,000 groups: 6,000 files to keep).
    fn share_descriptors(&mut self) {
        let (reader, scanner) = if self.ebpf.is_some() { (2, 4) } else { (4, 2) };
        self.reader.set_share(reader);
        // The eBPF path reads a quiet group whole only on its slow tick,
        // and its limits more rarely still.
        self.reader.set_stagger(self.ebpf.is_some());
        self.reader.set_limits_open(self.ebpf.is_none());
        if let Some(s) = self.scanner.as_mut() {
            s.set_fd_share(scanner);
        }
    }

    /// Whether the machine reclaimed pages (or swapped out) in the last
    /// FULL_EVERY samples: `pgsteal_*` and `pswpout` of `/proc/vmstat`.
    /// Unreadable: as if it did.
    fn reclaim_recent(&mut self, generation: u64) -> bool {
        let recent;
        (self.reclaimed, recent) = reclaim_seen(self.reclaimed, read_reclaimed(), generation);
        recent
    }

    /// Takes back a published snapshot nobody holds any more: the next
    /// sample fills its two vectors again. Each is over the allocator's
    /// mmap threshold at scale (see `main`'s `tune_malloc`), so a fresh one
    /// is a fresh mapping, every page of it faulted in again: at 10,000
    /// processes ~750 page faults per tick, ~40 with this (issue 18).
    pub fn recycle(&mut self, s: Snapshot) {
        (self.spare_groups, self.spare_rows) = (s.groups, s.processes);
        self.spare_groups.clear();
        self.spare_rows.clear();
    }

    /// Runs the eBPF pass (if on): when, or `None` (off, or it failed:
    /// then off from now on, saying why).
    fn ebpf_pass(&mut self) -> Option<Instant> {
        let t = self.ebpf.as_mut()?;
        let at = Instant::now();
        match t.pass(&mut self.ran) {
            Ok(()) => Some(at),
            Err(e) => {
                // Its memory is now ahead of the scanner's: leave it.
                self.ebpf = None;
                self.share_descriptors();
                self.ebpf_off = Some(format!("eBPF pass failed: {e}"));
                // Its lists are from before the eBPF path: start over.
                if self.quiet.is_some() {
                    self.quiet = Some(QuietPids::new(&self.layout));
                }
                None
            }
        }
    }

    /// `groups`: the path of each group read this tick, by index.
    fn sample_processes(
        &mut self,
        at: Instant,
        groups_real: Instant,
        groups: &[Arc<str>],
        mem_recent: &[bool],
        reclaim_recent: bool,
    ) -> Vec<ProcessSnapshot> {
        let Some(scanner) = self.scanner.as_mut() else {
            return Vec::new();
        };
        let pass_at = self.pass_at;
        let scan_start = Instant::now();
        let prev_scan = self.prev_scan.replace((at, scan_start));
        let (members, filter) = (&self.members, self.filter.as_deref());
        let complete = self.members_complete;
        let total = self.memory_total.filter(|&t| t > 0);
        let io = scanner.io();
        // Sized once: growing by doubling would leave a peak of 1.5× the
        // rows (the first scan knows no count: the kernel's task count is an
        // upper bound, threads included).
        let expect = match scanner.cached() {
            0 => task_count().unwrap_or(0),
            n => n,
        };
        let mut out = std::mem::take(&mut self.spare_rows);
        out.reserve(expect + 64);
        let vouch = self
            .quiet
            .as_ref()
            .filter(|_| pass_at.is_none())
            .map(|q| move |pid| q.skip(pid));
        let quiet = vouch.as_ref().map(|f| Quiet {
            pids: f,
            at: groups_real,
        });
        // Placed by the groups' lists (all of them read): `/proc/PID/cgroup`
        // of a new process is not needed.
        let placed = move |pid| complete && members.contains_key(&pid);
        let pass = &self.ran;
        // A sleeper's RSS shrinks when its pages are reclaimed: by the
        // machine (counted in /proc/vmstat), or within its group (limit
        // reclaim, which the machine's counts leave out, or another
        // process freeing its pages: the group's charge moves). Unplaced:
        // unknown, so as if it moved.
        let shrink =
            |pid| reclaim_recent || members.get(&pid).is_none_or(|&i| mem_recent[i as usize]);
        let hints = Hints {
            quiet,
            placed: Some(&placed),
            ran: pass_at.map(|at| crate::process::Ran {
                pass,
                at,
                shrink: &shrink,
            }),
        };
        scanner.scan_each_with(hints, &mut |r| {
            let cgroup = match members.get(&r.pid) {
                Some(&i) => groups[i as usize].clone(),
                // Filtered, and in none of the groups read: in another group
                // (perhaps moved there since the scanner read its cgroup).
                None if filter.is_some() && complete && !r.fresh => return,
                // New since the groups were read: the scanner has just read its cgroup.
                None => r.cgroup,
            };
            if let Some(f) = filter {
                if !under(cgroup.trim_matches('/'), f) {
                    return;
                }
            }
            // `at` is the (injectable) clock at the scan's start; each row is
            // placed by how far into the scan it was read (and its previous
            // reading by how far into the previous scan).
            // (Rows taken on their group's word are as of the group read,
            // before the scan.)
            let read_at = place(at, scan_start, r.read_at);
            let prev = r
                .prev
                .zip(prev_scan)
                .map(|((cpu, t), (p_at, p_start))| (cpu, place(p_at, p_start, t)));
            out.push(ProcessSnapshot {
                pid: r.pid,
                ppid: r.ppid,
                uid: r.uid,
                user: r.user,
                state: r.state,
                cpu_percent: prev.and_then(|(cpu, t)| {
                    rates::ns_percent(Some(cpu), Some(r.cpu_time_ns), ns_between(t, read_at))
                }),
                cpu_time_ns: r.cpu_time_ns,
                rss_bytes: r.rss_bytes,
                mem_percent: total.map(|t| r.rss_bytes as f64 * 100.0 / t as f64),
                threads: r.threads,
                start_time: r.start_time,
                cgroup,
                command: r.command,
                command_pending: r.command_pending,
                io: io.then(|| {
                    if r.io_idle {
                        crate::process::ProcIoView::idle()
                    } else {
                        crate::process::ProcIoView::new(r.io, r.io_prev)
                    }
                }),
            });
        });
        out
    }
}

/// Whether group `path` is `prefix` or below it (internal forms, no slashes
/// at the ends).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `t` on the sampler's (injectable) clock, given that `real` on the real
/// clock is `at` there.
fn place(at: Instant, real: Instant, t: Instant) -> Instant {
    if t >= real {
        at + (t - real)
    } else {
        at.checked_sub(real - t).unwrap_or(at)
    }
}

fn ns_between(earlier: Instant, later: Instant) -> u64 {
    u64::try_from(later.saturating_duration_since(earlier).as_nanos()).unwrap_or(u64::MAX)
}

fn group_prev(g: &GroupStats, seen: u64) -> GroupPrev {
    GroupPrev {
        seen,
        id: g.id,
        usage_ns: g.cpu.usage_ns,
        throttled_ns: g.cpu.throttled_ns,
        nr_periods: g.cpu.nr_periods,
        nr_throttled: g.cpu.nr_throttled,
        oom_kills: g.memory.events.oom_kill,
        max_events: max_events(g),
        io: g.io.devices.clone(),
        mem: g.memory.current,
        mem_moved: Some(seen),
    }
}

/// Whether something last seen moving at `moved_at` (a sample generation;
/// `None`: not since its first reading) moved in the last FULL_EVERY
/// samples, the generation `generation` included.
///
/// "Not since" is its own value: the first reading was once written as
/// `generation - FULL_EVERY`, which saturated to 0 in the first samples and
/// so read as "just moved" for the first ten seconds after every start. Every
/// sleeper's `stat` was then re-read a tenth at a time (at 10,000 processes
/// ~12 ms more per sample until the tenth; issue 18, startup).
fn moved_recently(moved_at: Option<u64>, generation: u64) -> bool {
    moved_at.is_some_and(|at| generation.saturating_sub(at) < crate::process::FULL_EVERY)
}

/// When a group's memory charge last moved, given its previous reading
/// (`None`: new, or recreated under the same path): a new group's processes
/// were just read (new ones, or named by the pass as they moved in), so
/// its charge has not moved since.
fn mem_moved_at(prev: Option<&GroupPrev>, mem: Option<u64>, generation: u64) -> Option<u64> {
    match prev {
        Some(p) if p.mem.is_some() && p.mem == mem => p.mem_moved,
        Some(_) => Some(generation),
        None => None,
    }
}

/// The machine-wide reclaim count `now` (`None`: unreadable) against the
/// last one kept: what to keep, and whether reclaim was recent (unreadable
/// counts as recent: sleepers' RSS may have shrunk).
fn reclaim_seen(
    kept: Option<(u64, Option<u64>)>,
    now: Option<u64>,
    generation: u64,
) -> (Option<(u64, Option<u64>)>, bool) {
    let Some(now) = now else {
        return (None, true);
    };
    let moved_at = match kept {
        Some((n, at)) if n == now => at,
        Some(_) => Some(generation),
        // The first reading: every process was read with it.
        None => None,
    };
    (Some((now, moved_at)), moved_recently(moved_at, generation))
}

/// Times usage hit the limit: v2 `memory.events max`, v1 `memory.failcnt`.
fn max_events(g: &GroupStats) -> Option<u64> {
    g.memory.events.max.or(g.memory.failcnt)
}

/// Fills in a group's view the readings of the files a dashboard's sampler
/// leaves unread (`cgroup::reader::unshown`), from a whole reading of the
/// group (`Layout::read_group`): the weight, the swap and low limits, the
/// peak, the times usage hit the limit; and the period and burst of a group
/// without a quota (`cgroup::reader::quota_only`).
pub fn fill_unshown(g: &mut GroupSnapshot, s: &GroupStats) {
    let cpu = CpuView::levels(&s.cpu);
    if g.cpu_unread_without_quota {
        g.cpu.period_us = cpu.period_us;
        g.cpu.burst_us = cpu.burst_us;
        g.cpu_unread_without_quota = false;
    }
    g.cpu.weight = cpu.weight;
    let m = MemoryView::levels(&s.memory);
    g.memory.swap_max_bytes = m.swap_max_bytes;
    g.memory.low_bytes = m.low_bytes;
    g.memory.peak_bytes = m.peak_bytes;
    g.memory.max_events = max_events(s);
}

/// Builds the published view of one group. `prev` is `None` when there is no
/// comparable earlier reading (first sample, or the group was recreated).
fn group_snapshot(
    g: &GroupStats,
    prev: Option<&GroupPrev>,
    cur: &GroupPrev,
    wall_ns: Option<u64>,
) -> GroupSnapshot {
    let none = GroupPrev::default();
    let p = prev.unwrap_or(&none);
    // With no previous reading every `p.*` is None, so every rate is None.
    let wall = wall_ns.filter(|_| prev.is_some()).unwrap_or(0);
    let m = &g.memory;
    GroupSnapshot {
        path: display_path(&g.path).to_string(),
        id: g.id,
        cpu: CpuView {
            usage_percent: rates::ns_percent(p.usage_ns, cur.usage_ns, wall),
            usage_total_ns: cur.usage_ns,
            nr_periods: cur.nr_periods,
            nr_throttled: cur.nr_throttled,
            throttled_total_ns: cur.throttled_ns,
            throttled_percent: rates::ns_percent(p.throttled_ns, cur.throttled_ns, wall),
            throttled_periods_percent: rates::part_percent(
                p.nr_throttled,
                cur.nr_throttled,
                p.nr_periods,
                cur.nr_periods,
            )
            .filter(|_| wall > 0),
            ..CpuView::levels(&g.cpu)
        },
        memory: MemoryView {
            oom_kills: cur.oom_kills,
            max_events: cur.max_events,
            oom_kills_delta: rates::delta(p.oom_kills, cur.oom_kills).filter(|_| wall > 0),
            max_events_per_s: rates::per_second(p.max_events, cur.max_events, wall),
            ..MemoryView::levels(m)
        },
        pids: PidsView::levels(&g.pids),
        cpuset: g.cpuset.clone(),
        frozen: g.frozen,
        cpu_unread_without_quota: g.cpu.unread_without_quota,
        pressure: g.pressure.clone(),
        io: crate::model::IoView::new(&g.io, prev.and_then(|p| p.io.as_deref()), wall),
        net: None,
        nprocs: g.nprocs,
        identity: Identity::none(),
    }
}

/// Tasks (processes and threads) on the machine: the 4th field of
/// `/proc/loadavg` is `running/total`.
/// Pages reclaimed or swapped out machine-wide so far (`/proc/vmstat`:
/// `pgsteal_*`, `pswpout`). Limit reclaim inside a group is not in them.
fn read_reclaimed() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/vmstat").ok()?;
    Some(
        text.lines()
            .filter(|l| l.starts_with("pgsteal_") || l.starts_with("pswpout "))
            .filter_map(|l| l.split_ascii_whitespace().nth(1)?.parse::<u64>().ok())
            .fold(0u64, u64::wrapping_add),
    )
}

fn task_count() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let field = text.split_whitespace().nth(3)?;
    field.split_once('/')?.1.parse().ok()
}

fn online_cpus() -> u32 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1)
}

fn read_mem_total(proc_root: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(proc_root.join("meminfo")).ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests;
