//! Network readings of groups whose processes have a network namespace of
//! their own (docker/podman containers, `cgdash run` workloads, anything
//! `unshare -n`'d): rx/tx bytes, packets, errors and drops per interface
//! and in total, from **one member's `/proc/PID/net/dev`** — the counters
//! of every interface of the namespace that process is in, as cAdvisor reads
//! them (`networkStatsFromProc`).
//!
//! Cheap by construction:
//! - A process's namespace is known by the inode of its `/proc/PID/net/dev`:
//!   a procfs entry each network namespace registers for itself, so one
//!   `stat` tells namespaces apart — and unlike `/proc/PID/ns/net` it needs
//!   no ptrace rights (PID 1's is readable where its `ns/net` is not). The
//!   inode is cached per pid: read when a pid is first seen, on its next
//!   two samples (a runtime may `setns` a process after placing it in its
//!   group) — except for the pids of the reader's first sample, which were
//!   there before cgdash started (at 10,000 processes those two re-reads
//!   were 20,000 `stat`s of cgdash's startup, issue 18) —, then every
//!   [`RECHECK`]th sample (processes change namespace
//!   after their start only by `setns`/`unshare`, which is rare: the
//!   re-check is a safety net, kept cheap — a `stat` of `net/dev` costs about
//!   twice one of `/proc/PID/stat`). On the eBPF path the pass gives each
//!   process leader it names its namespace's nsfs number: processes that
//!   share one then share one `stat` per sample (the first sample names
//!   every process: 10,000 `stat`s became a few).
//! - `net/dev` is read only for groups with a namespace other than the
//!   host's (PID 1's and cgdash's own), once per namespace per sample.
//! - Groups sharing one namespace (a pod's containers and its pause
//!   container) are counted once: the numbers go to one group (the pod's
//!   `k8s-infra` sandbox if it is among them, else the one nearest the root,
//!   else the first by path), the others get `shared_with` naming it and no
//!   numbers, so summing over groups never counts a namespace twice.
//! - Totals leave out `lo` (traffic a namespace sends itself); it is kept in
//!   `interfaces[]` with its own rates.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::fnv::PidMap;
use crate::model::GroupSnapshot;

/// How often (in samples) a known pid's namespace is `stat`ed again.
pub const RECHECK: u64 = 64;

/// One interface's line of `/proc/PID/net/dev` (cumulative counters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetDev {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_drops: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_drops: u64,
}

/// Parses `/proc/net/dev`: two header lines, then `NAME: 16 numbers` (rx:
/// bytes packets errs drop fifo frame compressed multicast; tx: bytes
/// packets errs drop fifo colls carrier compressed). A line of another
/// shape makes the whole file untrusted (`Err` naming it), as cAdvisor does.
pub fn parse_net_dev(text: &str) -> Result<Vec<NetDev>, String> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        // Interface names can't hold ':' (the kernel refuses them), and
        // a long name touches its first number: split at the colon.
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("not an interface line: {line:?}"))?;
        let mut n = [0u64; 16];
        let mut fields = rest.split_whitespace();
        for slot in &mut n {
            *slot = fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| format!("not 16 counters: {line:?}"))?;
        }
        if fields.next().is_some() {
            return Err(format!("more than 16 counters: {line:?}"));
        }
        out.push(NetDev {
            name: name.trim().to_string(),
            rx_bytes: n[0],
            rx_packets: n[1],
            rx_errors: n[2],
            rx_drops: n[3],
            tx_bytes: n[8],
            tx_packets: n[9],
            tx_errors: n[10],
            tx_drops: n[11],
        });
    }
    Ok(out)
}

/// One interface in `groups[].net.interfaces[]`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct NetInterfaceView {
    pub name: String,
    pub rx_bytes_per_s: Option<f64>,
    pub tx_bytes_per_s: Option<f64>,
    pub rx_packets_per_s: Option<f64>,
    pub tx_packets_per_s: Option<f64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_drops: u64,
    pub tx_drops: u64,
}

/// `groups[].net`: `null` for a group whose processes are all in the
/// host's network namespace (or that has none).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct NetView {
    /// Totals over the interfaces other than `lo`, per second over the interval.
    pub rx_bytes_per_s: Option<f64>,
    pub tx_bytes_per_s: Option<f64>,
    pub rx_packets_per_s: Option<f64>,
    pub tx_packets_per_s: Option<f64>,
    /// Cumulative totals (not `lo`).
    pub rx_bytes: Option<u64>,
    pub tx_bytes: Option<u64>,
    pub rx_packets: Option<u64>,
    pub tx_packets: Option<u64>,
    pub rx_errors: Option<u64>,
    pub tx_errors: Option<u64>,
    /// Packets dropped, cumulative (not `lo`).
    pub rx_drops: Option<u64>,
    pub tx_drops: Option<u64>,
    /// Bandwidth limits in bytes/s (`net.rate_in`/`net.rate_out`, for
    /// workloads cgdash launched with their own veth); `null` = none.
    pub rate_in: Option<u64>,
    pub rate_out: Option<u64>,
    /// Identifies the namespace (inode of its `net/dev` in procfs).
    pub netns: u64,
    /// The member whose `/proc/PID/net/dev` was read.
    pub pid: i32,
    /// Another group in the same namespace carries the numbers (this one's
    /// are `null`), so a sum over groups counts each namespace once.
    pub shared_with: Option<String>,
    pub interfaces: Vec<NetInterfaceView>,
}

/// A pid's namespace, as last read. 16 bytes (a namespace's inode is
/// never 0, and the generation is kept to 32 bits: only equality with the
/// current one matters): one per process, 10,000 at scale (issue 18).
#[derive(Clone, Copy, Debug)]
struct PidNs {
    key: Option<NonZeroU64>,
    /// Samples since first seen (re-read on the first three).
    age: u32,
    /// The sample that last saw it (`NetReader::generation`, truncated).
    seen: u32,
}

/// A group's last reading, for rates.
struct Prev {
    key: u64,
    at: Instant,
    devs: Vec<NetDev>,
}

/// Reads the network of groups in namespaces of their own; one per sampler.
pub(crate) struct NetReader {
    proc_root: PathBuf,
    /// Namespaces that are "the host's" (PID 1's, cgdash's own).
    host: Vec<u64>,
    pids: PidMap<PidNs>,
    /// This sample: (group index, chosen pid, namespace).
    found: Vec<(usize, i32, u64)>,
    prev: HashMap<String, Prev>,
    generation: u64,
    path: String,
    /// `net/dev` reads, for tests and benches.
    pub(crate) reads: u64,
    /// `stat`s of `net/dev`, for tests and benches.
    pub(crate) stats: u64,
    /// This sample's eBPF pass: the processes it named (`None`: no pass),
    /// each with its namespace's nsfs inode number as the kernel gave it
    /// (0: not given). A process changes namespace only by running
    /// (`setns`, `unshare`), so one the pass did not name keeps its
    /// namespace without a re-check.
    named: Option<PidMap<u32>>,
    /// This sample: nsfs inode number → the key a member's `stat` gave.
    /// Named processes in a namespace already `stat`ed this sample take its
    /// key: one `stat` per namespace, not per process (at 10,000 processes
    /// the first sample's 10,000 `stat`s were ~120 ms of cgdash's startup,
    /// issue 18). Per sample only: a dead namespace's number can be reused.
    by_inum: HashMap<u32, u64>,
}

impl NetReader {
    /// The host's namespaces are PID 1's and our own (either may be
    /// unreadable, e.g. a PID 1 in another user namespace: then the other).
    pub(crate) fn new(proc_root: PathBuf) -> NetReader {
        let mut r = NetReader::with_host(proc_root, Vec::new());
        let host: Vec<u64> =
            ["1", "self"]
                .iter()
                .filter_map(|p| r.stat_key(p))
                .fold(Vec::new(), |mut v, k| {
                    if !v.contains(&k) {
                        v.push(k);
                    }
                    v
                });
        r.host = host;
        r
    }

    /// With the host's namespaces given (tests).
    pub(crate) fn with_host(proc_root: PathBuf, host: Vec<u64>) -> NetReader {
        NetReader {
            proc_root,
            host,
            pids: PidMap::default(),
            found: Vec::new(),
            prev: HashMap::new(),
            generation: 0,
            path: String::new(),
            reads: 0,
            stats: 0,
            named: None,
            by_inum: HashMap::new(),
        }
    }

    fn stat_key(&mut self, pid: impl std::fmt::Display) -> Option<u64> {
        use std::fmt::Write as _;
        self.path.clear();
        let _ = write!(self.path, "{}/{pid}/net/dev", self.proc_root.display());
        self.stats += 1;
        std::fs::metadata(&self.path).ok().map(|m| m.ino())
    }

    /// Starts a sample.
    pub(crate) fn begin(&mut self) {
        self.generation += 1;
        self.found.clear();
        self.by_inum.clear();
    }

    /// This sample's eBPF pass named these processes, with the nsfs inode
    /// number of each one's network namespace where the kernel gave it (0:
    /// not given); `None`: no pass. The others are not re-checked.
    pub(crate) fn set_named(&mut self, named: Option<&mut dyn Iterator<Item = (i32, u32)>>) {
        match named {
            Some(it) => {
                let m = self.named.get_or_insert_with(Default::default);
                m.clear();
                m.extend(it);
            }
            None => self.named = None,
        }
    }

    /// `pid`'s key, read now: by its `stat`, or — for a process the pass
    /// named with a namespace number another member of which was `stat`ed
    /// this sample — that member's.
    fn read_key(&mut self, pid: i32) -> Option<u64> {
        let inum = self
            .named
            .as_ref()
            .and_then(|n| n.get(&pid))
            .copied()
            .filter(|&i| i != 0);
        if let Some(k) = inum.and_then(|i| self.by_inum.get(&i)) {
            return Some(*k);
        }
        let key = self.stat_key(pid)?;
        if let Some(i) = inum {
            self.by_inum.insert(i, key);
        }
        Some(key)
    }

    /// The members of group `index` (its `cgroup.procs`): notes the
    /// namespace of the lowest pid outside the host's, if any.
    pub(crate) fn observe(&mut self, index: usize, pids: &[i32]) {
        let generation = self.generation;
        let seen = generation as u32;
        let mut best: Option<(i32, u64)> = None;
        for &pid in pids {
            let entry = self.pids.get(&pid).copied();
            let key = match entry {
                // Already placed this sample (listed in two groups' procs).
                Some(e) if e.seen == seen => e.key.map(NonZeroU64::get),
                Some(e)
                    if e.age >= 3
                        && (!(generation + pid as u64).is_multiple_of(RECHECK)
                            || self.named.as_ref().is_some_and(|n| !n.contains_key(&pid))) =>
                {
                    self.pids.insert(
                        pid,
                        PidNs {
                            age: e.age,
                            seen,
                            ..e
                        },
                    );
                    e.key.map(NonZeroU64::get)
                }
                _ => {
                    let key = self.read_key(pid);
                    // On the first sample every process predates cgdash:
                    // settled (its `setns`, if any, is long done; one
                    // started in the same instant is re-read within RECHECK
                    // samples like any other).
                    let first = if generation == 1 { 3 } else { 0 };
                    let age = entry.map_or(first, |e| e.age.saturating_add(1));
                    self.pids.insert(
                        pid,
                        PidNs {
                            key: key.and_then(NonZeroU64::new),
                            age,
                            seen,
                        },
                    );
                    key
                }
            };
            if let Some(k) = key.filter(|k| !self.host.contains(k)) {
                if best.is_none_or(|(p, _)| pid < p) {
                    best = Some((pid, k));
                }
            }
        }
        if let Some((pid, key)) = best {
            self.found.push((index, pid, key));
        }
    }

    /// Ends a sample: reads each namespace found once and fills `groups[].net`.
    pub(crate) fn finish(&mut self, groups: &mut [GroupSnapshot]) {
        let generation = self.generation;
        self.pids.retain(|_, e| e.seen == generation as u32);
        // One owner per namespace.
        let mut owner: HashMap<u64, usize> = HashMap::new();
        for (n, &(i, _, key)) in self.found.iter().enumerate() {
            match owner.get(&key) {
                Some(&m) if !better(groups, i, self.found[m].0) => {}
                _ => {
                    owner.insert(key, n);
                }
            }
        }
        let mut seen_paths: Vec<&str> = Vec::new();
        let found = std::mem::take(&mut self.found);
        for (n, &(i, pid, key)) in found.iter().enumerate() {
            let o = owner[&key];
            if o != n {
                let owner_path = groups[found[o].0].path.clone();
                groups[i].net = Some(Box::new(NetView {
                    netns: key,
                    pid,
                    shared_with: Some(owner_path),
                    ..NetView::default()
                }));
                continue;
            }
            self.reads += 1;
            let text = std::fs::read_to_string(self.proc_root.join(format!("{pid}/net/dev")));
            let at = Instant::now();
            let Some(devs) = text.ok().and_then(|t| parse_net_dev(&t).ok()) else {
                continue;
            };
            let path = &groups[i].path;
            let prev = self.prev.get(path).filter(|p| p.key == key);
            let view = view(&devs, prev.map(|p| (p.devs.as_slice(), p.at)), at, key, pid);
            self.prev.insert(path.clone(), Prev { key, at, devs });
            let mut view = view;
            // A `cgdash run --net veth` workload: its limits, as recorded
            // in its launcher's state file (issue 19).
            if let Some((rate_in, rate_out)) = crate::launch::net_rates(path) {
                view.rate_in = rate_in;
                view.rate_out = rate_out;
            }
            groups[i].net = Some(Box::new(view));
        }
        for &(i, _, _) in &found {
            seen_paths.push(&groups[i].path);
        }
        self.prev.retain(|p, _| seen_paths.contains(&p.as_str()));
        self.found = found;
    }
}

/// Whether group `a` should carry a shared namespace's numbers rather than `b`.
fn better(groups: &[GroupSnapshot], a: usize, b: usize) -> bool {
    let infra = |i: usize| groups[i].identity.kind.as_deref() == Some("k8s-infra");
    let depth = |i: usize| groups[i].path.matches('/').count();
    (
        infra(a),
        std::cmp::Reverse(depth(a)),
        std::cmp::Reverse(&groups[a].path),
    ) > (
        infra(b),
        std::cmp::Reverse(depth(b)),
        std::cmp::Reverse(&groups[b].path),
    )
}

/// The view of one reading, with rates against `prev` (read at `prev.1`).
pub fn view(
    devs: &[NetDev],
    prev: Option<(&[NetDev], Instant)>,
    at: Instant,
    netns: u64,
    pid: i32,
) -> NetView {
    let secs = prev.map(|(_, t)| at.saturating_duration_since(t).as_secs_f64());
    let secs = secs.filter(|&s| s > 0.0);
    let rate = |cur: u64, old: Option<u64>| -> Option<f64> {
        let (s, old) = (secs?, old?);
        cur.checked_sub(old).map(|d| d as f64 / s)
    };
    let mut v = NetView {
        netns,
        pid,
        ..NetView::default()
    };
    let mut tot = NetDev::default();
    let mut tot_prev = Some(NetDev::default());
    for d in devs {
        let old = prev.and_then(|(p, _)| p.iter().find(|o| o.name == d.name));
        v.interfaces.push(NetInterfaceView {
            name: d.name.clone(),
            rx_bytes_per_s: rate(d.rx_bytes, old.map(|o| o.rx_bytes)),
            tx_bytes_per_s: rate(d.tx_bytes, old.map(|o| o.tx_bytes)),
            rx_packets_per_s: rate(d.rx_packets, old.map(|o| o.rx_packets)),
            tx_packets_per_s: rate(d.tx_packets, old.map(|o| o.tx_packets)),
            rx_bytes: d.rx_bytes,
            tx_bytes: d.tx_bytes,
            rx_packets: d.rx_packets,
            tx_packets: d.tx_packets,
            rx_errors: d.rx_errors,
            tx_errors: d.tx_errors,
            rx_drops: d.rx_drops,
            tx_drops: d.tx_drops,
        });
        if d.name == "lo" {
            continue;
        }
        add(&mut tot, d);
        // An interface that appeared since (no old reading): its whole
        // count would land in one interval, so the total has no rate.
        match (tot_prev.as_mut(), old) {
            (Some(t), Some(o)) => add(t, o),
            _ => tot_prev = None,
        }
    }
    let tp = tot_prev.as_ref().filter(|_| prev.is_some());
    v.rx_bytes_per_s = rate(tot.rx_bytes, tp.map(|t| t.rx_bytes));
    v.tx_bytes_per_s = rate(tot.tx_bytes, tp.map(|t| t.tx_bytes));
    v.rx_packets_per_s = rate(tot.rx_packets, tp.map(|t| t.rx_packets));
    v.tx_packets_per_s = rate(tot.tx_packets, tp.map(|t| t.tx_packets));
    v.rx_bytes = Some(tot.rx_bytes);
    v.tx_bytes = Some(tot.tx_bytes);
    v.rx_packets = Some(tot.rx_packets);
    v.tx_packets = Some(tot.tx_packets);
    v.rx_errors = Some(tot.rx_errors);
    v.tx_errors = Some(tot.tx_errors);
    v.rx_drops = Some(tot.rx_drops);
    v.tx_drops = Some(tot.tx_drops);
    v
}

fn add(t: &mut NetDev, d: &NetDev) {
    t.rx_bytes += d.rx_bytes;
    t.tx_bytes += d.tx_bytes;
    t.rx_packets += d.rx_packets;
    t.tx_packets += d.tx_packets;
    t.rx_errors += d.rx_errors;
    t.tx_errors += d.tx_errors;
    t.rx_drops += d.rx_drops;
    t.tx_drops += d.tx_drops;
}

#[cfg(test)]
mod tests;
