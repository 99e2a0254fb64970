//! The io controller's grammar, device resolution, v1/v2 plans, restore
//! forms and readings, on fixture trees (no kernel needed).

use std::fs;
use std::path::Path;

use super::*;
use crate::cgroup::knob::{parse_settings_on, Host};
use crate::cgroup::stats::GroupStats;

fn put(dir: &Path, file: &str, text: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), text).unwrap();
}

/// A fake sysfs: disk 8:0 (sda) with partition 8:1 (sda1), a dm device
/// 253:3, an md device 9:0.
fn fake_sys(root: &Path) {
    let dev = root.join("devices/virtual/block");
    put(&dev.join("sda"), "dev", "8:0\n");
    put(&dev.join("sda/sda1"), "dev", "8:1\n");
    put(&dev.join("sda/sda1"), "partition", "1\n");
    put(&dev.join("dm-3"), "dev", "253:3\n");
    fs::create_dir_all(dev.join("dm-3/dm")).unwrap();
    put(&dev.join("md0"), "dev", "9:0\n");
    fs::create_dir_all(dev.join("md0/md")).unwrap();
    let block = root.join("dev/block");
    fs::create_dir_all(&block).unwrap();
    for (n, t) in [
        ("8:0", "sda"),
        ("8:1", "sda/sda1"),
        ("253:3", "dm-3"),
        ("9:0", "md0"),
    ] {
        std::os::unix::fs::symlink(format!("../../devices/virtual/block/{t}"), block.join(n))
            .unwrap();
    }
}

fn rates(v: &str, bytes: bool, sys: &Path) -> Result<String, String> {
    match parse_rates_in(v, bytes, sys) {
        Ok(Value::List(l)) => Ok(l),
        Ok(other) => panic!("{other:?}"),
        Err(Refusal::Bad(w)) | Err(Refusal::AboveHost(w)) => Err(w),
    }
}

#[test]
fn io_rate_grammar_and_devices() {
    let t = tempfile::tempdir().unwrap();
    fake_sys(t.path());
    let sys = t.path();
    assert_eq!(rates("8:0:5M", true, sys), Ok("8:0:5M".into()));
    assert_eq!(rates("8:0:1048576", true, sys), Ok("8:0:1M".into()));
    assert_eq!(rates("8:0:max", true, sys), Ok("8:0:max".into()));
    assert_eq!(rates("max", true, sys), Ok("max".into()));
    assert_eq!(rates("8:0:100", false, sys), Ok("8:0:100".into()));
    // A partition is its whole disk (the kernel refuses a partition).
    assert_eq!(rates("8:1:2M", true, sys), Ok("8:0:2M".into()));
    // Several, comma-separated, each resolved.
    assert_eq!(
        rates("8:0:2M, 253:3:1G", true, sys),
        Ok("8:0:2M,253:3:1G".into())
    );
    for (bad, why) in [
        ("8:0", "not DEVICE:RATE"),
        ("8:0:", "not DEVICE:RATE"),
        (":5M", "not DEVICE:RATE"),
        ("8:0:0", "use max"),
        ("8:0:5Q", "unit"),
        ("8:0:-1M", "not"),
        ("7:7:5M", "no block device"),
        ("vda:5M", "not a device"),
        ("/nonexistent/x:5M", "No such file"),
        ("8:0:1M,8:1:2M", "given twice"),
    ] {
        let e = rates(bad, true, sys).unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
    }
    // IOPS are counts, not sizes.
    assert!(rates("8:0:5M", false, sys)
        .unwrap_err()
        .contains("whole number"));
    assert!(rates("8:0:0", false, sys).is_err());
}

#[test]
fn io_partitions_resolve_to_their_disk_and_stacks_warn() {
    let t = tempfile::tempdir().unwrap();
    fake_sys(t.path());
    let sys = t.path();
    assert_eq!(resolve_device("8:1", sys), Ok(Disk { major: 8, minor: 0 }));
    assert_eq!(resolve_device("8:0", sys), Ok(Disk { major: 8, minor: 0 }));
    assert!(stacked_warning("253:3", sys)
        .unwrap()
        .contains("device-mapper"));
    assert!(stacked_warning("9:0", sys).unwrap().contains("md RAID"));
    assert_eq!(stacked_warning("8:0", sys), None);
    // A path on a filesystem: this machine's /, whatever its disk, is a
    // whole disk after resolution (checked against the real sysfs).
    if let Ok(d) = resolve_device("/", Path::new("/sys")) {
        let node = format!("/sys/dev/block/{d}");
        assert!(Path::new(&node).exists(), "{node}");
        assert!(!Path::new(&node).join("partition").exists(), "{node}");
    }
    // A character device is refused.
    let e = resolve_device("/dev/null", Path::new("/sys")).unwrap_err();
    assert!(e.contains("character device"), "{e}");
}

fn v1_tree(root: &Path) -> Layout {
    for d in [root.join("blkio"), root.join("blkio/g")] {
        put(&d, "cgroup.procs", "");
        for f in [
            "blkio.throttle.read_bps_device",
            "blkio.throttle.write_bps_device",
            "blkio.throttle.read_iops_device",
            "blkio.throttle.write_iops_device",
        ] {
            put(&d, f, "");
        }
    }
    Layout::from_root(root).unwrap()
}

fn v2_tree(root: &Path, io: bool) -> Layout {
    put(root, "cgroup.controllers", "io memory\n");
    put(root, "cgroup.procs", "");
    let g = root.join("g");
    put(&g, "cgroup.procs", "");
    if io {
        put(&g, "io.stat", "");
        put(
            &g,
            "io.max",
            "8:0 rbps=max wbps=1048576 riops=max wiops=max\n",
        );
        put(&g, "io.weight", "default 100\n");
    }
    Layout::from_root(root).unwrap()
}

/// Plans with the real parser (devices as MAJ:MIN resolved against this
/// host's /sys, so the tests use the device of `/`).
fn plan(l: &Layout, args: &[String]) -> Result<Vec<(String, String)>, String> {
    let settings = parse_settings_on(args, Host { cpus: 4 }).map_err(|e| format!("{e:?}"))?;
    crate::cgroup::controllers::planned_writes(l, &settings)
}

fn pair(f: &str, c: &str) -> (String, String) {
    (f.to_string(), c.to_string())
}

/// The whole disk of `/` on this machine (every test host has one).
fn root_disk() -> Option<String> {
    resolve_device("/", Path::new("/sys"))
        .ok()
        .map(|d| d.to_string())
}

#[test]
fn io_v1_and_v2_plans() {
    let Some(d) = root_disk() else {
        eprintln!("/ is on no block device here: skipped");
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let l = v1_tree(t.path());
    assert_eq!(
        plan(&l, &[format!("io.write_bps={d}:5M")]),
        Ok(vec![pair(
            "blkio.throttle.write_bps_device",
            &format!("{d} 5242880")
        )])
    );
    // The path form is the same disk; max clears (v1: 0).
    assert_eq!(
        plan(&l, &["io.read_iops=/:max".into()]),
        Ok(vec![pair(
            "blkio.throttle.read_iops_device",
            &format!("{d} 0")
        )])
    );
    assert_eq!(
        plan(
            &l,
            &[
                format!("io.read_bps={d}:1K"),
                format!("io.write_iops={d}:50")
            ]
        ),
        Ok(vec![
            pair("blkio.throttle.read_bps_device", &format!("{d} 1024")),
            pair("blkio.throttle.write_iops_device", &format!("{d} 50")),
        ])
    );
    // `max` alone clears the devices that have a limit of that kind.
    put(
        &t.path().join("blkio/g"),
        "blkio.throttle.write_bps_device",
        "8:0 100\n8:16 200\n",
    );
    assert_eq!(
        plan(&l, &["io.write_bps=max".into()]),
        Ok(vec![
            pair("blkio.throttle.write_bps_device", "8:0 0"),
            pair("blkio.throttle.write_bps_device", "8:16 0"),
        ])
    );
    // v1 has no weight file on kernels without CFQ or a loaded BFQ.
    let e = plan(&l, &["io.weight=200".into()]).unwrap_err();
    assert!(e.contains("blkio.bfq.weight") && e.contains("5.0"), "{e}");
    put(&t.path().join("blkio/g"), "blkio.bfq.weight", "100\n");
    assert_eq!(
        plan(&l, &["io.weight=200".into()]),
        Ok(vec![pair("blkio.bfq.weight", "200")])
    );
    assert!(plan(&l, &["io.weight=2000".into()])
        .unwrap_err()
        .contains("1 to 1000"));

    let t = tempfile::tempdir().unwrap();
    let l = v2_tree(t.path(), true);
    assert_eq!(
        plan(&l, &[format!("io.write_bps={d}:5M")]),
        Ok(vec![pair("io.max", &format!("{d} wbps=5242880"))])
    );
    assert_eq!(
        plan(&l, &[format!("io.read_iops={d}:max")]),
        Ok(vec![pair("io.max", &format!("{d} riops=max"))])
    );
    assert_eq!(
        plan(&l, &["io.write_bps=max".into()]),
        Ok(vec![pair("io.max", "8:0 wbps=max")])
    );
    assert_eq!(plan(&l, &["io.read_bps=max".into()]), Ok(vec![]));
    assert_eq!(
        plan(&l, &["io.weight=500".into()]),
        Ok(vec![pair("io.weight", "default 500")])
    );
    // Without +io in the parent: refused, with the reason.
    let t = tempfile::tempdir().unwrap();
    let l = v2_tree(t.path(), false);
    let e = plan(&l, &[format!("io.write_bps={d}:5M")]).unwrap_err();
    assert!(e.contains("+io"), "{e}");
    // Weight range.
    assert!(plan(&l, &["io.weight=0".into()]).is_err());
    assert!(plan(&l, &["io.weight=10001".into()]).is_err());
}

#[test]
fn io_restore_writes_back_the_devices_own_line() {
    let p = Path::new("/x/io.max");
    let old =
        "8:0 rbps=max wbps=1048576 riops=max wiops=max\n8:16 rbps=1 wbps=max riops=max wiops=max";
    assert_eq!(
        restore_keyed(p, old, "8:16 wbps=5"),
        "8:16 rbps=1 wbps=max riops=max wiops=max"
    );
    assert_eq!(
        restore_keyed(p, old, "9:0 wbps=5"),
        "9:0 rbps=max wbps=max riops=max wiops=max"
    );
    let p = Path::new("/x/blkio.throttle.write_bps_device");
    assert_eq!(restore_keyed(p, "8:0 100\n8:16 200", "8:16 5"), "8:16 200");
    assert_eq!(restore_keyed(p, "8:0 100", "8:16 5"), "8:16 0");
    assert_eq!(restore_keyed(p, "", "8:16 5"), "8:16 0");
    let p = Path::new("/x/io.weight");
    assert_eq!(
        restore_keyed(p, "default 100\n8:0 300", "default 500"),
        "default 100"
    );
}

#[test]
fn io_readings_v1_and_v2() {
    let mut s = GroupStats::default();
    read_into(
        &mut s,
        "io.stat",
        "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6 cost.vrate=1\n",
    );
    let d = s.io.devices.clone().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        d[1],
        IoDevice {
            dev: "8:0".into(),
            rbytes: Some(1),
            wbytes: Some(2),
            rios: Some(3),
            wios: Some(4),
            dbytes: Some(5),
            dios: Some(6)
        }
    );
    read_into(
        &mut s,
        "io.max",
        "254:0 rbps=max wbps=5242880 riops=max wiops=100\n",
    );
    assert_eq!(
        s.io.limits,
        vec![IoLimit {
            dev: "254:0".into(),
            rbps: None,
            wbps: Some(5_242_880),
            riops: None,
            wiops: Some(100)
        }]
    );
    read_into(&mut s, "io.weight", "default 300\n254:0 50\n");
    assert_eq!(s.io.weight, Some(300));

    let mut s = GroupStats::default();
    read_into(
        &mut s,
        "blkio.throttle.io_service_bytes_recursive",
        "254:0 Read 4096\n254:0 Write 10485760\n254:0 Sync 10485760\n254:0 Async 4096\n254:0 Discard 0\n254:0 Total 10489856\nTotal 10489856\n",
    );
    read_into(
        &mut s,
        "blkio.throttle.io_serviced_recursive",
        "254:0 Read 1\n254:0 Write 20\n254:0 Sync 20\n254:0 Async 1\n254:0 Discard 0\n254:0 Total 21\nTotal 21\n",
    );
    assert_eq!(
        s.io.devices,
        Some(vec![IoDevice {
            dev: "254:0".into(),
            rbytes: Some(4096),
            wbytes: Some(10_485_760),
            rios: Some(1),
            wios: Some(20),
            dbytes: Some(0),
            dios: Some(0)
        }])
    );
    // No I/O yet: the file holds only `Total 0`: known, no device.
    let mut s = GroupStats::default();
    read_into(
        &mut s,
        "blkio.throttle.io_service_bytes_recursive",
        "Total 0\n",
    );
    assert_eq!(s.io.devices, Some(vec![]));
    // v1 limits: four files, one list; 0 is no rule.
    read_into(&mut s, "blkio.throttle.read_bps_device", "254:0 1024\n");
    read_into(
        &mut s,
        "blkio.throttle.write_bps_device",
        "254:0 2048\n8:0 7\n",
    );
    read_into(&mut s, "blkio.throttle.read_iops_device", "");
    read_into(&mut s, "blkio.throttle.write_iops_device", "8:0 9\n");
    assert_eq!(
        s.io.limits,
        vec![
            IoLimit {
                dev: "254:0".into(),
                rbps: Some(1024),
                wbps: Some(2048),
                ..Default::default()
            },
            IoLimit {
                dev: "8:0".into(),
                wbps: Some(7),
                wiops: Some(9),
                ..Default::default()
            }
        ]
    );
    // The next reading starts afresh (a limit removed disappears).
    read_into(&mut s, "blkio.throttle.read_bps_device", "");
    read_into(&mut s, "blkio.throttle.write_bps_device", "");
    read_into(&mut s, "blkio.throttle.read_iops_device", "");
    read_into(&mut s, "blkio.throttle.write_iops_device", "");
    assert_eq!(s.io.limits, vec![]);
}

#[test]
fn io_view_rates_per_device_and_total() {
    let dev = |n: &str, r: u64, w: u64| IoDevice {
        dev: n.into(),
        rbytes: Some(r),
        wbytes: Some(w),
        rios: Some(r / 4096),
        wios: Some(w / 4096),
        ..Default::default()
    };
    let prev = vec![dev("254:0", 0, 4096 * 10)];
    let cur = IoStats {
        devices: Some(vec![
            dev("254:0", 4096 * 2, 4096 * 30),
            dev("8:0", 0, 4096 * 4),
        ]),
        ..Default::default()
    };
    // Two seconds.
    let v = IoView::new(&cur, Some(&prev), 2_000_000_000);
    assert_eq!(v.devices[0].write_bytes_per_s, Some(4096.0 * 10.0));
    assert_eq!(v.devices[0].read_bytes_per_s, Some(4096.0));
    // A device new since the last reading was at 0.
    assert_eq!(v.devices[1].write_bytes_per_s, Some(4096.0 * 2.0));
    assert_eq!(v.write_bytes_per_s, Some(4096.0 * 12.0));
    assert_eq!(v.write_iops, Some(12.0));
    assert_eq!(v.read_iops, Some(1.0));
    assert_eq!(v.write_bytes_total, Some(4096 * 34));
    // No previous reading: totals but no rates.
    let v = IoView::new(&cur, None, 2_000_000_000);
    assert_eq!(
        (v.write_bytes_per_s, v.write_bytes_total),
        (None, Some(4096 * 34))
    );
    // A counter that went backwards gives no rate, not a huge one.
    let v = IoView::new(
        &IoStats {
            devices: Some(prev.clone()),
            ..Default::default()
        },
        cur.devices.as_deref(),
        1_000_000_000,
    );
    assert_eq!(v.devices[0].write_bytes_per_s, None);
    // Known, no I/O at all: 0/s.
    let none = IoStats {
        devices: Some(vec![]),
        ..Default::default()
    };
    let v = IoView::new(&none, Some(&[]), 1_000_000_000);
    assert_eq!((v.write_bytes_per_s, v.read_iops), (Some(0.0), Some(0.0)));
    // Unknown (no io controller): null, never 0.
    let v = IoView::new(&IoStats::default(), Some(&[]), 1_000_000_000);
    assert_eq!(v.write_bytes_per_s, None);
}

#[test]
fn io_notes_v1_direct_io_and_stacked_devices() {
    let t = tempfile::tempdir().unwrap();
    fake_sys(t.path());
    let applied = |file: &str, contents: &str| Applied {
        setting: Setting {
            knob: Knob::IoWriteBps,
            value: Value::List("x".into()),
        },
        writes: vec![FileWrite {
            knob: Knob::IoWriteBps,
            path: Path::new("/g").join(file),
            contents: contents.into(),
        }],
    };
    let n = note_in(
        &applied("blkio.throttle.write_bps_device", "8:0 100"),
        t.path(),
    )
    .unwrap();
    assert!(n.contains("direct I/O only"), "{n}");
    assert_eq!(note_in(&applied("io.max", "8:0 wbps=100"), t.path()), None);
    let n = note_in(&applied("io.max", "253:3 wbps=100"), t.path()).unwrap();
    assert!(
        n.contains("device-mapper") && n.contains("may do nothing"),
        "{n}"
    );
    let n = note_in(&applied("io.max", "9:0 wbps=100"), t.path()).unwrap();
    assert!(n.contains("md RAID"), "{n}");
}
