//! The eBPF path of the process sampler (issue 18): which processes ran
//! since the last tick, from the kernel, in one pass.
//!
//! `src/bpf/tasks.bpf.c` (compiled ahead by `bpf/build.sh` into
//! `src/bpf/tasks.bpf.o`, embedded here) is a task iterator that visits
//! every task and writes a 12-byte record — process id, why, and for a
//! process leader its network namespace — only for the
//! tasks whose run time moved or that are new (or whose pid was reused).
//! Three programs on tracepoints report in a ring buffer what changes
//! without running: process exits (`sched_process_free`); the exits of
//! threads other than leaders (a thread that ran and died between two
//! passes is not visited again; its process is named by that record) and
//! of a process's last thread, whose children then get new parents
//! (`sched_process_exit`); and moves to another cgroup
//! (`cgroup_attach_task`; `cgroup_transfer_tasks` where it matters, see
//! [`Tasks::load_for`]). See [`Tasks::pass`].
//!
//! The scanner then reads `/proc/PID/stat` only of the processes the pass
//! named (and, as the `/proc` path does, every [`super::FULL_EVERY`]th
//! tick of each process for its RSS); every other row is its cached one,
//! exactly: a process none of whose threads ran, that did not move and
//! whose parent did not exit has the same CPU time, state, threads,
//! parent and command. No `/proc` listing, no `schedstat` read: a tick costs
//! O(processes that ran) in user space.
//!
//! Loading needs root (CAP_BPF + CAP_PERFMON), BTF (`/sys/kernel/btf/vmlinux`)
//! and a kernel that accepts the programs (task iterators: 5.8+; raw
//! tracepoints: 4.17+; tested on Debian's 6.1 and on 6.18). When any of it
//! is missing [`Tasks::load`] says why and the sampler stays on the `/proc`
//! path. The object is parsed and relocated with aya-obj (once per boot:
//! `prepared`, kept by `cache`) and loaded with bpf(2) (`load`); aya's
//! `RingBuf` reads the exits.

use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use aya::maps::{Map, MapData, RingBuf};
use aya::Btf;

use crate::fnv::PidMap;
use prepared::Prepared;

mod btf_min;
mod cache;
mod iter;
mod load;
mod prepared;

/// The compiled object, aligned for the ELF parser.
#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);
static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!("../bpf/tasks.bpf.o"));

/// Why the task was reported (`F_*` in tasks.bpf.c).
pub mod flags {
    pub const NEW: u32 = 1;
    pub const RAN: u32 = 2;
    pub const MOVED: u32 = 4;
    pub const DEAD: u32 = 16;
    /// Its last thread exits: its children get new parents. Not a reason
    /// to read the process itself ([`super::Ran::orphaned`]).
    pub const ORPHANS: u32 = 64;
    /// A leader that did not change, named (with its whole record) on its
    /// periodic pass: `(pid + pass) % IDLE_EVERY == 0`, the slot on which
    /// the scanner re-reads a sleeper's `stat` (its RSS), which it then
    /// takes from the record instead ([`super::Ran::pass`]). Not a run.
    pub const DUE: u32 = 256;
}

/// Why the eBPF path can't be used here (shown to the user, kept short).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// What one pass found: the processes to read, and those gone.
#[derive(Debug, Default)]
pub struct Ran {
    /// Process id → why (OR of [`flags`] over its tasks).
    pub pids: PidMap<u32>,
    /// Processes freed since the last pass: pid and start time
    /// (`start_boottime`, ns), so that a reused pid is not taken for it.
    pub exits: Vec<(i32, u64)>,
    /// Exited process → its parent, for those that had their parent's
    /// cgroups when they went (a fork that never moved): the groups their
    /// run time went to, even if no pass saw them.
    pub exit_parents: PidMap<i32>,
    /// The ring buffer overflowed: some exits were not reported. The
    /// scanner then reads every process's `stat` once (a lost thread exit
    /// named a process whose time moved) and finds gone processes gone.
    pub lost_exits: bool,
    /// Processes whose last thread exited in this pass or the one before,
    /// or that were freed in this one: their children are (or were a
    /// moment ago) reparented without running, so the scanner re-reads
    /// the processes whose parent one of these was; and each of these
    /// itself, every tick until it is gone (it is dying: see the scanner's
    /// `scan_ran`).
    pub orphaned: Vec<i32>,
    /// Task records read (threads included).
    pub records: usize,
    /// The object's count of passes, this one included (0: unknown, as in
    /// a pass made up by a test): the scanner staggers its periodic `stat`
    /// reads by it, as the pass does its [`flags::DUE`] records.
    pub pass: u64,
    /// Process → its network namespace (nsfs inode number), for the
    /// processes whose leader the pass named (see `NetReader::set_named`).
    pub netns: PidMap<u32>,
    /// What the leaders the pass named would have `/proc/PID/stat` say,
    /// for those where that is all the file says ([`Fields::stat`]),
    /// compact and sorted by pid (at 10,000 processes a map of whole
    /// [`Fields`] was ~1.7 MB of the peak RSS): see [`Ran::taken`].
    pub fields: Vec<(i32, Taken)>,
}

impl Ran {
    /// The pass's reading of `pid` where it is all its `stat` says.
    pub fn taken(&self, pid: i32) -> Option<&Taken> {
        self.fields
            .binary_search_by_key(&pid, |(p, _)| *p)
            .ok()
            .map(|i| &self.fields[i].1)
    }

    /// Keeps `f` for `pid` if it is all its `stat` says; pids come in
    /// ascending order from a pass (its tasks in pid order), else the
    /// caller sorts ([`Ran::sort_fields`]).
    pub fn add_fields(&mut self, pid: i32, f: &Fields) {
        if let Some(t) = Taken::of(f) {
            self.fields.push((pid, t));
        }
    }

    /// Sorts the kept fields by pid (a no-op on a pass's own order).
    pub fn sort_fields(&mut self) {
        if !self.fields.is_sorted_by_key(|(p, _)| *p) {
            self.fields.sort_by_key(|(p, _)| *p);
        }
    }
}

/// [`Fields`] where they are all `/proc/PID/stat` would say, in 56 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    comm: [u8; 16],
    comm_len: u8,
    state: u8,
    ppid: i32,
    pub euid: u32,
    start_ns: u64,
    run_ns: u64,
    rss_pages: u64,
}

impl Taken {
    fn of(f: &Fields) -> Option<Taken> {
        // Units only scale the times: any will do to ask.
        let units = super::Units {
            ticks_per_sec: 100,
            page_size: 4096,
            boot_time: 0,
        };
        let st = f.stat(0, &units)?;
        Some(Taken {
            comm: f.comm,
            comm_len: st.comm.len() as u8,
            state: st.state,
            ppid: st.ppid,
            euid: f.euid,
            start_ns: f.start,
            run_ns: f.runtime.saturating_add(f.dead_runtime),
            rss_pages: st.rss_pages,
        })
    }

    /// `/proc/PID/stat` as the pass read it (see [`Fields::stat`]).
    pub fn stat(&self, pid: i32, units: &super::Units) -> super::Stat<'_> {
        let tick_ns = 1_000_000_000 / units.ticks_per_sec.clamp(1, 1_000_000_000);
        super::Stat {
            pid,
            comm: &self.comm[..usize::from(self.comm_len)],
            state: self.state,
            ppid: self.ppid,
            utime: self.run_ns / tick_ns,
            stime: 0,
            num_threads: 1,
            starttime: self.start_ns / tick_ns,
            rss_pages: self.rss_pages,
        }
    }
}

/// A process leader's `/proc/PID/stat` fields as a pass read them from the
/// kernel (`struct rec` in tasks.bpf.c): what `do_task_stat` reads, raw.
/// [`Fields::stat`] says whether they are all the file would say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    /// `__state` and `exit_state`, raw.
    pub state: u32,
    pub exit_state: u32,
    /// Task flags (`PF_*`).
    pub kflags: u32,
    pub ppid: u32,
    pub nr_threads: i32,
    /// `F_RSS` was set: `rss` holds the counters.
    pub rss_read: bool,
    pub comm: [u8; 16],
    /// Its effective uid: the owner of its `/proc/PID` directory
    /// (`task_dump_owner` gives a directory its task's euid, whatever the
    /// process's dumpable mode).
    pub euid: u32,
    /// `start_boottime`, ns.
    pub start: u64,
    /// The leader's run time and the dead threads' (`signal->sum_sched_runtime`), ns.
    pub runtime: u64,
    pub dead_runtime: u64,
    /// `mm->rss_stat`: file, anon and shmem pages (percpu counters' global
    /// counts, which may dip below 0: `/proc` clamps each).
    pub rss: [i64; 3],
}

impl Fields {
    /// Decodes a task record's fields (`None`: not a leader's, or too short).
    fn parse(rec: &[u8]) -> Option<Fields> {
        let u32_at = |i: usize| {
            rec.get(i..i + 4)
                .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
        };
        let u64_at = |i: usize| {
            rec.get(i..i + 8)
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
        };
        let has = u32_at(32)?;
        if has & HAS_FIELDS == 0 {
            return None;
        }
        let mut comm = [0; 16];
        comm.copy_from_slice(rec.get(36..52)?);
        Some(Fields {
            state: u32_at(12)?,
            exit_state: u32_at(16)?,
            kflags: u32_at(20)?,
            ppid: u32_at(24)?,
            nr_threads: u32_at(28)? as i32,
            rss_read: has & HAS_RSS != 0,
            comm,
            euid: u32_at(52)?,
            start: u64_at(56)?,
            runtime: u64_at(64)?,
            dead_runtime: u64_at(72)?,
            rss: [u64_at(80)? as i64, u64_at(88)? as i64, u64_at(96)? as i64],
        })
    }
}

impl Fields {
    /// What `/proc/PID/stat` would say, for a process whose fields say all
    /// of it: single-threaded, alive, on a kernel whose RSS counters the
    /// pass reads (6.2+). `None` for any other, whose `stat` is read
    /// instead: a process with threads (their run times are not here), a
    /// zombie, a workqueue worker (`/proc` adds its work to its name), a
    /// kernel thread whose name fills `comm` (`/proc` shows its full name,
    /// kept elsewhere).
    ///
    /// The CPU time is the process's run time (`sum_exec_runtime` of its
    /// thread and its dead ones), exact to the nanosecond, in clock ticks;
    /// `stat`'s user + system ticks are that same run time split in two
    /// (`cputime_adjust`) and each half truncated, so they can be one tick
    /// less. Given as `utime`, with `stime` 0.
    pub fn stat(&self, pid: i32, units: &super::Units) -> Option<super::Stat<'_>> {
        const PF_WQ_WORKER: u32 = 0x0000_0020;
        const PF_KTHREAD: u32 = 0x0020_0000;
        let len = self.comm.iter().position(|&b| b == 0).unwrap_or(16);
        let kthread = self.kflags & PF_KTHREAD != 0;
        if !self.rss_read
            || self.nr_threads != 1
            || self.exit_state != 0
            || (kthread && (self.kflags & PF_WQ_WORKER != 0 || len >= 15))
        {
            return None;
        }
        let tick_ns = 1_000_000_000 / units.ticks_per_sec.clamp(1, 1_000_000_000);
        // get_task_mm: none for a kernel thread (one may borrow an mm).
        let rss = if kthread { [0; 3] } else { self.rss };
        Some(super::Stat {
            pid,
            comm: &self.comm[..len],
            state: state_letter(self.state, self.exit_state),
            ppid: i32::try_from(self.ppid).ok()?,
            utime: self.runtime.saturating_add(self.dead_runtime) / tick_ns,
            stime: 0,
            num_threads: 1,
            starttime: self.start / tick_ns,
            // get_mm_rss: file + anon + shmem, each read "positive".
            rss_pages: rss.iter().map(|&c| c.max(0) as u64).sum(),
        })
    }
}

/// The letter `/proc/PID/stat` shows for a task's `__state` and
/// `exit_state` (the kernel's `__task_state_index`: the reported bits, an
/// idle kernel thread as `I`, a frozen or real-time-lock-waiting task as
/// `D`), one of "RSDTtXZPI".
pub fn state_letter(state: u32, exit_state: u32) -> u8 {
    const TASK_REPORT: u32 = 0x7f;
    const TASK_UNINTERRUPTIBLE: u32 = 0x2;
    const TASK_IDLE: u32 = 0x402; // TASK_UNINTERRUPTIBLE | TASK_NOLOAD
    const TASK_REPORT_IDLE: u32 = 0x80;
    const TASK_RTLOCK_WAIT: u32 = 0x1000;
    const TASK_FROZEN: u32 = 0x8000;
    let mut s = (state | exit_state) & TASK_REPORT;
    if state & TASK_IDLE == TASK_IDLE {
        s = TASK_REPORT_IDLE;
    }
    if state & (TASK_RTLOCK_WAIT | TASK_FROZEN) != 0 {
        s = TASK_UNINTERRUPTIBLE;
    }
    // fls: 0 for none, else the highest set bit's position from 1.
    let fls = (u32::BITS - s.leading_zeros()) as usize;
    b"RSDTtXZPI"[fls.min(8)]
}

/// `struct rec`'s `has`: the leader's fields, and its RSS counters.
const HAS_FIELDS: u32 = 1;
const HAS_RSS: u32 = 2;

pub struct Tasks {
    iter: iter::TaskIter,
    exits: RingBuf<MapData>,
    /// `.bss`: the `lost_exits` and `pass` counters.
    bss: OwnedFd,
    /// The other maps, and the tracepoint programs and their links.
    _held: Vec<OwnedFd>,
    lost_seen: u64,
    /// The last pass's [`flags::ORPHANS`] records: named again this pass
    /// (the record can be read before the reparenting it announces).
    orphaned_before: Vec<i32>,
    buf: Vec<u8>,
    passes: u64,
    kernel_btf: KernelBtf,
    btf_cached: bool,
}

/// How [`Tasks::load`] used the kernel's BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelBtf {
    /// Only the minimal BTF (`btf_min`) was parsed.
    Minimal,
    /// Parsed in full for the relocations (why the minimal BTF could not
    /// be built).
    Parsed(String),
}

const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// The exit records' ring buffer, bytes (a power of two of pages). A record
/// takes 24 bytes with its header, so this holds ~5,400 exits between two
/// passes; more are counted as lost and that pass reads every group (exact,
/// only dearer). Its pages are mapped into cgdash twice over (the ring's
/// wrap-around mapping) and count in its RSS from the start: the object's
/// 256 KiB made 516 KiB of the dashboard's 20.8 MB peak at 10,000
/// processes (issue 18).
const EXITS_BYTES: u32 = 128 * 1024;

/// The inode of the initial pid namespace (`PROC_PID_INIT_INO`: fixed,
/// what `/proc/self/ns/pid` links to on every host since Linux 3.8).
const INITIAL_PID_NS: &str = "pid:[4026531836]";

/// Whether the pids the iterator reports are the ones `/proc` lists: the
/// program reads each task's pid as the host numbers it (`task->pid`,
/// `tgid`), so in a pid namespace (a container, `unshare -p`) it would
/// name processes `/proc` does not have, and miss those it does (measured:
/// under `unshare -fp --mount-proc` the pass named 30809…30812 for the
/// namespace's 1…4). So the path is taken only in the initial namespace,
/// with `/proc` mounted for it (its `self` is this process).
fn host_pids() -> Result<(), Unavailable> {
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map_err(|e| Unavailable(format!("cannot read /proc/self/ns/pid: {e}")))?;
    if ns.as_os_str() != INITIAL_PID_NS {
        return Err(Unavailable(format!(
            "in a pid namespace ({}): the kernel's pids are the host's",
            ns.display()
        )));
    }
    let me = std::fs::read_link("/proc/self").ok();
    if me.as_ref().and_then(|m| m.to_str()) != Some(&std::process::id().to_string()) {
        return Err(Unavailable(
            "/proc is not mounted for this pid namespace".into(),
        ));
    }
    Ok(())
}

impl Tasks {
    /// Loads and attaches the programs. Cheap checks first (root, BTF) so
    /// that where it can't work it costs a `geteuid` and a `stat`.
    pub fn load() -> Result<Tasks, Unavailable> {
        Self::load_with(None, true)
    }

    /// [`Tasks::load`] for a sampler whose process lists come from a
    /// hierarchy without v1's cpuset (`cpuset_moves` false): the one
    /// kernel path that moves tasks without a write to `cgroup.procs`
    /// (`cgroup_transfer_tasks`: cpuset v1 emptying a group whose CPUs
    /// went offline) moves them only within the cpuset hierarchy, so its
    /// tracepoint is not attached (one attach less: the kernel patches its
    /// code for each, at start and again at exit; perf put the four
    /// attaches at ~3% of a start's samples at 200 processes).
    pub fn load_for(cpuset_moves: bool) -> Result<Tasks, Unavailable> {
        Self::load_with(None, cpuset_moves)
    }

    /// [`Tasks::load`] as where the minimal BTF can't be built: the
    /// kernel's parsed in full (for tests/ebpf_btf_live.rs).
    #[doc(hidden)]
    pub fn load_parsing_the_kernels_btf() -> Result<Tasks, Unavailable> {
        Self::load_with(Some("asked to".into()), true)
    }

    /// `parse`: why the kernel's BTF is to be parsed in full (None: only
    /// if the minimal BTF can't be built).
    fn load_with(parse: Option<String>, cpuset_moves: bool) -> Result<Tasks, Unavailable> {
        if !nix::unistd::geteuid().is_root() {
            return Err(Unavailable("not root".into()));
        }
        if !Path::new(BTF_PATH).exists() {
            return Err(Unavailable(format!("no kernel BTF ({BTF_PATH})")));
        }
        host_pids()?;
        let entries = last_entries(task_count());
        // The kernel's BTF parsed in full (aya's `Btf::from_sys_fs`) is
        // ~130,000 types: ~50 ms of CPU and, for a moment, ~19 MB of heap,
        // the process's peak (issue 18). What the load needs of it — the
        // types the object's CO-RE relocations are rooted at, and the
        // iterator's attach type id — is taken from the raw blob instead
        // ([`relocated_object`], `btf_min`; the iterator is loaded with the id,
        // `iter`), and the object relocated against it is what an earlier
        // start kept (`prepared`). Where the minimal BTF can't be built,
        // the kernel's is parsed in full, as before, gone once loaded
        // (`malloc_trim`).
        let mut btf_cached = false;
        let small = match parse {
            Some(why) => Err(why),
            None => relocated_object(BTF_PATH),
        };
        let ((prepared, attach_id), kernel_btf) = match small {
            Ok((prepared, attach_id, cached)) => {
                btf_cached = cached;
                ((prepared, attach_id), KernelBtf::Minimal)
            }
            Err(why) => {
                let full = Btf::from_sys_fs()
                    .map_err(|e| Unavailable(format!("kernel BTF {BTF_PATH}: {}", chain(&e))))?;
                let (full, id) = with_attach_id(full)?;
                let prepared = load::prepare(&OBJECT.0, &full)
                    .map_err(|e| Unavailable(format!("eBPF object refused: {e}")))?;
                drop(full);
                ((prepared, id), KernelBtf::Parsed(why))
            }
        };
        let loaded = load::load(
            &prepared,
            iter::PROGRAM,
            &[("last", entries), ("exits", EXITS_BYTES)],
            &[
                load::Attach {
                    program: "freed",
                    points: &["sched_process_free"],
                },
                load::Attach {
                    program: "thread_exit",
                    points: &["sched_process_exit"],
                },
                // Both tracepoints take (dst_cgrp, path, task, threadgroup).
                load::Attach {
                    program: "moved",
                    points: if cpuset_moves {
                        &["cgroup_attach_task", "cgroup_transfer_tasks"]
                    } else {
                        &["cgroup_attach_task"]
                    },
                },
            ],
        )
        .map_err(|e| Unavailable(format!("eBPF object refused: {e}")))?;
        drop(prepared);
        let iter = iter::TaskIter::load(&loaded.iter_insns, attach_id)
            .map_err(|e| Unavailable(format!("task iterator refused: {e}")))?;
        let exits = MapData::from_fd(loaded.exits)
            .map_err(|e| Unavailable(format!("`exits` map: {}", chain(&e))))
            .and_then(|m| {
                RingBuf::try_from(Map::RingBuf(m))
                    .map_err(|e| Unavailable(format!("`exits` ring buffer: {}", chain(&e))))
            })?;
        // SAFETY: malloc_trim only returns free heap memory to the kernel.
        unsafe { libc::malloc_trim(0) };
        Ok(Tasks {
            iter,
            exits,
            bss: loaded.bss,
            _held: loaded._held,
            lost_seen: 0,
            orphaned_before: Vec::new(),
            buf: Vec::with_capacity(64 * 1024),
            passes: 0,
            kernel_btf,
            btf_cached,
        })
    }

    /// Whether the relocated object (and the attach id) was the one an
    /// earlier start kept (`cache`): no BTF built, no object parsed.
    pub fn btf_cached(&self) -> bool {
        self.btf_cached
    }

    /// How the load used the kernel's BTF.
    pub fn kernel_btf(&self) -> &KernelBtf {
        &self.kernel_btf
    }

    /// Runs the iterator once and drains the exits: `out` is cleared and
    /// filled. An error leaves the kernel's per-task memory ahead of the
    /// caller's: stop using this path then (the sampler falls back to
    /// `/proc`).
    pub fn pass(&mut self, out: &mut Ran) -> io::Result<()> {
        out.pids.clear();
        out.exits.clear();
        out.exit_parents.clear();
        out.lost_exits = false;
        out.orphaned.clear();
        out.records = 0;
        out.pass = 0;
        out.netns.clear();
        out.fields.clear();
        let mut file = self.iter.open()?;
        self.passes += 1;
        // Read a chunk at a time (the first pass writes a record per task:
        // ~250 KB at 10,000 processes, read whole it was the peak RSS's);
        // a record cut at a chunk's end waits at the start of the buffer.
        self.buf.resize(READ_CHUNK, 0);
        let mut held = 0;
        loop {
            let n = file.read(&mut self.buf[held..])?;
            if n == 0 {
                break;
            }
            let end = held + n;
            let mut at = 0;
            while end - at >= SHORT_RECORD {
                let rec = &self.buf[at..end];
                let word =
                    |i: usize| u32::from_ne_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
                let (tgid, why, netns) = (word(0), word(4), word(8));
                let len = if why & F_LONG != 0 {
                    RECORD
                } else {
                    SHORT_RECORD
                };
                if rec.len() < len {
                    break;
                }
                at += len;
                let Ok(pid) = i32::try_from(tgid) else {
                    continue;
                };
                *out.pids.entry(pid).or_insert(0) |= why & !F_LONG;
                if netns != 0 {
                    out.netns.insert(pid, netns);
                }
                if let Some(f) = Fields::parse(&rec[..len]) {
                    out.add_fields(pid, &f);
                }
                out.records += 1;
            }
            self.buf.copy_within(at..end, 0);
            held = end - at;
        }
        out.sort_fields();
        let mut orphaned_now = Vec::new();
        while let Some(item) = self.exits.next() {
            exit_record(&item, out, &mut orphaned_now);
        }
        out.orphaned.extend(&orphaned_now);
        out.orphaned.append(&mut self.orphaned_before);
        self.orphaned_before = orphaned_now;
        let [lost, pass] = self.counters();
        out.pass = pass;
        out.lost_exits = lost != self.lost_seen;
        self.lost_seen = lost;
        Ok(())
    }

    /// Passes run so far.
    pub fn passes(&self) -> u64 {
        self.passes
    }

    /// The object's counters (its `.bss`): `lost_exits` and `pass`, 0 if
    /// unreadable.
    fn counters(&self) -> [u64; 2] {
        load::lookup_u64s::<2>(&self.bss, 0).unwrap_or([0, 0])
    }

    /// The object's `lost_exits` counter, read (tests/ebpf_btf_live.rs).
    #[doc(hidden)]
    pub fn lost_exits_counter(&self) -> io::Result<u64> {
        load::lookup_u64s::<2>(&self.bss, 0).map(|[lost, _]| lost)
    }
}

/// One record of the `exits` ring buffer into `out`: a process's exit
/// (16 bytes: `struct exit_rec`) or a process that changed without running
/// (8 bytes: `struct why_rec`: a thread of it exited, [`flags::DEAD`]; it
/// moved, [`flags::MOVED`]; it is named for those). The processes whose
/// parent it was are re-read when it was freed (`out.orphaned`: this pass)
/// or its last thread exits ([`flags::ORPHANS`], into `orphans`: this pass
/// and the next).
fn exit_record(item: &[u8], out: &mut Ran, orphans: &mut Vec<i32>) {
    let word = |i: usize| u32::from_ne_bytes([item[i], item[i + 1], item[i + 2], item[i + 3]]);
    match item.len() {
        16 => {
            let mut start = [0; 8];
            start.copy_from_slice(&item[8..16]);
            if let Ok(pid) = i32::try_from(word(0)) {
                out.exits.push((pid, u64::from_ne_bytes(start)));
                // Reparented by now (it was reaped): a pass that read its
                // children before that may have seen the old parent.
                out.orphaned.push(pid);
                if let Ok(parent @ 1..) = i32::try_from(word(4)) {
                    out.exit_parents.insert(pid, parent);
                }
            }
        }
        8 => {
            let (Ok(pid), why) = (i32::try_from(word(0)), word(4)) else {
                return;
            };
            if why & flags::ORPHANS != 0 {
                orphans.push(pid);
            }
            let why = why & !flags::ORPHANS;
            if why != 0 {
                *out.pids.entry(pid).or_insert(0) |= why;
            }
        }
        _ => {}
    }
}

/// The type a program attaches to by id: the task iterator's
/// `bpf_iter_task` (a FUNC). The exit program is a raw tracepoint,
/// attached by name.
const ATTACH: [(&str, u32); 1] = [(ATTACH_FUNC, BTF_KIND_FUNC)];

/// The task iterator's attach point.
const ATTACH_FUNC: &str = "bpf_iter_task";

/// A parsed BTF of the kernel's with the id of [`ATTACH_FUNC`] in it.
fn with_attach_id(full: Btf) -> Result<(Btf, u32), Unavailable> {
    let id = full
        .id_by_type_name_kind(ATTACH_FUNC, aya_obj::btf::BtfKind::Func)
        .map_err(|_| Unavailable(format!("no {ATTACH_FUNC} in the kernel's BTF")))?;
    Ok((full, id))
}

/// Bytes of a leader's task record (`struct rec` in tasks.bpf.c, flagged
/// `F_LONG`): process id, why, the leader's network namespace, then its
/// [`Fields`]. Other threads' records are the first [`SHORT_RECORD`] bytes.
const RECORD: usize = 104;
const SHORT_RECORD: usize = 12;
const F_LONG: u32 = 128;

/// Bytes read from the iterator at a time.
const READ_CHUNK: usize = 64 * 1024;

const BTF_MAGIC: u16 = 0xeb9f;
const BTF_KIND_PTR: u32 = 2;
const BTF_KIND_FUNC: u32 = 12;

/// The object relocated against the BTF the load needs, from the
/// kernel's raw blob at `path` (the minimal target types of the object's
/// CO-RE relocations, see `btf_min`: a few hundred types, not ~130,000),
/// and the kernel's id of the iterator's attach type ([`ATTACH`]; the
/// iterator is loaded with it, `iter`). Both are the last start's where
/// they were kept (`cache`; then `true`: no BTF built, no object parsed),
/// else made and kept.
fn relocated_object(path: &str) -> Result<(Prepared, u32, bool), String> {
    let dir = crate::launch::private_state_dir();
    let key = cache::key(&OBJECT.0, path, &ATTACH);
    if let (Some(dir), Some(key)) = (&dir, key) {
        if let Some(kept) = cache::read(dir, key) {
            if let (Some(p), Some(&id)) = (Prepared::decode(&kept.blob), kept.attach_ids.first()) {
                return Ok((p, id, true));
            }
        }
    }
    let min = build_minimal(path)?;
    let btf = Btf::parse(&min.blob, aya::Endianness::default())
        .map_err(|e| format!("minimal BTF refused: {e}"))?;
    let id = *min
        .attach_ids
        .first()
        .ok_or_else(|| format!("no id for {ATTACH_FUNC}"))?;
    let prepared = load::prepare(&OBJECT.0, &btf)?;
    if let (Some(dir), Some(key)) = (&dir, key) {
        let kept = cache::Kept {
            attach_ids: vec![id],
            blob: prepared.encode(),
        };
        cache::write(dir, key, &kept);
    }
    Ok((prepared, id, false))
}

fn build_minimal(path: &str) -> Result<btf_min::Minimal, String> {
    let raw = KernelBlob::open(path)?;
    btf_min::build(&raw, &OBJECT.0, &ATTACH).map_err(|e| format!("kernel BTF {path}: {e}"))
}

/// The unparsed relocation BTF of [`relocated_object`] (public for
/// tests/ebpf_btf_live.rs, which relocates the object against it and
/// against the full BTF).
#[doc(hidden)]
pub fn minimal_btf(path: &str) -> Result<Vec<u8>, String> {
    build_minimal(path).map(|m| m.blob)
}

/// The kernel's raw BTF (5.5 MB on 6.18), mapped where the kernel lets
/// `/sys/kernel/btf/vmlinux` be mapped (6.16+), read where not. Reading
/// it costs ~6 ms of a ~26 ms load (sysfs hands it out a page per `read`,
/// into 1,350 freshly zeroed pages); the mapping is the kernel's own pages,
/// read-only: ~0.2 ms to walk (issue 18, startup).
enum KernelBlob {
    Mapped(*const u8, usize),
    Read(Vec<u8>),
}

impl KernelBlob {
    fn open(path: &str) -> Result<KernelBlob, String> {
        use std::os::fd::AsRawFd;
        let file =
            std::fs::File::open(path).map_err(|e| format!("cannot open kernel BTF {path}: {e}"))?;
        let len = file
            .metadata()
            .map_err(|e| format!("cannot stat kernel BTF {path}: {e}"))?
            .len() as usize;
        if len > 0 {
            // SAFETY: a fresh private read-only mapping of `len` bytes of an
            // open file; unmapped only in `drop`, and never written.
            let at = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE,
                    file.as_raw_fd(),
                    0,
                )
            };
            if at != libc::MAP_FAILED {
                return Ok(KernelBlob::Mapped(at as *const u8, len));
            }
        }
        let mut raw = Vec::with_capacity(len);
        std::io::Read::read_to_end(&mut &file, &mut raw)
            .map_err(|e| format!("cannot read kernel BTF {path}: {e}"))?;
        Ok(KernelBlob::Read(raw))
    }
}

impl std::ops::Deref for KernelBlob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            // SAFETY: mapped readable for `len` bytes until `drop`.
            KernelBlob::Mapped(at, len) => unsafe { std::slice::from_raw_parts(*at, *len) },
            KernelBlob::Read(v) => v,
        }
    }
}

impl Drop for KernelBlob {
    fn drop(&mut self) {
        if let KernelBlob::Mapped(at, len) = *self {
            // SAFETY: the mapping made in `open`, unmapped once.
            unsafe { libc::munmap(at as *mut libc::c_void, len) };
        }
    }
}

/// The object as the load takes it (`prepared`, encoded as `cache` keeps
/// it), relocated against the minimal BTF built from `path`, or against
/// the kernel's parsed in full (for tests/ebpf_btf_live.rs).
#[doc(hidden)]
pub fn prepared_bytes(path: &str, full: bool) -> Result<Vec<u8>, String> {
    let btf = if full {
        Btf::from_sys_fs().map_err(|e| format!("kernel BTF: {}", chain(&e)))?
    } else {
        let min = build_minimal(path)?;
        Btf::parse(&min.blob, aya::Endianness::default()).map_err(|e| e.to_string())?
    };
    load::prepare(&OBJECT.0, &btf).map(|p| p.encode())
}

/// The embedded eBPF object (for tests/ebpf_btf_live.rs).
#[doc(hidden)]
pub fn object() -> &'static [u8] {
    &OBJECT.0
}

/// The ids of the named types (name, kind) in a raw BTF blob (the kernel's
/// `/sys/kernel/btf/vmlinux`), by walking its type records: no parsed copy
/// of the ~130,000 types. `None` for a name not there. The tests' oracle
/// for the ids `btf_min` finds in its own walk.
#[cfg(test)]
fn find_type_ids(blob: &[u8], want: &[(&str, u32)]) -> Result<Vec<Option<u32>>, String> {
    let raw = btf_min::Raw::parse(blob)?;
    let mut out = vec![None; want.len()];
    for id in 1..raw.ids_end() {
        let name = raw.name(id);
        if name.is_empty() {
            continue;
        }
        let kind = raw.kind(id);
        for (slot, &(n, k)) in out.iter_mut().zip(want) {
            if slot.is_none() && kind == Some(k) && name == n.as_bytes() {
                *slot = Some(id);
            }
        }
    }
    Ok(out)
}

/// Room in the per-task map: 4× the tasks there are now, a power of two
/// between 16 K and 1 M. The kernel sizes the hash table's buckets by it
/// (16 bytes each: 1 MiB at 10,000 tasks); past it a task has no entry,
/// so every pass reports it as new (slower, never wrong).
fn last_entries(tasks: Option<u32>) -> u32 {
    tasks
        .unwrap_or(0)
        .saturating_mul(4)
        .clamp(1 << 14, 1 << 20)
        .next_power_of_two()
}

/// Tasks (threads included) on the machine: `/proc/loadavg`'s 4th field.
fn task_count() -> Option<u32> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace()
        .nth(3)?
        .split_once('/')?
        .1
        .parse()
        .ok()
}

/// An error with its sources, one line (the verifier's log is cut).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    let mut seen = HashSet::new();
    while let Some(x) = src {
        let t = x.to_string();
        if seen.insert(t.clone()) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = x.source();
    }
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_blob_is_the_files_bytes_mapped_or_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let blob = KernelBlob::open(path.to_str().unwrap()).unwrap();
        assert!(
            matches!(blob, KernelBlob::Mapped(..)),
            "a regular file maps"
        );
        assert_eq!(&blob[..], &bytes[..]);
        // A file whose size stat can't tell (procfs says 0) is read.
        let stat = KernelBlob::open("/proc/self/stat").unwrap();
        assert!(matches!(stat, KernelBlob::Read(_)));
        assert!(stat.starts_with(std::process::id().to_string().as_bytes()));
        let err = KernelBlob::open("/nonexistent/btf").err().unwrap();
        assert!(err.contains("/nonexistent/btf"), "{err}");
    }

    #[test]
    fn exit_records_are_told_apart_by_their_length() {
        let mut out = Ran::default();
        let mut process = Vec::new();
        for w in [42u32, 7] {
            process.extend_from_slice(&w.to_ne_bytes());
        }
        process.extend_from_slice(&123_456u64.to_ne_bytes());
        let mut orphans = Vec::new();
        exit_record(&process, &mut out, &mut orphans);
        assert_eq!(out.exits, vec![(42, 123_456)]);
        assert_eq!(out.exit_parents.get(&42), Some(&7));
        assert!(out.pids.is_empty(), "a process's exit names nothing");
        // Freed: its children were reparented before it was reaped.
        assert_eq!(out.orphaned, vec![42]);
        let why = |pid: u32, flags: u32| [pid.to_ne_bytes(), flags.to_ne_bytes()].concat();
        // A thread's exit names its process.
        out.pids.insert(50, flags::RAN);
        exit_record(&why(50, flags::DEAD), &mut out, &mut orphans);
        assert_eq!(out.pids.get(&50), Some(&(flags::RAN | flags::DEAD)));
        assert_eq!(out.exits.len(), 1, "not an exit of the process");
        // A move names the process.
        exit_record(&why(60, flags::MOVED), &mut out, &mut orphans);
        assert_eq!(out.pids.get(&60), Some(&flags::MOVED));
        // Its last thread's exit: its children are re-read, not it.
        exit_record(&why(70, flags::ORPHANS), &mut out, &mut orphans);
        assert_eq!(out.pids.get(&70), None);
        assert_eq!(orphans, vec![70]);
        // A non-leader that is the last thread: both.
        exit_record(
            &why(80, flags::DEAD | flags::ORPHANS),
            &mut out,
            &mut orphans,
        );
        assert_eq!(out.pids.get(&80), Some(&flags::DEAD));
        assert_eq!(orphans, vec![70, 80]);
        // Anything else is left alone.
        exit_record(&[1, 2, 3], &mut out, &mut orphans);
        assert_eq!((out.pids.len(), out.exits.len()), (3, 1));
    }

    #[test]
    fn the_task_map_is_sized_by_the_tasks_there_are() {
        assert_eq!(last_entries(None), 16384);
        assert_eq!(last_entries(Some(300)), 16384);
        assert_eq!(last_entries(Some(10_100)), 65536);
        assert_eq!(last_entries(Some(u32::MAX)), 1 << 20);
    }

    #[test]
    fn type_ids_are_found_by_name_and_kind_in_a_raw_blob() {
        const KIND_TYPEDEF: u32 = 8;
        let strings = b"\0f\0t\0";
        let mut tys = Vec::new();
        for [name, kind] in [[0, BTF_KIND_PTR], [1, BTF_KIND_FUNC], [3, KIND_TYPEDEF]] {
            for word in [name, kind << 24, 0] {
                tys.extend_from_slice(&word.to_le_bytes());
            }
        }
        let blob = btf_min::blob(&tys, strings);
        let want = [
            ("f", BTF_KIND_FUNC),
            ("t", KIND_TYPEDEF),
            ("t", BTF_KIND_FUNC),
        ];
        assert_eq!(
            find_type_ids(&blob, &want).unwrap(),
            vec![Some(2), Some(3), None],
            "by name and kind"
        );
        assert!(find_type_ids(b"not btf at all, not at all", &want).is_err());
        assert!(
            find_type_ids(&blob[..blob.len() - 8], &want).is_err(),
            "cut"
        );
    }

    #[test]
    fn attach_ids_match_a_full_parse_of_the_kernels_btf() {
        // Where the kernel has BTF (this host, the v2 VM): the walk finds
        // the ids aya's own parse finds.
        let Ok(full) = Btf::from_sys_fs() else {
            eprintln!("no {BTF_PATH}: nothing to compare");
            return;
        };
        let (_, id, _) = relocated_object(BTF_PATH).expect("minimal BTF");
        let (name, kind) = ATTACH[0];
        assert_eq!((name, kind), (ATTACH_FUNC, BTF_KIND_FUNC));
        let kind = aya_obj::btf::BtfKind::Func;
        assert_eq!(id, full.id_by_type_name_kind(name, kind).unwrap(), "{name}");
        // Built afresh too, not only as an earlier start kept it.
        let min = build_minimal(BTF_PATH).expect("built");
        assert_eq!(min.attach_ids, vec![id]);
    }

    #[test]
    fn the_embedded_object_is_an_ebpf_elf_with_both_programs() {
        let o = &OBJECT.0;
        assert_eq!(&o[..4], b"\x7fELF");
        // e_machine = EM_BPF (247)
        assert_eq!(u16::from_le_bytes([o[18], o[19]]), 247);
        let text = String::from_utf8_lossy(o);
        for s in [
            "iter/task",
            "raw_tp/sched_process_free",
            "raw_tp/sched_process_exit",
            "exits",
            "last",
        ] {
            assert!(text.contains(s), "{s} missing from the object");
        }
    }
}
