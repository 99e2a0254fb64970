//! `cgdash export --root DIR` on fixture trees: the exposition, golden (both
//! formats, v2 and v1), promtool-valid where promtool is installed, a
//! recreated group restarting its series, the filters, and the command
//! line's bad input. No root needed: runs everywhere.

mod export_util;

use std::path::Path;
use std::process::Command;

use export_util::{pin_times, request, v1_tree, v2_tree, value, Server};

/// Host-dependent values out: the machine labels and sizes, inodes.
fn scrub(expo: &str) -> String {
    expo.lines()
        .map(|l| {
            if l.starts_with("machine_") {
                let name = l.split('{').next().unwrap_or(l);
                format!("{name}{{HOST}} N")
            } else if l.starts_with("cgdash_group_inode{") {
                let (head, _) = l.rsplit_once(' ').unwrap_or((l, ""));
                format!("{head} INODE")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn root_arg(dir: &Path) -> &str {
    dir.to_str().expect("utf-8 path")
}

#[test]
fn v2_text_format_golden() {
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    pin_times(dir.path());
    let s = Server::start(&["--root", root_arg(dir.path())]);
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(r.header("content-length"), Some(&*r.body.len().to_string()));
    insta::assert_snapshot!("export_v2_text", scrub(&r.body));
}

#[test]
fn v2_openmetrics_golden() {
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    pin_times(dir.path());
    let s = Server::start(&["--root", root_arg(dir.path())]);
    let r = request(
        &s.addr,
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(r.body.ends_with("# EOF\n"), "{}", r.body);
    insta::assert_snapshot!("export_v2_openmetrics", scrub(&r.body));
}

#[test]
fn v1_text_format_golden() {
    let dir = tempfile::tempdir().unwrap();
    v1_tree(dir.path());
    pin_times(dir.path());
    let s = Server::start(&["--root", root_arg(dir.path())]);
    insta::assert_snapshot!("export_v1_text", scrub(&s.metrics()));
}

/// Prometheus's text-format linter (promtool) accepts the exposition; its
/// only complaint is cAdvisor's `container_memory_failcnt`, a counter
/// without `_total`, kept for the dashboards that use the name. (promtool
/// parses only the text format; OpenMetrics is checked by a real Prometheus
/// scraping it, `export_prom`.)
#[test]
fn promtool_accepts_both_formats() {
    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!("SKIP promtool_accepts_both_formats: promtool not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let s = Server::start(&["--root", root_arg(dir.path())]);
    {
        let body = s.metrics();
        let out = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(body.as_bytes())?;
                c.wait_with_output()
            })
            .expect("promtool");
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let problems: Vec<&str> = said
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| !l.starts_with("container_memory_failcnt counter metrics should have"))
            .collect();
        assert!(problems.is_empty(), "promtool: {said}\n{body}");
    }
}

/// A group removed and recreated under the same path: the same series,
/// restarting from the new group's counters (a reset `rate()` sees), with
/// a new `cgdash_group_inode`.
#[test]
fn recreated_group_restarts_its_series() {
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let s = Server::start(&["--root", root_arg(dir.path()), "--min-interval", "50ms"]);
    let sel = r#"id="/cgdash/demo""#;
    let first = s.metrics();
    let cpu0 = value(&first, "container_cpu_usage_seconds_total", sel).expect("cpu");
    let ino0 = value(&first, "cgdash_group_inode", sel).expect("inode");
    assert_eq!(cpu0, 2.0);
    // Make the new directory before removing the old: a new inode for sure.
    let g = dir.path().join("cgdash/demo");
    let old = dir.path().join("cgdash/demo.old");
    std::fs::rename(&g, &old).unwrap();
    export_util::write(&g, "cgroup.procs", "");
    export_util::write(&g, "cpu.stat", "usage_usec 250000\nnr_periods 1\n");
    std::fs::remove_dir_all(&old).unwrap();
    let ok = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let m = s.metrics();
        let ino = value(&m, "cgdash_group_inode", sel);
        if ino.is_some() && ino != Some(ino0) {
            assert_eq!(
                value(&m, "container_cpu_usage_seconds_total", sel),
                Some(0.25),
                "the new group's own counter, same labels:\n{m}"
            );
            // No quota any more: cAdvisor's CFS counters go with it.
            assert_eq!(value(&m, "container_cpu_cfs_periods_total", sel), None);
            true
        } else {
            false
        }
    });
    assert!(ok, "the recreated group never showed up");
}

#[test]
fn filters_group_kind_depth() {
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let root = root_arg(dir.path());
    let ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["--root", root];
        a.extend_from_slice(args);
        let m = Server::start(&a).metrics();
        m.lines()
            .filter(|l| l.starts_with("container_cpu_usage_seconds_total{"))
            .filter_map(|l| l.split("id=\"").nth(1)?.split("\",").next())
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        ids(&[]),
        [
            "/",
            "/cgdash",
            "/cgdash/demo",
            r#"/cgdash/we\"ird\\name"#,
            "/other"
        ]
    );
    assert_eq!(
        ids(&["--group", "cgdash"]),
        ["/cgdash", "/cgdash/demo", r#"/cgdash/we\"ird\\name"#]
    );
    assert_eq!(ids(&["--depth", "1"]), ["/", "/cgdash", "/other"]);
    assert_eq!(ids(&["--depth", "0"]), ["/"]);
    // No group has a known kind in a fixture tree (no engine metadata).
    assert!(ids(&["--kind", "docker,podman"]).is_empty());
}

#[test]
fn bad_input_exits_2_and_serves_nothing() {
    for (args, says) in [
        (vec!["export", "--listen", "0.0.0.0:0"], "--allow-remote"),
        (vec!["export", "--listen", "[::]:0"], "--allow-remote"),
        (vec!["export", "--listen", "nonsense"], "is not IP:PORT"),
        (vec!["export", "--kind", "Docker!"], "--kind"),
        (vec!["export", "--group", "../x"], "--group"),
        (vec!["export", "--min-interval", "0"], "greater than zero"),
    ] {
        // A deadline: if bad input were accepted, the exporter would serve
        // for ever.
        let mut child = Command::new(env!("CARGO_BIN_EXE_cgdash"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run");
        let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} served");
    }
}

/// `--allow-remote` is the explicit ask: then a non-loopback address binds.
#[test]
fn allow_remote_binds_the_unspecified_address() {
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_cgdash"))
        .args([
            "export",
            "--allow-remote",
            "--listen",
            "0.0.0.0:0",
            "--root",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.starts_with("cgdash export: serving http://0.0.0.0:"),
        "{line}"
    );
}

/// A limit changed between two scrapes 5 s or more apart shows at the next
/// one (not on the reader's every-fifth-read schedule for limits).
#[test]
fn a_changed_limit_shows_at_the_next_scrape_after_a_pause() {
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let s = Server::start(&["--root", root_arg(dir.path()), "--min-interval", "50ms"]);
    let sel = r#"id="/cgdash/demo""#;
    let quota = |m: &str| value(m, "container_spec_cpu_quota", sel);
    assert_eq!(quota(&s.metrics()), Some(20000.0));
    // A second read soon after: counters only (as in the dashboard).
    std::thread::sleep(std::time::Duration::from_millis(100));
    s.metrics();
    export_util::write(&dir.path().join("cgdash/demo"), "cpu.max", "50000 100000\n");
    std::thread::sleep(std::time::Duration::from_millis(5200));
    assert_eq!(quota(&s.metrics()), Some(50000.0));
}
