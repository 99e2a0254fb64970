//! Issue 13 with real engines: a private dockerd and podman (tests/common/
//! engines.rs) run named containers with limits; cgdash, pointed at their
//! data roots, shows kind, name, image and the limits in `snapshot --json`,
//! `set docker:NAME cpu=20%` throttles a busy container to about 20 % as
//! the kernel counts it, the owner note names the owner-native command and
//! says the engine's view is now stale, `limits … --as docker` prints the
//! current limits as that command, and `docker inspect` afterwards shows
//! what the note says (the old limit).
//!
//! Host only: the cgroup-v2 VM has no engines (vm/run-tests.sh skips
//! engines_*); with CGDASH_LIVE_TESTS=required a missing engine fails.

mod common;

use std::time::{Duration, Instant};

use cgdash::cgroup::{Layout, Version};
use common::engines::{cgdash_with, import_image, Dockerd, Engine, Podman};
use serde_json::Value;

/// The busy workload: one CPU's worth of `yes`, bounded by its own deadline.
const BURN: [&str; 3] = ["sh", "-c", "timeout -s KILL 240 yes > /dev/null"];

/// The group of the container with this (full) id in `snapshot --json`.
fn group_of(engines: &[&dyn Engine], full_id: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, out, err) = cgdash_with(engines, &["snapshot", "--json", "--interval", "200ms"]);
        assert_eq!(code, 0, "snapshot --json: {err}");
        let v: Value = serde_json::from_str(&out).expect("snapshot JSON");
        let found = v["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| {
                g["container_id"].as_str() == Some(&full_id[..12])
                    && g["path"].as_str().is_some_and(|p| p.contains(full_id))
                    && !matches!(g["kind"].as_str(), Some("conmon"))
            })
            .cloned();
        if let Some(g) = found {
            return g;
        }
        assert!(
            Instant::now() < end,
            "no group with container_id {} in snapshot --json:\n{}",
            &full_id[..12],
            v["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| format!("{} {} {}", g["path"], g["kind"], g["name"]))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// CPU time the kernel counted for a group, in nanoseconds.
fn cpu_ns(layout: &Layout, path: &str) -> u64 {
    if layout.version_of("cpu") == Some(Version::V2) {
        let dir = layout.unified().expect("unified").dir(path);
        let stat = std::fs::read_to_string(dir.join("cpu.stat")).expect("cpu.stat");
        let usec: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse().ok())
            .expect("usage_usec");
        usec * 1000
    } else {
        let dir = layout.hierarchy("cpuacct").expect("cpuacct").dir(path);
        std::fs::read_to_string(dir.join("cpuacct.usage"))
            .expect("cpuacct.usage")
            .trim()
            .parse()
            .expect("cpuacct.usage number")
    }
}

/// The kernel's CPU quota of a group as a percentage of one CPU.
fn quota_percent(layout: &Layout, path: &str) -> Option<f64> {
    let h = layout.hierarchy("cpu").expect("cpu");
    if layout.version_of("cpu") == Some(Version::V2) {
        let max = std::fs::read_to_string(h.dir(path).join("cpu.max")).ok()?;
        let mut it = max.split_whitespace();
        let q: f64 = it.next()?.parse().ok()?;
        let p: f64 = it.next()?.parse().ok()?;
        Some(q * 100.0 / p)
    } else {
        let q: f64 = std::fs::read_to_string(h.dir(path).join("cpu.cfs_quota_us"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let p: f64 = std::fs::read_to_string(h.dir(path).join("cpu.cfs_period_us"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (q > 0.0).then(|| q * 100.0 / p)
    }
}

/// Percent of one CPU the group used over `secs`, from the kernel's counter.
fn measure(layout: &Layout, path: &str, secs: u64) -> f64 {
    let t0 = Instant::now();
    let c0 = cpu_ns(layout, path);
    std::thread::sleep(Duration::from_secs(secs));
    let c1 = cpu_ns(layout, path);
    (c1 - c0) as f64 * 100.0 / t0.elapsed().as_nanos() as f64
}

/// Starts `NAME` busy with `--cpus CPUS --memory 64m` (plus `extra`),
/// returning its full id.
fn run_busy(e: &dyn Engine, name: &str, cpus: &str, image: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "run", "-d", "--name", name, "--cpus", cpus, "--memory", "64m",
    ];
    args.extend_from_slice(extra);
    args.push(image);
    args.extend_from_slice(&BURN);
    e.ok(&args)
}

/// The shared part of the docker and podman tests: see the module doc.
fn check_engine(layout: &Layout, e: &dyn Engine, name: &str, image: &str, old_cpus: f64) {
    let kind = e.kind();
    let id = match kind {
        "podman" => run_busy(e, name, &old_cpus.to_string(), image, &Podman::run_flags()),
        _ => run_busy(e, name, &old_cpus.to_string(), image, &[]),
    };
    // 1. snapshot --json names it, with its limits.
    let g = group_of(&[e], &id);
    let path = g["path"].as_str().expect("path").to_string();
    assert_eq!(g["kind"].as_str(), Some(kind), "{g}");
    assert_eq!(g["name"].as_str(), Some(name), "{g}");
    let img = g["image"].as_str().unwrap_or_default();
    assert!(
        img.contains(image.trim_start_matches("localhost/")),
        "image {img:?} of {g}"
    );
    let limit = g["cpu"]["limit_percent"].as_f64().expect("cpu limit");
    assert!(
        (limit - old_cpus * 100.0).abs() < 0.5,
        "cpu limit {limit} in {g}"
    );
    assert_eq!(g["memory"]["max_bytes"].as_u64(), Some(64 << 20), "{g}");

    // Busy up to its quota (a loaded machine may give it less).
    let before = measure(layout, &path, 3);
    eprintln!("{kind} {name}: {before:.1} % of a CPU at --cpus {old_cpus}");
    assert!(
        before <= old_cpus * 100.0 * 1.25 + 2.0,
        "quota holds: {before}"
    );

    // 2. set KIND:NAME cpu=20%: the kernel's quota, the measured use.
    let target = format!("{kind}:{name}");
    let (code, out, err) = cgdash_with(&[e], &["set", &target, "cpu=20%"]);
    assert_eq!(code, 0, "set {target}: {out}{err}");
    let note = format!("{out}{err}");
    eprintln!("$ cgdash set {target} cpu=20%\n{note}");
    let q = quota_percent(layout, &path).expect("quota set");
    assert!((q - 20.0).abs() < 0.01, "kernel quota {q}");
    // Let a period or two pass, then measure.
    std::thread::sleep(Duration::from_millis(500));
    let after = measure(layout, &path, 4);
    eprintln!("{kind} {name}: {after:.1} % after set cpu=20%");
    assert!(after <= 20.0 * 1.25 + 1.0, "throttled to ~20 %: {after}");
    assert!(
        after >= 5.0,
        "still running (a loaded machine still gives a busy loop 5 % of 20): {after}"
    );

    // 3. The owner note: who owns it, the native command that makes it
    // stick, and that the engine's own view is now stale.
    let native = format!("{kind} update --cpus 0.2 {name}");
    assert!(note.contains(&native), "note names `{native}`:\n{note}");
    assert!(
        note.contains(&format!("`{kind} inspect` still shows the old limits")),
        "note on the stale view:\n{note}"
    );

    // 4. What the note says: the engine still reports the old limit.
    let nano: f64 = e
        .ok(&["inspect", "-f", "{{.HostConfig.NanoCpus}}", name])
        .parse()
        .expect("NanoCpus");
    assert!(
        (nano / 1e9 - old_cpus).abs() < 1e-6,
        "{kind} inspect still shows --cpus {old_cpus}: {nano}"
    );

    // 5. limits --as KIND: the current limits as the owner's command.
    let (code, out, err) = cgdash_with(&[e], &["limits", &target, "--as", kind]);
    assert_eq!(code, 0, "limits --as {kind}: {err}");
    eprintln!("$ cgdash limits {target} --as {kind}\n{out}");
    assert!(out.contains(&format!("{kind} update")), "{out}");
    assert!(out.contains("--cpus 0.2"), "{out}");
    assert!(out.contains(name), "{out}");
    assert!(
        out.contains("--memory 64m")
            || out.contains("--memory 67108864")
            || out.contains("--memory=64m"),
        "{out}"
    );
    // Pasted into the engine, it makes the kernel's value the engine's.
    let cmd: Vec<&str> = out
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{kind} update")))
        .expect("update line")
        .split_whitespace()
        .skip(1)
        .collect();
    e.ok(&cmd);
    if kind == "docker" {
        // (podman 4.3's inspect keeps showing the create-time value even
        // after its own `podman update`.)
        let nano: f64 = e
            .ok(&["inspect", "-f", "{{.HostConfig.NanoCpus}}", name])
            .parse()
            .expect("NanoCpus");
        assert!(
            (nano / 1e9 - 0.2).abs() < 1e-6,
            "after the printed update: {nano}"
        );
    }
    let q = quota_percent(layout, &path).expect("quota");
    assert!((q - 20.0).abs() < 0.01, "kernel quota still 20 %: {q}");
}

#[test]
fn engines_live_docker_by_name() {
    let Some(layout) = common::live("engines_live_docker_by_name") else {
        return;
    };
    let Some(d) = Dockerd::start("ld") else {
        return;
    };
    let image = import_image(&d, "cgdash-t/bb:1", &["sleep", "300"], &[]);
    check_engine(&layout, &d, "cgdash-t-web", &image, 0.5);
}

#[test]
fn engines_live_podman_by_name() {
    let Some(layout) = common::live("engines_live_podman_by_name") else {
        return;
    };
    let Some(p) = Podman::new("lp") else {
        return;
    };
    let image = import_image(&p, "localhost/cgdash-t/bb:1", &["sleep", "300"], &[]);
    check_engine(&layout, &p, "cgdash-t-api", &image, 0.3);
}

/// Both engines at once, each resolved from its own root: the same
/// container name in two engines is told apart by the kind; an unknown
/// name is bad input naming it.
#[test]
fn engines_live_kind_name_lookup() {
    let Some(_layout) = common::live("engines_live_kind_name_lookup") else {
        return;
    };
    let (Some(d), Some(p)) = (Dockerd::start("lk"), Podman::new("lk")) else {
        return;
    };
    let di = import_image(&d, "cgdash-t/bb:1", &["sleep", "300"], &[]);
    let pi = import_image(&p, "localhost/cgdash-t/bb:1", &["sleep", "300"], &[]);
    let did = d.ok(&[
        "run",
        "-d",
        "--name",
        "cgdash-t-same",
        "--cpus",
        "0.5",
        &di,
        "sleep",
        "240",
    ]);
    let mut args = vec!["run", "-d", "--name", "cgdash-t-same", "--cpus", "0.3"];
    args.extend(Podman::run_flags());
    args.extend([pi.as_str(), "sleep", "240"]);
    let pid = p.ok(&args);
    let both: [&dyn Engine; 2] = [&d, &p];
    // Wait until both are resolved.
    group_of(&both, &did);
    group_of(&both, &pid);

    let (code, out, _) = cgdash_with(
        &both,
        &["snapshot", "--json", "--group", "docker:cgdash-t-same"],
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let paths: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["path"].as_str())
        .collect();
    assert!(
        !paths.is_empty() && paths.iter().all(|p| p.contains(&did)),
        "{paths:?}"
    );

    let (code, _, err) = cgdash_with(&both, &["limits", "podman:cgdash-t-nope", "--as", "podman"]);
    assert_eq!(code, 2, "unknown name is bad input: {err}");
    assert!(err.contains("cgdash-t-nope"), "{err}");
}
