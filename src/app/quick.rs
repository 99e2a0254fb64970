//! The arithmetic of the quick keys (`+`/`-`, `m`/`M`): pure functions from
//! the current limit to the next one, or a sentence saying why not.

use crate::cgroup::knob::format_size;
use crate::cgroup::{CpuQuota, Limit};

const MIB: u64 = 1 << 20;

/// `+`: 10 points more (unlimited once past every CPU); `-`: 10 points less,
/// starting at 90 % from unlimited, halving below 10 %.
pub fn cpu_step(current: Option<f64>, up: bool, cpus: u32) -> Result<CpuQuota, String> {
    let ceiling = f64::from(cpus.max(1)) * 100.0;
    match (current, up) {
        (None, true) => Err("the CPU quota is already unlimited (- sets 90%)".into()),
        (None, false) => Ok(CpuQuota::from_percent(90.0_f64.min(ceiling))),
        (Some(p), true) => {
            let n = (p + 10.0).round();
            if n > ceiling {
                Ok(CpuQuota::Max)
            } else {
                Ok(CpuQuota::from_percent(n))
            }
        }
        (Some(p), false) => {
            if p <= 1.0 {
                return Err("the CPU quota is at the kernel's minimum (1%)".into());
            }
            let n = if p > 10.0 {
                (p - 10.0).round()
            } else {
                (p / 2.0).round()
            };
            Ok(CpuQuota::from_percent(n.max(1.0)))
        }
    }
}

/// `m`: halve the memory limit (from unlimited: the power of two at least
/// twice the current usage, 16M minimum); `M`: double it (unlimited once
/// past the machine's memory).
pub fn memory_step(
    limit: Option<u64>,
    usage: Option<u64>,
    total: Option<u64>,
    up: bool,
) -> Result<Limit, String> {
    match (limit, up) {
        (None, true) => Err("there is no memory limit to raise (m sets one)".into()),
        (None, false) => {
            let want = usage.unwrap_or(0).saturating_mul(2).max(16 * MIB);
            Ok(Limit::Value(want.next_power_of_two()))
        }
        (Some(l), true) => {
            let n = l.saturating_mul(2);
            match total {
                Some(t) if n >= t => Ok(Limit::Max),
                _ => Ok(Limit::Value(n)),
            }
        }
        (Some(l), false) => {
            if l <= 4 * MIB {
                return Err(format!(
                    "the memory limit is {} already; type a value with e",
                    format_size(l)
                ));
            }
            Ok(Limit::Value((l / 2).max(4 * MIB)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu() {
        assert_eq!(cpu_step(None, false, 2), Ok(CpuQuota::from_percent(90.0)));
        assert!(cpu_step(None, true, 2).is_err());
        assert_eq!(
            cpu_step(Some(20.0), true, 2),
            Ok(CpuQuota::from_percent(30.0))
        );
        assert_eq!(
            cpu_step(Some(20.0), false, 2),
            Ok(CpuQuota::from_percent(10.0))
        );
        assert_eq!(
            cpu_step(Some(10.0), false, 2),
            Ok(CpuQuota::from_percent(5.0))
        );
        assert_eq!(cpu_step(Some(195.0), true, 2), Ok(CpuQuota::Max));
        assert!(cpu_step(Some(1.0), false, 2).is_err());
    }

    #[test]
    fn memory() {
        let m = |x: u64| x * MIB;
        assert_eq!(
            memory_step(None, Some(m(100)), None, false),
            Ok(Limit::Value(m(256)))
        );
        assert_eq!(
            memory_step(Some(m(256)), None, None, false),
            Ok(Limit::Value(m(128)))
        );
        assert_eq!(
            memory_step(Some(m(256)), None, Some(m(400)), true),
            Ok(Limit::Max)
        );
        assert!(memory_step(None, None, None, true).is_err());
        assert!(memory_step(Some(m(4)), None, None, false).is_err());
    }
}
