//! The memory controller: usage, peak, limits, limit hits and OOM kills.
//!
//! v1 limits memory+swap as one number (`memory.memsw.limit_in_bytes`); v2
//! has swap alone (`memory.swap.max`) and a throttling limit (`memory.high`).

use std::fs;

use serde::Serialize;

use super::{mismatch, no_note, one, with, At, Controller, Flag, KnobDef, Read};
use crate::cgroup::error::CgroupError;
use crate::cgroup::knob::{self, Host, Knob, Refusal, Setting, Value};
use crate::cgroup::layout::{Layout, Version};
use crate::cgroup::parse;
use crate::cgroup::stats::{Limit, MemoryEvents};
use crate::cgroup::write::{require_file, v1_bytes, v1_memsw_follow, v2_limit, Applied, FileWrite};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MemoryStats {
    pub current: Option<u64>,
    pub peak: Option<u64>,
    pub max: Option<Limit>,
    /// v2 only (`memory.high`).
    pub high: Option<Limit>,
    /// v2 only (`memory.low`): usage protected from reclaim.
    pub low: Option<Limit>,
    /// v2 `memory.swap.max` (swap only).
    pub swap_max: Option<Limit>,
    /// v1 `memory.memsw.limit_in_bytes` (memory + swap).
    pub memsw_max: Option<Limit>,
    /// v1 `memory.failcnt`.
    pub failcnt: Option<u64>,
    /// v2 `memory.events`; on v1 only `oom_kill` (from `memory.oom_control`) is filled.
    pub events: MemoryEvents,
    /// Page cache written to and not yet on its way to disk, and on its
    /// way (`memory.stat`: v1 `total_dirty` / `total_writeback`, the group
    /// and below; v2 `file_dirty` / `file_writeback`). What buffered writes
    /// pile up as: on v1 they are not throttled by `blkio`.
    pub dirty: Option<u64>,
    pub writeback: Option<u64>,
}

/// The published memory part of a group (`groups[].memory` in the JSON:
/// add fields only). The rates are the sampler's; the levels come from
/// [`MemoryView::levels`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct MemoryView {
    pub current_bytes: Option<u64>,
    pub peak_bytes: Option<u64>,
    /// null when unlimited.
    pub max_bytes: Option<u64>,
    pub high_bytes: Option<u64>,
    /// Memory protected from reclaim (v2 `memory.low`); null on v1, and
    /// when it is `max`.
    pub low_bytes: Option<u64>,
    pub swap_max_bytes: Option<u64>,
    /// Cumulative OOM kills in this group.
    pub oom_kills: Option<u64>,
    pub oom_events: Option<u64>,
    /// Times usage hit `max` (v2 `memory.events max`, v1 `memory.failcnt`).
    pub max_events: Option<u64>,
    pub high_events: Option<u64>,
    /// OOM kills during the interval.
    pub oom_kills_delta: Option<u64>,
    pub max_events_per_s: Option<f64>,
    /// Dirty page cache / page cache under writeback (`memory.stat`: v1
    /// `total_dirty`, `total_writeback`; v2 `file_dirty`, `file_writeback`).
    pub dirty_bytes: Option<u64>,
    pub writeback_bytes: Option<u64>,
}

impl MemoryView {
    /// The fields that are readings as they are (usage, limits, event
    /// counts), no rates: the sampler fills the rest.
    pub fn levels(m: &MemoryStats) -> MemoryView {
        MemoryView {
            current_bytes: m.current,
            peak_bytes: m.peak,
            max_bytes: m.max.and_then(Limit::value),
            high_bytes: m.high.and_then(Limit::value),
            low_bytes: m.low.and_then(Limit::value),
            swap_max_bytes: swap_max(m.swap_max, m.memsw_max, m.max),
            oom_events: m.events.oom,
            high_events: m.events.high,
            dirty_bytes: m.dirty,
            writeback_bytes: m.writeback,
            ..MemoryView::default()
        }
    }
}

/// v1 `memory.stat`'s dirty and writeback bytes of the group and its
/// descendants (`total_dirty`, `total_writeback`; `dirty`, `writeback` —
/// the group's own — where the totals are missing, as with
/// `memory.use_hierarchy` off on old kernels).
pub fn v1_dirty(t: &str) -> Option<(u64, u64)> {
    let total = || {
        Some((
            parse::flat_key(t, "total_dirty")?,
            parse::flat_key(t, "total_writeback")?,
        ))
    };
    total().or_else(|| {
        Some((
            parse::flat_key(t, "dirty")?,
            parse::flat_key(t, "writeback")?,
        ))
    })
}

/// Swap limit in the `memory.swap` knob's meaning (swap only): v2
/// `memory.swap.max`; on v1 memory+swap minus memory, as the knob writes it.
pub fn swap_max(v2: Option<Limit>, memsw: Option<Limit>, mem: Option<Limit>) -> Option<u64> {
    if let Some(l) = v2 {
        return l.value();
    }
    match (memsw?, mem?) {
        (Limit::Value(both), Limit::Value(mem)) => Some(both.saturating_sub(mem)),
        _ => None,
    }
}

pub const CONTROLLER: Controller = Controller {
    name: "memory",
    v1_names: &["memory"],
    v2_enable: true,
    knobs: KNOBS,
    explain: explain_refusal,
    note: no_note,
    restore: &[],
    reads: &[
        Read {
            at: At::V1("memory"),
            file: "memory.usage_in_bytes",
            slow: false,
            apply: |t, s| s.memory.current = with(t, parse::single_u64),
        },
        Read {
            at: At::V1("memory"),
            file: "memory.failcnt",
            slow: false,
            apply: |t, s| s.memory.failcnt = with(t, parse::single_u64),
        },
        Read {
            at: At::V1("memory"),
            file: "memory.oom_control",
            slow: false,
            apply: |t, s| s.memory.events.oom_kill = with(t, |t| parse::flat_key(t, "oom_kill")),
        },
        Read {
            at: At::V1("memory"),
            file: "memory.stat",
            slow: false,
            apply: |t, s| {
                (s.memory.dirty, s.memory.writeback) = with(t, v1_dirty).unzip();
            },
        },
        Read {
            at: At::V2("memory"),
            file: "memory.stat",
            slow: false,
            apply: |t, s| {
                (s.memory.dirty, s.memory.writeback) = with(t, |t| {
                    Some((
                        parse::flat_key(t, "file_dirty")?,
                        parse::flat_key(t, "file_writeback")?,
                    ))
                })
                .unzip();
            },
        },
        Read {
            at: At::V2("memory"),
            file: "memory.current",
            slow: false,
            apply: |t, s| s.memory.current = with(t, parse::single_u64),
        },
        Read {
            at: At::V2("memory"),
            file: "memory.events",
            slow: false,
            apply: |t, s| s.memory.events = t.map(parse::memory_events).unwrap_or_default(),
        },
        Read {
            at: At::V1("memory"),
            file: "memory.limit_in_bytes",
            slow: true,
            apply: |t, s| s.memory.max = with(t, parse::v1_memory_limit),
        },
        Read {
            at: At::V1("memory"),
            file: "memory.max_usage_in_bytes",
            slow: true,
            apply: |t, s| s.memory.peak = with(t, parse::single_u64),
        },
        Read {
            at: At::V1("memory"),
            file: "memory.memsw.limit_in_bytes",
            slow: true,
            apply: |t, s| s.memory.memsw_max = with(t, parse::v1_memory_limit),
        },
        Read {
            at: At::V2("memory"),
            file: "memory.max",
            slow: true,
            apply: |t, s| s.memory.max = with(t, parse::v2_limit),
        },
        Read {
            at: At::V2("memory"),
            file: "memory.high",
            slow: true,
            apply: |t, s| s.memory.high = with(t, parse::v2_limit),
        },
        Read {
            at: At::V2("memory"),
            file: "memory.low",
            slow: true,
            apply: |t, s| s.memory.low = with(t, parse::v2_limit),
        },
        Read {
            at: At::V2("memory"),
            file: "memory.swap.max",
            slow: true,
            apply: |t, s| s.memory.swap_max = with(t, parse::v2_limit),
        },
        Read {
            at: At::V2("memory"),
            file: "memory.peak",
            slow: true,
            apply: |t, s| s.memory.peak = with(t, parse::single_u64),
        },
    ],
};

// ---- knobs ----------------------------------------------------------------

#[allow(non_upper_case_globals)]
impl Knob {
    pub const Memory: Knob = Knob("memory");
    pub const MemoryHigh: Knob = Knob("memory.high");
    pub const MemoryLow: Knob = Knob("memory.low");
    pub const MemorySwap: Knob = Knob("memory.swap");
}

const MEMORY_EBUSY: &str = "the new limit is below the group's current usage and the kernel could not reclaim enough; the old limit is still in place";

const SIZE: &str = "a size in bytes with optional K/M/G/T suffix (256M, 1.5G, 200Mi) or max";

fn size(v: &str, _: Host) -> Result<Value, Refusal> {
    Ok(Value::Bytes(knob::parse_size(v)?))
}

/// Unlimited (null) and unknown look the same in a snapshot: show `max`.
fn bytes(v: Option<u64>) -> Option<Value> {
    Some(Value::Bytes(v.map(Limit::Value).unwrap_or(Limit::Max)))
}

const KNOBS: &[KnobDef] = &[
    KnobDef {
        knob: Knob::Memory,
        aliases: &["memory.max", "mem"],
        syntax: SIZE,
        flag: Some(Flag {
            name: "memory",
            help: "Memory limit (256M, 1G)",
        }),
        launch: true,
        errors: &[(libc::EBUSY, MEMORY_EBUSY)],
        parse: size,
        plan: plan_memory,
        order: |_, _| 3,
        current: |g| bytes(g.memory.max_bytes),
    },
    KnobDef {
        knob: Knob::MemoryHigh,
        aliases: &[],
        syntax: SIZE,
        flag: Some(Flag {
            name: "memory-high",
            help: "Memory high watermark (v2 only)",
        }),
        launch: false,
        errors: &[],
        parse: size,
        plan: |layout, group, s, _| {
            let Value::Bytes(l) = s.value else {
                return Err(mismatch(s));
            };
            let (dir, v) = layout.knob_dir(group, "memory", s.knob)?;
            if v == Version::V1 {
                return Err(CgroupError::Unsupported {
                    knob: s.knob,
                    why: "memory.high exists only on cgroup v2; this host's memory controller is v1 (use memory= instead)".into(),
                });
            }
            Ok(one(s.knob, dir.join("memory.high"), v2_limit(l)))
        },
        order: |_, _| 5,
        current: |g| bytes(g.memory.high_bytes),
    },
    KnobDef {
        knob: Knob::MemoryLow,
        aliases: &[],
        syntax: SIZE,
        flag: Some(Flag {
            name: "memory-low",
            help: "Memory protected from reclaim while under it (v2 only)",
        }),
        launch: false,
        errors: &[],
        parse: size,
        plan: |layout, group, s, _| {
            let Value::Bytes(l) = s.value else {
                return Err(mismatch(s));
            };
            let (dir, v) = layout.knob_dir(group, "memory", s.knob)?;
            if v == Version::V1 {
                // v1's memory.soft_limit_in_bytes is no translation: it
                // picks whom global reclaim hits first, it protects nothing.
                return Err(CgroupError::Unsupported {
                    knob: s.knob,
                    why: "memory.low exists only on cgroup v2; this host's memory controller is v1"
                        .into(),
                });
            }
            Ok(one(s.knob, dir.join("memory.low"), v2_limit(l)))
        },
        order: |_, _| 5,
        // Unreadable (v1) and `max` both read as null: show nothing then.
        current: |g| Some(Value::Bytes(Limit::Value(g.memory.low_bytes?))),
    },
    KnobDef {
        knob: Knob::MemorySwap,
        aliases: &["memory.swap.max"],
        syntax: SIZE,
        flag: Some(Flag {
            name: "memory-swap",
            help: "Swap allowance (0 = no swap)",
        }),
        launch: false,
        errors: &[
            (
                libc::EINVAL,
                "out of range (on v1 memory+swap must be ≥ the memory limit)",
            ),
            (libc::EBUSY, MEMORY_EBUSY),
        ],
        parse: size,
        plan: plan_swap,
        // v1: memsw before memory when it grows, after when it shrinks, so
        // memsw ≥ memory holds after every write.
        order: |a, _| if memsw_shrinks(a) { 4 } else { 2 },
        current: |g| bytes(g.memory.swap_max_bytes),
    },
];

fn plan_memory(
    layout: &Layout,
    group: &str,
    s: &Setting,
    all: &[Setting],
) -> Result<Vec<FileWrite>, CgroupError> {
    let Value::Bytes(l) = s.value else {
        return Err(mismatch(s));
    };
    let (dir, v) = layout.knob_dir(group, "memory", s.knob)?;
    Ok(match v {
        Version::V1 => {
            let memory = FileWrite {
                knob: s.knob,
                path: dir.join("memory.limit_in_bytes"),
                contents: v1_bytes(l),
            };
            // v1 limits memory+swap as one number (memsw ≥ memory): moving
            // memory alone would change the swap allowance (or be refused),
            // so memsw moves with it unless memory.swap is set in the same call.
            let swap_setting = all.iter().any(|o| o.knob == Knob::MemorySwap);
            match v1_memsw_follow(&dir, l).filter(|_| !swap_setting) {
                Some(f) if f.grows => vec![f.write, memory],
                Some(f) => vec![memory, f.write],
                None => vec![memory],
            }
        }
        Version::V2 => one(s.knob, dir.join("memory.max"), v2_limit(l)),
    })
}

fn plan_swap(
    layout: &Layout,
    group: &str,
    s: &Setting,
    all: &[Setting],
) -> Result<Vec<FileWrite>, CgroupError> {
    let Value::Bytes(l) = s.value else {
        return Err(mismatch(s));
    };
    let (dir, v) = layout.knob_dir(group, "memory", s.knob)?;
    match v {
        Version::V2 => {
            require_file(
                &dir,
                "memory.swap.max",
                s.knob,
                "swap accounting is not available in this kernel",
            )?;
            Ok(one(s.knob, dir.join("memory.swap.max"), v2_limit(l)))
        }
        Version::V1 => {
            require_file(
                &dir,
                "memory.memsw.limit_in_bytes",
                s.knob,
                "swap accounting is off (boot with swapaccount=1)",
            )?;
            // v1 limits memory+swap together: memsw = memory limit + swap.
            let memory_setting = all.iter().find_map(|s| match (s.knob, &s.value) {
                (Knob::Memory, Value::Bytes(l)) => Some(*l),
                _ => None,
            });
            let mem = match memory_setting {
                Some(m) => m,
                None => fs::read_to_string(dir.join("memory.limit_in_bytes"))
                    .ok()
                    .and_then(|t| parse::v1_memory_limit(&t))
                    .unwrap_or(Limit::Max),
            };
            let memsw = match (mem, l) {
                (_, Limit::Max) => Limit::Max,
                (Limit::Value(m), Limit::Value(sw)) => Limit::Value(m + sw),
                (Limit::Max, Limit::Value(_)) => {
                    return Err(CgroupError::Unsupported {
                        knob: s.knob,
                        why: "on cgroup v1 swap is limited as memory+swap, so memory.swap needs a memory limit (set memory= too)".into(),
                    })
                }
            };
            Ok(one(
                s.knob,
                dir.join("memory.memsw.limit_in_bytes"),
                v1_bytes(memsw),
            ))
        }
    }
}

/// Whether this (v1) memory.swap write lowers memory+swap.
fn memsw_shrinks(a: &Applied) -> bool {
    a.writes.first().is_some_and(|w| {
        let cur = fs::read_to_string(&w.path)
            .ok()
            .and_then(|t| parse::v1_memory_limit(&t));
        let new = w.contents.parse::<i64>().ok();
        match (cur, new) {
            (Some(Limit::Value(cur)), Some(new)) => new >= 0 && (new as u64) < cur,
            (Some(Limit::Max), Some(new)) => new >= 0,
            _ => false,
        }
    })
}

/// A v1 EINVAL in words, with the numbers that explain it: for memory it
/// means "above memory+swap", for memory+swap "below memory".
fn explain_refusal(w: &FileWrite, errno: i32) -> Option<String> {
    if errno != libc::EINVAL {
        return None;
    }
    let file = w.path.file_name().and_then(|n| n.to_str());
    let dir = w.path.parent()?;
    let read = |f: &str| {
        fs::read_to_string(dir.join(f))
            .ok()
            .and_then(|t| parse::v1_memory_limit(&t))
    };
    let shown = |l: Limit| match l {
        Limit::Max => "unlimited".to_string(),
        Limit::Value(b) => knob::format_size(b),
    };
    let new = parse::v1_memory_limit(&w.contents).or(match w.contents.trim() {
        "-1" => Some(Limit::Max),
        _ => None,
    })?;
    match file? {
        "memory.limit_in_bytes" => read("memory.memsw.limit_in_bytes").map(|memsw| format!(
            "on cgroup v1 the memory limit may not exceed the memory+swap limit, and {} > memory.memsw.limit_in_bytes {} (set memory.swap= in the same call to choose the swap allowance)",
            shown(new),
            shown(memsw)
        )),
        "memory.memsw.limit_in_bytes" => read("memory.limit_in_bytes").map(|memory| format!(
            "on cgroup v1 the memory+swap limit may not be below the memory limit, and {} < memory.limit_in_bytes {}",
            shown(new),
            shown(memory)
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::knob::parse_settings_on;
    use std::path::Path;

    fn put(dir: &Path, file: &str, text: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(file), text).unwrap();
    }

    fn plan(l: &Layout, arg: &str) -> Result<Vec<(String, String)>, String> {
        let settings = parse_settings_on(&[arg], Host { cpus: 4 }).unwrap();
        crate::cgroup::controllers::planned_writes(l, &settings)
    }

    #[test]
    fn hc_memory_low_v2_only() {
        let t = tempfile::tempdir().unwrap();
        put(t.path(), "cgroup.controllers", "memory\n");
        put(t.path(), "cgroup.procs", "");
        let g = t.path().join("g");
        for (f, c) in [
            ("cgroup.procs", ""),
            ("memory.max", "max\n"),
            ("memory.low", "0\n"),
        ] {
            put(&g, f, c);
        }
        let l = Layout::from_root(t.path()).unwrap();
        assert_eq!(
            plan(&l, "memory.low=64M"),
            Ok(vec![("memory.low".into(), (64u64 << 20).to_string())])
        );
        assert_eq!(
            plan(&l, "memory.low=max"),
            Ok(vec![("memory.low".into(), "max".into())])
        );
        put(&g, "memory.low", "33554432\n");
        let s = l.read_group("g").unwrap();
        assert_eq!(s.memory.low, Some(Limit::Value(32 << 20)));
        let view = MemoryView::levels(&s.memory);
        assert_eq!(view.low_bytes, Some(32 << 20));
        let snap = crate::model::GroupSnapshot {
            memory: view,
            ..Default::default()
        };
        assert_eq!(
            (Knob::MemoryLow.def().current)(&snap).map(|v| v.to_string()),
            Some("32M".into())
        );

        let t = tempfile::tempdir().unwrap();
        let g = t.path().join("memory/g");
        for d in [t.path().join("memory"), g.clone()] {
            put(&d, "cgroup.procs", "");
            put(&d, "memory.limit_in_bytes", "9223372036854771712\n");
        }
        let l = Layout::from_root(t.path()).unwrap();
        let e = plan(&l, "memory.low=64M").unwrap_err();
        assert!(e.contains("only on cgroup v2"), "{e}");
        assert_eq!(l.read_group("g").unwrap().memory.low, None);
    }

    /// v1 `memory.stat`: the totals (group and below) win; the group's own
    /// lines where a kernel prints no totals; nothing when either is missing.
    #[test]
    fn io_v1_dirty_prefers_the_totals() {
        let both = "dirty 1\nwriteback 2\ntotal_dirty 30\ntotal_writeback 40\n";
        assert_eq!(v1_dirty(both), Some((30, 40)));
        assert_eq!(v1_dirty("cache 5\ndirty 1\nwriteback 2\n"), Some((1, 2)));
        assert_eq!(v1_dirty("cache 5\ndirty 1\n"), None);
        // `total_dirty` is not `dirty` (keys match whole).
        assert_eq!(v1_dirty("total_dirty 3\nwriteback 4\n"), None);
    }
}
