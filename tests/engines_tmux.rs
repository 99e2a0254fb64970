//! The dashboard on real containers (issue 13), in tmux: a private dockerd
//! with two named containers and a private podman with one, all with
//! limits; `cgdash` pointed at their roots shows them by name with the kind
//! badge and their limits at 200×50 (NAME column with the image) and at
//! 80×24 (badge and name in the tree), and the `/` filter finds them by
//! name (their paths hold only ids).
//!
//! Run under `flock /tmp/cgdash-demo.lock` like the other tmux tests
//! (`flock /tmp/cgdash-demo.lock cargo test --test engines_tmux`): their
//! dashboards must not run beside each other. Host only (no engines in the
//! VM).
//!
//! `CGDASH_CONTAINERS_SHOT=assets/containers.png` also writes the README's
//! screenshot from the 120×32 screen (assets/ansi2png.py, needs Pillow).

mod common;
mod tmux;

use std::time::Duration;

use common::engines::{cgdash_with, import_image, Dockerd, Engine, Podman};
use tmux::Tmux;

/// The kernel's CPU quota of a container, in CPUs, from its group (found
/// by id in `snapshot --json`: either cgroup driver's path).
fn kernel_cpus(d: &Dockerd, id: &str) -> f64 {
    let (code, out, err) = cgdash_with(&[d], &["snapshot", "--json", "--interval", "100ms"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let path = v["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter(|g| g["kind"].as_str() == Some("docker"))
        .filter_map(|g| g["path"].as_str())
        .find(|p| p.contains(id))
        .expect("the container's group")
        .to_string();
    let layout = cgdash::cgroup::Layout::detect().expect("layout");
    let dir = layout.hierarchy("cpu").expect("cpu").dir(&path);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    let (q, p) = match read("cpu.max") {
        Some(max) => {
            let mut it = max.split_whitespace();
            (
                it.next().and_then(|q| q.parse::<f64>().ok()),
                it.next().and_then(|p| p.parse::<f64>().ok()),
            )
        }
        None => (
            read("cpu.cfs_quota_us").and_then(|q| q.trim().parse().ok()),
            read("cpu.cfs_period_us").and_then(|p| p.trim().parse().ok()),
        ),
    };
    q.zip(p).map(|(q, p)| q / p).expect("a quota")
}

fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

#[test]
fn engines_tmux_containers_by_name() {
    let Some(_layout) = common::live("engines_tmux_containers_by_name") else {
        return;
    };
    let (Some(d), Some(p)) = (Dockerd::start("tm"), Podman::new("tm")) else {
        return;
    };
    let di = import_image(&d, "cgdash-t/web:1", &["sleep", "300"], &[]);
    let dbi = import_image(&d, "cgdash-t/db:1", &["sleep", "300"], &[]);
    let pi = import_image(&p, "localhost/cgdash-t/api:1", &["sleep", "300"], &[]);
    // A busy web at half a CPU, an idle db, a podman api at 30 %.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cgdash-t-web",
        "--cpus",
        "0.5",
        "--memory",
        "64m",
        &di,
        "sh",
        "-c",
        "timeout -s KILL 200 yes > /dev/null",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cgdash-t-db",
        "--cpus",
        "0.25",
        "--memory",
        "128m",
        &dbi,
        "sleep",
        "200",
    ]);
    let mut args = vec![
        "run",
        "-d",
        "--name",
        "cgdash-t-api",
        "--cpus",
        "0.3",
        "--memory",
        "96m",
    ];
    args.extend(Podman::run_flags());
    args.extend([
        pi.as_str(),
        "sh",
        "-c",
        "timeout -s KILL 200 yes > /dev/null",
    ]);
    p.ok(&args);

    let mut env: Vec<(&str, String)> = d.cgdash_env();
    env.extend(p.cgdash_env());
    env.push(("TERM", "xterm-256color".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Some(t) = Tmux::start("eng", 200, 50, &env, &[common::cgdash_bin()]) else {
        return;
    };
    // Only the test's containers (the host has other groups): the filter
    // matches names, which the paths (`docker/<id>`) do not hold.
    t.key("/");
    t.text("cgdash-t-");
    t.key("Enter");
    let wide = t
        .wait_for(Duration::from_secs(30), |s| {
            s.contains("dkr cgdash-t-web")
                && s.contains("dkr cgdash-t-db")
                && s.contains("pdm cgdash-t-api")
        })
        .unwrap_or_else(|s| panic!("containers by name at 200x50:\n{s}"));
    assert!(wide.contains("NAME"), "{wide}");
    let web = line_with(&wide, "dkr cgdash-t-web").unwrap();
    // The image (cut to the column beside the charts; whole in the JSON).
    assert!(web.contains("dkr cgdash-t-web cgdash-t/"), "image: {web}");
    assert!(web.contains("50%") && web.contains("64M"), "limits: {web}");
    let db = line_with(&wide, "dkr cgdash-t-db").unwrap();
    assert!(db.contains("dkr cgdash-t-db cgdash-t/d"), "image: {db}");
    assert!(db.contains("25%") && db.contains("128M"), "limits: {db}");
    let api = line_with(&wide, "pdm cgdash-t-api").unwrap();
    assert!(api.contains("30%") && api.contains("96M"), "limits: {api}");
    // Ids in the tree are docker's 12 characters.
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "cgdash-t-web"]);
    assert!(web.contains(&id[..12]) && !web.contains(&id[..13]), "{web}");

    if let Ok(out) = std::env::var("CGDASH_CONTAINERS_SHOT") {
        shot(&t, &out);
    }

    t.resize(80, 24);
    let narrow = t
        .wait_for(Duration::from_secs(15), |s| {
            s.lines().count() <= 24 && s.contains("dkr cgdash-t-web") && !s.contains("NAME ")
        })
        .unwrap_or_else(|s| panic!("names in the tree at 80x24:\n{s}"));
    let web = line_with(&narrow, "dkr cgdash-t-web").unwrap();
    assert!(web.contains("50%"), "{web}");
    // (Few rows at 24 lines: the podman one by its name.)
    t.key("/");
    t.key("C-u");
    t.text("cgdash-t-api");
    t.key("Enter");
    let api = t
        .wait_for(Duration::from_secs(10), |s| s.contains("pdm cgdash-t-api"))
        .unwrap_or_else(|s| panic!("podman container by name at 80x24:\n{s}"));
    assert!(
        line_with(&api, "pdm cgdash-t-api").unwrap().contains("30%"),
        "{api}"
    );

    // Narrowing the filter to one name leaves that container.
    t.key("/");
    t.key("C-u");
    t.text("t-web");
    t.key("Enter");
    let one = t
        .wait_for(Duration::from_secs(10), |s| {
            s.contains("dkr cgdash-t-web") && !s.contains("cgdash-t-db")
        })
        .unwrap_or_else(|s| panic!("filter by name:\n{s}"));
    assert!(!one.contains("cgdash-t-api"), "{one}");

    // The dashboard's own write to docker's container: the confirmation
    // and the status line name the owner's command; the kernel has it.
    t.key("G"); // the last row: web
    t.key("+");
    let ask = t
        .wait_for(Duration::from_secs(10), |s| {
            s.contains("docker update --cpus")
        })
        .unwrap_or_else(|s| panic!("owner note in the confirmation:\n{s}"));
    assert!(ask.contains("cgdash-t-web"), "{ask}");
    t.key("y");
    let done = t
        .wait_for(Duration::from_secs(10), |s| {
            s.contains("written") && s.contains("docker update --cpus")
        })
        .unwrap_or_else(|s| panic!("owner note after the write:\n{s}"));
    let want = done
        .split("docker update --cpus ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|c| c.parse::<f64>().ok())
        .expect("--cpus value");
    assert!(want > 0.5, "+ raises the quota: {want}");
    let quota = kernel_cpus(&d, &id);
    assert!(
        (quota - want).abs() < 1e-6,
        "the kernel has --cpus {want}: {quota}"
    );
    t.key("q");
}

/// The README's picture: the same containers at 120×32, web's row selected.
fn shot(t: &Tmux, out: &str) {
    t.resize(120, 32);
    // web selected (rows: /, docker, db, web, libpod_parent, api): its
    // charts show the busy loop at its half-CPU quota. Back to the first
    // row afterwards, as the rest of the test expects.
    t.key("G");
    t.key("Up");
    t.key("Up");
    // Let the charts fill.
    std::thread::sleep(Duration::from_secs(20));
    t.wait_for(Duration::from_secs(10), |s| s.contains("dkr cgdash-t-web"))
        .expect("web on screen");
    let ansi = format!("{out}.ansi");
    std::fs::write(&ansi, t.screen_ansi()).expect("write ansi");
    let st = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/ansi2png.py"))
        .args([&ansi, out, "120", "32"])
        .status()
        .expect("python3");
    assert!(st.success(), "ansi2png");
    let _ = std::fs::remove_file(&ansi);
    t.key("g");
}
