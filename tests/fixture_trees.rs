//! The cgroup layer on fake trees in a temp dir: the same code that reads
//! /sys/fs/cgroup, pointed at v2, co-mounted v1, separate v1 and hybrid
//! layouts. Detect, list, read, write-and-read-back.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use cgdash::cgroup::{knob, CgroupError, GroupReader, Layout, Limit, Mode, Setting};

/// Fixture trees stand for a 4-CPU host, whatever runs the tests (cpu=150%
/// must not depend on this machine's CPU count).
fn parse_settings(s: &[&str]) -> Result<Vec<Setting>, Vec<knob::KnobError>> {
    knob::parse_settings_on(s, knob::Host { cpus: 4 })
}

fn put(dir: &Path, file: &str, contents: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), contents).unwrap();
}

fn get(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap()
}

/// A v2 group as a 6.1 kernel lays it out (only the files cgdash reads).
fn v2_group(dir: &Path, procs: &str) {
    put(dir, "cgroup.procs", procs);
    put(dir, "cgroup.freeze", "0\n");
    put(dir, "cpu.stat", "usage_usec 2254035\nuser_usec 2198541\nsystem_usec 55494\nnr_periods 232\nnr_throttled 184\nthrottled_usec 14683446\nnr_bursts 0\nburst_usec 0\n");
    put(dir, "cpu.max", "20000 100000\n");
    put(dir, "cpu.weight", "100\n");
    put(dir, "memory.current", "1081344\n");
    put(dir, "memory.peak", "2162688\n");
    put(dir, "memory.max", "268435456\n");
    put(dir, "memory.high", "max\n");
    put(dir, "memory.swap.max", "max\n");
    put(
        dir,
        "memory.events",
        "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n",
    );
    put(dir, "pids.current", "3\n");
    put(dir, "pids.max", "64\n");
    put(dir, "pids.events", "max 2\n");
    put(dir, "cpuset.cpus", "\n");
    put(dir, "cpuset.mems", "\n");
    put(dir, "cpuset.cpus.effective", "0-1\n");
    put(dir, "cpu.pressure", "some avg10=1.53 avg60=0.87 avg300=0.31 total=1612345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    put(dir, "memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    put(dir, "io.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
}

fn v2_tree(root: &Path) {
    put(
        root,
        "cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    );
    put(
        root,
        "cgroup.subtree_control",
        "cpuset cpu io memory pids\n",
    );
    put(root, "cgroup.procs", "1\n2\n");
    put(
        root,
        "cpu.stat",
        "usage_usec 99000000\nuser_usec 1\nsystem_usec 1\n",
    );
    let app = root.join("cgdash");
    put(&app, "cgroup.controllers", "cpuset cpu io memory pids\n");
    put(&app, "cgroup.subtree_control", "cpu memory pids\n");
    put(&app, "cgroup.procs", "");
    v2_group(&app.join("demo"), "4242\n4243\n");
}

/// v1 files of one controller for one group.
fn v1_files(dir: &Path, controller: &str, procs: &str) {
    put(dir, "cgroup.procs", procs);
    match controller {
        "cpu" => {
            put(dir, "cpu.stat", "nr_periods 1031\nnr_throttled 824\nthrottled_time 65420011482\nnr_bursts 0\nburst_time 0\n");
            put(dir, "cpu.cfs_quota_us", "50000\n");
            put(dir, "cpu.cfs_period_us", "100000\n");
            put(dir, "cpu.shares", "2048\n");
        }
        "cpuacct" => put(dir, "cpuacct.usage", "123456789000\n"),
        "memory" => {
            put(dir, "memory.usage_in_bytes", "5242880\n");
            put(dir, "memory.max_usage_in_bytes", "8388608\n");
            put(dir, "memory.limit_in_bytes", "9223372036854771712\n");
            put(dir, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
            put(dir, "memory.failcnt", "12\n");
            put(
                dir,
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
            );
        }
        "pids" => {
            put(dir, "pids.current", "5\n");
            put(dir, "pids.max", "max\n");
            put(dir, "pids.events", "max 0\n");
        }
        "cpuset" => {
            put(dir, "cpuset.cpus", "0-1\n");
            put(dir, "cpuset.mems", "0\n");
            put(dir, "cpuset.effective_cpus", "0-1\n");
        }
        "freezer" => put(dir, "freezer.state", "THAWED\n"),
        _ => {}
    }
}

/// v1 with each controller separately mounted (this project's own hosts).
fn separate_v1_tree(root: &Path) {
    for c in ["cpu", "cpuacct", "cpuset", "memory", "pids", "freezer"] {
        let m = root.join(c);
        v1_files(&m, c, "1\n");
        v1_files(&m.join("cgdash"), c, "");
        v1_files(&m.join("cgdash/demo"), c, "777\n");
    }
    // A named hierarchy and an unknown controller are ignored.
    put(&root.join("systemd"), "cgroup.procs", "1\n");
    put(&root.join("devices"), "cgroup.procs", "1\n");
}

/// v1 with cpu and cpuacct co-mounted, as systemd v1 hosts do, plus the
/// `cpu` and `cpuacct` symlinks they add.
fn comounted_v1_tree(root: &Path) {
    let m = root.join("cpu,cpuacct");
    for g in ["", "cgdash", "cgdash/demo"] {
        let d = if g.is_empty() { m.clone() } else { m.join(g) };
        v1_files(&d, "cpu", if g == "cgdash/demo" { "777\n" } else { "" });
        v1_files(&d, "cpuacct", if g == "cgdash/demo" { "777\n" } else { "" });
        let md = root.join("memory").join(g);
        v1_files(&md, "memory", "");
    }
    symlink("cpu,cpuacct", root.join("cpu")).unwrap();
    symlink("cpu,cpuacct", root.join("cpuacct")).unwrap();
}

#[test]
fn v2_detect_list_read() {
    let t = tempfile::tempdir().unwrap();
    v2_tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    assert_eq!(l.mode, Mode::V2);
    assert_eq!(l.list_groups(), vec!["", "cgdash", "cgdash/demo"]);
    let g = l.read_group("cgdash/demo").unwrap();
    assert_eq!(g.cpu.usage_ns, Some(2_254_035_000));
    assert_eq!(g.cpu.nr_periods, Some(232));
    assert_eq!(g.cpu.nr_throttled, Some(184));
    assert_eq!(g.cpu.throttled_ns, Some(14_683_446_000));
    assert_eq!(g.cpu.max.unwrap().percent(), Some(20.0));
    assert_eq!(g.cpu.weight, Some(100));
    assert_eq!(g.cpu.shares, None);
    assert_eq!(g.memory.current, Some(1_081_344));
    assert_eq!(g.memory.peak, Some(2_162_688));
    assert_eq!(g.memory.max, Some(Limit::Value(256 << 20)));
    assert_eq!(g.memory.high, Some(Limit::Max));
    assert_eq!(g.memory.events.max, Some(7));
    assert_eq!(g.memory.events.oom_kill, Some(1));
    assert_eq!(g.memory.failcnt, None, "v2 has no failcnt: absent, not 0");
    assert_eq!(g.pids.current, Some(3));
    assert_eq!(g.pids.max, Some(Limit::Value(64)));
    assert_eq!(g.pids.max_events, Some(2));
    assert_eq!(g.cpuset.effective_cpus.as_deref(), Some("0-1"));
    assert_eq!(g.frozen, Some(false));
    assert_eq!(g.nprocs, Some(2));
    let p = g.pressure.unwrap();
    assert_eq!(p.cpu.unwrap().some.unwrap().avg10, 1.53);
    // The root has no limits files: absent, never zero.
    let root = l.read_group("").unwrap();
    assert_eq!(root.cpu.usage_ns, Some(99_000_000_000));
    assert_eq!(root.cpu.max, None);
    assert_eq!(root.memory.max, None);
    assert!(l.read_group("nope").is_none());
}

#[test]
fn v2_write_and_read_back() {
    let t = tempfile::tempdir().unwrap();
    v2_tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    let d = t.path().join("cgdash/demo");
    let s = parse_settings(&[
        "cpu=50%",
        "cpu.weight=200",
        "memory=512M",
        "memory.high=400M",
        "memory.swap=0",
        "pids=max",
        "cpuset.cpus=0",
        "freeze=true",
    ])
    .unwrap();
    l.apply("cgdash/demo", &s).unwrap();
    assert_eq!(get(&d, "cpu.max"), "50000 100000");
    assert_eq!(get(&d, "cpu.weight"), "200");
    assert_eq!(get(&d, "memory.max"), (512u64 << 20).to_string());
    assert_eq!(get(&d, "memory.high"), (400u64 << 20).to_string());
    assert_eq!(get(&d, "memory.swap.max"), "0");
    assert_eq!(get(&d, "pids.max"), "max");
    assert_eq!(get(&d, "cpuset.cpus"), "0");
    assert_eq!(get(&d, "cgroup.freeze"), "1");
    let g = l.read_group("cgdash/demo").unwrap();
    assert_eq!(g.cpu.max.unwrap().percent(), Some(50.0));
    assert_eq!(g.frozen, Some(true));
    // A new period keeps the percentage.
    l.apply(
        "cgdash/demo",
        &parse_settings(&["cpu.period=50ms"]).unwrap(),
    )
    .unwrap();
    assert_eq!(get(&d, "cpu.max"), "25000 50000");
    l.apply("cgdash/demo", &parse_settings(&["cpu=max"]).unwrap())
        .unwrap();
    assert_eq!(get(&d, "cpu.max"), "max 50000");
    l.apply(
        "cgdash/demo",
        &parse_settings(&["cpu=1.5", "cpu.period=100ms"]).unwrap(),
    )
    .unwrap();
    assert_eq!(get(&d, "cpu.max"), "150000 100000");
}

#[test]
fn v2_controller_not_delegated() {
    let t = tempfile::tempdir().unwrap();
    v2_tree(t.path());
    let d = t.path().join("cgdash/demo");
    // As if the parent's subtree_control lacked +memory: no memory.* files.
    for f in ["memory.max", "memory.high", "memory.swap.max"] {
        fs::remove_file(d.join(f)).unwrap();
    }
    let l = Layout::from_root(t.path()).unwrap();
    let err = l
        .apply(
            "cgdash/demo",
            &parse_settings(&["cpu=30%", "memory=1G"]).unwrap(),
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("memory") && msg.contains("not delegated"),
        "{msg}"
    );
    assert_eq!(
        get(&d, "cpu.max"),
        "20000 100000\n",
        "nothing written when one knob fails"
    );
}

#[test]
fn separate_v1_detect_list_read_write() {
    let t = tempfile::tempdir().unwrap();
    separate_v1_tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    assert_eq!(l.mode, Mode::V1);
    assert_eq!(l.hierarchies.len(), 6, "systemd and devices are ignored");
    assert_eq!(l.list_groups(), vec!["", "cgdash", "cgdash/demo"]);
    let g = l.read_group("cgdash/demo").unwrap();
    assert_eq!(
        g.cpu.usage_ns,
        Some(123_456_789_000),
        "from cpuacct (its own mount)"
    );
    assert_eq!(
        g.cpu.throttled_ns,
        Some(65_420_011_482),
        "throttled_time is ns on v1"
    );
    assert_eq!(g.cpu.max.unwrap().percent(), Some(50.0));
    assert_eq!(g.cpu.shares, Some(2048));
    assert_eq!(g.cpu.weight, Some(200), "shares 2048 = weight 200");
    assert_eq!(
        g.memory.max,
        Some(Limit::Max),
        "the huge v1 number means no limit"
    );
    assert_eq!(g.memory.failcnt, Some(12));
    assert_eq!(g.memory.events.oom_kill, Some(3));
    assert_eq!(g.memory.high, None, "memory.high does not exist on v1");
    assert_eq!(g.pids.max, Some(Limit::Max));
    assert_eq!(g.frozen, Some(false));
    assert_eq!(g.pressure, None);

    let m = t.path().join("memory/cgdash/demo");
    let c = t.path().join("cpu/cgdash/demo");
    l.apply(
        "cgdash/demo",
        &parse_settings(&[
            "cpu=20%",
            "cpu.weight=50",
            "memory=256M",
            "memory.swap=64M",
            "freeze=true",
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(get(&c, "cpu.cfs_quota_us"), "20000");
    assert_eq!(get(&c, "cpu.shares"), "512");
    assert_eq!(get(&m, "memory.limit_in_bytes"), (256u64 << 20).to_string());
    assert_eq!(
        get(&m, "memory.memsw.limit_in_bytes"),
        (320u64 << 20).to_string(),
        "memsw = memory + swap"
    );
    assert_eq!(
        get(&t.path().join("freezer/cgdash/demo"), "freezer.state"),
        "FROZEN"
    );
    l.apply(
        "cgdash/demo",
        &parse_settings(&["cpu=max", "memory=max"]).unwrap(),
    )
    .unwrap();
    assert_eq!(get(&c, "cpu.cfs_quota_us"), "-1");
    assert_eq!(get(&m, "memory.limit_in_bytes"), "-1");
    l.apply(
        "cgdash/demo",
        &parse_settings(&["cpu.period=50ms", "cpu=40%"]).unwrap(),
    )
    .unwrap();
    assert_eq!(get(&c, "cpu.cfs_period_us"), "50000");
    assert_eq!(get(&c, "cpu.cfs_quota_us"), "20000");

    // v2-only knob on v1: refused with a reason, nothing written.
    let err = l
        .apply(
            "cgdash/demo",
            &parse_settings(&["cpu=70%", "memory.high=100M"]).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, CgroupError::Unsupported { .. }));
    assert!(err.to_string().contains("only on cgroup v2"), "{err}");
    assert_eq!(get(&c, "cpu.cfs_quota_us"), "20000");
}

#[test]
fn comounted_v1() {
    let t = tempfile::tempdir().unwrap();
    comounted_v1_tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    assert_eq!(l.mode, Mode::V1);
    assert_eq!(
        l.hierarchies.len(),
        2,
        "cpu,cpuacct once (symlinks skipped) + memory"
    );
    let cpu = l.hierarchy("cpu").unwrap();
    assert!(cpu.has("cpuacct"));
    assert_eq!(l.list_groups(), vec!["", "cgdash", "cgdash/demo"]);
    let g = l.read_group("cgdash/demo").unwrap();
    assert_eq!(g.cpu.usage_ns, Some(123_456_789_000));
    assert_eq!(g.cpu.nr_throttled, Some(824));
    assert_eq!(g.pids.current, None, "pids not mounted: absent");
    l.apply("cgdash/demo", &parse_settings(&["cpu=150%"]).unwrap())
        .unwrap();
    assert_eq!(
        get(
            &t.path().join("cpu,cpuacct/cgdash/demo"),
            "cpu.cfs_quota_us"
        ),
        "150000"
    );
    let err = l
        .apply("cgdash/demo", &parse_settings(&["pids=10"]).unwrap())
        .unwrap_err();
    assert!(
        err.to_string().contains("pids controller is not mounted"),
        "{err}"
    );
}

#[test]
fn hybrid() {
    let t = tempfile::tempdir().unwrap();
    separate_v1_tree(t.path());
    let u = t.path().join("unified");
    put(&u, "cgroup.controllers", "\n");
    put(&u, "cgroup.procs", "1\n");
    put(&u, "cpu.stat", "usage_usec 5\n");
    put(&u.join("cgdash/demo"), "cgroup.procs", "777\n");
    put(
        &u.join("cgdash/demo"),
        "cpu.pressure",
        "some avg10=2.00 avg60=0.00 avg300=0.00 total=7\n",
    );
    put(&u.join("only-in-unified"), "cgroup.procs", "");
    put(&u.join("only-in-unified"), "cpu.stat", "usage_usec 1000\n");
    let l = Layout::from_root(t.path()).unwrap();
    assert_eq!(l.mode, Mode::Hybrid);
    assert_eq!(
        l.list_groups(),
        vec!["", "cgdash", "cgdash/demo", "only-in-unified"]
    );
    let g = l.read_group("cgdash/demo").unwrap();
    assert_eq!(
        g.cpu.usage_ns,
        Some(123_456_789_000),
        "v1 cpuacct wins over unified"
    );
    assert_eq!(
        g.pressure.unwrap().cpu.unwrap().some.unwrap().total_us,
        7,
        "PSI from unified"
    );
    let o = l.read_group("only-in-unified").unwrap();
    assert_eq!(
        o.cpu.usage_ns,
        Some(1_000_000),
        "not in cpuacct: usage from the unified cpu.stat"
    );
    assert_eq!(o.memory.current, None);
}

#[test]
fn mountinfo_detection() {
    let separate = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n\
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    let l = Layout::from_mountinfo(separate).unwrap();
    assert_eq!(l.mode, Mode::Hybrid);
    assert_eq!(
        l.hierarchy("cpuacct").unwrap().mount,
        Path::new("/sys/fs/cgroup/cpuacct")
    );
    assert_eq!(l.primary().mount, Path::new("/sys/fs/cgroup/cpu"));
    let comounted =
        "30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw shared:14 - cgroup cgroup rw,cpu,cpuacct\n";
    let l = Layout::from_mountinfo(comounted).unwrap();
    assert_eq!(l.mode, Mode::V1);
    assert!(l.hierarchy("cpuacct").unwrap().has("cpu"));
    let v2 = "24 18 0:22 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
    assert_eq!(Layout::from_mountinfo(v2).unwrap().mode, Mode::V2);
    assert!(Layout::from_mountinfo("1 0 0:1 / / rw - ext4 /dev/vda rw\n").is_none());
}

#[test]
fn create_and_remove_on_fixture() {
    let t = tempfile::tempdir().unwrap();
    separate_v1_tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    assert!(matches!(
        l.create_group("cgdash/demo"),
        Err(CgroupError::GroupExists(_))
    ));
    assert!(matches!(
        l.create_group("../etc"),
        Err(CgroupError::BadGroupName(_))
    ));
    // Plain dirs in a tempdir get no kernel files, so copying the parent's
    // cpuset fails half-way: everything created so far must be removed again.
    let err = l.create_group("cgdash/new/leaf").unwrap_err();
    assert!(err.to_string().contains("cpuset.cpus"), "{err}");
    for c in ["cpu", "cpuacct", "memory", "pids", "cpuset", "freezer"] {
        assert!(
            !t.path().join(c).join("cgdash/new").exists(),
            "{c}: left behind"
        );
    }
    assert!(
        t.path().join("cpu/cgdash/demo").is_dir(),
        "existing groups untouched"
    );
    // A group with processes is not removed, and says who is inside.
    let err = l
        .remove_group("cgdash/demo", std::time::Duration::from_millis(50))
        .unwrap_err();
    assert!(matches!(err, CgroupError::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("777"), "{err}");
}

/// v1: a dashboard's reader (`set_unshown(false)`) leaves the files no
/// panel shows unread — among them `memory.failcnt`, read every tick
/// otherwise (issue 18) — and reads everything else as `snapshot` does.
#[test]
fn v1_a_dashboards_reader_leaves_the_limit_hit_count_unread() {
    let t = tempfile::tempdir().unwrap();
    separate_v1_tree(t.path());
    let l = Layout::from_root(t.path()).unwrap();
    let mut all = GroupReader::new(l.clone());
    let mut shown = GroupReader::new(l);
    shown.set_unshown(false);
    let group = |r: &mut GroupReader| {
        r.read(None)
            .into_iter()
            .find(|g| g.path == "cgdash/demo")
            .unwrap()
    };
    let (x, y) = (group(&mut all), group(&mut shown));
    assert_eq!(x.memory.failcnt, Some(12));
    assert_eq!(x.cpu.weight, Some(200), "cpu.shares 2048 as a weight");
    let mut unread = x.clone();
    unread.memory.failcnt = None;
    unread.memory.peak = None;
    unread.memory.memsw_max = None;
    unread.cpu.weight = None;
    unread.cpu.shares = None;
    assert_eq!(y, unread, "everything else read the same");
    // Kept open by neither: in each of the 3 groups, the 4 files above.
    assert_eq!(all.open_files() - shown.open_files(), 3 * 4);
    // Nor read on the ticks after, slow or not.
    assert_eq!(group(&mut shown), unread);
    shown.refresh_all_next();
    assert_eq!(group(&mut shown), unread);
    // What the editor fills in from a whole reading of the group.
    let mut view = cgdash::model::GroupSnapshot::default();
    cgdash::sampler::fill_unshown(&mut view, &x);
    assert_eq!(view.memory.max_events, Some(12));
}
