//! Parsing `/proc/PID/stat` by hand: it is the one file read for every
//! process on every tick, so it is parsed in place without allocating.

/// The fields of `/proc/PID/stat` cgdash uses. Times are in clock ticks,
/// RSS in pages, exactly as the kernel reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat<'a> {
    pub pid: i32,
    /// The command name (`comm`, at most 15 bytes; may contain spaces and `)`).
    pub comm: &'a [u8],
    pub state: u8,
    pub ppid: i32,
    pub utime: u64,
    pub stime: u64,
    pub num_threads: u64,
    /// Ticks after boot; with the pid, it identifies a process (pids are reused).
    pub starttime: u64,
    pub rss_pages: u64,
}

/// Parses a `/proc/PID/stat` line. `comm` is whatever sits between the first
/// `(` and the *last* `)`: a process may name itself `a) R 1 (` and only the
/// last parenthesis is the kernel's.
pub fn parse_stat(line: &[u8]) -> Option<Stat<'_>> {
    let open = line.iter().position(|&b| b == b'(')?;
    let close = line.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid = parse_num(trim(&line[..open]))?;
    let comm = &line[open + 1..close];
    // Field 3 (state) is the first after ")"; field N is rest[N - 3].
    let mut rest = line[close + 1..]
        .split(|&b| b == b' ' || b == b'\n')
        .filter(|f| !f.is_empty());
    let state = *rest.next()?.first()?;
    // Fields 4..=24 are all we need: walk them once.
    let mut f = [0u64; 21];
    for slot in f.iter_mut() {
        let field = rest.next()?;
        *slot = parse_num(field)?;
    }
    Some(Stat {
        pid: i32::try_from(pid).ok()?,
        comm,
        state,
        ppid: i32::try_from(f[0]).ok()?,
        utime: f[14 - 4],
        stime: f[15 - 4],
        num_threads: f[20 - 4],
        starttime: f[22 - 4],
        rss_pages: f[24 - 4],
    })
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// A decimal number. Negative fields (tty_nr, priority, nice) parse as 0:
/// none of the fields cgdash keeps can be negative.
fn parse_num(b: &[u8]) -> Option<u64> {
    if let Some(digits) = b.strip_prefix(b"-") {
        return (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit)).then_some(0);
    }
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real lines from this project's host (kernel 6.x); the last ones are
    // crafted the way a process can rename itself with prctl(PR_SET_NAME).
    const CAT: &str = "8819 (cat) R 8814 8814 6959 0 -1 4194304 98 0 0 0 3 7 0 0 20 0 1 0 89454 3133440 390 18446744073709551615 94246503583744 94246503603625 140729730524912 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94246503619632 94246503621248 94247387013120 140729730530010 140729730530030 140729730530030 140729730531307 0\n";
    const KTHREAD: &str = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 1 0 0 20 0 1 0 2 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0";
    const SPACES: &str = "412 (tmux: server) S 1 412 412 0 -1 4194368 1200 0 0 0 150 60 0 0 20 0 1 0 5000 10000000 900 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0";
    const PARENS: &str = "77 (a) R 1 (b) S 5 6 7 0 -1 0 0 0 0 0 11 22 0 0 20 0 4 0 123456 0 77 0";
    const ZOMBIE: &str = "900 (sh) Z 899 900 900 0 -1 4227148 0 0 0 0 0 0 0 0 20 0 1 0 7777 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 9";
    const THREADS: &str = "1234 (java) S 1 1234 1234 0 -1 1077936384 100 0 0 0 98765 4321 0 0 20 0 42 0 100 4000000000 250000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";

    #[test]
    fn parses_real_and_tricky_lines() {
        // (line, pid, comm, state, ppid, utime, stime, threads, starttime, rss)
        type Case = (
            &'static str,
            i32,
            &'static str,
            u8,
            i32,
            u64,
            u64,
            u64,
            u64,
            u64,
        );
        let cases: &[Case] = &[
            (CAT, 8819, "cat", b'R', 8814, 3, 7, 1, 89454, 390),
            (KTHREAD, 2, "kthreadd", b'S', 0, 0, 1, 1, 2, 0),
            (SPACES, 412, "tmux: server", b'S', 1, 150, 60, 1, 5000, 900),
            (PARENS, 77, "a) R 1 (b", b'S', 5, 11, 22, 4, 123456, 77),
            (ZOMBIE, 900, "sh", b'Z', 899, 0, 0, 1, 7777, 0),
            (THREADS, 1234, "java", b'S', 1, 98765, 4321, 42, 100, 250000),
        ];
        for &(line, pid, comm, state, ppid, ut, st, thr, start, rss) in cases {
            let s = parse_stat(line.as_bytes()).unwrap_or_else(|| panic!("parse {line}"));
            assert_eq!(s.pid, pid, "{line}");
            assert_eq!(s.comm, comm.as_bytes(), "{line}");
            assert_eq!(s.state, state, "{line}");
            assert_eq!(s.ppid, ppid, "{line}");
            assert_eq!((s.utime, s.stime), (ut, st), "{line}");
            assert_eq!(s.num_threads, thr, "{line}");
            assert_eq!(s.starttime, start, "{line}");
            assert_eq!(s.rss_pages, rss, "{line}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "123",
            "123 (x",
            "x) 1 (",
            "12 (x) R 1 2",                // truncated before rss
            "abc (x) R 1 2 3 4 5 6 7 8 9", // non-numeric pid
            "1 (x) R 1 2 3 4 5 6 7 8 9 10 1z 12 13 14 15 16 17 18 19 20 21 22 23",
        ] {
            assert!(parse_stat(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_num(b"0"), Some(0));
        assert_eq!(parse_num(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_num(b"18446744073709551616"), None);
        assert_eq!(parse_num(b"-1"), Some(0));
        assert_eq!(parse_num(b"-"), None);
        assert_eq!(parse_num(b"-20"), Some(0));
        assert_eq!(parse_num(b""), None);
        assert_eq!(parse_num(b"1a"), None);
    }
}
