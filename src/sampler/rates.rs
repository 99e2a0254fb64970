//! Rate math on cumulative kernel counters. Pure functions: a missing value,
//! a counter that went backwards (reset, group recreated) or a zero interval
//! give `None`, never a negative or huge rate.

/// `cur - prev` when both are known and the counter did not go backwards.
pub fn delta(prev: Option<u64>, cur: Option<u64>) -> Option<u64> {
    cur?.checked_sub(prev?)
}

/// Δcounter (ns) over Δwall (ns), in percent: for CPU time 100 % = one CPU.
pub fn ns_percent(prev: Option<u64>, cur: Option<u64>, wall_ns: u64) -> Option<f64> {
    if wall_ns == 0 {
        return None;
    }
    Some(delta(prev, cur)? as f64 * 100.0 / wall_ns as f64)
}

/// Δcounter per second.
pub fn per_second(prev: Option<u64>, cur: Option<u64>, wall_ns: u64) -> Option<f64> {
    if wall_ns == 0 {
        return None;
    }
    Some(delta(prev, cur)? as f64 * 1e9 / wall_ns as f64)
}

/// Δpart / Δwhole in percent (throttled periods among elapsed periods).
/// No period elapsed means nothing was throttled: 0 %.
pub fn part_percent(
    prev_part: Option<u64>,
    cur_part: Option<u64>,
    prev_whole: Option<u64>,
    cur_whole: Option<u64>,
) -> Option<f64> {
    let part = delta(prev_part, cur_part)?;
    let whole = delta(prev_whole, cur_whole)?;
    if whole == 0 {
        return Some(0.0);
    }
    Some((part as f64 * 100.0 / whole as f64).min(100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas() {
        let cases = [
            (Some(10), Some(25), Some(15)),
            (Some(10), Some(10), Some(0)),
            (Some(25), Some(10), None), // counter reset
            (None, Some(10), None),
            (Some(10), None, None),
            (Some(0), Some(u64::MAX), Some(u64::MAX)),
        ];
        for (p, c, want) in cases {
            assert_eq!(delta(p, c), want, "{p:?} → {c:?}");
        }
    }

    #[test]
    fn cpu_percent() {
        // 0.2 s of CPU in 1 s = 20 %; 3 s in 2 s = 150 % (1.5 CPUs).
        assert_eq!(
            ns_percent(Some(0), Some(200_000_000), 1_000_000_000),
            Some(20.0)
        );
        assert_eq!(
            ns_percent(Some(1_000), Some(3_000_001_000), 2_000_000_000),
            Some(150.0)
        );
        assert_eq!(ns_percent(Some(5), Some(4), 1_000_000_000), None);
        assert_eq!(ns_percent(Some(0), Some(5), 0), None);
        assert_eq!(ns_percent(None, Some(5), 1_000_000_000), None);
    }

    #[test]
    fn events_per_second() {
        assert_eq!(per_second(Some(3), Some(13), 2_000_000_000), Some(5.0));
        assert_eq!(per_second(Some(13), Some(3), 2_000_000_000), None);
    }

    #[test]
    fn throttled_periods() {
        assert_eq!(
            part_percent(Some(0), Some(8), Some(0), Some(10)),
            Some(80.0)
        );
        assert_eq!(
            part_percent(Some(5), Some(5), Some(10), Some(10)),
            Some(0.0)
        );
        assert_eq!(part_percent(Some(9), Some(5), Some(0), Some(10)), None);
        assert_eq!(part_percent(Some(0), Some(5), None, Some(10)), None);
        // Counters read a few µs apart can disagree by one period: never > 100 %.
        assert_eq!(
            part_percent(Some(0), Some(11), Some(0), Some(10)),
            Some(100.0)
        );
    }
}
