//! issue 12, "Done when": `cpu.burst` against the real kernel (root): set
//! with a quota, read back from the kernel's file, and published in the
//! snapshot JSON (`groups[].cpu.burst_us`, `.nr_bursts`, `.burst_total_ns`).

mod common;

use std::fs;
use std::time::Duration;

use cgdash::cgroup::Version;
use common::{cgdash, TestGroup};

#[test]
fn hc_cpu_burst_live() {
    let Some(l) = common::live("hc_cpu_burst_live") else {
        return;
    };
    let (h, file) = match l.hierarchy("cpu") {
        Some(h) if h.version == Version::V1 => (h, "cpu.cfs_burst_us"),
        Some(h) => (h, "cpu.max.burst"),
        None => panic!("no cpu controller"),
    };
    let mut g = TestGroup::new(&l, "burst");
    let dir = h.dir(&g.path);
    if !dir.join(file).exists() {
        // A kernel before 5.14: refused with the reason, nothing written.
        let before = fs::read_to_string(dir.join("cpu.cfs_quota_us")).ok();
        let (code, _, err) = cgdash(&["set", &g.path, "cpu=50%", "cpu.burst=50ms"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("5.14"), "{err}");
        assert_eq!(
            fs::read_to_string(dir.join("cpu.cfs_quota_us")).ok(),
            before
        );
        return;
    }
    let (code, out, err) = cgdash(&["set", &g.path, "cpu=50%", "cpu.burst=50ms"]);
    assert_eq!(code, 0, "{out}{err}");
    let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap().trim().to_string();
    assert_eq!(read(file), "50000", "the kernel holds the burst");
    // Above the quota: bad input (exit 2), refused before writing, the old
    // burst stays — also with a quota change in the same call.
    let quota_file = match h.version {
        Version::V1 => "cpu.cfs_quota_us",
        Version::V2 => "cpu.max",
    };
    let quota = read(quota_file);
    for args in [&["cpu.burst=60ms"][..], &["cpu=20%", "cpu.burst=30ms"]] {
        let mut argv = vec!["set", g.path.as_str()];
        argv.extend(args);
        let (code, _, err) = cgdash(&argv);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("up to the quota"), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
        assert_eq!(read(file), "50000");
        assert_eq!(read(quota_file), quota);
    }
    // `run` says the same and exits 2 (bad input, not 125: setup failed),
    // its command never started and its group gone.
    let name = format!("hc-burst-{}", std::process::id());
    let marker = std::env::temp_dir().join(format!("{name}.ran"));
    let (code, _, err) = cgdash(&[
        "run",
        "--name",
        &name,
        "--cpu",
        "10%",
        "--cpu-burst",
        "20ms",
        "sh",
        "-c",
        &format!("touch {}", marker.display()),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("up to the quota"), "{err}");
    assert!(!marker.exists(), "the command ran");
    assert!(
        !h.dir(&format!("cgdash/{name}")).exists(),
        "group left behind"
    );
    // A share of the current quota.
    let (code, out, err) = cgdash(&["set", &g.path, "cpu.burst=50%"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(file), "25000");
    // Lowering the quota below the burst: the burst moves first.
    let (code, out, err) = cgdash(&["set", &g.path, "cpu=10%", "cpu.burst=5ms"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(file), "5000");
    let (code, out, err) = cgdash(&["set", &g.path, "cpu=50%", "cpu.burst=50ms"]);
    assert_eq!(code, 0, "{out}{err}");

    // A short burner so the counters have something to count.
    g.spawn_sh(
        "end=$(($(date +%s)+3)); while [ $(date +%s) -lt $end ]; do :; done",
        Duration::from_secs(10),
    );
    let (code, out, err) = cgdash(&[
        "snapshot",
        "--json",
        "--interval",
        "300ms",
        "--group",
        &g.path,
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let gs = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"] == g.path.as_str())
        .unwrap_or_else(|| panic!("{} not in {out}", g.path));
    let cpu = &gs["cpu"];
    assert_eq!(cpu["burst_us"], 50_000, "{cpu}");
    assert_eq!(cpu["limit_percent"], 50.0, "{cpu}");
    assert!(cpu["nr_bursts"].is_u64(), "{cpu}");
    assert!(cpu["burst_total_ns"].is_u64(), "{cpu}");
}
