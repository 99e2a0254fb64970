//! Fixed snapshot data for the app and screen tests: a hybrid host with a
//! demo group at its 20 % quota, a few system groups and processes.
#![allow(dead_code)]

use std::sync::Arc;

use cgdash::app::{Action, App};
use cgdash::cgroup::Mode;
use cgdash::model::{CpuView, GroupSnapshot, MemoryView, PidsView, ProcessSnapshot, Snapshot};

const MIB: u64 = 1 << 20;
pub const T0: u64 = 1_764_400_000_000;

fn group(
    path: &str,
    cpu: Option<f64>,
    limit: Option<f64>,
    thr: Option<f64>,
    mem: u64,
    max: Option<u64>,
    pids: u64,
) -> GroupSnapshot {
    GroupSnapshot {
        path: path.into(),
        cpu: CpuView {
            usage_percent: cpu,
            limit_percent: limit,
            quota_us: limit.map(|l| (l * 1000.0) as u64),
            period_us: Some(100_000),
            weight: Some(100),
            nr_periods: Some(1200),
            nr_throttled: thr.map(|_| 950),
            throttled_percent: thr,
            throttled_periods_percent: thr.map(|t| (t * 1.2).min(100.0)),
            ..Default::default()
        },
        memory: MemoryView {
            current_bytes: Some(mem),
            max_bytes: max,
            oom_kills: Some(0),
            ..Default::default()
        },
        pids: PidsView {
            current: Some(pids),
            max: None,
            max_events: Some(0),
        },
        frozen: Some(false),
        nprocs: Some(pids),
        ..Default::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn process(
    pid: i32,
    ppid: i32,
    user: &str,
    state: char,
    cpu: f64,
    rss_mib: u64,
    cgroup: &str,
    command: &str,
) -> ProcessSnapshot {
    ProcessSnapshot {
        pid,
        ppid,
        uid: if user == "root" { 0 } else { 1000 },
        user: user.into(),
        state,
        cpu_percent: Some(cpu),
        cpu_time_ns: (pid as u64 % 97) * 1_234_567_890,
        rss_bytes: rss_mib * MIB,
        mem_percent: Some(rss_mib as f64 * 100.0 / 8192.0),
        threads: 1,
        start_time: 1_764_399_000,
        cgroup: cgroup.into(),
        command: command.into(),
        command_pending: false,
        // Not read (the dashboard reads it only while shown): `–`.
        io: None,
    }
}

/// The host at sample `i` (one per second); the demo's quota is `quota` %.
pub fn snapshot(i: u64, quota: f64) -> Snapshot {
    let wobble = [0.3, -0.2, 0.1, -0.4, 0.2][(i % 5) as usize];
    let demo_cpu = quota - 0.5 + wobble;
    let demo_thr = (100.0 - quota) * 0.98;
    let mut user = group(
        "user.slice/user-1000.slice",
        Some(3.2),
        None,
        None,
        1228 * MIB,
        Some(2048 * MIB),
        12,
    );
    user.memory.oom_kills = Some(3);
    Snapshot {
        schema: 1,
        timestamp_ms: T0 + i * 1000,
        interval_ms: 1000,
        host: "demo-host".into(),
        mode: Some(Mode::Hybrid),
        cpus: 2,
        memory_total_bytes: Some(8192 * MIB),
        sampler: "",
        groups: vec![
            group("/", Some(demo_cpu + 9.1), None, None, 3100 * MIB, None, 140),
            group("cgdash", Some(demo_cpu), None, Some(0.0), 2 * MIB, None, 3),
            group(
                "cgdash/demo",
                Some(demo_cpu),
                Some(quota),
                Some(demo_thr),
                2 * MIB,
                None,
                3,
            ),
            group("system.slice", Some(4.0), None, None, 900 * MIB, None, 40),
            group(
                "system.slice/cron.service",
                Some(0.0),
                None,
                None,
                3 * MIB,
                None,
                1,
            ),
            group(
                "system.slice/ssh.service",
                Some(0.4),
                None,
                None,
                12 * MIB,
                None,
                3,
            ),
            group("user.slice", Some(3.2), None, None, 1228 * MIB, None, 12),
            user,
        ],
        processes: vec![
            process(1, 0, "root", 'S', 0.0, 12, "/", "/sbin/init"),
            process(
                412,
                1,
                "root",
                'S',
                0.0,
                3,
                "system.slice/cron.service",
                "/usr/sbin/cron -f",
            ),
            process(
                515,
                1,
                "root",
                'S',
                0.4,
                8,
                "system.slice/ssh.service",
                "sshd: /usr/sbin/sshd -D",
            ),
            process(
                4100,
                1,
                "alice",
                'S',
                0.1,
                6,
                "user.slice/user-1000.slice",
                "-bash",
            ),
            process(
                4242,
                4100,
                "alice",
                'R',
                3.1,
                1100,
                "user.slice/user-1000.slice",
                "python3 train.py --epochs 10",
            ),
            process(
                5001,
                4100,
                "root",
                'S',
                0.0,
                7,
                "cgdash/demo",
                "cgdash-launch demo",
            ),
            process(
                5002,
                5001,
                "root",
                'S',
                0.0,
                3,
                "cgdash/demo",
                "cgdash-init",
            ),
            process(
                5003,
                5002,
                "root",
                'R',
                demo_cpu,
                2,
                "cgdash/demo",
                "cgdash stress cpu --workers 1",
            ),
        ],
    }
}

/// An app that has seen 40 samples: 30 at a 20 % quota, then 10 at 50 %
/// (the change made with `+ + +`, marked on the charts), demo selected.
pub fn app(read_only: Option<&str>) -> App {
    let mut app = App::new(read_only.map(str::to_string));
    app.focus_group("cgdash/demo");
    for i in 0..30 {
        app.update(Action::Snapshot(Arc::new(snapshot(i, 20.0))));
    }
    app.update(Action::Applied {
        group: "cgdash/demo".into(),
        label: "cpu=50%".into(),
        undo: None,
        result: Ok("cpu.cfs_quota_us ← 50000".into()),
    });
    for i in 30..40 {
        app.update(Action::Snapshot(Arc::new(snapshot(i, 50.0))));
    }
    app
}
