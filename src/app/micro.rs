//! The throttling microscope's state (`p`) and its quick keys: `b` allows a
//! CPU burst as large as the quota (or takes it away), `[` / `]` halve /
//! double the CPU period. The periods come from `sampler::periods` (a
//! thread the event loop starts while [`App::microscope_target`] names a
//! group, and stops when it names none); [`summarize`] turns them into the
//! numbers the panel shows.

use std::sync::Arc;

use super::{App, Effect, StatusKind};
use crate::cgroup::knob::{Knob, Setting, Value};
use crate::cgroup::Limit;
use crate::sampler::periods::{Period, Report};

/// Periods the words and the distribution are about (at 100 ms: 6 s).
pub const WINDOW: usize = 60;

#[derive(Clone, Debug, Default)]
pub struct Microscope {
    /// The latest report of the microscope's sampler (maybe of a group
    /// selected before: the panel checks `report.group`).
    pub report: Option<Arc<Report>>,
    /// A period written and not yet seen in a snapshot (group, period µs,
    /// the snapshot's time at the key press), so that `[ [ [` within one
    /// refresh halves three times, not once.
    pending_period: Option<(String, u64, u64)>,
}

/// How long a period written is trusted over the snapshots' (a refused
/// write never shows up in them).
const PENDING_MS: u64 = 3000;

/// What the last [`WINDOW`] periods say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Periods in the window.
    pub periods: usize,
    pub throttled: usize,
    /// CPU used over the window's wall time, % of one CPU.
    pub average_percent: Option<f64>,
    /// Throttled time per second of wall time (summed over CPUs, as the
    /// kernel counts it), seconds.
    pub throttled_per_s: Option<f64>,
    /// Threads seen runnable in a busy period (the median of each busy
    /// period's most).
    pub runnable: u32,
    /// Periods that ran on the burst allowance, and the burst time in all.
    pub burst_periods: usize,
    pub burst_ns: u64,
    /// Periods by CPU used, as a share of the quota: <25 %, 25–50 %,
    /// 50–75 %, 75–100 %, ≥100 % (at the quota, or above on a burst).
    pub histogram: [usize; 5],
}

/// The numbers of the last [`WINDOW`] periods; `quota_us` (the group's own
/// quota) places them in the histogram.
pub fn summarize(all: &[Period], quota_us: Option<u64>) -> Summary {
    let w = &all[all.len().saturating_sub(WINDOW)..];
    let mut s = Summary {
        periods: w.len(),
        throttled: w.iter().filter(|p| p.throttled).count(),
        runnable: {
            let mut r: Vec<u32> = w.iter().map(|p| p.runnable).filter(|&r| r > 0).collect();
            r.sort_unstable();
            r.get(r.len() / 2).copied().unwrap_or(0)
        },
        burst_periods: w.iter().filter(|p| p.burst_ns > 0).count(),
        burst_ns: w.iter().map(|p| p.burst_ns).sum(),
        ..Summary::default()
    };
    // Rates over the wall time from the first period's end to the last's:
    // the periods after the first fill it (idle periods are not counted by
    // the kernel, but their time passes).
    if let (Some(first), Some(last)) = (w.first(), w.last()) {
        let wall = last.end_ns.saturating_sub(first.end_ns);
        if wall > 0 {
            let used: u64 = w[1..].iter().map(|p| p.used_ns).sum();
            let thr: u64 = w[1..].iter().map(|p| p.throttled_ns).sum();
            s.average_percent = Some(used as f64 * 100.0 / wall as f64);
            s.throttled_per_s = Some(thr as f64 / wall as f64);
        }
    }
    if let Some(q) = quota_us.filter(|&q| q > 0) {
        for p in w {
            let share = p.used_ns as f64 / (q as f64 * 1000.0);
            // 2 % under the quota counts as at it (readings are a few ms apart).
            let i = match share {
                x if x < 0.25 => 0,
                x if x < 0.5 => 1,
                x if x < 0.75 => 2,
                x if x < 0.98 => 3,
                _ => 4,
            };
            s.histogram[i] += 1;
        }
    }
    s
}

impl App {
    /// The group (internal form) the microscope's sampler should read: the
    /// selected one while the microscope is open, else none.
    pub fn microscope_target(&self) -> Option<String> {
        self.microscope.as_ref()?;
        let g = self.selected_group()?;
        Some(crate::cgroup::normalize_path(&g.path))
    }

    /// Opens the microscope (the demo starts with it open).
    pub fn open_microscope(&mut self) {
        self.io_microscope = false;
        self.microscope.get_or_insert_with(Microscope::default);
    }

    pub(super) fn toggle_microscope(&mut self) {
        if self.microscope.take().is_none() {
            self.open_microscope();
            self.set_status(
                StatusKind::Info,
                "microscope: reading the group's CPU counters every few ms (p closes it)",
            );
        }
    }

    pub(super) fn on_periods(&mut self, r: Arc<Report>) {
        if let Some(m) = &mut self.microscope {
            m.report = Some(r);
        }
    }

    /// `b`: a burst as large as the quota, or none if one is set.
    pub(super) fn quick_burst(&mut self) -> Vec<Effect> {
        let Some(g) = self.editable_group_cfs() else {
            return Vec::new();
        };
        let (burst, quota) = (g.cpu.burst_us, g.cpu.quota_us);
        let no_quota = || {
            format!(
                "{}: no CPU quota, so nothing to burst beyond (- sets one)",
                g.path
            )
        };
        let new = match (burst, quota) {
            // Still unread (no reading of the group to be had).
            (None, None) if g.cpu_unread_without_quota => {
                self.set_status(StatusKind::Info, no_quota());
                return Vec::new();
            }
            (None, _) => {
                let text = format!(
                    "{}: this kernel has no CPU burst (cpu.cfs_burst_us / cpu.max.burst came in Linux 5.14)",
                    g.path
                );
                self.set_status(StatusKind::Error, text);
                return Vec::new();
            }
            (Some(b), _) if b > 0 => 0,
            (Some(_), Some(q)) => q,
            (Some(_), None) => {
                self.set_status(StatusKind::Info, no_quota());
                return Vec::new();
            }
        };
        let set = |us| {
            vec![Setting {
                knob: Knob::CpuBurst,
                value: Value::CpuPeriod(us),
            }]
        };
        self.apply(&g.path, set(new), burst.map(set))
    }

    /// `[` / `]`: the period halved or doubled (1 ms – 1 s); the quota keeps
    /// its percentage (`cpu.period` rescales it), and so does a burst.
    pub(super) fn quick_period(&mut self, longer: bool) -> Vec<Effect> {
        let Some(g) = self.editable_group_cfs() else {
            return Vec::new();
        };
        let now = self.snapshot.timestamp_ms;
        let pending = self
            .microscope
            .as_ref()
            .and_then(|m| m.pending_period.clone())
            .filter(|(pg, p, at)| {
                *pg == g.path && Some(*p) != g.cpu.period_us && now <= at + PENDING_MS
            })
            .map(|(_, p, _)| p);
        let Some(old) = pending.or(g.cpu.period_us) else {
            let text = format!("{}: no CPU period to change (no cpu controller)", g.path);
            self.set_status(StatusKind::Error, text);
            return Vec::new();
        };
        let new = if longer { old * 2 } else { old / 2 }.clamp(1_000, 1_000_000);
        if new == old {
            let text = format!(
                "{}: the period is at the kernel's {} already",
                g.path,
                if longer {
                    "longest (1s)"
                } else {
                    "shortest (1ms)"
                }
            );
            self.set_status(StatusKind::Info, text);
            return Vec::new();
        }
        let settings = |period: u64, burst: Option<u64>| {
            let mut v = vec![Setting {
                knob: Knob::CpuPeriod,
                value: Value::CpuPeriod(period),
            }];
            if let Some(b) = burst.filter(|&b| b > 0) {
                v.push(Setting {
                    knob: Knob::CpuBurst,
                    value: Value::CpuPeriod(b),
                });
            }
            v
        };
        // The burst as it is now (a pending period scaled it already).
        let burst = g.cpu.burst_us.map(|b| {
            (b as u128 * old as u128 / g.cpu.period_us.unwrap_or(old).max(1) as u128) as u64
        });
        let scaled = burst.map(|b| (b as u128 * new as u128 / old as u128) as u64);
        if let Some(m) = &mut self.microscope {
            m.pending_period = Some((g.path.clone(), new, now));
        }
        self.apply(&g.path, settings(new, scaled), Some(settings(old, burst)))
    }
}

/// A write limit changed with `w` / `W` and not yet seen in a snapshot
/// (group, the per-disk rates written, the snapshot's time at the key
/// press), so that `W W` within one refresh doubles twice.
#[derive(Clone, Debug)]
pub struct IoPending {
    group: String,
    rates: Vec<(String, u64)>,
    at_ms: u64,
}

/// `w` never halves a write limit below this (64 KiB/s).
pub const IO_WRITE_FLOOR: u64 = 64 * 1024;

/// A rate as `io.write_bps` takes it: `10M` where that is exact, else bytes.
fn rate_text(n: u64) -> String {
    let short = crate::cgroup::knob::format_size(n);
    match crate::cgroup::knob::parse_size(&short) {
        Ok(Limit::Value(v)) if v == n => short,
        _ => n.to_string(),
    }
}

/// `io.write_bps` of `rates` (disk `MAJ:MIN`, bytes/s).
fn write_setting(rates: &[(String, u64)]) -> Vec<Setting> {
    let list = rates
        .iter()
        .map(|(d, r)| format!("{d}:{}", rate_text(*r)))
        .collect::<Vec<_>>()
        .join(",");
    vec![Setting {
        knob: Knob::IoWriteBps,
        value: Value::List(list),
    }]
}

impl App {
    /// `i`: the I/O microscope (in the CPU microscope's place: one at a time).
    pub(super) fn toggle_io_microscope(&mut self) {
        self.io_microscope = !self.io_microscope;
        if self.io_microscope {
            self.microscope = None;
            self.set_status(
                StatusKind::Info,
                "I/O microscope: write and read against their limits, dirty memory (w/W halve/double the write limit, i closes)",
            );
        }
    }

    /// `w` / `W`: every disk's write limit of the group halved / doubled.
    /// Without one there is nothing to scale: say how to set one.
    pub(super) fn quick_io_write(&mut self, up: bool) -> Vec<Effect> {
        let Some(g) = self.editable_group() else {
            return Vec::new();
        };
        let now = self.snapshot.timestamp_ms;
        let seen: Vec<(String, u64)> =
            g.io.limits
                .iter()
                .filter_map(|l| Some((l.device.clone(), l.write_bps?)))
                .collect();
        let old = match &self.io_pending {
            Some(p) if p.group == g.path && p.rates != seen && now <= p.at_ms + PENDING_MS => {
                p.rates.clone()
            }
            _ => seen,
        };
        if old.is_empty() {
            let text = format!(
                "{}: no write limit to {} (e sets one: io.write_bps=/dev/vda:5M)",
                g.path,
                if up { "double" } else { "halve" }
            );
            self.set_status(StatusKind::Info, text);
            return Vec::new();
        }
        let new: Vec<(String, u64)> = old
            .iter()
            .map(|(d, r)| {
                let n = if up {
                    r.saturating_mul(2)
                } else {
                    (r / 2).max(IO_WRITE_FLOOR)
                };
                (d.clone(), n)
            })
            .collect();
        if new == old {
            let text = format!(
                "{}: the write limit is at {}/s, the least w sets (e sets any)",
                g.path,
                crate::cgroup::knob::format_size(IO_WRITE_FLOOR)
            );
            self.set_status(StatusKind::Info, text);
            return Vec::new();
        }
        self.io_pending = Some(IoPending {
            group: g.path.clone(),
            rates: new.clone(),
            at_ms: now,
        });
        self.apply(&g.path, write_setting(&new), Some(write_setting(&old)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(used_ms: u64, throttled: bool, burst_ms: u64, end_ms: u64) -> Period {
        Period {
            used_ns: used_ms * 1_000_000,
            throttled,
            throttled_ns: if throttled { 75_000_000 } else { 0 },
            burst_ns: burst_ms * 1_000_000,
            runnable: 8,
            end_ns: end_ms * 1_000_000,
        }
    }

    #[test]
    fn micro_summary_of_the_issue_scenario() {
        // 50 ms quota: 50T 50T 20 every 300 ms → 40 % average, 2/3 throttled.
        let mut v = Vec::new();
        for i in 0..30u64 {
            let t = i * 300;
            v.push(p(50, true, 0, t + 100));
            v.push(p(50, true, 0, t + 200));
            v.push(p(20, false, 0, t + 300));
        }
        let s = summarize(&v, Some(50_000));
        assert_eq!((s.periods, s.throttled), (60, 40));
        let avg = s.average_percent.unwrap();
        assert!((avg - 40.0).abs() < 1.0, "{avg}");
        assert_eq!(s.histogram, [0, 20, 0, 0, 40]);
        assert_eq!(s.runnable, 8);
        let thr = s.throttled_per_s.unwrap();
        assert!((thr - 0.5).abs() < 0.02, "{thr}");
        assert_eq!(summarize(&[], Some(1)), Summary::default());
    }
}
