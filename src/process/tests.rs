//! Scanner tests on a fixture `/proc` tree in a temp dir.

use std::fs;
use std::path::Path;

use super::*;

const MOUNTINFO_V1: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
";

fn v1_layout() -> Layout {
    Layout::from_mountinfo(MOUNTINFO_V1).expect("v1 layout")
}

fn cgroup_file(cpu: &str) -> String {
    format!("4:memory:/mem/x\n2:cpuacct:/acct\n1:cpu:{cpu}\n0::/\n")
}

/// `stat` line with the fields the scanner uses; everything else 0.
#[allow(clippy::too_many_arguments)]
fn stat_line(
    pid: i32,
    comm: &str,
    state: char,
    ppid: i32,
    ut: u64,
    st: u64,
    thr: u64,
    start: u64,
    rss: u64,
) -> String {
    format!(
        "{pid} ({comm}) {state} {ppid} {pid} {pid} 0 -1 4194304 0 0 0 0 {ut} {st} 0 0 20 0 {thr} 0 {start} 1000 {rss} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
    )
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path().join("stat"),
            "cpu  1 2 3 4\nbtime 1700000000\nprocesses 5\n",
        )
        .expect("stat");
        fs::write(
            dir.path().join("passwd"),
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .expect("passwd");
        // Not a process directory: must be ignored.
        fs::create_dir(dir.path().join("sys")).expect("sys");
        fs::write(dir.path().join("self"), "").expect("self");
        Fixture { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn proc(&self, pid: i32, stat: &str, cmdline: &[u8], cgroup: &str) {
        let d = self.root().join(pid.to_string());
        fs::create_dir_all(&d).expect("pid dir");
        fs::write(d.join("stat"), stat).expect("stat");
        fs::write(d.join("cmdline"), cmdline).expect("cmdline");
        fs::write(d.join("cgroup"), cgroup).expect("cgroup");
    }

    /// `/proc/PID/schedstat` saying the task ran `ran` ns.
    fn sched(&self, pid: i32, ran: u64) {
        fs::write(
            self.root().join(format!("{pid}/schedstat")),
            format!("{ran} 0 1\n"),
        )
        .expect("schedstat")
    }

    /// `/proc/PID/io` with these storage bytes (and `rchar`/`wchar` far
    /// larger: they must not be taken for them).
    fn io(&self, pid: i32, read: u64, write: u64) {
        fs::write(
            self.root().join(format!("{pid}/io")),
            format!("rchar: 99999\nwchar: 99999\nsyscr: 1\nsyscw: 1\nread_bytes: {read}\nwrite_bytes: {write}\ncancelled_write_bytes: 0\n"),
        )
        .expect("io")
    }

    fn scanner(&self) -> ProcessScanner {
        ProcessScanner::new(self.root().to_path_buf(), &v1_layout())
            .expect("scanner")
            .with_passwd(self.root().join("passwd"))
    }
}

fn by_pid(rows: &[ProcRow], pid: i32) -> &ProcRow {
    rows.iter()
        .find(|r| r.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid} missing in {rows:?}"))
}

#[test]
fn scans_fixture_tree() {
    let f = Fixture::new();
    f.proc(
        1,
        &stat_line(1, "init", 'S', 0, 100, 50, 1, 10, 300),
        b"/sbin/init\0splash\0",
        &cgroup_file("/"),
    );
    f.proc(
        2,
        &stat_line(2, "kthreadd", 'S', 0, 0, 0, 1, 2, 0),
        b"",
        &cgroup_file("/"),
    );
    f.proc(
        77,
        &stat_line(77, "a) R 1 (b", 'R', 1, 7, 3, 4, 5000, 10),
        b"weird\0",
        &cgroup_file("/cgdash/demo"),
    );
    // A process that vanished between readdir and read: no stat.
    fs::create_dir(f.root().join("99")).expect("99");

    let mut s = f.scanner();
    let rows = s.scan();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let u = s.units();

    let init = by_pid(&rows, 1);
    assert_eq!(&*init.command, "/sbin/init splash");
    assert_eq!(init.ppid, 0);
    assert_eq!(init.state, 'S');
    assert_eq!(init.cpu_time_ns, u.ticks_to_ns(150));
    assert_eq!(init.rss_bytes, 300 * u.page_size);
    assert_eq!(init.start_ticks, 10);
    assert_eq!(init.start_time, 1_700_000_000 + 10 / u.ticks_per_sec);
    assert_eq!(&*init.cgroup, "/");

    let kt = by_pid(&rows, 2);
    assert_eq!(&*kt.command, "[kthreadd]");
    assert!(
        Arc::ptr_eq(&init.cgroup, &kt.cgroup),
        "one copy of a cgroup path shared by its processes"
    );

    let weird = by_pid(&rows, 77);
    assert_eq!(&*weird.command, "weird");
    assert_eq!(weird.threads, 4);
    assert_eq!(weird.state, 'R');
    assert_eq!(&*weird.cgroup, "cgdash/demo");
    assert_eq!(s.cached(), 3);
    assert!(rows.iter().all(|r| r.fresh));
    assert!(
        s.scan().iter().all(|r| !r.fresh),
        "second scan comes from the cache"
    );
}

#[test]
fn user_names_come_from_passwd_via_dir_owner() {
    let f = Fixture::new();
    f.proc(
        5,
        &stat_line(5, "x", 'S', 1, 0, 0, 1, 1, 1),
        b"x\0",
        &cgroup_file("/"),
    );
    let mut s = f.scanner();
    let rows = s.scan();
    let me = nix::unistd::geteuid().as_raw();
    assert_eq!(rows[0].uid, me);
    if me == 0 {
        assert_eq!(&*rows[0].user, "root");
    } else {
        assert_eq!(&*rows[0].user, me.to_string());
    }
}

#[test]
fn pid_reuse_exec_and_exit_refresh_the_cache() {
    let f = Fixture::new();
    f.proc(
        10,
        &stat_line(10, "sh", 'S', 1, 1, 1, 1, 100, 1),
        b"sh\0-c\0old\0",
        &cgroup_file("/a"),
    );
    f.proc(
        11,
        &stat_line(11, "sleep", 'S', 1, 1, 1, 1, 100, 1),
        b"sleep\x00600\0",
        &cgroup_file("/a"),
    );
    let mut s = f.scanner();
    s.set_cgroup_refresh(0);
    let rows = s.scan();
    assert_eq!(&*by_pid(&rows, 10).command, "sh -c old");

    // Only stat changes (CPU time): the cached command stays, no re-read needed.
    fs::write(f.root().join("10/cmdline"), b"IGNORED\0").expect("cmdline");
    fs::write(
        f.root().join("10/stat"),
        stat_line(10, "sh", 'R', 1, 5, 5, 1, 100, 1),
    )
    .expect("stat");
    let rows = s.scan();
    assert_eq!(&*by_pid(&rows, 10).command, "sh -c old");
    assert_eq!(by_pid(&rows, 10).cpu_time_ns, s.units().ticks_to_ns(10));

    // exec: comm changes → the command line is read again.
    fs::write(f.root().join("10/cmdline"), b"stress\0--cpu\0").expect("cmdline");
    fs::write(
        f.root().join("10/stat"),
        stat_line(10, "stress", 'R', 1, 6, 5, 1, 100, 1),
    )
    .expect("stat");
    let rows = s.scan();
    assert_eq!(&*by_pid(&rows, 10).command, "stress --cpu");

    // pid 11 exits and the pid is reused by another process (other start time).
    f.proc(
        11,
        &stat_line(11, "sleep", 'S', 1, 0, 0, 1, 999, 1),
        b"sleep\x001\0",
        &cgroup_file("/b"),
    );
    let rows = s.scan();
    let r = by_pid(&rows, 11);
    assert_eq!(
        (&*r.command, &*r.cgroup, r.start_ticks),
        ("sleep 1", "b", 999)
    );

    // pid 10 exits: gone from the rows and from the cache.
    fs::remove_dir_all(f.root().join("10")).expect("rm");
    let rows = s.scan();
    assert_eq!(rows.len(), 1);
    assert_eq!(s.cached(), 1);
}

#[test]
fn moved_process_shows_new_group_within_refresh_ticks() {
    let f = Fixture::new();
    for pid in [20, 21, 22, 23] {
        f.proc(
            pid,
            &stat_line(pid, "w", 'S', 1, 0, 0, 1, 50, 1),
            b"w\0",
            &cgroup_file("/old"),
        );
    }
    let mut s = f.scanner();
    s.set_cgroup_refresh(2);
    s.scan();
    for pid in [20, 21, 22, 23] {
        fs::write(f.root().join(format!("{pid}/cgroup")), cgroup_file("/new")).expect("cgroup");
    }
    let mut rows = Vec::new();
    for _ in 0..2 {
        s.scan_into(&mut rows);
    }
    for r in &rows {
        assert_eq!(&*r.cgroup, "new", "pid {}", r.pid);
    }
}

#[test]
fn missing_proc_root_is_an_error_with_the_path() {
    let Err(e) = ProcessScanner::new("/nonexistent/proc".into(), &v1_layout()) else {
        panic!("expected an error");
    };
    assert!(e.to_string().contains("/nonexistent/proc/stat"), "{e}");
}

#[test]
fn long_command_lines_are_capped() {
    let f = Fixture::new();
    let long = vec![b'a'; MAX_CMDLINE * 3];
    f.proc(
        30,
        &stat_line(30, "java", 'S', 1, 0, 0, 1, 50, 1),
        &long,
        &cgroup_file("/"),
    );
    let rows = f.scanner().scan();
    assert_eq!(rows[0].command.len(), MAX_CMDLINE);
}

#[test]
fn command_lines_up_to_the_cap_are_whole() {
    // Read in one `read` where they fit (issue 18): exactly the cap, one
    // byte under it, and a short one, each whole.
    let f = Fixture::new();
    let mut exact = vec![b'b'; MAX_CMDLINE];
    exact[1] = 0;
    let under = vec![b'c'; MAX_CMDLINE - 1];
    f.proc(
        40,
        &stat_line(40, "b", 'S', 1, 0, 0, 1, 50, 1),
        &exact,
        &cgroup_file("/"),
    );
    f.proc(
        41,
        &stat_line(41, "c", 'S', 1, 0, 0, 1, 50, 1),
        &under,
        &cgroup_file("/"),
    );
    f.proc(
        42,
        &stat_line(42, "d", 'S', 1, 0, 0, 1, 50, 1),
        b"sleep\x00100\x00",
        &cgroup_file("/"),
    );
    let rows = f.scanner().scan();
    let cmd = |pid: i32| {
        rows.iter()
            .find(|r| r.pid == pid)
            .unwrap()
            .command
            .to_string()
    };
    assert_eq!(cmd(40).len(), MAX_CMDLINE);
    assert!(cmd(40).starts_with("b b"), "NUL → space");
    assert_eq!(cmd(41), "c".repeat(MAX_CMDLINE - 1));
    assert_eq!(cmd(42), "sleep 100");
}

#[test]
fn scans_the_real_proc() {
    let Ok(layout) = Layout::detect() else { return };
    let mut s = ProcessScanner::new("/proc".into(), &layout).expect("scanner");
    let rows = s.scan();
    let me = std::process::id() as i32;
    let row = by_pid(&rows, me);
    assert!(row.threads >= 1);
    assert!(row.rss_bytes > 0);
    assert!(!row.cgroup.is_empty());
    assert!(
        row.command.contains("process") || row.command.contains("cgdash"),
        "{}",
        row.command
    );
}

/// A child of this test with its own deadline, killed on drop. `timeout`
/// leads its own process group (its command is in it too), so the group of
/// that pid is exactly what this test started.
struct Child(std::process::Child);

impl Child {
    fn sh(script: &str) -> Child {
        use std::os::unix::process::CommandExt;
        let c = std::process::Command::new("timeout")
            .args(["-s", "KILL", "30", "sh", "-c", script])
            .process_group(0)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        Child(c)
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Releases a script waiting in `read`.
    fn go(&mut self) {
        use std::io::Write;
        if let Some(stdin) = self.0.stdin.as_mut() {
            stdin.write_all(b"go\n").expect("write to the child");
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.pid());
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn real_scanner() -> Option<ProcessScanner> {
    let layout = Layout::detect().ok()?;
    ProcessScanner::new("/proc".into(), &layout).ok()
}

/// The shell `timeout` runs (its only child).
fn child_of(rows: &[ProcRow], ppid: i32) -> Option<&ProcRow> {
    rows.iter().find(|r| r.ppid == ppid)
}

#[test]
fn kept_stat_files_follow_exit_and_exec() {
    let Some(mut s) = real_scanner() else { return };
    let mut a = Child::sh("read x; exec sleep 30");
    // Until `timeout` has started the shell, its child is not there yet.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (rows, sh) = loop {
        let rows = s.scan();
        if let Some(sh) = child_of(&rows, a.pid()).filter(|r| r.command.starts_with("sh -c")) {
            let sh = sh.clone();
            break (rows, sh);
        }
        assert!(std::time::Instant::now() < end, "the shell did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(sh.command.starts_with("sh -c"), "{}", sh.command);
    assert!(
        s.open_files() >= rows.len().min(100),
        "stat files are kept open"
    );

    // exec: same pid, same start, other program — seen through the kept file.
    a.go();
    let slept = loop {
        let rows = s.scan();
        if let Some(r) = child_of(&rows, a.pid()).filter(|r| !r.command.starts_with("sh -c")) {
            break r.clone();
        }
        assert!(std::time::Instant::now() < end, "the shell did not exec");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!((slept.pid, slept.start_ticks), (sh.pid, sh.start_ticks));
    assert_eq!(&*slept.command, "sleep 30");
    assert!(slept.fresh);

    // exit: the kept file reads ESRCH, the process is gone from the rows
    // (once its parent, init after `timeout` died, has reaped it).
    let pid = a.pid();
    drop(a);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let rows = s.scan();
        if rows.iter().all(|r| r.pid != pid && r.pid != sh.pid) {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "exited processes still listed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn cpu_time_through_kept_files_matches_a_fresh_read() {
    let Some(mut s) = real_scanner() else { return };
    let busy = Child::sh("while :; do :; done");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let first = loop {
        let rows = s.scan();
        if let Some(r) = child_of(&rows, busy.pid()).filter(|r| r.command.starts_with("sh -c")) {
            break r.clone();
        }
        assert!(std::time::Instant::now() < end, "the shell did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    let rows = s.scan();
    let fresh = fs::read_to_string(format!("/proc/{}/stat", first.pid)).expect("stat");
    let since_scan = std::time::Instant::now();
    let fresh = parse_stat(fresh.as_bytes()).expect("parse");
    let second = child_of(&rows, busy.pid()).expect("busy");
    let since_scan = since_scan.saturating_duration_since(second.read_at);
    let u = s.units();
    let direct = u.ticks_to_ns(fresh.utime + fresh.stime);
    assert!(second.cpu_time_ns > first.cpu_time_ns, "CPU time advances");
    // The fresh read is later: at most the time in between (plus a tick) more.
    let slack = since_scan.as_nanos() as u64 + 2 * u.ticks_to_ns(1);
    assert!(
        second.cpu_time_ns <= direct && direct - second.cpu_time_ns <= slack,
        "kept-file read {} vs fresh read {direct} (slack {slack})",
        second.cpu_time_ns
    );
}

#[test]
fn low_fd_budget_still_scans_everything() {
    let Some(mut s) = real_scanner() else { return };
    let all = s.scan().len();
    for budget in [0, 3] {
        s.set_fd_budget(Some(budget));
        assert!(s.open_files() <= budget);
        let rows = s.scan();
        assert!(
            rows.len() + 20 >= all && all + 20 >= rows.len(),
            "{} vs {all}",
            rows.len()
        );
        assert!(s.open_files() <= budget, "{} > {budget}", s.open_files());
        let me = std::process::id() as i32;
        assert!(rows.iter().any(|r| r.pid == me));
    }
}

/// Issue 18: the first scan can't know how many processes there are and
/// keeps `stat` files for the first ones it meets; from the second scan on
/// every process's `schedstat` (read every tick) has room before them. (At
/// 10,000 processes the first scan's `stat` files took half the budget for
/// good, and 5,000 `schedstat` files were opened and closed every tick.)
#[test]
fn schedstat_files_get_the_budget_before_stat_files() {
    let Some(mut s) = real_scanner() else { return };
    let n = s.scan().len();
    let mut s = real_scanner().expect("scanner");
    let budget = n + 20;
    s.set_fd_budget(Some(budget));
    let kept = |s: &ProcessScanner| {
        let stat = s.cache.values().filter(|c| c.stat_fd.is_some()).count();
        let sched = s.cache.values().filter(|c| c.sched_fd.is_some()).count();
        (stat, sched)
    };
    s.scan();
    let rows = s.scan();
    let single = rows.iter().filter(|r| r.threads == 1).count();
    let (stat, sched) = kept(&s);
    assert!(stat + sched <= budget, "{stat} + {sched} > {budget}");
    // Others' processes come and go between scans: a margin of 20.
    assert!(
        sched + 20 >= single,
        "schedstat kept for {sched} of {single} single-threaded processes ({stat} stat files)"
    );
    assert!(stat <= 40, "{stat} stat files kept with room for only ~20");
}

#[test]
fn sleeping_processes_are_taken_from_the_cache_only_while_schedstat_stands_still() {
    let f = Fixture::new();
    let sched = |pid: i32, ran: u64| f.sched(pid, ran);
    // 40: single-threaded, child of 1; 41: two threads; 42: no schedstat.
    f.proc(
        1,
        &stat_line(1, "init", 'S', 0, 1, 1, 1, 1, 1),
        b"init\0",
        &cgroup_file("/"),
    );
    sched(1, 5);
    f.proc(
        40,
        &stat_line(40, "one", 'S', 1, 1, 1, 1, 50, 10),
        b"one\0",
        &cgroup_file("/"),
    );
    sched(40, 1000);
    f.proc(
        41,
        &stat_line(41, "two", 'S', 1, 1, 1, 2, 50, 10),
        b"two\0",
        &cgroup_file("/"),
    );
    sched(41, 1000);
    f.proc(
        42,
        &stat_line(42, "old", 'S', 1, 1, 1, 1, 50, 10),
        b"old\0",
        &cgroup_file("/"),
    );
    let mut s = f.scanner();
    // No group lists place them: `/proc/PID/cgroup` (and with it `stat`)
    // would be read every other tick.
    s.set_cgroup_refresh(0);
    // Start right after 40's full-read tick (staggered by pid) so the next
    // ticks may skip its stat.
    let mut rows = Vec::new();
    loop {
        s.scan_into(&mut rows);
        if (s.tick + 40) % FULL_EVERY == 1 {
            break;
        }
    }
    let t = |rows: &[ProcRow], pid| by_pid(rows, pid).cpu_time_ns;
    let u = s.units();
    // Every stat says 3 more ticks of CPU, but only 40's schedstat stands still.
    for (pid, name, thr) in [(40, "one", 1), (41, "two", 2), (42, "old", 1)] {
        fs::write(
            f.root().join(format!("{pid}/stat")),
            stat_line(pid, name, 'R', 1, 4, 1, thr, 50, 10),
        )
        .expect("stat");
    }
    s.scan_into(&mut rows);
    assert_eq!(
        t(&rows, 40),
        u.ticks_to_ns(2),
        "40 did not run: from the cache"
    );
    assert_eq!(
        t(&rows, 41),
        u.ticks_to_ns(5),
        "41 has two threads: always read"
    );
    assert_eq!(
        t(&rows, 42),
        u.ticks_to_ns(5),
        "42 has no schedstat: always read"
    );
    assert!(!by_pid(&rows, 40).fresh);
    // It ran: read at once.
    sched(40, 2000);
    s.scan_into(&mut rows);
    assert_eq!(t(&rows, 40), u.ticks_to_ns(5));
    assert_eq!(by_pid(&rows, 40).state, 'R');

    // Its parent exits and it is reparented (without running): read again,
    // whether the parent stays a zombie or is gone.
    fs::write(
        f.root().join("40/stat"),
        stat_line(40, "one", 'S', 7, 4, 1, 1, 50, 10),
    )
    .expect("stat");
    s.scan_into(&mut rows);
    assert_eq!(by_pid(&rows, 40).ppid, 1, "parent alive: from the cache");
    // The parent exits but is not reaped: a zombie (it ran on its way out).
    fs::write(
        f.root().join("1/stat"),
        stat_line(1, "init", 'Z', 0, 1, 1, 1, 1, 1),
    )
    .expect("stat");
    sched(1, 6);
    s.scan_into(&mut rows);
    assert_eq!(
        by_pid(&rows, 40).ppid,
        7,
        "parent a zombie: stat read again"
    );
    // The new parent is gone without a trace.
    f.proc(
        7,
        &stat_line(7, "reaper", 'S', 0, 1, 1, 1, 1, 1),
        b"reaper\0",
        &cgroup_file("/"),
    );
    sched(7, 5);
    s.scan_into(&mut rows);
    fs::write(
        f.root().join("40/stat"),
        stat_line(40, "one", 'S', 8, 4, 1, 1, 50, 10),
    )
    .expect("stat");
    s.scan_into(&mut rows);
    assert_eq!(by_pid(&rows, 40).ppid, 7, "parent alive: from the cache");
    fs::remove_dir_all(f.root().join("7")).expect("rm 7");
    s.scan_into(&mut rows);
    assert_eq!(by_pid(&rows, 40).ppid, 8, "parent gone: stat read again");

    // RSS shrinking while it sleeps shows within FULL_EVERY ticks.
    fs::write(
        f.root().join("40/stat"),
        stat_line(40, "one", 'S', 7, 4, 1, 1, 50, 3),
    )
    .expect("stat");
    let mut seen = None;
    for i in 1..=FULL_EVERY {
        s.scan_into(&mut rows);
        if by_pid(&rows, 40).rss_bytes == 3 * u.page_size {
            seen = Some(i);
            break;
        }
    }
    assert!(seen.is_some(), "RSS not re-read within {FULL_EVERY} ticks");

    // "0 0 0" (a kernel without schedstats) never skips stat.
    sched(40, 0);
    s.scan_into(&mut rows);
    fs::write(
        f.root().join("40/stat"),
        stat_line(40, "one", 'S', 7, 9, 1, 1, 50, 3),
    )
    .expect("stat");
    s.scan_into(&mut rows);
    assert_eq!(t(&rows, 40), u.ticks_to_ns(10));
}

#[test]
fn a_sleeper_that_starts_running_is_read_on_the_next_scan() {
    let Some(mut s) = real_scanner() else { return };
    let mut a = Child::sh("read x; while :; do :; done");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut rows = Vec::new();
    let sh = loop {
        s.scan_into(&mut rows);
        if let Some(r) = child_of(&rows, a.pid()).filter(|r| r.command.starts_with("sh -c")) {
            break r.clone();
        }
        assert!(std::time::Instant::now() < end, "the shell did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // A few scans while it waits in `read`: taken from the cache.
    for _ in 0..3 {
        s.scan_into(&mut rows);
    }
    assert_eq!(by_pid(&rows, sh.pid).cpu_time_ns, sh.cpu_time_ns);
    a.go();
    // Wait until the kernel's own counter shows 10 ticks of spinning (not a
    // fixed sleep: on a loaded machine 300 ms of wall time gave the spinner
    // 70 ms of CPU), then one scan must see at least that much.
    let units = s.units();
    let ticks = |pid: i32| {
        let t = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let t = parse_stat(t.as_bytes()).expect("parse");
        units.ticks_to_ns(t.utime + t.stime)
    };
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let spun = loop {
        let now = ticks(sh.pid);
        if now >= units.ticks_to_ns(10) + sh.cpu_time_ns {
            break now;
        }
        assert!(std::time::Instant::now() < end, "the shell never spun");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    s.scan_into(&mut rows);
    let after = by_pid(&rows, sh.pid).clone();
    let direct = ticks(sh.pid);
    assert!(
        after.cpu_time_ns >= spun,
        "spinning not seen: {} → {} ns (the kernel said {spun} before the scan)",
        sh.cpu_time_ns,
        after.cpu_time_ns
    );
    assert!(
        after.cpu_time_ns <= direct,
        "{} > {direct}",
        after.cpu_time_ns
    );
}

#[test]
fn a_reparented_sleeper_shows_its_new_parent() {
    let Some(mut s) = real_scanner() else { return };
    // The shell starts a sleeper and waits; on "go" it exits and the sleeper
    // is reparented without running.
    let mut a = Child::sh("sleep 30 & echo $! >&2; read x");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut rows = Vec::new();
    let (sh, sleeper) = loop {
        s.scan_into(&mut rows);
        let sh = child_of(&rows, a.pid()).filter(|r| r.command.starts_with("sh -c"));
        if let Some(sh) = sh {
            if let Some(sl) = child_of(&rows, sh.pid).filter(|r| &*r.command == "sleep 30") {
                break (sh.pid, sl.pid);
            }
        }
        assert!(std::time::Instant::now() < end, "the sleeper did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    for _ in 0..2 {
        s.scan_into(&mut rows);
    }
    assert_eq!(by_pid(&rows, sleeper).ppid, sh);
    a.go();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        s.scan_into(&mut rows);
        if rows.iter().all(|r| r.pid != sh) {
            break;
        }
        assert!(std::time::Instant::now() < end, "the shell did not exit");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let now = by_pid(&rows, sleeper).ppid;
    let direct = parse_stat(
        fs::read_to_string(format!("/proc/{sleeper}/stat"))
            .expect("stat")
            .as_bytes(),
    )
    .expect("parse")
    .ppid;
    assert_ne!(now, sh, "still shows the dead parent");
    assert_eq!(now, direct);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sleeper),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Issue 11 item 14: a scan that could not list `/proc` says so instead of
/// passing an empty list off as "no processes".
#[test]
fn hr_unlistable_proc_is_a_problem_not_an_empty_list() {
    let f = Fixture::new();
    f.proc(
        7,
        &stat_line(7, "w", 'S', 1, 0, 0, 1, 1, 10),
        b"w\0",
        &cgroup_file("/"),
    );
    let mut s = f.scanner();
    assert_eq!(s.scan().len(), 1);
    assert_eq!(s.problem(), None);
    let moved = f.root().with_extension("gone");
    fs::rename(f.root(), &moved).expect("rename");
    let rows = s.scan();
    fs::rename(&moved, f.root()).expect("rename back");
    assert!(rows.is_empty());
    assert!(
        s.problem().is_some_and(|p| p.contains("cannot list")),
        "{:?}",
        s.problem()
    );
    assert_eq!(s.scan().len(), 1);
    assert_eq!(s.problem(), None, "cleared by a complete scan");
}

/// `/proc/PID/io` is read only while asked, its counters and the previous
/// reading land in the row, a missing or unreadable file is `None` (not 0),
/// and a sleeper taken from the cache keeps its last reading unread.
#[test]
fn pio_io_is_read_only_when_asked_and_sleepers_keep_their_reading() {
    let f = Fixture::new();
    let io = |pid: i32, r: u64, w: u64| f.io(pid, r, w);
    let sched = |pid: i32, ran: u64| f.sched(pid, ran);
    f.proc(
        1,
        &stat_line(1, "init", 'S', 0, 1, 1, 1, 1, 1),
        b"init\0",
        &cgroup_file("/"),
    );
    sched(1, 5);
    // 50: a writer; 51: no io file (as unreadable: EACCES for another
    // user's process); 52: a single-threaded sleeper.
    for pid in [50, 51, 52] {
        f.proc(
            pid,
            &stat_line(pid, "p", 'S', 1, 1, 1, 1, 50, 10),
            b"p\0",
            &cgroup_file("/"),
        );
    }
    io(50, 0, 1000);
    io(52, 7, 8);
    sched(52, 1000);
    let mut s = f.scanner();
    let rows = s.scan();
    assert!(rows.iter().all(|r| r.io.is_none()), "off by default");
    s.set_io(true);
    let rows = s.scan();
    let w = by_pid(&rows, 50).io.expect("50 read");
    assert_eq!((w.read_bytes, w.write_bytes), (0, 1000));
    assert!(by_pid(&rows, 50).io_prev.is_none(), "first reading");
    assert_eq!(by_pid(&rows, 51).io, None);
    io(50, 4096, 5000);
    let rows = s.scan();
    let r = by_pid(&rows, 50);
    let (cur, prev) = (r.io.expect("cur"), r.io_prev.expect("prev"));
    assert_eq!((cur.write_bytes, prev.write_bytes), (5000, 1000));
    assert_eq!(cur.read_bytes, 4096);
    assert!(cur.at >= prev.at);
    assert_eq!(
        (by_pid(&rows, 51).io, by_pid(&rows, 51).io_prev),
        (None, None)
    );
    // The sleeper: its io file changes behind its back every tick (which a
    // process that did not run can't do). While its schedstat run time
    // stands still its last reading stands, unread — on the ticks it is
    // taken from the cache and on those its stat is re-read because due.
    let (mut from_cache, mut due) = (0, 0);
    for i in 0..2 * FULL_EVERY {
        io(52, 100 + i, 200 + i);
        let rows = s.scan();
        let r = by_pid(&rows, 52).io.expect("52");
        assert_eq!(
            (r.read_bytes, r.write_bytes),
            (7, 8),
            "tick {i}: not re-read"
        );
        if s.cache.get(&52).map(|c| c.stat_tick) == Some(s.tick) {
            due += 1;
        } else {
            from_cache += 1;
        }
    }
    assert!(
        from_cache > 0 && due > 0,
        "{from_cache} from the cache, {due} due"
    );
    // It runs (schedstat moves): read at once.
    sched(52, 2000);
    io(52, 70, 80);
    let rows = s.scan();
    let r = by_pid(&rows, 52);
    let (cur, prev) = (r.io.expect("cur"), r.io_prev.expect("prev"));
    assert_eq!((cur.read_bytes, cur.write_bytes), (70, 80));
    assert_eq!((prev.read_bytes, prev.write_bytes), (7, 8));
    // Off again: nothing read, and the readings are forgotten.
    s.set_io(false);
    let rows = s.scan();
    assert!(rows.iter().all(|r| r.io.is_none() && r.io_prev.is_none()));
    assert!(s.cache.values().all(|c| c.io.is_none()));
}

/// The eBPF path's word (`Hints::ran`), without BPF: a pass that names
/// processes. Start times in ns, as the kernel's `start_boottime`.
fn pass(named: &[i32], exits: &[(i32, u64)]) -> ebpf::Ran {
    let mut r = ebpf::Ran::default();
    for &p in named {
        r.pids.insert(p, ebpf::flags::RAN);
    }
    r.exits = exits.to_vec();
    r
}

fn scan_with_pass(s: &mut ProcessScanner, p: &ebpf::Ran) -> Vec<ProcRow> {
    scan_with_pass_shrink(s, p, &|_| true)
}

/// `scan_with_pass`, with the sampler's word on whose group's memory moved.
fn scan_with_pass_shrink(
    s: &mut ProcessScanner,
    p: &ebpf::Ran,
    shrink: &dyn Fn(i32) -> bool,
) -> Vec<ProcRow> {
    let mut out = Vec::new();
    let hints = Hints {
        ran: Some(Ran {
            pass: p,
            at: Instant::now(),
            shrink,
        }),
        ..Hints::default()
    };
    s.scan_each_with(hints, &mut |r| out.push(r));
    out
}

/// Pid 10, `a`, sleeping, with `utime` ticks, in the root group (the
/// eBPF-path tests' usual process).
fn sleeper_a(f: &Fixture, utime: u64) {
    let line = stat_line(10, "a", 'S', 1, utime, 0, 1, 100, 10);
    f.proc(10, &line, b"a\0", &cgroup_file("/"));
}

#[test]
fn the_ebpf_pass_decides_what_is_read() {
    let f = Fixture::new();
    let cg = cgroup_file("/");
    // pid 1: never named by a pass (6.18's iterator skips it); start times
    // 100 and 200 ticks (1 s and 2 s after boot).
    f.proc(
        1,
        &stat_line(1, "init", 'S', 0, 1, 0, 1, 5, 10),
        b"init\0",
        &cg,
    );
    sleeper_a(&f, 5);
    f.proc(
        11,
        &stat_line(11, "b", 'S', 1, 7, 0, 1, 200, 10),
        b"b\0",
        &cg,
    );
    let mut s = f.scanner();
    // First pass: every task is new; /proc is listed too (pid 1).
    let rows = scan_with_pass(&mut s, &pass(&[10, 11], &[]));
    let mut pids: Vec<i32> = rows.iter().map(|r| r.pid).collect();
    pids.sort();
    assert_eq!(pids, [1, 10, 11]);
    // All three "run"; the pass names only 10.
    f.proc(
        1,
        &stat_line(1, "init", 'S', 0, 9, 0, 1, 5, 10),
        b"init\0",
        &cg,
    );
    f.proc(
        10,
        &stat_line(10, "a", 'R', 1, 50, 0, 1, 100, 10),
        b"a\0",
        &cg,
    );
    f.proc(
        11,
        &stat_line(11, "b", 'R', 1, 70, 0, 1, 200, 10),
        b"b\0",
        &cg,
    );
    let rows = scan_with_pass(&mut s, &pass(&[10], &[]));
    let u = s.units();
    assert_eq!(
        by_pid(&rows, 10).cpu_time_ns,
        u.ticks_to_ns(50),
        "named: read"
    );
    assert_eq!(by_pid(&rows, 10).state, 'R');
    assert_eq!(
        by_pid(&rows, 11).cpu_time_ns,
        u.ticks_to_ns(7),
        "not named: the cached row, nothing read"
    );
    assert_eq!(by_pid(&rows, 11).state, 'S');
    assert_eq!(
        by_pid(&rows, 1).cpu_time_ns,
        u.ticks_to_ns(9),
        "never named by a pass: read every tick"
    );
    assert_eq!(s.skipped(), 1);
    // An exit of another process that had pid 11 (other start time) does
    // not remove this one; its own does, even before its directory goes.
    let ns = |ticks: u64| ticks * 1_000_000_000 / u.ticks_per_sec;
    let rows = scan_with_pass(&mut s, &pass(&[], &[(11, ns(150))]));
    assert!(rows.iter().any(|r| r.pid == 11), "a reused pid's exit");
    let rows = scan_with_pass(&mut s, &pass(&[], &[(11, ns(200))]));
    assert!(!rows.iter().any(|r| r.pid == 11), "its own exit");
    // A process no pass names and the listing has not seen yet is not
    // made up; once named it is read.
    f.proc(
        12,
        &stat_line(12, "c", 'S', 1, 3, 0, 1, 300, 10),
        b"c\0",
        &cg,
    );
    let rows = scan_with_pass(&mut s, &pass(&[], &[]));
    assert!(!rows.iter().any(|r| r.pid == 12));
    let rows = scan_with_pass(&mut s, &pass(&[12], &[]));
    assert_eq!(by_pid(&rows, 12).command.as_ref(), "c");
}

/// A pass whose ring buffer overflowed may have lost a thread's exit,
/// which names a process whose CPU time moved: every process is read.
#[test]
fn a_pass_that_lost_records_reads_every_process() {
    let f = Fixture::new();
    sleeper_a(&f, 5);
    let mut s = f.scanner();
    scan_with_pass(&mut s, &pass(&[10], &[]));
    // Its threads ran and died; the pass does not name it.
    sleeper_a(&f, 40);
    let u = s.units();
    let rows = scan_with_pass(&mut s, &pass(&[], &[]));
    assert_eq!(by_pid(&rows, 10).cpu_time_ns, u.ticks_to_ns(5), "cached");
    let mut lost = pass(&[], &[]);
    lost.lost_exits = true;
    let rows = scan_with_pass(&mut s, &lost);
    assert_eq!(
        by_pid(&rows, 10).cpu_time_ns,
        u.ticks_to_ns(40),
        "records lost: read"
    );
    assert_eq!(s.skipped(), 0);
}

/// A sleeper's RSS can shrink only when pages leave its group's memory
/// (reclaim, swap-out): on the eBPF path its `stat` is re-read within
/// FULL_EVERY ticks while its group's charge moves, and otherwise only every
/// IDLE_EVERY ticks.
#[test]
fn the_ebpf_path_rereads_a_sleepers_rss_while_its_groups_memory_moves() {
    let f = Fixture::new();
    let cg = cgroup_file("/");
    let sleeper = |rss: u64| stat_line(10, "a", 'S', 1, 5, 0, 1, 100, rss);
    f.proc(10, &sleeper(10), b"a\0", &cg);
    let mut s = f.scanner();
    scan_with_pass(&mut s, &pass(&[10], &[]));
    // Its RSS shrinks; it never runs. Quiet group: re-read at its slot.
    f.proc(10, &sleeper(4), b"a\0", &cg);
    (1..=IDLE_EVERY)
        .position(|_| {
            let rows = scan_with_pass_shrink(&mut s, &pass(&[], &[]), &|_| false);
            by_pid(&rows, 10).rss_bytes == 4 * s.units().page_size
        })
        .expect("re-read within IDLE_EVERY ticks");
    // Back to 10 pages, now with its group's memory moving: within FULL_EVERY.
    f.proc(10, &sleeper(10), b"a\0", &cg);
    let moving_ticks = (1..=FULL_EVERY)
        .position(|_| {
            let rows = scan_with_pass_shrink(&mut s, &pass(&[], &[]), &|_| true);
            by_pid(&rows, 10).rss_bytes == 10 * s.units().page_size
        })
        .expect("re-read within FULL_EVERY ticks while its group's memory moves")
        + 1;
    assert!(moving_ticks as u64 <= FULL_EVERY);
    // Not re-read every tick while quiet, and not every FULL_EVERY: the
    // pid's slot (tick + pid) decides, once per IDLE_EVERY.
    f.proc(10, &sleeper(3), b"a\0", &cg);
    let reads = (0..IDLE_EVERY)
        .filter(|_| {
            let before = s.cache.get(&10).map(|c| c.stat_tick);
            scan_with_pass_shrink(&mut s, &pass(&[], &[]), &|_| false);
            s.cache.get(&10).map(|c| c.stat_tick) != before
        })
        .count();
    assert_eq!(
        reads, 1,
        "one stat read per IDLE_EVERY ticks in a quiet group"
    );
}

/// A sleeper's periodic `stat` read (its RSS, once in IDLE_EVERY passes in
/// a quiet group) comes on its slot of the pass's count, `(pass + pid) %
/// IDLE_EVERY == 0`: the pass names it then (`flags::DUE`) with its fields,
/// which the scanner takes instead of the file, keeping the CPU time it
/// had. Unnamed on its slot (6.18's iterator never visits pid 1), the file.
#[test]
fn a_sleepers_periodic_read_takes_the_passs_fields_on_its_slot() {
    let f = Fixture::new();
    let cg = cgroup_file("/");
    f.proc(
        10,
        &stat_line(10, "a", 'S', 1, 5, 0, 1, 100, 10),
        b"a\0",
        &cg,
    );
    f.io(10, 7, 8);
    let mut s = f.scanner();
    s.set_io(true);
    let u = s.units();
    let numbered = |n: u64, named: &[(i32, u32)], with: Option<ebpf::Fields>| {
        let mut p = pass(&[], &[]);
        p.pass = n;
        for &(pid, why) in named {
            p.pids.insert(pid, why);
        }
        if let Some(x) = with {
            p.add_fields(10, &x);
        }
        p
    };
    let rss = |s: &mut ProcessScanner, p: &ebpf::Ran| {
        let rows = scan_with_pass_shrink(s, p, &|_| false);
        let r = by_pid(&rows, 10);
        assert_eq!(
            r.io.map(|io| io.read_bytes),
            Some(7),
            "pass {}: its `io` read again",
            p.pass
        );
        (r.rss_bytes / u.page_size, r.cpu_time_ns)
    };
    assert_eq!(
        rss(&mut s, &numbered(40, &[(10, ebpf::flags::NEW)], None)).0,
        10
    );
    // From now on `stat` says otherwise: a row that agrees with the pass's
    // fields (8 pages) did not come from the file (4 pages). Its I/O too:
    // it did not run, so it did none, and its `io` is not read again.
    f.proc(
        10,
        &stat_line(10, "a", 'S', 1, 900, 0, 1, 100, 4),
        b"a\0",
        &cg,
    );
    f.io(10, 70, 80);
    for n in 41..50 {
        assert_eq!(
            rss(&mut s, &numbered(n, &[], None)).0,
            10,
            "pass {n}: quiet"
        );
    }
    // Pass 50: 50 + 10 is its slot, and the pass names it.
    let x = fields("a", 999_000_000_000, 100);
    let due = numbered(50, &[(10, ebpf::flags::DUE)], Some(x));
    assert_eq!(
        rss(&mut s, &due),
        (8, u.ticks_to_ns(5)),
        "the pass's RSS, the CPU time it had (not the fields' run time: it did not run)"
    );
    // Its next slot, unnamed: the file. (The pass's count decides, not the
    // scanner's ticks: 3 ticks after its last read here.)
    for n in [108, 109] {
        assert_eq!(rss(&mut s, &numbered(n, &[], None)).0, 8, "pass {n}: quiet");
    }
    assert_eq!(rss(&mut s, &numbered(110, &[], None)).0, 4, "pass 110");
}

/// The eBPF path lists `/proc` every RELIST ticks, not at the start (a
/// dentry per process): then only pid 1, which 6.18's iterator never
/// visits, is added to what the pass named.
#[test]
fn the_ebpf_path_lists_proc_every_relist_ticks() {
    let f = Fixture::new();
    let cg = cgroup_file("/");
    sleeper_a(&f, 5);
    f.proc(
        1,
        &stat_line(1, "init", 'S', 0, 7, 0, 1, 1, 10),
        b"init\0",
        &cg,
    );
    // A process the iterator never reports.
    f.proc(
        13,
        &stat_line(13, "d", 'S', 1, 3, 0, 1, 300, 10),
        b"d\0",
        &cg,
    );
    let mut s = f.scanner();
    let rows = scan_with_pass(&mut s, &pass(&[10], &[]));
    let mut pids: Vec<i32> = rows.iter().map(|r| r.pid).collect();
    pids.sort();
    assert_eq!(
        pids,
        [1, 10],
        "the pass's, and pid 1: no listing at the start"
    );
    let mut first = None;
    for tick in 2..=RELIST + 1 {
        let rows = scan_with_pass(&mut s, &pass(&[], &[]));
        if first.is_none() && rows.iter().any(|r| r.pid == 13) {
            first = Some(tick);
        }
    }
    assert_eq!(first, Some(RELIST), "found by the listing at tick {RELIST}");
}

#[test]
fn an_empty_command_line_caught_before_exec_is_read_again() {
    let f = Fixture::new();
    let cg = cgroup_file("/");
    // Between fork and exec's argument setup: no command line yet.
    f.proc(20, &stat_line(20, "sh", 'R', 1, 1, 0, 1, 100, 10), b"", &cg);
    // A kernel thread (child of kthreadd) never has one.
    f.proc(
        21,
        &stat_line(21, "kworker/0:1", 'I', 2, 1, 0, 1, 50, 0),
        b"",
        &cg,
    );
    let mut s = f.scanner();
    let rows = s.scan();
    assert_eq!(by_pid(&rows, 20).command.as_ref(), "[sh]");
    assert_eq!(by_pid(&rows, 21).command.as_ref(), "[kworker/0:1]");
    // It ran (same comm: no exec since) and has its arguments now.
    f.proc(
        20,
        &stat_line(20, "sh", 'S', 1, 2, 0, 1, 100, 10),
        b"sh\0-c\0exec sleep 40\0",
        &cg,
    );
    let rows = scan_with_pass(&mut s, &pass(&[20, 21], &[]));
    assert_eq!(by_pid(&rows, 20).command.as_ref(), "sh -c exec sleep 40");
    assert_eq!(by_pid(&rows, 21).command.as_ref(), "[kworker/0:1]");
}

/// Lazy command lines (issue 18): rows carry the name and the flag, kernel
/// threads their `[name]`, and `cmdline` is never opened — the fixture's
/// `cmdline` files are removed to prove it. Turned off, the next scan reads
/// every pending one, the same text the eager scanner gives.
#[test]
fn lazy_command_lines_are_left_pending_until_turned_off() {
    let f = Fixture::new();
    f.proc(
        1,
        &stat_line(1, "init", 'S', 0, 100, 50, 1, 10, 300),
        b"/sbin/init\0splash\0",
        &cgroup_file("/"),
    );
    f.proc(
        30,
        &stat_line(30, "kworker/0:1", 'I', 2, 0, 0, 1, 20, 0),
        b"",
        &cgroup_file("/"),
    );
    f.proc(
        77,
        &stat_line(77, "sleeper", 'S', 1, 7, 3, 1, 5000, 10),
        b"./sleepers\x0010000\x00",
        &cgroup_file("/cgdash/demo"),
    );
    let eager: Vec<(i32, String)> = {
        let mut rows: Vec<_> = f
            .scanner()
            .scan()
            .into_iter()
            .map(|r| (r.pid, r.command.to_string()))
            .collect();
        rows.sort();
        rows
    };
    let hidden = f.root().join("hidden");
    fs::create_dir(&hidden).unwrap();
    for pid in [1, 30, 77] {
        fs::rename(
            f.root().join(format!("{pid}/cmdline")),
            hidden.join(pid.to_string()),
        )
        .unwrap();
    }
    let mut s = f.scanner();
    s.set_lazy_commands(true);
    let rows = s.scan();
    assert_eq!(
        rows.len(),
        3,
        "no process lost for want of a cmdline: {rows:?}"
    );
    let init = by_pid(&rows, 1);
    assert_eq!((&*init.command, init.command_pending), ("init", true));
    let kw = by_pid(&rows, 30);
    assert_eq!((&*kw.command, kw.command_pending), ("[kworker/0:1]", false));
    assert!(by_pid(&rows, 77).command_pending);
    // Still pending from the cache.
    assert!(by_pid(&s.scan(), 77).command_pending);

    for pid in [1, 30, 77] {
        fs::rename(
            hidden.join(pid.to_string()),
            f.root().join(format!("{pid}/cmdline")),
        )
        .unwrap();
    }
    s.set_lazy_commands(false);
    let mut rows: Vec<_> = s.scan().into_iter().collect();
    assert!(rows.iter().all(|r| !r.command_pending), "{rows:?}");
    rows.sort_by_key(|r| r.pid);
    let filled: Vec<(i32, String)> = rows
        .iter()
        .map(|r| (r.pid, r.command.to_string()))
        .collect();
    assert_eq!(filled, eager);
    // What the dashboard reads for a pending row is the same text.
    assert_eq!(
        read_command_line(f.root(), 77, "sleeper").as_deref(),
        Some("./sleepers 10000")
    );
}

/// Lazy I/O (the dashboard's): the processes there when I/O is turned on
/// have `/proc/PID/io` left unread until they run — their rows say "idle"
/// (rates 0, totals unknown) — and a process born since is read at first
/// sight. Without it (`snapshot`), everything is read at once.
#[test]
fn lazy_io_reads_a_process_there_at_the_start_only_once_it_runs() {
    let f = Fixture::new();
    let io = |pid: i32, r: u64, w: u64| f.io(pid, r, w);
    let sched = |pid: i32, ran: u64| f.sched(pid, ran);
    let proc = |pid: i32| {
        f.proc(
            pid,
            &stat_line(pid, "p", 'S', 1, 1, 1, 1, 50, 10),
            b"p\0",
            &cgroup_file("/"),
        );
        io(pid, 10, 20);
        sched(pid, 1000);
    };
    proc(1);
    proc(60);
    let mut eager = f.scanner();
    eager.set_io(true);
    let rows = eager.scan();
    assert_eq!(
        by_pid(&rows, 60).io.map(|i| i.read_bytes),
        Some(10),
        "snapshot: read at once"
    );

    let mut s = f.scanner();
    s.set_io(true);
    s.set_lazy_io(true);
    let rows = s.scan();
    let r = by_pid(&rows, 60);
    assert_eq!(
        (r.io, r.io_idle),
        (None, false),
        "first scan: unread, no rate yet"
    );
    // It sleeps: its counters can't move (changed here behind its back to
    // show that the file stays unread).
    io(60, 11, 21);
    for _ in 0..3 {
        let rows = s.scan();
        let r = by_pid(&rows, 60);
        assert_eq!((r.io, r.io_idle), (None, true), "idle: rates 0, unread");
    }
    // Born since: read at first sight.
    proc(61);
    let rows = s.scan();
    assert_eq!(by_pid(&rows, 61).io.map(|i| i.read_bytes), Some(10));
    // 60 runs: read now, its first reading (no previous one: it was never
    // read, which is how this shows the file was left alone).
    sched(60, 2000);
    io(60, 12, 22);
    let rows = s.scan();
    let r = by_pid(&rows, 60);
    assert_eq!(r.io.map(|i| i.read_bytes), Some(12));
    assert_eq!((r.io_prev, r.io_idle), (None, false));
    // Then as any other: the last reading stands while it sleeps.
    let rows = s.scan();
    let r = by_pid(&rows, 60);
    assert_eq!(r.io_prev.map(|i| i.read_bytes), Some(12));
    assert!(!r.io_idle);
    // I/O off and on again: the processes there are left unread again.
    s.set_io(false);
    s.scan();
    s.set_io(true);
    let rows = s.scan();
    assert_eq!(by_pid(&rows, 60).io, None);
    let rows = s.scan();
    assert!(by_pid(&rows, 60).io_idle);
}

/// The eBPF path keeps a process's `stat` open only while it runs: an open
/// file holds a page of kernel memory, and a process that did not run is
/// read once in IDLE_EVERY ticks (issue 18).
#[test]
fn the_ebpf_path_keeps_stat_open_only_for_processes_that_ran() {
    let f = Fixture::new();
    sleeper_a(&f, 5);
    let mut s = f.scanner();
    // The first pass names every process as new: none is kept.
    let mut first = pass(&[], &[]);
    first.pids.insert(10, ebpf::flags::NEW);
    scan_with_pass(&mut s, &first);
    assert_eq!(s.open_files(), 0, "new, not known to run");
    // It ran: its `stat` is read and kept.
    sleeper_a(&f, 6);
    let rows = scan_with_pass(&mut s, &pass(&[10], &[]));
    assert_eq!(by_pid(&rows, 10).cpu_time_ns, s.units().ticks_to_ns(6));
    assert_eq!(s.open_files(), 1, "ran: kept");
    // It stops running: the next read (due, not named) closes it.
    let mut closed_at = None;
    for tick in 1..=IDLE_EVERY + 1 {
        scan_with_pass(&mut s, &pass(&[], &[]));
        if s.open_files() == 0 {
            closed_at = Some(tick);
            break;
        }
    }
    assert!(
        closed_at.is_some(),
        "still open after {IDLE_EVERY} idle ticks"
    );
}

/// A process whose parent's last thread exited (`Ran::orphaned`) is read
/// again without having run: it has a new parent.
#[test]
fn the_ebpf_path_rereads_the_children_of_an_exited_parent() {
    let f = Fixture::new();
    sleeper_a(&f, 5);
    let mut s = f.scanner();
    scan_with_pass(&mut s, &pass(&[10], &[]));
    // Reparented to 7, without running.
    let line = stat_line(10, "a", 'S', 7, 5, 0, 1, 100, 10);
    f.proc(10, &line, b"a\0", &cgroup_file("/"));
    let rows = scan_with_pass(&mut s, &pass(&[], &[]));
    assert_eq!(by_pid(&rows, 10).ppid, 1, "not named: the cached row");
    let mut p = pass(&[], &[]);
    p.orphaned = vec![3];
    let rows = scan_with_pass(&mut s, &p);
    assert_eq!(by_pid(&rows, 10).ppid, 1, "another process's children");
    p.orphaned = vec![1];
    let rows = scan_with_pass(&mut s, &p);
    assert_eq!(by_pid(&rows, 10).ppid, 7, "its parent's: read");
}

/// A process the groups' lists placed (its `/proc/PID/cgroup` unread)
/// that drops out of them — it exited and is a zombie (in no list; the
/// kernel then says the root), or moved to a group not read — has its
/// group read at once, on either path (issue 18: a zombie stayed in its
/// old group on the eBPF path).
#[test]
fn a_process_that_drops_out_of_the_lists_has_its_group_read() {
    let f = Fixture::new();
    f.proc(
        10,
        &stat_line(10, "a", 'S', 1, 5, 0, 1, 100, 10),
        b"a\0",
        &cgroup_file("/a"),
    );
    let mut s = f.scanner();
    // As the sampler: no periodic re-read, the lists place processes.
    s.set_cgroup_refresh(0);
    let scan = |s: &mut ProcessScanner, placed: bool| {
        let mut out = Vec::new();
        let by_lists = move |_: i32| placed;
        let hints = Hints {
            placed: Some(&by_lists),
            ..Hints::default()
        };
        s.scan_each_with(hints, &mut |r| out.push(r));
        out
    };
    let rows = scan(&mut s, true);
    assert_eq!(&*by_pid(&rows, 10).cgroup, "", "placed: not read");
    fs::write(f.root().join("10/cgroup"), cgroup_file("/b")).expect("cgroup");
    let rows = scan(&mut s, true);
    assert_eq!(&*by_pid(&rows, 10).cgroup, "", "still placed: not read");
    let rows = scan(&mut s, false);
    assert_eq!(&*by_pid(&rows, 10).cgroup, "b", "dropped out: read");
}

/// What a pass read of a single-threaded process (`Fields`): `runtime`
/// ns of CPU, start at `start` ticks (100 Hz), uid 1000, sleeping, RSS
/// counters file 5, anon 3 and shmem -1 (a percpu counter's global count
/// can dip below 0: `/proc` reads each "positive").
fn fields(comm: &str, runtime: u64, start: u64) -> ebpf::Fields {
    let mut name = [0u8; 16];
    name[..comm.len()].copy_from_slice(comm.as_bytes());
    ebpf::Fields {
        state: 1,
        exit_state: 0,
        kflags: 0,
        ppid: 1,
        nr_threads: 1,
        rss_read: true,
        comm: name,
        euid: 1000,
        start: start * 10_000_000,
        runtime,
        dead_runtime: 0,
        rss: [5, 3, -1],
    }
}

#[test]
fn a_pass_with_a_processs_fields_reads_no_stat() {
    let f = Fixture::new();
    let cg = cgroup_file("/");
    // `stat` says otherwise in every field: a row that agrees with the
    // pass did not come from it.
    f.proc(
        10,
        &stat_line(10, "other", 'D', 7, 900, 0, 1, 100, 99),
        b"a\0",
        &cg,
    );
    let mut s = f.scanner();
    let u = s.units();
    let mut p = pass(&[10], &[]);
    p.pids.insert(10, ebpf::flags::NEW);
    // Its threads that exited ran 10 ms: the process's time too.
    let mut x = fields("a", 123_456_789, 100);
    x.dead_runtime = 10_000_000;
    p.add_fields(10, &x);
    let rows = scan_with_pass(&mut s, &p);
    let r = by_pid(&rows, 10);
    assert_eq!(r.cpu_time_ns, u.ticks_to_ns(13), "133.4 ms: 13 ticks");
    assert_eq!((r.state, r.ppid, r.threads), ('S', 1, 1));
    assert_eq!(r.rss_bytes, 8 * u.page_size, "5 + 3 + max(-1, 0) pages");
    assert_eq!((r.uid, &*r.user), (1000, "alice"));
    assert_eq!(r.start_ticks, 100);
    assert_eq!(&*r.command, "a");

    // Moved (not run): `stat` is read, for its RSS and state; its CPU time
    // is the one the pass read, not `stat`'s.
    let mut p = pass(&[], &[]);
    p.pids.insert(10, ebpf::flags::MOVED);
    let rows = scan_with_pass(&mut s, &p);
    let r = by_pid(&rows, 10);
    assert_eq!(r.cpu_time_ns, u.ticks_to_ns(13), "it did not run");
    assert_eq!((r.state, r.rss_bytes), ('D', 99 * u.page_size));

    // Ran: the pass's fields again. Threads, a zombie, a workqueue worker
    // or a kernel thread with a full-length name: `stat` (900 ticks).
    type Tweak = Option<fn(&mut ebpf::Fields)>;
    let cases: [(&str, Tweak); 6] = [
        ("ran", None),
        ("threads", Some(|x: &mut ebpf::Fields| x.nr_threads = 2)),
        ("zombie", Some(|x: &mut ebpf::Fields| x.exit_state = 32)),
        (
            "workqueue",
            Some(|x: &mut ebpf::Fields| x.kflags = 0x0020_0020),
        ),
        (
            "long kernel thread name",
            Some(|x: &mut ebpf::Fields| {
                x.kflags = 0x0020_0000;
                x.comm = *b"fifteen_chars_x\0";
            }),
        ),
        (
            "no RSS counters",
            Some(|x: &mut ebpf::Fields| x.rss_read = false),
        ),
    ];
    for (why, tweak) in cases {
        let mut p = pass(&[10], &[]);
        let mut x = fields("a", 200_000_000, 100);
        if let Some(t) = tweak {
            t(&mut x);
        }
        p.add_fields(10, &x);
        let rows = scan_with_pass(&mut s, &p);
        let want = if tweak.is_none() { 20 } else { 900 };
        assert_eq!(by_pid(&rows, 10).cpu_time_ns, u.ticks_to_ns(want), "{why}");
    }
}

/// [`scan_with_pass`] as the dashboard's sampler scans: command lines
/// left unread, and every process placed by its group's list (nothing of
/// a new process is read if the pass says all its `stat` would).
fn scan_lazily_placed(s: &mut ProcessScanner, p: &ebpf::Ran) -> Vec<ProcRow> {
    s.set_lazy_commands(true);
    let mut out = Vec::new();
    let placed = |_: i32| true;
    let hints = Hints {
        placed: Some(&placed),
        ran: Some(Ran {
            pass: p,
            at: Instant::now(),
            shrink: &|_| true,
        }),
        ..Hints::default()
    };
    s.scan_each_with(hints, &mut |r| out.push(r));
    out
}

/// A process the pass visited just before it exited, freed before the
/// ring buffer was drained: named (its fields say alive) and in the exits
/// of the same pass. It must go, not live on from its fields; a new
/// process that took its pid since is read from `/proc`.
#[test]
fn a_process_named_and_freed_in_one_pass_goes() {
    let f = Fixture::new();
    let mut s = f.scanner();
    let u = s.units();
    let ns = |ticks: u64| ticks * 1_000_000_000 / u.ticks_per_sec;
    // Pid 10 (started at 100 ticks) named with its fields, then freed:
    // no /proc/10.
    let mut p = pass(&[10], &[(10, ns(100))]);
    p.add_fields(10, &fields("a", 200_000_000, 100));
    let rows = scan_lazily_placed(&mut s, &p);
    assert!(!rows.iter().any(|r| r.pid == 10), "gone: {rows:?}");
    // Cached first, then the same: gone too.
    sleeper_a(&f, 5);
    scan_lazily_placed(&mut s, &pass(&[10], &[]));
    std::fs::remove_dir_all(f.root().join("10")).unwrap();
    let mut p = pass(&[10], &[(10, ns(100))]);
    p.add_fields(10, &fields("a", 300_000_000, 100));
    let rows = scan_lazily_placed(&mut s, &p);
    assert!(!rows.iter().any(|r| r.pid == 10), "cached, then gone");
    // Pid 10 reused by `b` (started at 400 ticks) by the time it is read.
    f.proc(
        10,
        &stat_line(10, "b", 'S', 1, 7, 0, 1, 400, 10),
        b"b\0",
        &cgroup_file("/"),
    );
    let mut p = pass(&[10], &[(10, ns(100))]);
    p.add_fields(10, &fields("a", 300_000_000, 100));
    let rows = scan_lazily_placed(&mut s, &p);
    assert_eq!(&*by_pid(&rows, 10).command, "b", "the new process");
}

/// A process whose last thread exited (`F_ORPHANS`) is read every tick
/// until it is gone: its exit may be freed long after its parent reaped
/// it, and meanwhile no pass names it.
#[test]
fn a_dying_process_is_read_until_it_is_gone() {
    let f = Fixture::new();
    let mut s = f.scanner();
    sleeper_a(&f, 5);
    scan_lazily_placed(&mut s, &pass(&[10], &[]));
    // Its last thread exits: a zombie by the time `stat` is read.
    zombie_10(&f);
    let mut p = pass(&[], &[]);
    p.orphaned.push(10);
    let rows = scan_lazily_placed(&mut s, &p);
    assert_eq!(by_pid(&rows, 10).state, 'Z');
    read_until_reaped(&f, &mut s);
}

/// Process 10, `a`, a zombie.
fn zombie_10(f: &Fixture) {
    let line = stat_line(10, "a", 'Z', 1, 6, 0, 1, 100, 0);
    f.proc(10, &line, b"", &cgroup_file("/"));
}

/// Passes that name nothing, long after the word: the zombie 10 is still
/// read (a quiet row would be taken from the cache until its periodic
/// read); reaped, with no exit freed yet, it is gone at the next tick.
fn read_until_reaped(f: &Fixture, s: &mut ProcessScanner) {
    for _ in 0..3 {
        let rows = scan_lazily_placed(s, &pass(&[], &[]));
        assert_eq!(by_pid(&rows, 10).state, 'Z');
    }
    std::fs::remove_dir_all(f.root().join("10")).unwrap();
    let rows = scan_lazily_placed(s, &pass(&[], &[]));
    assert!(!rows.iter().any(|r| r.pid == 10), "reaped: {rows:?}");
}

/// A zombie first met as one (it exited before the passes began, so no
/// pass says its last thread exited) is read every tick too, until its
/// parent reaps it.
#[test]
fn a_process_first_seen_a_zombie_is_read_until_it_is_gone() {
    let f = Fixture::new();
    let mut s = f.scanner();
    zombie_10(&f);
    let rows = scan_lazily_placed(&mut s, &pass(&[10], &[]));
    assert_eq!(by_pid(&rows, 10).state, 'Z');
    read_until_reaped(&f, &mut s);
}

#[test]
fn a_tasks_state_shows_as_proc_shows_it() {
    use ebpf::state_letter as l;
    assert_eq!(l(0, 0), b'R');
    assert_eq!(l(0x1, 0), b'S');
    assert_eq!(l(0x2, 0), b'D');
    assert_eq!(l(0x102, 0), b'D', "killable");
    assert_eq!(l(0x402, 0), b'I', "idle: uninterruptible without load");
    assert_eq!(l(0x4, 0), b'T');
    assert_eq!(l(0x104, 0), b'T', "stopped, killable");
    assert_eq!(l(0x8, 0), b't');
    assert_eq!(l(0x80, 0x20), b'Z', "dead, zombie");
    assert_eq!(l(0x80, 0x10), b'X');
    assert_eq!(l(0x40, 0), b'P');
    assert_eq!(l(0x8000, 0), b'D', "frozen");
    assert_eq!(l(0x1000, 0), b'D', "waiting on an rt lock");
}
