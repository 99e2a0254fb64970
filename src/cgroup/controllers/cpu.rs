//! The cpu controller (with v1's `cpuacct`): usage, throttling, quota and
//! period, weight.
//!
//! | reading | v1 | v2 |
//! |---|---|---|
//! | usage | `cpuacct.usage` (ns) | `cpu.stat` `usage_usec` (µs; any v2 group) |
//! | throttling | `cpu.stat` `nr_periods`, `nr_throttled`, `throttled_time` (ns) | `cpu.stat` `…`, `throttled_usec` |
//! | quota/period | `cpu.cfs_quota_us` (-1 = none), `cpu.cfs_period_us` | `cpu.max` `"QUOTA PERIOD"` |
//! | weight | `cpu.shares` (translated) | `cpu.weight` |

use super::{with, At, Controller, Read};
use crate::cgroup::knob::shares_to_weight;
use crate::cgroup::parse;
use crate::cgroup::stats::{CpuMax, GroupStats};

pub const CONTROLLER: Controller = Controller {
    name: "cpu",
    reads: &[
        // Usage: v1 cpuacct when it holds the group; else v2 cpu.stat, which
        // has usage_usec in every v2 group even without the cpu controller.
        Read {
            at: At::V1("cpuacct"),
            file: "cpuacct.usage",
            slow: false,
            apply: |t, s| s.cpu.usage_ns = with(t, parse::single_u64),
        },
        Read {
            at: At::UnifiedUnlessV1("cpuacct"),
            file: "cpu.stat",
            slow: false,
            apply: |t, s| s.cpu.usage_ns = usec_as_ns(t, "usage_usec"),
        },
        Read {
            at: At::V1("cpu"),
            file: "cpu.stat",
            slow: false,
            apply: |t, s| {
                throttling(t, s);
                s.cpu.throttled_ns = with(t, |t| parse::flat_key(t, "throttled_time"));
            },
        },
        Read {
            at: At::V2("cpu"),
            file: "cpu.stat",
            slow: false,
            apply: |t, s| {
                throttling(t, s);
                s.cpu.throttled_ns = usec_as_ns(t, "throttled_usec");
            },
        },
        // v1 splits the limit in two files: the quota opens it (period 0 for
        // a moment), the period completes it; either missing: no limit known.
        Read {
            at: At::V1("cpu"),
            file: "cpu.cfs_quota_us",
            slow: true,
            apply: |t, s| {
                s.cpu.max = with(t, parse::v1_quota).map(|quota_us| CpuMax {
                    quota_us,
                    period_us: 0,
                })
            },
        },
        Read {
            at: At::V1("cpu"),
            file: "cpu.cfs_period_us",
            slow: true,
            apply: |t, s| {
                s.cpu.max = match (s.cpu.max, with(t, parse::single_u64)) {
                    (Some(m), Some(period_us)) => Some(CpuMax { period_us, ..m }),
                    _ => None,
                }
            },
        },
        Read {
            at: At::V1("cpu"),
            file: "cpu.shares",
            slow: true,
            apply: |t, s| {
                s.cpu.shares = with(t, parse::single_u64);
                s.cpu.weight = s.cpu.shares.map(shares_to_weight);
            },
        },
        Read {
            at: At::V2("cpu"),
            file: "cpu.max",
            slow: true,
            apply: |t, s| {
                s.cpu.max = with(t, parse::cpu_max).map(|(quota_us, period_us)| CpuMax {
                    quota_us,
                    period_us,
                })
            },
        },
        Read {
            at: At::V2("cpu"),
            file: "cpu.weight",
            slow: true,
            apply: |t, s| s.cpu.weight = with(t, parse::single_u64),
        },
    ],
};

fn throttling(t: Option<&str>, s: &mut GroupStats) {
    s.cpu.nr_periods = with(t, |t| parse::flat_key(t, "nr_periods"));
    s.cpu.nr_throttled = with(t, |t| parse::flat_key(t, "nr_throttled"));
}

/// A `cpu.stat` key in µs, as ns (the model's unit on both versions).
fn usec_as_ns(t: Option<&str>, key: &str) -> Option<u64> {
    with(t, |t| parse::flat_key(t, key)).map(|us| us * 1000)
}
