//! A root workload must not lift its own limits (issue 11 item 2). Inside
//! `cgdash run --cpu 20% --memory 64M --pids 50` a script tries every road
//! into cgroupfs — a fresh mount of each hierarchy, a remount read-write of
//! the read-only one cgdash mounted, an unmount, and plain writes of the
//! quota / memory / pids files — then the host reads the group's files and
//! finds the limits intact. The same script under `--privileged` shows that
//! the capabilities are what protects: the fresh mount works (on v1 the
//! quota is then really lifted; on v2 a cgroup namespace root's own files
//! are refused to its members by `nsdelegate` when the host mounted with it).
mod common;
mod launch_util;

use std::path::Path;
use std::time::Duration;

use cgdash::cgroup::{Layout, Version};
use launch_util::{cgdash, unique, Cleanup, Out};

/// What each controller's escape writes, and what the host must still read.
struct Knob {
    controller: &'static str,
    file: &'static str,
    lift: &'static str,
    /// The file's content under `--cpu 20% --memory 64M --pids 50`.
    expect: &'static str,
}

fn knobs(v2: bool) -> [Knob; 3] {
    if v2 {
        [
            Knob {
                controller: "cpu",
                file: "cpu.max",
                lift: "max",
                expect: "20000 100000",
            },
            Knob {
                controller: "memory",
                file: "memory.max",
                lift: "max",
                expect: "67108864",
            },
            Knob {
                controller: "pids",
                file: "pids.max",
                lift: "max",
                expect: "50",
            },
        ]
    } else {
        [
            Knob {
                controller: "cpu",
                file: "cpu.cfs_quota_us",
                lift: "-1",
                expect: "20000",
            },
            Knob {
                controller: "memory",
                file: "memory.limit_in_bytes",
                lift: "-1",
                expect: "67108864",
            },
            Knob {
                controller: "pids",
                file: "pids.max",
                lift: "max",
                expect: "50",
            },
        ]
    }
}

/// The escape script for one controller: `fresh` is a directory of the
/// host's (the workload shares the host's files: no --rootfs) to mount on.
fn script(layout: &Layout, k: &Knob, fresh: &Path) -> String {
    let h = layout.hierarchy(k.controller).expect("controller mounted");
    let rel = h
        .mount
        .strip_prefix("/sys/fs/cgroup")
        .expect("hierarchy under /sys/fs/cgroup");
    let inside = Path::new("/sys/fs/cgroup").join(rel);
    let (fstype, opts) = match h.version {
        Version::V1 => ("cgroup", format!("-o {}", h.controllers.join(","))),
        Version::V2 => ("cgroup2", String::new()),
    };
    let (inside, fresh, file, lift) = (inside.display(), fresh.display(), k.file, k.lift);
    // Every attempt says `NAME: ok` or `NAME: refused`; stderr is kept
    // for the failure message.
    format!(
        r#"
try() {{ n=$1; shift; if "$@"; then echo "$n: ok"; else echo "$n: refused"; fi; }}
grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status
try write-ro sh -c 'echo {lift} > {inside}/{file}'
try fresh-mount mount -t {fstype} {opts} none {fresh}
try write-fresh sh -c '[ -e {fresh}/cgroup.procs ] && echo {lift} > {fresh}/{file}'
try remount-rw mount -o remount,rw {inside}
try write-remounted sh -c 'echo {lift} > {inside}/{file}'
try umount umount -l {inside}
echo done
"#
    )
}

fn escape_run(layout: &Layout, k: &Knob, privileged: bool) -> (Out, String) {
    let name = unique(&format!(
        "he-esc-{}{}",
        k.controller,
        if privileged { "-priv" } else { "" }
    ));
    let cleanup = Cleanup::new(layout, &name);
    let fresh = tempfile::tempdir().expect("tempdir");
    let s = script(layout, k, fresh.path());
    let mut args = vec![
        "run", "--name", &name, "--keep", "--cpu", "20%", "--memory", "64M", "--pids", "50",
    ];
    if privileged {
        args.push("--privileged");
    }
    args.extend(["--", "sh", "-c", &s]);
    let out = cgdash(&args, Duration::from_secs(60));
    // The workload has ended, the group is kept: read what the host sees.
    let h = layout.hierarchy(k.controller).expect("controller");
    let file = h.dir(&cleanup.group()).join(k.file);
    let seen = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}\n{out:?}", file.display()))
        .trim()
        .to_string();
    drop(cleanup);
    (out, seen)
}

#[test]
fn a_root_workload_cannot_lift_its_limits() {
    let Some(layout) = common::live("a_root_workload_cannot_lift_its_limits") else {
        return;
    };
    let v2 = common::is_v2(&layout, "memory");
    for k in knobs(v2) {
        let (out, seen) = escape_run(&layout, &k, false);
        eprintln!("{} (default):\n{out:?}host reads {seen}", k.controller);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("done"), "{out:?}");
        assert_eq!(seen, k.expect, "{}: limit lifted\n{out:?}", k.controller);
        for step in [
            "write-ro",
            "fresh-mount",
            "write-fresh",
            "remount-rw",
            "write-remounted",
            "umount",
        ] {
            assert!(
                out.stdout.contains(&format!("{step}: refused")),
                "{}: {step} was not refused\n{out:?}",
                k.controller
            );
        }
        // Nothing left to regain: no CAP_SYS_ADMIN (bit 21) in the bounding
        // set, and no_new_privs.
        let bnd = field(&out.stdout, "CapBnd:");
        let bnd = u64::from_str_radix(&bnd, 16).expect("CapBnd hex");
        assert_eq!(bnd & (1 << 21), 0, "CAP_SYS_ADMIN kept: {out:?}");
        assert_eq!(field(&out.stdout, "NoNewPrivs:"), "1", "{out:?}");
    }
}

#[test]
fn privileged_workloads_keep_the_capabilities_that_escape() {
    let Some(layout) = common::live("privileged_workloads_keep_the_capabilities_that_escape")
    else {
        return;
    };
    let v2 = common::is_v2(&layout, "memory");
    for k in knobs(v2) {
        let (out, seen) = escape_run(&layout, &k, true);
        eprintln!("{} (--privileged):\n{out:?}host reads {seen}", k.controller);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("fresh-mount: ok"), "{out:?}");
        assert_eq!(field(&out.stdout, "NoNewPrivs:"), "0", "{out:?}");
        if !v2 {
            // v1 has no nsdelegate: the fresh mount's root is the group.
            assert!(out.stdout.contains("write-fresh: ok"), "{out:?}");
            assert_ne!(
                seen, k.expect,
                "{}: expected the escape to work",
                k.controller
            );
        }
    }
}

fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// With the host's network (`--share net`) the workload keeps the host's
/// /sys, cgroupfs included: those mounts must be read-only inside too, or a
/// root workload writes its limits away without any capability.
#[test]
fn a_shared_network_still_leaves_cgroupfs_read_only() {
    let Some(layout) = common::live("a_shared_network_still_leaves_cgroupfs_read_only") else {
        return;
    };
    let k = &knobs(common::is_v2(&layout, "memory"))[0];
    let h = layout.hierarchy(k.controller).expect("cpu controller");
    let rel = h
        .mount
        .strip_prefix("/sys/fs/cgroup")
        .expect("under /sys/fs/cgroup");
    let inside = Path::new("/sys/fs/cgroup").join(rel);
    for share in ["net", "net,cgroup"] {
        let name = unique("he-esc-sharenet");
        let cleanup = Cleanup::new(&layout, &name);
        // The group's file by its host path, and the namespace root's.
        let host_path = inside.join("cgdash").join(&name).join(k.file);
        let ns_root = inside.join(k.file);
        let s = format!(
            "for f in {} {}; do if echo {} > $f; then echo \"write $f: ok\"; else echo \"write $f: refused\"; fi; done; echo done",
            host_path.display(),
            ns_root.display(),
            k.lift
        );
        let out = cgdash(
            &[
                "run", "--name", &name, "--keep", "--share", share, "--cpu", "20%", "--", "sh",
                "-c", &s,
            ],
            Duration::from_secs(60),
        );
        let file = h.dir(&cleanup.group()).join(k.file);
        let seen = std::fs::read_to_string(&file).unwrap_or_default();
        eprintln!("--share {share}:\n{out:?}host reads {seen}");
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("done"), "{out:?}");
        assert!(
            !out.stdout.contains(": ok"),
            "--share {share}: a write went through\n{out:?}"
        );
        assert_eq!(
            seen.trim(),
            k.expect,
            "--share {share}: limit lifted\n{out:?}"
        );
    }
}
