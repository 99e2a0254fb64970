//! Our init's command line. Init is a fork of the helper, so without this
//! `/proc/PID/cmdline` (what ps and the dashboard show) would still read
//! `cgdash-launch NAME`. The argument strings live in the process's own
//! memory between `arg_start` and `arg_end` (fields 48 and 49 of
//! `/proc/self/stat`); the kernel reads the command line from there, so
//! overwriting them in place — as setproctitle(3) does — renames the process
//! without any privilege (moving them with PR_SET_MM needs CAP_SYS_RESOURCE).

/// Rewrites this process's argv area to `args` (NUL-separated, the rest
/// zeroed). Does nothing when the new line does not fit or the area cannot
/// be found: a wrong title is cosmetic, never worth failing for.
pub fn set_cmdline(args: &[&str]) {
    let Some((start, end)) = arg_area() else {
        return;
    };
    let mut line = Vec::new();
    for a in args {
        line.extend_from_slice(a.as_bytes());
        line.push(0);
    }
    let len = end.saturating_sub(start);
    if line.len() > len || start == 0 {
        return;
    }
    line.resize(len, 0);
    // SAFETY: [start, end) is this process's argv area as the kernel reports
    // it: mapped and writable (it is the top of our own stack), and nothing
    // in this single-threaded process holds a reference into it (std reads
    // argv only when env::args() is called, which init never does).
    unsafe {
        std::ptr::copy_nonoverlapping(line.as_ptr(), start as *mut u8, len);
    }
}

/// `(arg_start, arg_end)` from `/proc/self/stat`.
fn arg_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces and `)`):
    // field 3 (state) is the first of these, so field N is at index N-3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(45)?.parse().ok()?, f.get(46)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_arg_area_is_found() {
        let (s, e) = super::arg_area().expect("arg_start/arg_end in /proc/self/stat");
        assert!(s > 0 && e > s, "{s}..{e}");
    }
}
