//! The cpu controller (with v1's `cpuacct`): usage, throttling, quota and
//! period, weight.
//!
//! | reading | v1 | v2 |
//! |---|---|---|
//! | usage | `cpuacct.usage` (ns) | `cpu.stat` `usage_usec` (µs; any v2 group) |
//! | throttling | `cpu.stat` `nr_periods`, `nr_throttled`, `throttled_time` (ns) | `cpu.stat` `…`, `throttled_usec` |
//! | quota/period | `cpu.cfs_quota_us` (-1 = none), `cpu.cfs_period_us` | `cpu.max` `"QUOTA PERIOD"` |
//! | weight | `cpu.shares` (translated) | `cpu.weight` |

use serde::Serialize;

use super::{mismatch, one, with, At, Controller, KnobDef, Read};
use crate::cgroup::error::CgroupError;
use crate::cgroup::knob::{
    self, shares_to_weight, weight_to_shares, CpuQuota, Knob, Refusal, Setting, Value,
};
use crate::cgroup::layout::{Layout, Version};
use crate::cgroup::parse;
use crate::cgroup::stats::{CpuMax, GroupStats, Limit};
use crate::cgroup::write::FileWrite;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CpuStats {
    /// Total CPU time consumed by the group, ns (v1 `cpuacct.usage`, v2 `usage_usec`×1000).
    pub usage_ns: Option<u64>,
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    /// Total time throttled, ns (v1 `throttled_time`, v2 `throttled_usec`×1000).
    pub throttled_ns: Option<u64>,
    pub max: Option<CpuMax>,
    /// Weight on the v2 scale (1–10000, default 100); on v1 translated from shares.
    pub weight: Option<u64>,
    /// Raw v1 `cpu.shares` (None on v2).
    pub shares: Option<u64>,
}

/// The published cpu part of a group (`groups[].cpu` in the JSON: add
/// fields only). The rates are the sampler's; the levels come from
/// [`CpuView::levels`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuView {
    /// CPU used over the interval, % of one CPU.
    pub usage_percent: Option<f64>,
    pub usage_total_ns: Option<u64>,
    /// The quota as % of one CPU; null when unlimited.
    pub limit_percent: Option<f64>,
    pub quota_us: Option<u64>,
    pub period_us: Option<u64>,
    /// v2 scale (1–10000, default 100); translated from shares on v1.
    pub weight: Option<u64>,
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    pub throttled_total_ns: Option<u64>,
    /// Time throttled over the interval, % of wall time (Δthrottled/Δwall).
    pub throttled_percent: Option<f64>,
    /// Share of enforcement periods in the interval that were throttled, %.
    pub throttled_periods_percent: Option<f64>,
}

impl CpuView {
    /// The fields that are readings as they are (limits, weight), no rates:
    /// the sampler fills the rest.
    pub fn levels(s: &CpuStats) -> CpuView {
        CpuView {
            limit_percent: s.max.and_then(|c| c.percent()),
            quota_us: s.max.and_then(|c| c.quota_us.value()),
            period_us: s.max.map(|c| c.period_us),
            weight: s.weight,
            ..CpuView::default()
        }
    }
}

pub const CONTROLLER: Controller = Controller {
    name: "cpu",
    v1_names: &["cpu", "cpuacct"],
    v2_enable: true,
    knobs: KNOBS,
    restore: &[],
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

// ---- knobs ----------------------------------------------------------------

#[allow(non_upper_case_globals)]
impl Knob {
    pub const Cpu: Knob = Knob("cpu");
    pub const CpuPeriod: Knob = Knob("cpu.period");
    pub const CpuWeight: Knob = Knob("cpu.weight");
}

const KNOBS: &[KnobDef] = &[
    KnobDef {
        knob: Knob::Cpu,
        // `cpus` is docker's `--cpus`: cores of quota (0.5 = 50 %), the same
        // thing `cpu=` accepts. Never a cpuset (that is `cpuset.cpus`).
        aliases: &["cpu.max", "cpu.quota", "cpus"],
        syntax: "a percent of one CPU (20%), cores (0.5, 1.5) or max",
        flag: Some("cpu"),
        parse: |v, host| {
            let q = knob::parse_cpu(v)?;
            match knob::cpu_above_host(v, q, host) {
                Some(why) => Err(Refusal::AboveHost(why)),
                None => Ok(Value::Cpu(q)),
            }
        },
        plan: plan_quota,
        order: |_, _| 1,
        current: |g| {
            Some(Value::Cpu(match g.cpu.limit_percent {
                Some(p) => CpuQuota::from_percent(p),
                None if g.cpu.period_us.is_some() => CpuQuota::Max,
                None => return None,
            }))
        },
    },
    KnobDef {
        knob: Knob::CpuPeriod,
        aliases: &[],
        syntax: "a duration from 1ms to 1s (100ms, 50000us)",
        flag: Some("cpu-period"),
        parse: |v, _| {
            let us = knob::parse_duration_us(v)?;
            if !(1_000..=1_000_000).contains(&us) {
                return Err("the kernel accepts periods from 1ms to 1s".into());
            }
            Ok(Value::CpuPeriod(us))
        },
        plan: plan_period,
        // On v1 the period goes first: the quota is checked against it.
        order: |_, _| 0,
        current: |g| Some(Value::CpuPeriod(g.cpu.period_us?)),
    },
    KnobDef {
        knob: Knob::CpuWeight,
        aliases: &[],
        syntax: "an integer from 1 to 10000 (default 100)",
        flag: Some("cpu-weight"),
        parse: |v, _| {
            let w: u64 = v.parse().map_err(|_| "not a whole number")?;
            if !(1..=10_000).contains(&w) {
                return Err("out of range".into());
            }
            Ok(Value::CpuWeight(w))
        },
        plan: |layout, group, s, _| {
            let Value::CpuWeight(w) = s.value else {
                return Err(mismatch(s));
            };
            let (dir, v) = layout.knob_dir(group, "cpu", s.knob)?;
            Ok(match v {
                Version::V1 => one(
                    s.knob,
                    dir.join("cpu.shares"),
                    weight_to_shares(w).to_string(),
                ),
                Version::V2 => one(s.knob, dir.join("cpu.weight"), w.to_string()),
            })
        },
        order: |_, _| 5,
        current: |g| Some(Value::CpuWeight(g.cpu.weight?)),
    },
];

/// `cpu=`: the quota for the period set in the same call, else the current one.
fn plan_quota(
    layout: &Layout,
    group: &str,
    s: &Setting,
    all: &[Setting],
) -> Result<Vec<FileWrite>, CgroupError> {
    let Value::Cpu(q) = s.value else {
        return Err(mismatch(s));
    };
    let period = match period_setting(all) {
        Some(p) => p,
        None => layout.current_cpu_max(group, s.knob)?.1,
    };
    Ok(vec![layout.cpu_write(
        group,
        s.knob,
        q.quota_us(period),
        period,
    )?])
}

fn period_setting(all: &[Setting]) -> Option<u64> {
    all.iter().find_map(|s| match (s.knob, &s.value) {
        (Knob::CpuPeriod, Value::CpuPeriod(p)) => Some(*p),
        _ => None,
    })
}

/// `cpu.period=`: v1 its own file; the quota rescaled to keep the same
/// percentage, unless `cpu=` is set in the same call.
fn plan_period(
    layout: &Layout,
    group: &str,
    s: &Setting,
    all: &[Setting],
) -> Result<Vec<FileWrite>, CgroupError> {
    let Value::CpuPeriod(p) = s.value else {
        return Err(mismatch(s));
    };
    let (quota, old_period) = layout.current_cpu_max(group, s.knob)?;
    let mut w = Vec::new();
    if let Some(v1) = layout.v1_dir(group, "cpu") {
        w.extend(one(s.knob, v1.join("cpu.cfs_period_us"), p.to_string()));
    }
    if !all.iter().any(|o| o.knob == Knob::Cpu) {
        let rescaled = match quota {
            Limit::Max => Limit::Max,
            Limit::Value(q) => {
                Limit::Value(((q as u128 * p as u128) / old_period.max(1) as u128) as u64)
            }
        };
        match layout.version_of("cpu") {
            Some(Version::V1) if rescaled == Limit::Max => {}
            _ => w.push(layout.cpu_write(group, Knob::Cpu, rescaled, p)?),
        }
    }
    Ok(w)
}
