//! Live, with real engines (issue 17): a busybox image imported offline into
//! a private podman and a private dockerd (tests/common/engines.rs), saved
//! by them — podman's docker-archive, oci-archive and oci-dir, a
//! multi-image archive, and `docker save` — and run by `cgdash run --image`:
//! the workload sees the image's tree, its Cmd and Env, and the limits.
//! Needs the engines, so it is in vm/run-tests.sh's default skip list.

mod common;
mod launch_util;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::engines::{self, Engine};
use launch_util::{run_cmd, unique, Cleanup, Out};

const SCRIPT: &str = "echo hi; env; echo LS $(ls /); \
    echo MEM=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)";

fn run_image(cache: &Path, image: &Path, extra: &[&str], name: &str) -> Out {
    let mut c = Command::new(common::cgdash_bin());
    c.args([
        "run",
        "--image",
        &image.to_string_lossy(),
        "--name",
        name,
        "--memory",
        "64M",
    ])
    .args(extra)
    .env("CGDASH_IMAGE_CACHE", cache);
    run_cmd(c, Duration::from_secs(120))
}

fn check(out: &Out, what: &str) {
    assert_eq!(out.code, 0, "{what}: {out:?}");
    let o = &out.stdout;
    assert!(
        o.lines().next() == Some("hi"),
        "{what}: Cmd did not run: {out:?}"
    );
    assert!(
        o.lines().any(|l| l == "FOO=bar"),
        "{what}: Env missing: {o}"
    );
    let ls = o.lines().find_map(|l| l.strip_prefix("LS ")).unwrap_or("");
    let mut ls: Vec<&str> = ls.split_whitespace().collect();
    ls.sort();
    assert_eq!(
        ls,
        ["bin", "dev", "etc", "proc", "sys", "tmp"],
        "{what}: {o}"
    );
    let mem = o.lines().find_map(|l| l.strip_prefix("MEM=")).unwrap_or("");
    assert_eq!(mem, (64u64 << 20).to_string(), "{what}: {o}");
}

fn runs_left(cache: &Path) -> usize {
    std::fs::read_dir(cache.join("runs"))
        .map(|r| r.count())
        .unwrap_or(0)
}

#[test]
fn podman_saved_archives_run() {
    let Some(layout) = common::live("podman_saved_archives_run") else {
        return;
    };
    let Some(p) = engines::Podman::new("imgp") else {
        return;
    };
    engines::import_image(&p, "cgimg", &["/bin/sh", "-c", SCRIPT], &["FOO=bar"]);
    engines::import_image(&p, "cgother", &["/bin/sh", "-c", "echo other"], &[]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let name = unique("img-podman");
    let _c = Cleanup::new(&layout, &name);
    for (format, file) in [
        ("docker-archive", "docker.tar"),
        ("oci-archive", "oci.tar"),
        ("oci-dir", "ocidir"),
    ] {
        let out = tmp.path().join(file);
        p.ok(&[
            "save",
            "--format",
            format,
            "-o",
            &out.to_string_lossy(),
            "cgimg",
        ]);
        let first = run_image(&cache, &out, &[], &name);
        check(&first, format);
        // The second run reuses the cache (meta.json untouched).
        let metas = |c: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(c)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("sha256-"))
                .map(|e| std::fs::read_to_string(e.path().join("meta.json")).unwrap())
                .collect();
            v.sort();
            v
        };
        let before = metas(&cache);
        check(&run_image(&cache, &out, &[], &name), format);
        assert_eq!(metas(&cache), before, "{format}: second run unpacked again");
        assert_eq!(runs_left(&cache), 0, "{format}: run directory left");
    }
    // Several images in one archive: --image-name picks.
    let multi = tmp.path().join("multi.tar");
    p.ok(&[
        "save",
        "-m",
        "-o",
        &multi.to_string_lossy(),
        "cgimg",
        "cgother",
    ]);
    let out = run_image(&cache, &multi, &[], &name);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--image-name"), "{out:?}");
    let out = run_image(&cache, &multi, &["--image-name", "cgother"], &name);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), "other");
    check(
        &run_image(
            &cache,
            &multi,
            &["--image-name", "localhost/cgimg:latest"],
            &name,
        ),
        "multi",
    );
}

#[test]
fn docker_saved_archive_runs() {
    let Some(layout) = common::live("docker_saved_archive_runs") else {
        return;
    };
    let Some(d) = engines::Dockerd::start("imgd") else {
        return;
    };
    engines::import_image(&d, "cgimg:latest", &["/bin/sh", "-c", SCRIPT], &["FOO=bar"]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let tar = tmp.path().join("app.tar");
    d.ok(&["save", "-o", &tar.to_string_lossy(), "cgimg:latest"]);
    let name = unique("img-docker");
    let _c = Cleanup::new(&layout, &name);
    check(
        &run_image(&cache, &tar, &["--cpu", "50%"], &name),
        "docker save",
    );
    assert_eq!(runs_left(&cache), 0);
}
