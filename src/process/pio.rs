//! Per-process storage I/O from `/proc/PID/io`.
//!
//! `read_bytes` / `write_bytes` are what the process made the block layer
//! read, and the page cache it dirtied (to be written to disk): storage I/O.
//! `rchar` / `wchar` count every `read()` / `write()` — pipes, sockets,
//! ttys, and reads served from the page cache — so a process streaming a
//! cached file or talking on a socket would look like a disk hog; they are
//! not used.
//!
//! The file costs an open and a read per process, so the scanner reads it
//! only when asked ([`super::ProcessScanner::set_io`]: the dashboard while
//! its process panel shows the I/O columns or sorts by them, `snapshot`
//! always). It is mode 0400 and needs ptrace access: a normal user gets
//! EACCES for another user's processes, which is `None` ("–"), never 0.

use std::time::Instant;

use serde::Serialize;

/// One reading of `/proc/PID/io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoSample {
    /// Bytes the process caused to be read from storage.
    pub read_bytes: u64,
    /// Bytes of page cache the process dirtied (or wrote directly).
    pub write_bytes: u64,
    /// When it was read (or last confirmed unchanged).
    pub at: Instant,
}

/// `read_bytes` and `write_bytes` of a `/proc/PID/io` text; `None` when
/// either is missing (a kernel without task I/O accounting has no file).
pub fn parse_io(b: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(b).ok()?;
    let key = |k: &str| {
        text.lines().find_map(|l| {
            let v = l.strip_prefix(k)?.strip_prefix(':')?;
            v.trim().parse::<u64>().ok()
        })
    };
    Some((key("read_bytes")?, key("write_bytes")?))
}

/// The published I/O of a process (`processes[].io` in the JSON: add fields
/// only). Present when the sampler read `/proc/PID/io` this tick; its
/// fields are null where the file could not be read (another user's
/// process, not root: EACCES) or, for the rates, on the first reading; the
/// dashboard leaves the totals null for a process that has not run since it
/// was first seen (rates 0: `ProcessScanner::set_lazy_io`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ProcIoView {
    /// Cumulative `read_bytes`, `write_bytes` of `/proc/PID/io`.
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    /// Over the time between this reading and the previous one.
    pub read_bytes_per_s: Option<f64>,
    pub write_bytes_per_s: Option<f64>,
}

impl ProcIoView {
    /// From this tick's reading and the previous one of the same process.
    /// A process that has not run since it was first seen, its file left
    /// unread (lazy I/O): it read and wrote nothing since, totals unknown.
    pub fn idle() -> ProcIoView {
        ProcIoView {
            read_bytes_per_s: Some(0.0),
            write_bytes_per_s: Some(0.0),
            ..ProcIoView::default()
        }
    }

    pub fn new(cur: Option<IoSample>, prev: Option<IoSample>) -> ProcIoView {
        let rate = |f: fn(&IoSample) -> u64| {
            let (c, p) = (cur?, prev?);
            let ns = u64::try_from(c.at.saturating_duration_since(p.at).as_nanos()).ok()?;
            crate::sampler::rates::per_second(Some(f(&p)), Some(f(&c)), ns)
        };
        ProcIoView {
            read_bytes: cur.map(|c| c.read_bytes),
            write_bytes: cur.map(|c| c.write_bytes),
            read_bytes_per_s: rate(|s| s.read_bytes),
            write_bytes_per_s: rate(|s| s.write_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pio_parses_storage_bytes_not_chars() {
        let text = b"rchar: 6976\nwchar: 55\nsyscr: 10\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_io(text), Some((4096, 8192)));
        // A prefix of another key is not the key.
        assert_eq!(
            parse_io(b"read_bytes_x: 1\nread_bytes: 2\nwrite_bytes: 3\n"),
            Some((2, 3))
        );
        assert_eq!(parse_io(b"rchar: 1\nwchar: 2\n"), None);
        assert_eq!(parse_io(b""), None);
        assert_eq!(parse_io(b"read_bytes: x\nwrite_bytes: 1\n"), None);
    }

    #[test]
    fn pio_rates_over_the_readings_own_times() {
        let t0 = Instant::now();
        let s = |r, w, ms| IoSample {
            read_bytes: r,
            write_bytes: w,
            at: t0 + Duration::from_millis(ms),
        };
        let v = ProcIoView::new(Some(s(3000, 1_000_000, 500)), Some(s(1000, 0, 0)));
        assert_eq!(v.read_bytes, Some(3000));
        assert_eq!(v.write_bytes, Some(1_000_000));
        assert_eq!(v.read_bytes_per_s, Some(4000.0));
        assert_eq!(v.write_bytes_per_s, Some(2_000_000.0));
        // First reading: counters, no rates; unreadable: nothing at all.
        let first = ProcIoView::new(Some(s(1, 2, 0)), None);
        assert_eq!((first.read_bytes, first.read_bytes_per_s), (Some(1), None));
        assert_eq!(
            ProcIoView::new(None, Some(s(1, 2, 0))),
            ProcIoView::default()
        );
        // A counter that went backwards (not the same process): no rate.
        let back = ProcIoView::new(Some(s(0, 0, 500)), Some(s(10, 10, 0)));
        assert_eq!(back.write_bytes_per_s, None);
    }
}
