//! deploy/: the alerting rules pass `promtool test rules` (their unit tests
//! in deploy/alerts.test.yml), the rules and the Grafana dashboard use only
//! metrics `cgdash export` serves, the DaemonSet mounts everything
//! read-only, the systemd unit runs the exporter read-only.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use cgdash::export::metrics::all_families;

fn deploy(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Metric names (not label values, not strings) a PromQL text refers to.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["container_", "machine_", "cgdash_"]
            .iter()
            .any(|p| text[i..].starts_with(p));
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts && boundary {
            let end = text[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(text.len(), |n| i + n);
            out.insert(text[i..end].to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn exported() -> BTreeSet<String> {
    all_families().iter().map(|f| f.name.to_string()).collect()
}

#[test]
fn alert_rules_pass_promtool_unit_tests() {
    if Command::new("promtool").arg("--version").output().is_err() {
        if std::env::var("CGDASH_LIVE_TESTS").is_ok_and(|v| v == "required") {
            panic!("promtool is not installed (apt-get install prometheus; .ci/run does)");
        }
        eprintln!("SKIP alert_rules_pass_promtool_unit_tests: promtool not installed");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for args in [
        &["check", "rules", "alerts.yml"][..],
        &["test", "rules", "alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn rules_and_dashboard_use_only_exported_metrics() {
    let have = exported();
    // Comments out: they mention names in prose (`cgdash_*`).
    let rules_text: String = deploy("alerts.yml")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let rules = metric_names(&rules_text);
    let dash: serde_json::Value =
        serde_json::from_str(&deploy("grafana-dashboard.json")).expect("dashboard is JSON");
    let mut exprs = String::new();
    for p in dash["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            exprs.push_str(t["expr"].as_str().expect("expr"));
            exprs.push('\n');
        }
    }
    for v in dash["templating"]["list"].as_array().expect("variables") {
        if let Some(d) = v["definition"].as_str() {
            exprs.push_str(d);
        }
    }
    let used = metric_names(&exprs);
    assert!(used.len() >= 10, "{used:?}");
    assert!(rules.len() >= 8, "{rules:?}");
    for m in rules.iter().chain(&used) {
        assert!(have.contains(m), "{m} is used but not exported");
    }
}

#[test]
fn daemonset_mounts_read_only_and_asks_for_remote_explicitly() {
    let y = deploy("daemonset.yaml");
    let mounts = y.matches("mountPath:").count();
    assert!(mounts >= 2, "cgroup tree and engine metadata");
    // Each mountPath is followed by readOnly: true.
    for chunk in y.split("- name: ").filter(|c| c.contains("mountPath:")) {
        assert!(chunk.contains("readOnly: true"), "writable mount:\n{chunk}");
    }
    assert!(y.contains("mountPath: /host/sys/fs/cgroup"));
    assert!(y.contains("--root=/host/sys/fs/cgroup"));
    assert!(y.contains("readOnlyRootFilesystem: true"));
    assert!(y.contains("allowPrivilegeEscalation: false"));
    assert!(!y.contains("privileged: true"));
    assert!(y.contains("--listen=0.0.0.0:9789") && y.contains("--allow-remote"));
}

#[test]
fn systemd_unit_runs_the_exporter_read_only() {
    let u = deploy("cgdash-export.service");
    let exec = u
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart");
    assert!(exec.contains(" export --listen 127.0.0.1:9789"), "{exec}");
    for line in [
        "ReadOnlyPaths=/sys/fs/cgroup",
        "ProtectControlGroups=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(u.lines().any(|l| l == line), "missing {line}");
    }
}
