//! How many files the sampler may keep open: the process scanner (½ of the
//! descriptors) and the group reader (¼).
//!
//! Re-reading an open file with `pread` skips the path walk, the lookup and
//! the open/close of every process and group file on every tick: that is
//! most of what a tick costs. Each kept file is one descriptor, so the number
//! is bounded by `RLIMIT_NOFILE` — 1024 by default on most systems, with a
//! hard limit far above: when a budget runs out the soft limit is raised
//! (within the hard limit, never past [`MAX_SOFT`]); when it can't be, the
//! remaining files are simply opened and closed each tick.

/// Descriptors left for everything else in the process (terminal, pipes,
/// cgroup files, the launcher).
const RESERVE: u64 = 256;
/// Never raise the soft limit past this: children inherit it.
const MAX_SOFT: u64 = 65_536;

/// Fewest descriptors cgdash runs with (dashboard, demo, run, snapshot):
/// stdio, the terminal, the runtime's, the group watch, one per level of the
/// group walk, `/proc`, the files being read, the launcher's pipes and
/// cgroup files. Below this, opens fail at random (EMFILE) and a reader
/// that skips what it can't open would show an empty list as if it were
/// the truth (`ulimit -n 12` used to give "0 procs" and exit 0).
pub const MIN_NOFILE: u64 = 64;

/// `RLIMIT_NOFILE` leaves fewer than [`MIN_NOFILE`] descriptors, even after
/// raising the soft limit to the hard one.
#[derive(Debug, thiserror::Error)]
#[error(
    "too few open files allowed: RLIMIT_NOFILE is {soft} (hard limit {hard}); cgdash needs at least {min} (`ulimit -n {min}` or more)"
)]
pub struct TooFewFds {
    pub soft: u64,
    pub hard: u64,
    pub min: u64,
}

/// Makes sure at least [`MIN_NOFILE`] descriptors may be open: raises the
/// soft limit (within the hard one) when it is lower; an error naming the
/// limits when the hard limit is lower too. Unknown limits pass.
pub fn ensure_minimum() -> Result<(), TooFewFds> {
    use nix::sys::resource::{getrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(());
    };
    if soft >= MIN_NOFILE {
        return Ok(());
    }
    match raise_soft_limit(MIN_NOFILE) {
        Some(now) if now >= MIN_NOFILE => Ok(()),
        _ => Err(TooFewFds {
            soft,
            hard,
            min: MIN_NOFILE,
        }),
    }
}

/// The descriptor table [`grow_table`] makes room for, at most.
const EARLY_TABLE: u64 = 1024;

/// Grows this process's descriptor table now, while cgdash has one thread,
/// to hold as many descriptors as the sampler keeps (up to 1,024, within
/// the soft limit). The kernel grows the table as descriptors are opened
/// (64, 128, 256, …), and in a process with a second thread each growth
/// waits out an RCU grace period (`expand_files` → `synchronize_rcu`),
/// 10–20 ms on the test VM: the first sample at 200 processes / 20 groups
/// crossed 64 and 128 open files and waited ~35 ms for it, and each
/// larger scale one wait more. That is no CPU, but it is the first frame's
/// wait once the first sample takes longer than the first rates' interval
/// (2,000 processes and up). With one thread there is no wait. Costs a
/// `dup` and a `close`, and the table's 8 KB of kernel memory.
pub fn grow_table() {
    let Some(soft) = soft_limit() else {
        return;
    };
    let top = soft.min(EARLY_TABLE);
    if top <= 64 {
        return; // the table's first 64 are built in
    }
    let Ok(at) = libc::c_int::try_from(top - 1) else {
        return;
    };
    // Any open descriptor will do to copy; F_DUPFD takes the lowest free
    // one from `at` up, so the table grows to hold `at`.
    for fd in 0..3 {
        // SAFETY: fcntl and close take descriptor numbers, no memory.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, at) };
        if copy >= 0 {
            unsafe { libc::close(copy) };
            return;
        }
    }
}

#[derive(Debug)]
pub struct FdBudget {
    limit: usize,
    /// This budget's share of the soft limit: 1/`share`.
    share: u64,
    /// `None`: follow RLIMIT_NOFILE (and raise it when needed).
    fixed: Option<usize>,
    /// The soft limit could not be raised any further (it met the hard
    /// one): don't ask again. Without this, each file past the budget cost
    /// a `getrlimit` — 5,700 of them in one `snapshot` at 10,000 processes.
    at_hard: bool,
}

impl FdBudget {
    /// The process scanner's: half the descriptors.
    pub fn auto() -> FdBudget {
        FdBudget::share_of(2)
    }

    /// 1/`share` of the descriptors (the group reader takes a quarter).
    pub fn share_of(share: u64) -> FdBudget {
        let share = share.max(2);
        FdBudget {
            limit: soft_limit().map_or(0, |s| budget_for(s, share)),
            share,
            fixed: None,
            at_hard: false,
        }
    }

    pub fn fixed(n: usize) -> FdBudget {
        FdBudget {
            limit: n,
            share: 2,
            fixed: Some(n),
            at_hard: false,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Set to a number of files ([`FdBudget::fixed`]) rather than a share.
    pub fn is_fixed(&self) -> bool {
        self.fixed.is_some()
    }

    /// Whether one more file may be kept open when `open` already are.
    pub fn allows(&mut self, open: usize) -> bool {
        if open < self.limit {
            return true;
        }
        if self.fixed.is_some() || self.at_hard {
            return false;
        }
        // Out of budget: ask for room for twice as many (one syscall, only
        // when the process count outgrows the current limit).
        let want = (open as u64 * 2 * self.share + RESERVE).min(MAX_SOFT);
        match raise_soft_limit(want) {
            Some(soft) => {
                let limit = budget_for(soft, self.share);
                self.at_hard = limit <= self.limit || soft < want;
                self.limit = limit;
            }
            None => self.at_hard = true,
        }
        open < self.limit
    }
}

/// 1/`share` of the descriptors: the scanner's half and the group reader's
/// quarter leave a quarter, so the rest of cgdash (terminal, writes, the
/// launcher) never meets EMFILE because of cached files.
fn budget_for(soft: u64, share: u64) -> usize {
    usize::try_from((soft / share).min(soft.saturating_sub(RESERVE))).unwrap_or(usize::MAX)
}

fn soft_limit() -> Option<u64> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// Raises the soft NOFILE limit towards `want` within the hard limit;
/// returns the soft limit in force afterwards.
fn raise_soft_limit(want: u64) -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let target = want.min(hard);
    if target <= soft {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => Some(target),
        Err(_) => Some(soft),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `FDSize` in /proc/self/status: how many descriptors the table holds.
    fn table_size() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("FDSize:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("FDSize")
    }

    #[test]
    fn the_table_is_grown_to_what_the_sampler_keeps() {
        let want = soft_limit().expect("RLIMIT_NOFILE").min(EARLY_TABLE);
        grow_table();
        assert!(
            table_size() >= want,
            "descriptor table {} after growing it, wanted {want}",
            table_size()
        );
        // The copy that grew it is closed again.
        let at = libc::c_int::try_from(want - 1).expect("fd");
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        assert_eq!(
            unsafe { libc::fcntl(at, libc::F_GETFD) },
            -1,
            "fd {at} left open"
        );
    }

    #[test]
    fn fixed_budget_is_a_hard_cap() {
        let mut b = FdBudget::fixed(2);
        assert!(b.allows(0) && b.allows(1));
        assert!(!b.allows(2));
        assert!(!FdBudget::fixed(0).allows(0));
    }

    #[test]
    fn auto_budget_leaves_room_for_the_rest() {
        let b = FdBudget::auto();
        let soft = soft_limit().expect("getrlimit");
        assert_eq!(
            b.limit() as u64,
            (soft / 2).min(soft.saturating_sub(RESERVE))
        );
        // The scanner's half plus the group reader's quarter leave a quarter.
        assert!(b.limit() as u64 + soft / 4 <= soft - soft / 4);
    }
}
