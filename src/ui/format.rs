//! Number formatting for the panels (fixed widths, `–` for unknown).

use crate::cgroup::knob::{format_decimal, format_size};

/// `12.3` / `–`.
pub fn percent(v: Option<f64>) -> String {
    match v {
        Some(p) if p >= 99.95 => format!("{p:.0}"),
        Some(p) => format!("{p:.1}"),
        None => "–".into(),
    }
}

/// A limit in percent of one CPU: `50%`, `max`.
pub fn cpu_limit(v: Option<f64>) -> String {
    match v {
        Some(p) => format!("{}%", format_decimal(p)),
        None => "max".into(),
    }
}

/// Bytes, compact: `117.7M`, `–`.
pub fn bytes(v: Option<u64>) -> String {
    match v {
        Some(b) => format_size(b),
        None => "–".into(),
    }
}

/// A byte limit: `256M`, `max`.
pub fn bytes_limit(v: Option<u64>) -> String {
    match v {
        Some(b) => format_size(b),
        None => "max".into(),
    }
}

pub fn count(v: Option<u64>) -> String {
    match v {
        Some(n) => n.to_string(),
        None => "–".into(),
    }
}

/// TIME+ as in top: `m:ss.hh`, or `h:mm:ss` past an hour.
pub fn cpu_time(ns: u64) -> String {
    let cs = ns / 10_000_000;
    let (m, s, h) = (cs / 6000, (cs / 100) % 60, cs % 100);
    if m >= 60 {
        format!("{}:{:02}:{:02}", m / 60, m % 60, s)
    } else {
        format!("{m}:{s:02}.{h:02}")
    }
}

/// A bar of `width` cells filled to `fraction` (0..=1), with eighth blocks.
pub fn bar(fraction: f64, width: usize) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let f = fraction.clamp(0.0, 1.0) * width as f64;
    let full = f.floor() as usize;
    let mut s = String::with_capacity(width * 3);
    for _ in 0..full.min(width) {
        s.push('█');
    }
    if full < width {
        let rem = ((f - full as f64) * 8.0).floor() as usize;
        s.push(EIGHTHS[rem.min(7)]);
        for _ in full + 1..width {
            s.push(' ');
        }
    }
    s
}

/// Seconds ago, short: `12s`, `3m`.
pub fn ago(ms: u64) -> String {
    let s = ms / 1000;
    if s < 120 {
        format!("{s}s")
    } else {
        format!("{}m", s / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(percent(Some(12.345)), "12.3");
        assert_eq!(percent(Some(150.0)), "150");
        assert_eq!(percent(None), "–");
        assert_eq!(cpu_limit(Some(50.0)), "50%");
        assert_eq!(cpu_limit(None), "max");
        assert_eq!(cpu_time(83_450_000_000), "1:23.45");
        assert_eq!(cpu_time(3_723_000_000_000), "1:02:03");
        assert_eq!(bar(0.5, 4), "██  ");
        assert_eq!(bar(1.5, 3), "███");
        assert_eq!(bar(0.0, 2).chars().count(), 2);
    }
}
