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

use super::{mismatch, no_explanation, no_note, one, with, At, Controller, Flag, KnobDef, Read};
use crate::cgroup::error::CgroupError;
use crate::cgroup::knob::{
    self, shares_to_weight, weight_to_shares, CpuQuota, Host, Knob, Refusal, Setting, Value,
};
use crate::cgroup::layout::{Layout, Version};
use crate::cgroup::parse;
use crate::cgroup::stats::{CpuMax, GroupStats, Limit};
use crate::cgroup::write::{Applied, FileWrite};

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
    /// The burst allowance, µs (v1 `cpu.cfs_burst_us`, v2 `cpu.max.burst`;
    /// None on kernels without it, before 5.14).
    pub burst_us: Option<u64>,
    /// Periods in which the group used its burst (`cpu.stat` `nr_bursts`).
    pub nr_bursts: Option<u64>,
    /// Total CPU time run beyond the quota by bursting, ns (v1 `cpu.stat`
    /// `burst_time`, v2 `burst_usec`×1000).
    pub burst_ns: Option<u64>,
    /// The period (v1), the burst and v1's `cpu.stat` were left unread, the
    /// group having no quota (`cgroup::reader::quota_only`, the dashboard's
    /// reader): then `burst_us` is `None` and, on v1, `max`'s period 0 and
    /// the throttling counters `None`.
    #[serde(skip)]
    pub unread_without_quota: bool,
}

impl CpuStats {
    /// A quota was read and says there is none (`max`, v1's -1).
    pub fn no_quota(&self) -> bool {
        self.max.is_some_and(|m| m.quota_us == Limit::Max)
    }
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
    /// The burst allowance (`cpu.burst`), µs; null where the kernel has none.
    pub burst_us: Option<u64>,
    /// Periods in which the group ran on its burst (cumulative).
    pub nr_bursts: Option<u64>,
    /// CPU time run beyond the quota by bursting, ns (cumulative).
    pub burst_total_ns: Option<u64>,
    /// Threads runnable (state R) in the group and below at the reading;
    /// null where not read (`snapshot` reads it; the dashboard only for the
    /// group in the microscope, which shows it itself).
    pub runnable_threads: Option<u64>,
    /// The tightest CPU quota on the path (this group's or an ancestor's), %
    /// of one CPU; null when no group on the path has one.
    pub effective_limit_percent: Option<f64>,
    /// The group whose quota that is (display form).
    pub limiting_group: Option<String>,
    /// The CFS periods closed during the interval (`snapshot --periods`
    /// only, groups with a quota): CPU used, throttled, burst.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub periods: Option<Vec<PeriodView>>,
}

/// One CFS period as the microscope saw it (`cpu.periods[]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PeriodView {
    pub used_us: u64,
    pub throttled: bool,
    pub burst_us: u64,
}

impl CpuView {
    /// The fields that are readings as they are (limits, weight), no rates:
    /// the sampler fills the rest.
    pub fn levels(s: &CpuStats) -> CpuView {
        CpuView {
            limit_percent: s.max.and_then(|c| c.percent()),
            quota_us: s.max.and_then(|c| c.quota_us.value()),
            // 0: the period unread (the kernel's is 1 ms – 1 s).
            period_us: s.max.map(|c| c.period_us).filter(|&p| p > 0),
            weight: s.weight,
            burst_us: s.burst_us,
            nr_bursts: s.nr_bursts,
            burst_total_ns: s.burst_ns,
            ..CpuView::default()
        }
    }
}

pub const CONTROLLER: Controller = Controller {
    name: "cpu",
    v1_names: &["cpu", "cpuacct"],
    v2_enable: true,
    knobs: KNOBS,
    explain: no_explanation,
    note: no_note,
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
        // v1 splits the limit in two files: the quota opens it (period 0 for
        // a moment), the period completes it; either missing: no limit known.
        // The quota is read before the files that matter only with one
        // (`cgroup::reader::quota_only`): it says whether they are read.
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
                s.cpu.burst_ns = with(t, |t| parse::flat_key(t, "burst_time"));
            },
        },
        Read {
            at: At::V2("cpu"),
            file: "cpu.stat",
            slow: false,
            apply: |t, s| {
                throttling(t, s);
                s.cpu.throttled_ns = usec_as_ns(t, "throttled_usec");
                s.cpu.burst_ns = usec_as_ns(t, "burst_usec");
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
            file: "cpu.weight",
            slow: true,
            apply: |t, s| s.cpu.weight = with(t, parse::single_u64),
        },
        Read {
            at: At::V1("cpu"),
            file: BURST_V1,
            slow: true,
            apply: |t, s| s.cpu.burst_us = with(t, parse::single_u64),
        },
        Read {
            at: At::V2("cpu"),
            file: BURST_V2,
            slow: true,
            apply: |t, s| s.cpu.burst_us = with(t, parse::single_u64),
        },
    ],
};

fn throttling(t: Option<&str>, s: &mut GroupStats) {
    s.cpu.nr_periods = with(t, |t| parse::flat_key(t, "nr_periods"));
    s.cpu.nr_throttled = with(t, |t| parse::flat_key(t, "nr_throttled"));
    s.cpu.nr_bursts = with(t, |t| parse::flat_key(t, "nr_bursts"));
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
    pub const CpuBurst: Knob = Knob("cpu.burst");
}

const CPU_EINVAL: &str =
    "out of range, or above a parent's quota (v1 checks children against parents)";

const BURST_V1: &str = "cpu.cfs_burst_us";
const BURST_V2: &str = "cpu.max.burst";

const KNOBS: &[KnobDef] = &[
    KnobDef {
        knob: Knob::Cpu,
        // `cpus` is docker's `--cpus`: cores of quota (0.5 = 50 %), the same
        // thing `cpu=` accepts. Never a cpuset (that is `cpuset.cpus`).
        aliases: &["cpu.max", "cpu.quota", "cpus"],
        syntax: "a percent of one CPU (20%), cores (0.5, 1.5) or max",
        flag: Some(Flag {
            name: "cpu",
            help: "CPU quota: percent of one CPU (20%) or cores (0.5, 1.5)",
        }),
        launch: true,
        errors: &[(libc::EINVAL, CPU_EINVAL)],
        parse: |v, host| {
            let q = knob::parse_cpu(v)?;
            match knob::cpu_above_host(v, q, host) {
                Some(why) => Err(Refusal::AboveHost(why)),
                None => Ok(Value::Cpu(q)),
            }
        },
        plan: plan_quota,
        order: |_, _| 2,
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
        flag: Some(Flag {
            name: "cpu-period",
            help: "CPU period (default 100ms)",
        }),
        launch: false,
        errors: &[(libc::EINVAL, CPU_EINVAL)],
        parse: |v, _| {
            let us = knob::parse_duration_us(v)?;
            if !(1_000..=1_000_000).contains(&us) {
                return Err("the kernel accepts periods from 1ms to 1s".into());
            }
            Ok(Value::CpuPeriod(us))
        },
        plan: plan_period,
        // On v1 the period goes first: the quota is checked against it.
        order: |_, _| 1,
        current: |g| Some(Value::CpuPeriod(g.cpu.period_us?)),
    },
    KnobDef {
        knob: Knob::CpuWeight,
        aliases: &[],
        syntax: "an integer from 1 to 10000 (default 100)",
        flag: Some(Flag {
            name: "cpu-weight",
            help: "CPU weight, 1–10000 (default 100)",
        }),
        launch: false,
        errors: &[],
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
    KnobDef {
        knob: Knob::CpuBurst,
        aliases: &["cpu.max.burst"],
        syntax: "a duration (50ms, 50000us, 0) or a percent of the CPU quota (50%)",
        flag: Some(Flag {
            name: "cpu-burst",
            help: "CPU burst: time the group may run beyond its quota from unused quota (50ms, 50% of the quota)",
        }),
        launch: false,
        errors: &[(
            libc::EINVAL,
            "above the quota (the kernel allows a burst up to the quota per period)",
        )],
        parse: parse_burst,
        plan: plan_burst,
        // The kernel checks burst ≤ quota on every quota, period or burst
        // write: a shrinking burst goes first, a growing one after the quota.
        order: |a, _| if burst_shrinks(a) { 0 } else { 3 },
        current: |g| Some(Value::CpuPeriod(g.cpu.burst_us?)),
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

/// `cpu.burst`: `0`, a duration (`Value::CpuPeriod`, µs) or a percent of
/// the quota (`Value::Cpu`, resolved against the quota when planned).
fn parse_burst(v: &str, _: Host) -> Result<Value, Refusal> {
    if let Some(p) = v.strip_suffix('%') {
        let x: f64 = p.trim().parse().map_err(|_| "not a number")?;
        if !x.is_finite() || !(0.0..=100.0).contains(&x) {
            return Err("a burst is at most the quota (0% to 100%)".into());
        }
        return Ok(Value::Cpu(CpuQuota::from_percent(x)));
    }
    let zero = v
        .trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == 'µ')
        .trim()
        .parse::<f64>()
        .is_ok_and(|x| x == 0.0);
    if zero {
        return Ok(Value::CpuPeriod(0));
    }
    let us = knob::parse_duration_us(v)?;
    // The kernel's bound on quota + burst (max_cfs_runtime, ~ 2^44 µs… in
    // practice the quota bounds it: checked when planned).
    if us > MAX_BURST_US {
        return Err(format!("above the kernel's largest burst ({MAX_BURST_US}us)").into());
    }
    Ok(Value::CpuPeriod(us))
}

/// `max_cfs_quota_period` (1 s) × 1000 CPUs: no quota cgdash sets is larger.
const MAX_BURST_US: u64 = 1_000_000_000;

/// The writes of `cpu.burst`: the µs value (a percent of the new quota
/// when `cpu=` is in the same call, else of the current one), checked
/// against that quota as the kernel will (burst ≤ quota).
fn plan_burst(
    layout: &Layout,
    group: &str,
    s: &Setting,
    all: &[Setting],
) -> Result<Vec<FileWrite>, CgroupError> {
    let (dir, v) = layout.knob_dir(group, "cpu", s.knob)?;
    let file = match v {
        Version::V1 => BURST_V1,
        Version::V2 => BURST_V2,
    };
    if !dir.join(file).exists() {
        return Err(CgroupError::Unsupported {
            knob: s.knob,
            why: format!("this kernel has no CPU burst ({file} appeared in Linux 5.14)"),
        });
    }
    let (current_quota, current_period) = layout.current_cpu_max(group, s.knob)?;
    let period = period_setting(all).unwrap_or(current_period);
    let quota = all
        .iter()
        .find_map(|o| match (o.knob, &o.value) {
            (Knob::Cpu, Value::Cpu(q)) => Some(q.quota_us(period)),
            _ => None,
        })
        .unwrap_or(match (current_quota, period_setting(all)) {
            // cpu.period alone rescales the quota (plan_period).
            (Limit::Value(q), Some(p)) => {
                Limit::Value(((q as u128 * p as u128) / current_period.max(1) as u128) as u64)
            }
            (q, _) => q,
        });
    let us = match (&s.value, quota) {
        (Value::CpuPeriod(us), _) => *us,
        (Value::Cpu(CpuQuota::CentiPercent(c)), Limit::Value(q)) => {
            ((*c as u128 * q as u128 + 5_000) / 10_000) as u64
        }
        (Value::Cpu(_), Limit::Max) => {
            return Err(CgroupError::Invalid {
                knob: s.knob,
                why: format!(
                "cpu.burst={} is a share of the CPU quota, and the group has none (set cpu= too)",
                s.value
            ),
            })
        }
        _ => return Err(mismatch(s)),
    };
    if let Limit::Value(q) = quota {
        if us > q {
            return Err(CgroupError::Invalid {
                knob: s.knob,
                why: format!(
                    "the kernel allows a burst up to the quota, {q}us per {period}us period; {us}us is more"
                ),
            });
        }
    }
    Ok(one(s.knob, dir.join(file), us.to_string()))
}

/// Whether a burst write lowers the group's burst (then it goes first).
fn burst_shrinks(a: &Applied) -> bool {
    a.writes.first().is_some_and(|w| {
        let cur = std::fs::read_to_string(&w.path)
            .ok()
            .and_then(|t| parse::single_u64(&t));
        match (cur, w.contents.parse::<u64>()) {
            (Some(cur), Ok(new)) => new <= cur,
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::knob::parse_settings_on;
    use std::fs;
    use std::path::Path;

    const TWO: Host = Host { cpus: 2 };

    fn val(s: &str) -> Result<Value, String> {
        Setting::parse_on(s, TWO)
            .map(|s| s.value)
            .map_err(|e| e.to_string())
    }

    fn put(dir: &Path, file: &str, text: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(file), text).unwrap();
    }

    /// A separate-v1 tree with group `g`: quota 50ms/100ms, burst `burst`
    /// (no burst file: `None`, a kernel before 5.14).
    fn v1_tree(root: &Path, burst: Option<&str>) -> Layout {
        for d in [root.join("cpu"), root.join("cpu/g")] {
            put(&d, "cgroup.procs", "");
            put(&d, "cpu.cfs_quota_us", "50000\n");
            put(&d, "cpu.cfs_period_us", "100000\n");
            if let Some(b) = burst {
                put(&d, "cpu.cfs_burst_us", b);
            }
        }
        Layout::from_root(root).unwrap()
    }

    fn v2_tree(root: &Path, cpu_max: &str) -> Layout {
        put(root, "cgroup.controllers", "cpu\n");
        put(root, "cgroup.procs", "");
        let g = root.join("g");
        put(&g, "cgroup.procs", "");
        put(&g, "cpu.max", cpu_max);
        put(&g, "cpu.max.burst", "0\n");
        Layout::from_root(root).unwrap()
    }

    fn plan(l: &Layout, args: &[&str]) -> Result<Vec<(String, String)>, String> {
        let settings = parse_settings_on(args, Host { cpus: 64 }).unwrap();
        crate::cgroup::controllers::planned_writes(l, &settings)
    }

    fn pair(f: &str, c: &str) -> (String, String) {
        (f.to_string(), c.to_string())
    }

    #[test]
    fn hc_burst_grammar() {
        assert_eq!(val("cpu.burst=50ms"), Ok(Value::CpuPeriod(50_000)));
        assert_eq!(val("cpu.burst=50000us"), Ok(Value::CpuPeriod(50_000)));
        assert_eq!(val("cpu.burst=50000"), Ok(Value::CpuPeriod(50_000)));
        assert_eq!(val("cpu.burst=0"), Ok(Value::CpuPeriod(0)));
        assert_eq!(val("cpu.burst=0ms"), Ok(Value::CpuPeriod(0)));
        assert_eq!(val("cpu.max.burst=1us"), Ok(Value::CpuPeriod(1)));
        assert_eq!(
            val("cpu.burst=50%"),
            Ok(Value::Cpu(CpuQuota::CentiPercent(5000)))
        );
        assert_eq!(
            val("cpu.burst=100%"),
            Ok(Value::Cpu(CpuQuota::CentiPercent(10_000)))
        );
        assert_eq!(
            val("cpu.burst=0%"),
            Ok(Value::Cpu(CpuQuota::CentiPercent(0)))
        );
        for bad in ["101%", "-1", "-5ms", "abc", "max", "%", "1001s", "nan"] {
            let e = val(&format!("cpu.burst={bad}")).unwrap_err();
            assert!(e.contains("cpu.burst"), "{bad}: {e}");
        }
        assert!(val("cpu.burst=1000s").is_ok(), "the largest accepted");
        // The editor shows what it read back, and it parses again.
        assert_eq!(Value::CpuPeriod(50_000).to_string(), "50ms");
        assert_eq!(
            val("cpu.burst=0ms"),
            val(&format!("cpu.burst={}", Value::CpuPeriod(0)))
        );
    }

    #[test]
    fn hc_burst_v1_and_v2_files_and_quota_share() {
        let t = tempfile::tempdir().unwrap();
        let l = v1_tree(t.path(), Some("0\n"));
        assert_eq!(
            plan(&l, &["cpu.burst=20ms"]),
            Ok(vec![pair("cpu.cfs_burst_us", "20000")])
        );
        // 50 % of the current quota (50ms) …
        assert_eq!(
            plan(&l, &["cpu.burst=50%"]),
            Ok(vec![pair("cpu.cfs_burst_us", "25000")])
        );
        // … or of the new one set in the same call, written after the quota.
        assert_eq!(
            plan(&l, &["cpu.burst=50%", "cpu=20%"]),
            Ok(vec![
                pair("cpu.cfs_quota_us", "20000"),
                pair("cpu.cfs_burst_us", "10000")
            ])
        );
        // The period moves the quota (same %): the burst's share follows it.
        assert_eq!(
            plan(&l, &["cpu.burst=100%", "cpu.period=10ms"]),
            Ok(vec![
                pair("cpu.cfs_period_us", "10000"),
                pair("cpu.cfs_quota_us", "5000"),
                pair("cpu.cfs_burst_us", "5000"),
            ])
        );
        // The kernel refuses burst > quota: so does the plan, with numbers.
        let e = plan(&l, &["cpu.burst=51ms"]).unwrap_err();
        assert!(
            e.contains("50000us per 100000us") && e.contains("51000us"),
            "{e}"
        );
        assert!(
            plan(&l, &["cpu.burst=50ms"]).is_ok(),
            "burst = quota is fine"
        );
        assert!(
            plan(&l, &["cpu.burst=50001us"]).is_err(),
            "1us above the quota"
        );
        let e = plan(&l, &["cpu=20%", "cpu.burst=30ms"]).unwrap_err();
        assert!(e.contains("20000us"), "{e}");
        // No quota: a share of nothing.
        let e = plan(&l, &["cpu=max", "cpu.burst=50%"]).unwrap_err();
        assert!(e.contains("has none"), "{e}");
        assert_eq!(
            plan(&l, &["cpu=max", "cpu.burst=5s"]),
            Ok(vec![
                pair("cpu.cfs_quota_us", "-1"),
                pair("cpu.cfs_burst_us", "5000000")
            ])
        );

        let t = tempfile::tempdir().unwrap();
        let l = v2_tree(t.path(), "30000 100000\n");
        assert_eq!(
            plan(&l, &["cpu.burst=10ms"]),
            Ok(vec![pair("cpu.max.burst", "10000")])
        );
        assert_eq!(
            plan(&l, &["cpu.burst=50%"]),
            Ok(vec![pair("cpu.max.burst", "15000")])
        );
        assert!(plan(&l, &["cpu.burst=31ms"]).is_err());
    }

    #[test]
    fn hc_burst_refused_without_the_file() {
        let t = tempfile::tempdir().unwrap();
        let l = v1_tree(t.path(), None);
        let e = plan(&l, &["cpu.burst=10ms"]).unwrap_err();
        assert!(e.contains("cpu.cfs_burst_us") && e.contains("5.14"), "{e}");
        // Nothing else of the call is planned either.
        assert!(plan(&l, &["cpu=20%", "cpu.burst=0"]).is_err());
    }

    #[test]
    fn hc_burst_order_keeps_burst_within_the_quota() {
        let t = tempfile::tempdir().unwrap();
        let l = v1_tree(t.path(), Some("40000\n"));
        // Lowering both: the burst shrinks first (40ms would exceed a 20ms quota).
        assert_eq!(
            plan(&l, &["cpu=20%", "cpu.burst=10ms"]),
            Ok(vec![
                pair("cpu.cfs_burst_us", "10000"),
                pair("cpu.cfs_quota_us", "20000")
            ])
        );
        // Raising both: the quota first.
        assert_eq!(
            plan(&l, &["cpu.burst=80ms", "cpu=80%"]),
            Ok(vec![
                pair("cpu.cfs_quota_us", "80000"),
                pair("cpu.cfs_burst_us", "80000")
            ])
        );
    }

    #[test]
    fn hc_burst_readings() {
        let t = tempfile::tempdir().unwrap();
        let l = v1_tree(t.path(), Some("7000\n"));
        put(
            &t.path().join("cpu/g"),
            "cpu.stat",
            "nr_periods 9\nnr_throttled 1\nthrottled_time 5\nnr_bursts 3\nburst_time 123456789\n",
        );
        let g = l.read_group("g").unwrap();
        assert_eq!(
            (g.cpu.burst_us, g.cpu.nr_bursts, g.cpu.burst_ns),
            (Some(7000), Some(3), Some(123_456_789))
        );
        let v = CpuView::levels(&g.cpu);
        assert_eq!(
            (v.burst_us, v.nr_bursts, v.burst_total_ns),
            (Some(7000), Some(3), Some(123_456_789))
        );

        let t = tempfile::tempdir().unwrap();
        let l = v2_tree(t.path(), "max 100000\n");
        put(&t.path().join("g"), "cpu.max.burst", "2000\n");
        put(&t.path().join("g"), "cpu.stat", "usage_usec 1\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 4\nburst_usec 250\n");
        let g = l.read_group("g").unwrap();
        assert_eq!(
            (g.cpu.burst_us, g.cpu.nr_bursts, g.cpu.burst_ns),
            (Some(2000), Some(4), Some(250_000)),
            "burst_usec × 1000"
        );
        // Kernels without burst: null, never 0.
        let t = tempfile::tempdir().unwrap();
        let l = v1_tree(t.path(), None);
        let g = l.read_group("g").unwrap();
        assert_eq!(
            (g.cpu.burst_us, g.cpu.nr_bursts, g.cpu.burst_ns),
            (None, None, None)
        );
        let json = serde_json::to_value(CpuView::levels(&g.cpu)).unwrap();
        for k in ["burst_us", "nr_bursts", "burst_total_ns"] {
            assert!(json[k].is_null(), "{k} in {json}");
        }
    }
}
