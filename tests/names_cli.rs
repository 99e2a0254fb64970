//! Issue 13 through the binary: group names from the fixture trees
//! (`snapshot --root` + the data-root flags), `KIND:NAME` arguments,
//! `limits --as`, and on the live host `set KIND:NAME` with its owner note.

mod common;
#[path = "names_fixtures/tree.rs"]
mod tree;

use std::process::Command;

use serde_json::Value;

/// The data-root flags pointing at tests/names_fixtures.
fn flags() -> Vec<String> {
    let f = tree::fixtures();
    let p = |s: &str| f.join(s).to_string_lossy().into_owned();
    vec![
        "--docker-root".into(),
        p("docker"),
        "--podman-root".into(),
        p("storage"),
        "--podman-runroot".into(),
        p("storage-run"),
        "--containerd-root".into(),
        p("containerd"),
        "--pod-log-root".into(),
        p("pods"),
    ]
}

fn run(args: &[&str], with_flags: bool) -> (i32, String, String) {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if with_flags {
        all.extend(flags());
    }
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    common::cgdash(&refs)
}

fn tree_dir() -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().expect("tempdir");
    tree::build(d.path());
    let s = d.path().to_string_lossy().into_owned();
    (d, s)
}

#[test]
fn snapshot_json_names_every_fixture_group() {
    let (_d, root) = tree_dir();
    let (code, out, err) = run(
        &["snapshot", "--json", "--root", &root, "--interval", "100ms"],
        true,
    );
    assert_eq!(code, 0, "{err}");
    let snap: Value = serde_json::from_str(&out).expect("json");
    let groups = snap["groups"].as_array().expect("groups");
    for (path, kind, name) in tree::groups() {
        let g = groups
            .iter()
            .find(|g| g["path"] == path.as_str())
            .unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(g["kind"].as_str(), kind, "{path}");
        assert_eq!(g["name"].as_str(), name, "{path}");
    }
    let web = groups
        .iter()
        .find(|g| g["path"] == format!("docker/{}", tree::DOCKER_CGROUPFS).as_str())
        .expect("docker web");
    assert_eq!(web["image"], "names-bb:1");
    assert_eq!(web["container_id"], "d412238661bb");
}

#[test]
fn without_the_flags_the_env_names_them_and_without_either_nothing() {
    let (_d, root) = tree_dir();
    let f = tree::fixtures();
    let out = Command::new(common::cgdash_bin())
        .args(["snapshot", "--json", "--root", &root, "--interval", "100ms"])
        .env("CGDASH_DOCKER_ROOT", f.join("docker"))
        .env("CGDASH_PODMAN_ROOT", f.join("nowhere"))
        .env("CGDASH_PODMAN_RUNROOT", f.join("nowhere"))
        .output()
        .expect("run");
    assert!(out.status.success());
    let snap: Value = serde_json::from_slice(&out.stdout).expect("json");
    let name_of = |p: String| {
        snap["groups"]
            .as_array()
            .and_then(|gs| gs.iter().find(|g| g["path"] == p.as_str()))
            .map(|g| g["name"].clone())
    };
    assert_eq!(
        name_of(format!("docker/{}", tree::DOCKER_CGROUPFS)),
        Some(Value::from("names-web"))
    );
    assert_eq!(
        name_of(format!("libpod_parent/libpod-{}", tree::PODMAN_VFS)),
        Some(Value::Null),
        "podman's store is elsewhere"
    );
}

#[test]
fn snapshot_table_has_a_name_column() {
    let (_d, root) = tree_dir();
    let (code, out, err) = run(&["snapshot", "--root", &root, "--interval", "100ms"], true);
    assert_eq!(code, 0, "{err}");
    let header = out.lines().find(|l| l.starts_with("PATH")).expect("header");
    assert!(header.contains("NAME"), "{header}");
    let row = out
        .lines()
        .find(|l| l.contains(&tree::PODMAN_VFS[20..]))
        .unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "podman:names-web", "{row}");
    assert_eq!(cells[3], "30%", "{row}");
    let bad = out
        .lines()
        .find(|l| l.contains(&tree::TRUNCATED[20..]))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        bad.contains("docker:bad0bad0e5f6"),
        "no name: the short id: {bad}"
    );
}

#[test]
fn snapshot_group_takes_kind_name() {
    let (_d, root) = tree_dir();
    let args = [
        "snapshot",
        "--json",
        "--root",
        &root,
        "--interval",
        "100ms",
        "--group",
    ];
    let mut a = args.to_vec();
    a.push("podman:api");
    let (code, out, err) = run(&a, true);
    assert_eq!(code, 0, "{err}");
    let snap: Value = serde_json::from_str(&out).expect("json");
    let paths: Vec<&str> = snap["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["path"].as_str())
        .collect();
    let top = format!("machine.slice/libpod-{}.scope", tree::PODMAN_VOLATILE);
    assert_eq!(paths, vec![top.clone(), format!("{top}/container")]);

    let mut a = args.to_vec();
    a.push("docker:nope");
    let (code, out, err) = run(&a, true);
    assert_eq!(code, 2, "unknown is bad input: {out}{err}");
    assert!(out.is_empty(), "{out}");
    for c in ["docker:names-web", "docker:api"] {
        assert!(err.contains(c), "{err}");
    }
    let mut a = args.to_vec();
    a.push("unit:nginx.service");
    let (code, _, err) = run(&a, true);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("names 2 groups"), "{err}");
    assert!(
        err.contains("lxc.payload.web1/system.slice/nginx.service"),
        "{err}"
    );
}

#[test]
fn limits_as_every_form() {
    let (_d, root) = tree_dir();
    let cases = [
        ("set", "cgdash set podman:names-web cpu=30% memory=64M"),
        ("docker", "docker update --cpus 0.3 --memory 64m names-web"),
        ("podman", "podman update --cpus 0.3 --memory 64m names-web"),
        (
            "systemctl",
            "systemctl set-property --runtime UNIT CPUQuota=30% MemoryMax=67108864",
        ),
        (
            "run",
            "cgdash run --name names-web --cpu 30% --memory 64M -- CMD",
        ),
    ];
    for (form, want) in cases {
        let (code, out, err) = run(
            &["limits", "podman:names-web", "--root", &root, "--as", form],
            true,
        );
        assert_eq!(code, 0, "{form}: {err}");
        assert_eq!(out.trim_end(), want, "{form}");
    }
    let (code, out, err) = run(
        &[
            "limits",
            "podman:names-web",
            "--root",
            &root,
            "--as",
            "cgset",
        ],
        true,
    );
    assert_eq!(code, 0, "{err}");
    let g = format!("libpod_parent/libpod-{}", tree::PODMAN_VFS);
    assert_eq!(
        out,
        format!("cgset -r 'cpu.max=30000 100000' {g}\ncgset -r memory.max=67108864 {g}\n")
    );
    let (code, out, _) = run(&["limits", "cgdash:demo", "--root", &root], true);
    assert_eq!(code, 0);
    assert!(out.contains("no limits"), "{out}");
    let (code, _, err) = run(&["limits", "podman:zzz", "--root", &root], true);
    assert_eq!(code, 2);
    assert!(err.contains("podman:names-web"), "{err}");
}

/// `set` on the live host: a `KIND:NAME` group, and the owner's note for a
/// group that looks systemd's (a test group named `*.service`).
#[test]
fn live_set_by_name_prints_the_owners_command() {
    let Some(layout) = common::live("live_set_by_name_prints_the_owners_command") else {
        return;
    };
    let unit = format!("names-{}.service", std::process::id());
    let g = common::TestGroup::new(&layout, &unit);
    let (code, out, err) = common::cgdash(&["set", &format!("unit:{unit}"), "cpu=50%", "pids=64"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&g.path), "{out}");
    assert!(
        err.contains(&format!(
            "systemctl set-property --runtime {unit} CPUQuota=50% TasksMax=64"
        )),
        "{err}"
    );
    let stats = layout.read_group(&g.path).expect("group");
    assert_eq!(stats.pids.max, Some(cgdash::cgroup::Limit::Value(64)));
    assert_eq!(stats.cpu.max.and_then(|m| m.percent()), Some(50.0));
    // The note goes with a write only: a refused one prints none.
    let (code, _, err) = common::cgdash(&["set", &format!("unit:{unit}"), "cpu=abc"]);
    assert_eq!(code, 2);
    assert!(!err.contains("systemctl"), "{err}");
    // And an unknown unit is exit 2, nothing written.
    let (code, _, err) = common::cgdash(&["set", "unit:no-such-unit-xyz.service", "cpu=10%"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing was written"), "{err}");
}

/// The dashboard's `--group` takes `KIND:NAME` too: one naming nothing is
/// bad input, refused before the dashboard needs a terminal.
#[test]
fn dashboard_group_unknown_is_exit_2_before_the_screen() {
    let (code, out, err) = common::cgdash(&["--group", "docker:no-such-container-xyz"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("no group is `docker:no-such-container-xyz`"),
        "{err}"
    );
    assert!(!err.contains("terminal"), "{err}");
}
