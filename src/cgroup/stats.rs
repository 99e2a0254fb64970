//! Raw readings of one group, as the kernel reports them (cumulative counters,
//! limits). Rates are computed later by the sampler. Every field is `Option`:
//! `None` means the file was missing or unreadable, never "zero".

use serde::Serialize;

/// A limit that is either a number or the kernel's "no limit".
///
/// v1 spells "no limit" as -1 (`cpu.cfs_quota_us`) or a huge page-rounded
/// number (`memory.limit_in_bytes`); v2 spells it `max`. Both map to `Max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    Max,
    Value(u64),
}

impl Limit {
    /// The number, or `None` when unlimited (the JSON convention: null = no limit).
    pub fn value(self) -> Option<u64> {
        match self {
            Limit::Max => None,
            Limit::Value(v) => Some(v),
        }
    }
}

/// CPU bandwidth limit: `quota` µs of CPU time per `period_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CpuMax {
    pub quota_us: Limit,
    pub period_us: u64,
}

impl CpuMax {
    /// The limit in percent of one CPU (100 = one full core), `None` if unlimited.
    pub fn percent(self) -> Option<f64> {
        match self.quota_us {
            Limit::Max => None,
            Limit::Value(q) if self.period_us > 0 => Some(q as f64 * 100.0 / self.period_us as f64),
            Limit::Value(_) => None,
        }
    }
}

/// The cpu controller's readings (declared with it, in `controllers/cpu.rs`).
pub use super::controllers::cpu::CpuStats;

/// The io controller's readings (declared with it, in `controllers/io.rs`).
pub use super::controllers::io::IoStats;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemoryEvents {
    pub low: Option<u64>,
    pub high: Option<u64>,
    pub max: Option<u64>,
    pub oom: Option<u64>,
    pub oom_kill: Option<u64>,
}

/// The memory controller's readings (declared with it, in `controllers/memory.rs`).
pub use super::controllers::memory::MemoryStats;

/// The pids controller's readings (`controllers/pids.rs`).
pub use super::controllers::pids::PidsStats;

/// The cpuset controller's readings, published as they are (`controllers/cpuset.rs`).
pub use super::controllers::cpuset::CpusetStats;

/// One line of a PSI file (`some` or `full`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PsiLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total_us: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Psi {
    pub some: Option<PsiLine>,
    pub full: Option<PsiLine>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Pressure {
    pub cpu: Option<Psi>,
    pub memory: Option<Psi>,
    pub io: Option<Psi>,
}

/// Everything cgdash reads about one group at one instant.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GroupStats {
    /// Path relative to the hierarchy root, no leading slash; `""` is the root.
    pub path: String,
    /// Identity of the directory (inode in the primary hierarchy). A group
    /// removed and recreated under the same path gets a new id, so the sampler
    /// never subtracts counters of two different groups.
    pub id: Option<u64>,
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub cpuset: CpusetStats,
    pub frozen: Option<bool>,
    pub io: IoStats,
    /// v2 only (per-group PSI files). Boxed: 240 bytes that most groups on
    /// a v1 host don't have, kept per group in the reader and the snapshots.
    pub pressure: Option<Box<Pressure>>,
    /// Number of processes directly in the group (`cgroup.procs` of the primary hierarchy).
    pub nprocs: Option<u64>,
    /// Their pids, when read (by `GroupReader`; `read_group` only counts them).
    #[serde(skip)]
    pub procs: Option<Vec<i32>>,
}

/// Shows a group path the way users type it: `/` for the root.
pub fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// Normalises a user-typed group path (`/cgdash/demo/`, `cgdash/demo`) to the
/// internal form (`cgdash/demo`, `""` for the root).
pub fn normalize_path(path: &str) -> String {
    path.trim_matches('/').to_string()
}
