//! The memory controller: usage, peak, limits, limit hits and OOM kills.
//!
//! v1 limits memory+swap as one number (`memory.memsw.limit_in_bytes`); v2
//! has swap alone (`memory.swap.max`) and a throttling limit (`memory.high`).

use super::{with, At, Controller, Read};
use crate::cgroup::parse;

pub const CONTROLLER: Controller = Controller {
    name: "memory",
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
