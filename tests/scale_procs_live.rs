//! Issue 18: a group with more processes than one read of its
//! `cgroup.procs` returns. The kernel hands a seq_file out a page of whole
//! records at a time (4,092 bytes of pids, not 4,096), so a reader that
//! took a short read for the end saw ~1,000 of a group's processes: the
//! root's at 10,000 processes, and every process past them was placed by
//! reading its own `/proc/PID/cgroup` instead.

mod common;

use std::time::{Duration, Instant};

use cgdash::cgroup::GroupReader;
use common::TestGroup;

#[test]
fn a_long_process_list_is_read_whole() {
    let Some(layout) = common::live("a_long_process_list_is_read_whole") else {
        return;
    };
    let mut g = TestGroup::new(&layout, "scale-many");
    // 1,200 sleepers (~7 KB of pids), each with its own deadline.
    g.spawn_sh(
        "i=0; while [ $i -lt 1200 ]; do sleep 60 & i=$((i+1)); done; wait",
        Duration::from_secs(70),
    );
    let end = Instant::now() + Duration::from_secs(30);
    while layout.procs(&g.path).len() < 1201 {
        assert!(Instant::now() < end, "sleepers did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut reader = GroupReader::new(layout.clone());
    // Twice: a group's first read and then its kept file.
    for _ in 0..2 {
        let want = layout.procs(&g.path).len();
        let got = reader
            .read(Some(&g.path))
            .into_iter()
            .find(|s| s.path == g.path)
            .and_then(|s| s.procs)
            .expect("the group's process list")
            .len();
        assert_eq!(got, want, "pids in {} (read_to_string: {want})", g.path);
    }
}
