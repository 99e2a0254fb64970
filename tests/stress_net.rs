//! `cgdash stress serve` and `stress load` through the CLI, on the host's
//! loopback only (no root needed). Counts and bytes are deterministic (the
//! load's schedule fixes how many requests are due) and asserted exactly;
//! latencies only for their order and a lower bound (the CPU each request
//! burns), never an upper one: the machine is shared.

mod common;
mod launch_util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use launch_util::cgdash;

/// A `stress serve` of our own, killed (by its pid) on drop; it also has a
/// deadline of its own.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(common::cgdash_bin())
            .args([
                "stress",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--duration",
                "60s",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn stress serve");
        let mut line = String::new();
        let out = child.stdout.take().unwrap();
        BufReader::new(out).read_line(&mut line).unwrap();
        let addr = line
            .split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Serve { child, addr }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn load_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["stress", "load", "--json"];
    all.extend_from_slice(args);
    let out = cgdash(&all, Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

#[test]
fn load_reports_throughput_and_percentiles_of_serve() {
    let s = Serve::start(&["--work", "5ms", "--bytes", "20K"]);
    let r = load_json(&[
        "--target",
        &s.addr,
        "--rate",
        "50/s",
        "--connections",
        "3",
        "--duration",
        "2s",
    ]);
    assert_eq!(r["requests"], 100, "{r}");
    assert_eq!(r["ok"], 100, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["bytes"], 100 * 20 * 1024, "{r}");
    assert_eq!(r["latency_from"], "due");
    let l = &r["latency_ms"];
    let v = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k}: {r}"));
    // 5 ms of CPU per request: no answer comes sooner.
    assert!(v("p50") >= 5.0, "{r}");
    assert!(
        v("p50") <= v("p90") && v("p90") <= v("p99") && v("p99") <= v("max"),
        "{r}"
    );
    // Rates are the counts over the measured time (≥ the 2 s sent).
    let el = r["elapsed_s"].as_f64().unwrap();
    assert!(el >= 2.0, "{r}");
    assert!((r["requests_per_s"].as_f64().unwrap() - 100.0 / el).abs() < 1e-6);
    assert!((r["bytes_per_s"].as_f64().unwrap() - 2048000.0 / el).abs() < 1e-3);
}

#[test]
fn the_table_and_a_request_size_override() {
    let s = Serve::start(&["--work", "0"]);
    let out = cgdash(
        &[
            "stress",
            "load",
            "--target",
            &s.addr,
            "--rate",
            "20",
            "--duration",
            "1s",
            "--bytes",
            "1K",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("REQ/S") && out.stdout.contains("P99"),
        "{out:?}"
    );
    // The data row: 20 requests, 20 ok, 0 errors.
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(2)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..3], &["20", "20", "0"], "{out:?}");
    assert!(out.stdout.contains("20480 body bytes"), "{out:?}");
}

#[test]
fn bad_input_is_exit_2_and_names_the_flag() {
    for (args, word) in [
        (vec!["load", "--target", "localhost:80"], "--target"),
        (
            vec!["load", "--target", "127.0.0.1:9", "--rate", "0"],
            "--rate",
        ),
        (
            vec!["load", "--target", "127.0.0.1:9", "--connections", "0"],
            "--connections",
        ),
        (
            vec!["load", "--target", "127.0.0.1:9", "--bytes", "2G"],
            "--bytes",
        ),
        (vec!["serve", "--work", "fast"], "--work"),
        (vec!["serve", "--bytes", "lots"], "--bytes"),
        (vec!["serve", "--listen", "0.0.0.0"], "--listen"),
    ] {
        let mut all = vec!["stress"];
        all.extend(args.iter().copied());
        let out = cgdash(&all, Duration::from_secs(10));
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(word), "{args:?}: {out:?}");
    }
    // A port in use: refused by name, exit 2.
    let s = Serve::start(&[]);
    let out = cgdash(
        &["stress", "serve", "--listen", &s.addr],
        Duration::from_secs(10),
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("in use") && out.stderr.contains(&s.addr),
        "{out:?}"
    );
}

#[test]
fn serve_stops_after_its_duration() {
    let t = std::time::Instant::now();
    let out = cgdash(
        &[
            "stress",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "500ms",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(t.elapsed() >= Duration::from_millis(500));
    assert!(out.stdout.contains("done: 0 requests"), "{out:?}");
}
