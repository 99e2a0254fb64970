//! issue 16: I/O limits against the real kernel (root). On this project's
//! v1 host blkio throttles direct I/O on the root disk; in the v2 VM the
//! guest's scratch disk (`CGDASH_IO_DIR`, mounted by vm/init.sh) is used.
//!
//! Rates are measured from the kernel's own counters of the group
//! (`blkio.throttle.io_service_bytes_recursive` / `io.stat`), not from the
//! workload's report.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cgdash::cgroup::controllers::io::resolve_device;
use cgdash::cgroup::{Layout, Version};
use common::{cgdash, TestGroup};

const MIB: f64 = 1024.0 * 1024.0;

/// The tests that write run one at a time: two writers at once share the
/// machine's CPU and disk queue, and the rates each measures get noisier.
static WRITERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_writer() -> std::sync::MutexGuard<'static, ()> {
    WRITERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A directory on a block device to write in, and its whole disk.
fn scratch() -> (PathBuf, String) {
    let dir = std::env::var_os("CGDASH_IO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let disk = resolve_device(dir.to_str().unwrap(), Path::new("/sys"))
        .unwrap_or_else(|e| {
            panic!("no block device under {} for the io tests ({e}); set CGDASH_IO_DIR to a directory on a disk", dir.display())
        });
    (dir, disk.to_string())
}

/// The group's io directory and version.
fn io_dir(l: &Layout, g: &str) -> (PathBuf, Version) {
    let h = l
        .hierarchy("blkio")
        .or_else(|| l.hierarchy("io"))
        .expect("no io/blkio controller");
    (h.dir(g), h.version)
}

/// Bytes the kernel charged to the group as written to `disk`.
fn written(dir: &Path, v: Version, disk: &str) -> u64 {
    match v {
        Version::V1 => {
            let t =
                fs::read_to_string(dir.join("blkio.throttle.io_service_bytes_recursive")).unwrap();
            t.lines()
                .find_map(|l| {
                    let mut it = l.split_whitespace();
                    (it.next() == Some(disk) && it.next() == Some("Write"))
                        .then(|| it.next()?.parse().ok())?
                })
                .unwrap_or(0)
        }
        Version::V2 => {
            let t = fs::read_to_string(dir.join("io.stat")).unwrap();
            t.lines()
                .find(|l| l.starts_with(&format!("{disk} ")))
                .and_then(|l| {
                    l.split_whitespace()
                        .find_map(|kv| kv.strip_prefix("wbytes=")?.parse().ok())
                })
                .unwrap_or(0)
        }
    }
}

/// The group's write rate over `d`, MiB/s, from the kernel's counters.
fn rate(dir: &Path, v: Version, disk: &str, d: Duration) -> f64 {
    let (t0, b0) = (Instant::now(), written(dir, v, disk));
    std::thread::sleep(d);
    let (t1, b1) = (Instant::now(), written(dir, v, disk));
    (b1 - b0) as f64 / MIB / (t1 - t0).as_secs_f64()
}

fn limit_file(v: Version) -> &'static str {
    match v {
        Version::V1 => "blkio.throttle.write_bps_device",
        Version::V2 => "io.max",
    }
}

#[test]
fn io_write_limit_holds_and_moves_live() {
    let Some(l) = common::live("io_write_limit_holds_and_moves_live") else {
        return;
    };
    let _one = one_writer();
    let (scratch, disk) = scratch();
    let mut g = TestGroup::new(&l, "io-hold");
    let (dir, v) = io_dir(&l, &g.path);
    // The path form: the directory's filesystem → its whole disk.
    let target = format!("io.write_bps={}:5M", scratch.display());
    let (code, out, err) = cgdash(&["set", &g.path, &target]);
    assert_eq!(code, 0, "{out}{err}");
    let file = fs::read_to_string(dir.join(limit_file(v))).unwrap();
    assert!(
        file.lines().any(|l| l.starts_with(&format!("{disk} "))
            && (l.contains(" 5242880") || l.contains("wbps=5242880"))),
        "{file}"
    );
    // The whole disk, never a partition (the kernel refuses those). In the
    // VM the directory is on a partition: resolved to its disk.
    assert!(!Path::new(&format!("/sys/dev/block/{disk}/partition")).exists());
    let st = std::os::unix::fs::MetadataExt::dev(&fs::metadata(&scratch).unwrap());
    let on = format!("{}:{}", libc::major(st), libc::minor(st));
    if Path::new(&format!("/sys/dev/block/{on}/partition")).exists() {
        assert_ne!(on, disk, "a partition is limited on its disk");
        eprintln!(
            "io_live: {} is on partition {on}, limited on disk {disk}",
            scratch.display()
        );
    }
    if v == Version::V1 {
        assert!(out.contains("direct I/O only"), "v1 says so: {out}");
    }
    // An unpaced direct writer: only the limit holds it.
    let mut cmd = std::process::Command::new("timeout");
    cmd.args(["-s", "KILL", "40", common::cgdash_bin(), "stress", "io"])
        .args(["--block", "256K", "--size", "32M", "--duration", "30s"])
        .arg("--dir")
        .arg(&scratch);
    g.spawn(cmd);
    std::thread::sleep(Duration::from_millis(1500));
    let held = rate(&dir, v, &disk, Duration::from_secs(4));
    assert!(
        (held - 5.0).abs() <= 0.5,
        "5M limit: the kernel counted {held:.2} MiB/s"
    );
    // The dashboard's reading is the kernel's: its cumulative count lies
    // between two reads of the counter around it, and its rate (over 3 s;
    // 1 s of a throttled writer is noisy on a loaded machine) is the limit's.
    let before = written(&dir, v, &disk);
    let (code, json, err) = cgdash(&["snapshot", "--json", "--interval", "3s", "--group", &g.path]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    let after = written(&dir, v, &disk);
    let io = &j["groups"][0]["io"];
    let total = io["write_bytes_total"].as_u64().unwrap();
    assert!(
        (before..=after).contains(&total),
        "{before} ≤ {total} ≤ {after}: {io}"
    );
    let shown = io["write_bytes_per_s"].as_f64().unwrap() / MIB;
    assert!(
        (shown - 5.0).abs() <= 1.0,
        "snapshot shows {shown:.2} MiB/s: {io}"
    );
    assert_eq!(io["limits"][0]["device"], disk.as_str(), "{io}");
    assert_eq!(io["limits"][0]["write_bps"], 5_242_880, "{io}");
    // A live change takes effect within two seconds (to 10M: under the
    // VM's emulation every MB written costs CPU the other tests need).
    let target = format!("io.write_bps={disk}:10M");
    let (code, out, err) = cgdash(&["set", &g.path, &target]);
    assert_eq!(code, 0, "{out}{err}");
    std::thread::sleep(Duration::from_millis(500));
    let moved = rate(&dir, v, &disk, Duration::from_millis(1500));
    assert!(
        moved > 7.5,
        "2 s after raising 5M → 10M the group writes {moved:.2} MiB/s"
    );
    let held = rate(&dir, v, &disk, Duration::from_secs(3));
    assert!(
        (held - 10.0).abs() <= 1.0,
        "10M limit: the kernel counted {held:.2} MiB/s"
    );
    // `max` clears it: the file no longer limits the disk.
    let (code, out, err) = cgdash(&["set", &g.path, "io.write_bps=max"]);
    assert_eq!(code, 0, "{out}{err}");
    let file = fs::read_to_string(dir.join(limit_file(v))).unwrap();
    let limited = file.lines().any(|l| {
        l.starts_with(&format!("{disk} ")) && !l.contains("wbps=max") && v == Version::V2
            || (v == Version::V1 && l.starts_with(&format!("{disk} ")))
    });
    assert!(!limited, "{file}");
}

#[test]
fn io_bad_devices_and_rates_write_nothing_live() {
    let Some(l) = common::live("io_bad_devices_and_rates_write_nothing_live") else {
        return;
    };
    let (scratch, disk) = scratch();
    let g = TestGroup::new(&l, "io-bad");
    let (dir, v) = io_dir(&l, &g.path);
    let (code, out, err) = cgdash(&["set", &g.path, &format!("io.read_bps={disk}:1M")]);
    assert_eq!(code, 0, "{out}{err}");
    let read_file = match v {
        Version::V1 => "blkio.throttle.read_bps_device",
        Version::V2 => "io.max",
    };
    let before = |f: &str| fs::read_to_string(dir.join(f)).unwrap();
    let (r0, w0) = (before(read_file), before(limit_file(v)));
    let s = scratch.display();
    for (args, why) in [
        (vec!["io.write_bps=/proc:5M".to_string()], "no block device"),
        (vec!["io.write_bps=/dev/null:5M".into()], "character device"),
        (
            vec!["io.write_bps=/nonexistent/x:5M".into()],
            "No such file",
        ),
        (vec![format!("io.write_bps={s}:0")], "use max"),
        (vec![format!("io.write_bps={s}:5Q")], "unit"),
        (vec![format!("io.write_iops={s}:1.5")], "whole number"),
        (vec!["io.write_bps=4095:4095:1M".into()], "no block device"),
        (vec![format!("io.write_bps={s}")], "DEVICE:RATE"),
        (vec!["io.weight=0".into()], "io.weight"),
        // One bad setting: the good one in the same call is not written.
        (
            vec![
                format!("io.read_bps={disk}:2M"),
                "io.write_bps=/proc:1M".into(),
            ],
            "no block device",
        ),
    ] {
        let mut argv = vec!["set", g.path.as_str()];
        argv.extend(args.iter().map(String::as_str));
        let (code, _, err) = cgdash(&argv);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(err.contains("nothing was written"), "{err}");
        assert_eq!(before(read_file), r0, "{args:?}");
        assert_eq!(before(limit_file(v)), w0, "{args:?}");
    }
    // `run` refuses the same before starting anything (exit 2).
    let name = format!("io-bad-{}", std::process::id());
    let marker = std::env::temp_dir().join(format!("{name}.ran"));
    let (code, _, err) = cgdash(&[
        "run",
        "--name",
        &name,
        "--io-write-bps",
        "/proc:1M",
        "sh",
        "-c",
        &format!("touch {}", marker.display()),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no block device"), "{err}");
    assert!(!marker.exists(), "the command ran");
}

/// `run --io-write-bps PATH:5M` limits the launched workload: a direct
/// writer's own average lands at the limit.
#[test]
fn io_run_flag_limits_the_workload_live() {
    let Some(_l) = common::live("io_run_flag_limits_the_workload_live") else {
        return;
    };
    let _one = one_writer();
    let (scratch, _) = scratch();
    let name = format!("io-run-{}", std::process::id());
    let dir = scratch.to_str().unwrap();
    let (code, out, err) = cgdash(&[
        "run",
        "--name",
        &name,
        "--io-write-bps",
        &format!("{dir}:4M"),
        "--",
        common::cgdash_bin(),
        "stress",
        "io",
        "--dir",
        dir,
        "--block",
        "256K",
        "--size",
        "16M",
        "--duration",
        "4s",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // "stress io: done (16M written, 4M/s on average)"
    let done = out
        .lines()
        .chain(err.lines())
        .find(|l| l.contains("stress io: done"))
        .unwrap_or_else(|| panic!("{out}{err}"));
    let avg = done
        .split(", ")
        .nth(1)
        .and_then(|s| s.split("/s").next())
        .unwrap_or_else(|| panic!("{done}"));
    let mib = match avg.strip_suffix('M') {
        Some(m) => m.parse::<f64>().unwrap(),
        None => match avg.strip_suffix('K') {
            Some(k) => k.parse::<f64>().unwrap() / 1024.0,
            None => panic!("{done}"),
        },
    };
    assert!((mib - 4.0).abs() <= 0.6, "run --io-write-bps 4M: {done}");
}

/// `io.weight`: written where the kernel has a weight file (v2 `io.weight`
/// with iocost, v1 `blkio.bfq.weight` while BFQ is loaded), read back in
/// the snapshot; refused with the reason where it has none.
#[test]
fn io_weight_live() {
    let Some(l) = common::live("io_weight_live") else {
        return;
    };
    let g = TestGroup::new(&l, "io-weight");
    let (dir, v) = io_dir(&l, &g.path);
    let file = match v {
        Version::V1 => ["blkio.bfq.weight", "blkio.weight"]
            .into_iter()
            .find(|f| dir.join(f).exists()),
        Version::V2 => ["io.weight", "io.bfq.weight"]
            .into_iter()
            .find(|f| dir.join(f).exists()),
    };
    let (code, out, err) = cgdash(&["set", &g.path, "io.weight=200"]);
    let Some(file) = file else {
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains("weight"), "{err}");
        return;
    };
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("BFQ"),
        "the note says where weights act: {out}"
    );
    let text = fs::read_to_string(dir.join(file)).unwrap();
    assert!(
        text.lines()
            .any(|l| l.trim() == "200" || l.trim() == "default 200"),
        "{file}: {text}"
    );
    let (code, json, err) = cgdash(&["snapshot", "--json", "--group", &g.path]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["groups"][0]["io"]["weight"], 200, "{json}");
}
