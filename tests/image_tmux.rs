//! Live, in tmux (run under `flock /tmp/cgdash-demo.lock`, like the other
//! tmux tests: the demo test uses the demo group): images from the
//! dashboard's launch form (`n`, its image field) and from `cgdash demo
//! --image`. The workload is the image's own command; quitting stops it and
//! leaves nothing (group, run directory, mounts).

mod common;
mod image_util;
mod launch_util;
mod tmux;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tmux::Tmux;

const SEC: Duration = Duration::from_secs(1);

/// An image whose Cmd sleeps (so there is something to see), in a temp dir
/// with its own cache.
fn fixture() -> Option<(tempfile::TempDir, String, PathBuf)> {
    let bb = image_util::busybox()?;
    let tmp = tempfile::tempdir().unwrap();
    let layer = image_util::busybox_layer(&bb);
    let img = tmp.path().join("img");
    image_util::oci_dir(
        &img,
        "localhost/sleeper:latest",
        std::slice::from_ref(&layer),
        std::slice::from_ref(&layer),
        serde_json::json!({"config": {"Cmd": ["/bin/sh", "-c", "exec sleep 300"]}}),
    );
    let cache = tmp.path().join("cache");
    Some((tmp, img.to_string_lossy().into_owned(), cache))
}

fn cmdlines(layout: &cgdash::cgroup::Layout, group: &str) -> Vec<String> {
    layout
        .procs(group)
        .iter()
        .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
        .map(|c| {
            String::from_utf8_lossy(&c)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .collect()
}

fn runs(cache: &Path) -> usize {
    std::fs::read_dir(cache.join("runs"))
        .map(|r| r.count())
        .unwrap_or(0)
}

fn no_mounts(cache: &Path) {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(&*cache.to_string_lossy()), "{mi}");
}

#[test]
fn launch_form_runs_an_image() {
    let Some(layout) = common::live("launch_form_runs_an_image") else {
        return;
    };
    let Some((_tmp, img, cache)) = fixture() else {
        panic!("busybox-static is needed");
    };
    let name = launch_util::unique("imgform");
    let _c = launch_util::Cleanup::new(&layout, &name);
    let cache_s = cache.to_string_lossy().into_owned();
    let Some(t) = Tmux::start(
        "img-form",
        120,
        40,
        &[("TERM", "xterm-256color"), ("CGDASH_IMAGE_CACHE", &cache_s)],
        &[common::cgdash_bin()],
    ) else {
        return;
    };
    t.wait_for(20 * SEC, |s| s.contains("cgdash"))
        .unwrap_or_else(|s| panic!("no dashboard:\n{s}"));
    t.key("n");
    t.wait_for(10 * SEC, |s| s.contains("image") && s.contains("command"))
        .unwrap_or_else(|s| panic!("no launch form with an image field:\n{s}"));
    // command stays empty (the image's Cmd), name, then down to image.
    t.key("Down");
    t.text(&name);
    for _ in 0..7 {
        t.key("Down");
    }
    t.text(&img);
    t.key("Enter");
    let group = format!("cgdash/{name}");
    let started = launch_util::wait_for(30 * SEC, || {
        cmdlines(&layout, &group).iter().any(|c| c == "sleep 300")
    });
    assert!(
        started,
        "the image's Cmd is not running in {group}:\n{}",
        t.screen()
    );
    assert_eq!(runs(&cache), 1, "one run directory while it runs");
    t.wait_for(10 * SEC, |s| s.contains(&name))
        .unwrap_or_else(|s| panic!("the dashboard does not show {name}:\n{s}"));
    // Quit (confirming: a launched workload runs): stopped, all removed.
    t.key("q");
    t.wait_for(10 * SEC, |s| s.contains("Quit?"))
        .unwrap_or_else(|s| panic!("no quit confirmation:\n{s}"));
    t.key("y");
    assert!(
        launch_util::wait_for(30 * SEC, || !layout.group_exists(&group)),
        "{group} left after quitting"
    );
    assert!(
        launch_util::wait_for(10 * SEC, || runs(&cache) == 0),
        "the run directory was left after quitting"
    );
    no_mounts(&cache);
}

#[test]
fn demo_accepts_an_image() {
    let Some(layout) = common::live("demo_accepts_an_image") else {
        return;
    };
    let Some((_tmp, img, cache)) = fixture() else {
        panic!("busybox-static is needed");
    };
    let cache_s = cache.to_string_lossy().into_owned();
    let Some(t) = Tmux::start(
        "img-demo",
        120,
        40,
        &[("TERM", "xterm-256color"), ("CGDASH_IMAGE_CACHE", &cache_s)],
        &[common::cgdash_bin(), "demo", "cpu", "--image", &img],
    ) else {
        return;
    };
    let s = t
        .wait_for(30 * SEC, |s| s.contains("demo: image"))
        .unwrap_or_else(|s| panic!("the image demo did not start:\n{s}"));
    let i = s.find(" in cgdash/demo").expect("group in the title") + 4;
    let group = s[i..].split([' ', ',']).next().unwrap().to_string();
    assert!(group.starts_with("cgdash/demo"), "{group}");
    assert!(
        launch_util::wait_for(10 * SEC, || {
            cmdlines(&layout, &group).iter().any(|c| c == "sleep 300")
        }),
        "the image's Cmd does not run in {group}"
    );
    // The demo's limit (cpu 20%) applies to the image's workload.
    t.wait_for(20 * SEC, |s| {
        tmux::cpu_and_quota(s).is_some_and(|(_, q)| q == Some(20.0))
    })
    .unwrap_or_else(|s| panic!("the demo's 20% quota is not shown:\n{s}"));
    t.key("q");
    assert!(
        launch_util::wait_for(30 * SEC, || !layout.group_exists(&group)),
        "{group} left after quitting"
    );
    assert!(launch_util::wait_for(10 * SEC, || runs(&cache) == 0));
    no_mounts(&cache);
}
