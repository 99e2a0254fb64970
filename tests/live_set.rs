//! `cgdash set` against real cgroups (root): bad input is refused before
//! anything is written, kernel refusals are explained and leave the old
//! value, and cgdash's readings agree with an independent reader (cgroups-rs).

mod common;

use std::fs;
use std::time::Duration;

use cgdash::cgroup::{Layout, Limit};
use common::{cgdash, TestGroup};

/// Every knob file `set` could touch, with contents, to prove "nothing written".
fn knob_files(l: &Layout, group: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for h in &l.hierarchies {
        let d = h.dir(group);
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let watched = [
                "cpu.cfs_quota_us",
                "cpu.cfs_period_us",
                "cpu.max",
                "cpu.shares",
                "cpu.weight",
                "memory.limit_in_bytes",
                "memory.max",
                "memory.high",
                "memory.memsw.limit_in_bytes",
                "pids.max",
                "freezer.state",
                "cgroup.freeze",
            ];
            if watched.contains(&name.as_str()) {
                out.push((
                    e.path().display().to_string(),
                    fs::read_to_string(e.path()).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn bad_values_write_nothing() {
    let Some(l) = common::live("bad_values_write_nothing") else {
        return;
    };
    let g = TestGroup::new(&l, "badvalues");
    g.apply(&["cpu=30%", "pids=50"]).unwrap();
    let before = knob_files(&l, &g.path);
    for args in [
        vec!["cpu=-5"],
        vec!["memory=12Q"],
        vec!["pids=abc"],
        vec!["bogus=1"],
        vec!["cpu=50%", "memory=12Q"], // one good, one bad: still nothing
        vec!["cpu=50%", "cpu=60%"],
        vec!["cpu.weight=0"],
        vec!["cpuset.cpus=9-1"],
    ] {
        let mut a = vec!["set", g.path.as_str()];
        a.extend(args.iter().copied());
        let (code, out, err) = cgdash(&a);
        assert_ne!(code, 0, "{args:?} should fail; stdout {out}");
        assert!(err.contains("nothing was written"), "{args:?}: {err}");
        assert_eq!(knob_files(&l, &g.path), before, "{args:?} changed a file");
    }
    let (code, _, err) = cgdash(&["set", "cgdash-test-no-such-group-xyz", "cpu=50%"]);
    assert_eq!(code, 2, "an unknown group is bad input: {err}");
    assert!(err.contains("does not exist"), "{err}");
    let (code, _, err) = cgdash(&["set", "../../etc", "cpu=50%"]);
    assert_ne!(code, 0);
    assert!(err.contains("invalid group name"), "{err}");
    // Knobs this host can't do are named as such (memory.high on a v1 memory controller).
    if !common::is_v2(&l, "memory") {
        let (code, _, err) = cgdash(&["set", &g.path, "cpu=70%", "memory.high=100M"]);
        assert_ne!(code, 0);
        assert!(err.contains("only on cgroup v2"), "{err}");
        assert_eq!(knob_files(&l, &g.path), before);
    }
}

#[test]
fn set_writes_and_reads_back() {
    let Some(l) = common::live("set_writes_and_reads_back") else {
        return;
    };
    let g = TestGroup::new(&l, "readback");
    let (code, out, err) = cgdash(&[
        "set",
        &g.path,
        "cpu=50%",
        "memory=256M",
        "pids=64",
        "cpu.weight=200",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("cpu=50%") && out.contains("memory=256M"),
        "{out}"
    );
    let s = l.read_group(&g.path).unwrap();
    assert_eq!(s.cpu.max.unwrap().percent(), Some(50.0));
    assert_eq!(s.memory.max, Some(Limit::Value(256 << 20)));
    assert_eq!(s.pids.max, Some(Limit::Value(64)));
    assert_eq!(s.cpu.weight, Some(200));
    let (code, _, err) = cgdash(&[
        "set",
        &format!("/{}/", g.path),
        "cpu=max",
        "memory=max",
        "pids=max",
    ]);
    assert_eq!(code, 0, "{err}");
    let s = l.read_group(&g.path).unwrap();
    assert_eq!(s.cpu.max.unwrap().quota_us, Limit::Max);
    assert_eq!(s.memory.max, Some(Limit::Max));
    assert_eq!(s.pids.max, Some(Limit::Max));
}

#[test]
fn memory_below_usage_is_refused_and_old_limit_kept() {
    let Some(l) = common::live("memory_below_usage_is_refused_and_old_limit_kept") else {
        return;
    };
    let mut g = TestGroup::new(&l, "ebusy");
    g.apply(&["memory=512M"]).unwrap();
    // cgdash's own allocator holding 80 MiB of touched anonymous memory (no
    // swap to reclaim it into); fast also under emulation, unlike a shell
    // building a 60 MB string. It stops by itself after 40 s.
    let mut cmd = std::process::Command::new(common::cgdash_bin());
    cmd.args([
        "stress",
        "memory",
        "--rate",
        "256M",
        "--ceiling",
        "80M",
        "--duration",
        "40s",
    ]);
    g.spawn(cmd);
    let mut usage = 0;
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < end {
        usage = l
            .read_group(&g.path)
            .and_then(|s| s.memory.current)
            .unwrap_or(0);
        if usage > 50 << 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(usage > 50 << 20, "workload did not allocate: {usage}");
    let (code, out, err) = cgdash(&["set", &g.path, "memory=8M"]);
    if common::is_v2(&l, "memory") {
        // v2 never refuses memory.max below usage: the kernel reclaims, and
        // what it can't reclaim (anonymous memory, no swap) it OOM-kills;
        // the write succeeds. The new limit holds and the kill is counted.
        assert_eq!(code, 0, "v2 accepts memory.max below usage: {out}{err}");
        // The killed process frees its memory asynchronously.
        let end = std::time::Instant::now() + Duration::from_secs(10);
        let mut s = l.read_group(&g.path).unwrap();
        while s.memory.current.unwrap_or(u64::MAX) > 8 << 20 && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
            s = l.read_group(&g.path).unwrap();
        }
        assert_eq!(s.memory.max, Some(Limit::Value(8 << 20)), "new limit");
        assert!(
            s.memory.current.unwrap_or(u64::MAX) <= 8 << 20,
            "usage {:?} above the new limit",
            s.memory.current
        );
        assert!(
            s.memory.events.oom_kill.unwrap_or(0) >= 1,
            "the workload was OOM-killed: {:?}",
            s.memory.events
        );
        return;
    }
    assert_ne!(
        code, 0,
        "the kernel should refuse 8M below {usage} bytes of usage"
    );
    assert!(
        err.contains("below the group's current usage")
            || err.contains("EBUSY")
            || err.contains("busy"),
        "{err}"
    );
    assert!(err.contains("memory"), "{err}");
    let s = l.read_group(&g.path).unwrap();
    assert_eq!(
        s.memory.max,
        Some(Limit::Value(512 << 20)),
        "old limit intact"
    );
    assert!(
        !l.procs(&g.path).is_empty(),
        "workload not killed by the refused write"
    );
}

#[test]
fn non_root_set_says_why() {
    let Some(l) = common::live("non_root_set_says_why") else {
        return;
    };
    let g = TestGroup::new(&l, "nonroot");
    // A copy of the binary nobody-readable, run as uid 65534.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("cgdash");
    fs::copy(common::cgdash_bin(), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let before = knob_files(&l, &g.path);
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["set", &g.path, "cpu=50%"])
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("needs root"), "{err}");
    assert_eq!(knob_files(&l, &g.path), before);
}

/// cgroups-rs as an independent oracle: the same group read by both.
#[test]
fn agrees_with_cgroups_rs() {
    let Some(l) = common::live("agrees_with_cgroups_rs") else {
        return;
    };
    use cgroups_rs::fs::{
        cpu::CpuController, cpuacct::CpuAcctController, memory::MemController, pid::PidController,
    };
    let mut g = TestGroup::new(&l, "oracle");
    g.apply(&["cpu=30%", "memory=128M", "pids=32"]).unwrap();
    g.spawn_sh("while :; do :; done", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    let hier = cgroups_rs::fs::hierarchies::auto();
    let cg = cgroups_rs::fs::Cgroup::load(hier, g.path.as_str());
    let ours = l.read_group(&g.path).unwrap();

    let cpu: &CpuController = cg.controller_of().expect("cpu controller");
    let quota = cpu.cfs_quota().unwrap();
    let period = cpu.cfs_period().unwrap();
    assert_eq!(ours.cpu.max.unwrap().quota_us, Limit::Value(quota as u64));
    assert_eq!(ours.cpu.max.unwrap().period_us, period);

    let mem: &MemController = cg.controller_of().expect("memory controller");
    assert_eq!(
        ours.memory.max.and_then(|m| m.value()),
        Some(mem.memory_stat().limit_in_bytes as u64)
    );

    let pids: &PidController = cg.controller_of().expect("pids controller");
    let theirs = match pids.get_pid_max().unwrap() {
        cgroups_rs::fs::MaxValue::Max => None,
        cgroups_rs::fs::MaxValue::Value(v) => Some(v as u64),
    };
    assert_eq!(ours.pids.max.and_then(|m| m.value()), theirs);
    assert_eq!(ours.pids.current, Some(pids.get_pid_current().unwrap()));

    // Usage moves while we read: ours must fall between two readings of theirs.
    if let Some(acct) = cg.controller_of::<CpuAcctController>() {
        let a = acct.cpuacct().usage;
        let ours_usage = l.read_group(&g.path).unwrap().cpu.usage_ns.unwrap();
        let b = acct.cpuacct().usage;
        assert!(
            a <= ours_usage && ours_usage <= b,
            "{a} <= {ours_usage} <= {b}"
        );
    }
}

/// Two launches share the `cgdash/` parent: one can find it made by the
/// other (or recreated after a removal) with v1 `cpuset.cpus` still empty,
/// and no task may join a group below an empty cpuset (ENOSPC). Creating a
/// group fills an existing ancestor's empty cpuset from its parent.
#[test]
fn an_ancestor_with_an_empty_v1_cpuset_is_filled() {
    let Some(l) = common::live("an_ancestor_with_an_empty_v1_cpuset_is_filled") else {
        return;
    };
    let Some(h) = l
        .hierarchies
        .iter()
        .find(|h| h.version == cgdash::cgroup::Version::V1 && h.has("cpuset"))
    else {
        eprintln!("no v1 cpuset hierarchy here (v2 has no empty-cpuset rule): nothing to test");
        return;
    };
    // As another launch leaves it: the ancestor exists, its cpuset empty.
    let mut g = common::TestGroup::new(&l, "cpusetrace");
    let mid = h.dir(&g.path).join("mid");
    std::fs::create_dir(&mid).unwrap();
    let empty = std::fs::read_to_string(mid.join("cpuset.cpus")).unwrap();
    assert_eq!(empty.trim(), "", "a new v1 cpuset group starts empty");
    let root = g.path.clone();
    let leaf = format!("{root}/mid/leaf");
    let made = l.create_group(&leaf);
    let cpus = std::fs::read_to_string(mid.join("cpuset.cpus")).unwrap_or_default();
    let leaf_cpus = std::fs::read_to_string(h.dir(&leaf).join("cpuset.cpus")).unwrap_or_default();
    // A task can join the leaf (before the fix: ENOSPC from cpuset's cgroup.procs).
    g.path = leaf.clone();
    let joined = made.is_ok() && {
        g.spawn_sh("sleep 5", Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(200));
        !l.procs(&leaf).is_empty()
    };
    drop(g); // kills the sleeper, removes the leaf and its empty ancestors
    made.unwrap();
    assert!(
        !cpus.trim().is_empty(),
        "the ancestor's cpuset was not filled"
    );
    assert_eq!(leaf_cpus.trim(), cpus.trim());
    assert!(joined, "no task could join the new group");
}
