//! Live, with a real Prometheus (Debian's 2.42): it scrapes `cgdash export`
//! every second while a `cgdash run --cpu 20%` burner runs; through its HTTP
//! API, cAdvisor's queries give the right answers and the target is up with
//! no scrape errors. Also: under strace, the exporter opens no per-process
//! file and nothing under /sys/fs/cgroup for writing.
//!
//! Host only: the test VM has neither prometheus nor strace (vm/run-tests.sh
//! leaves this binary out). `.ci/run` installs both.
//! Run: `cargo test --test export_prom` (root).

mod common;
mod export_util;
mod launch_util;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use export_util::{request, try_request, Server};
use launch_util::{said, spawn_cgdash, unique, wait_for, Cleanup};
use serde_json::Value;

/// Whether `tool` runs; without it a required live run fails, others skip.
fn have(tool: &str, test: &str) -> bool {
    if Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
    {
        return true;
    }
    if std::env::var("CGDASH_LIVE_TESTS").is_ok_and(|v| v == "required") {
        panic!("{test}: `{tool}` is not installed but CGDASH_LIVE_TESTS=required (.ci/run installs it)");
    }
    eprintln!("SKIP {test}: `{tool}` not installed");
    false
}

/// A Prometheus on a free loopback port, data in a temp dir; killed on drop.
struct Prometheus {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: cgdash\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        // A free port, then Prometheus binds it (it doesn't report a port-0
        // choice); another process taking it between is retried.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let addr = format!("127.0.0.1:{port}");
            let log = std::fs::File::create(dir.path().join("log")).unwrap();
            let mut child = Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--storage.tsdb.retention.time=1h")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn prometheus");
            let mut ended = false;
            let ready = wait_for(Duration::from_secs(60), || {
                ended = child.try_wait().ok().flatten().is_some();
                ended || try_request(&addr, "GET", "/-/ready", &[]).is_ok_and(|r| r.status == 200)
            });
            if ready && !ended {
                return Prometheus {
                    child,
                    addr,
                    _dir: dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        panic!("prometheus did not start:\n{log}");
    }

    fn api(&self, path: &str) -> Value {
        let r = request(&self.addr, "GET", path, &[]);
        assert_eq!(r.status, 200, "{path}: {}\n{}", r.head, r.body);
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.body))
    }

    /// The value of an instant query with one result, if it has one.
    fn query(&self, q: &str) -> Option<f64> {
        let v = self.api(&format!("/api/v1/query?query={}", urlencode(q)));
        let result = v["data"]["result"].as_array()?;
        if result.len() != 1 {
            return None;
        }
        result[0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn export_prom_real_prometheus_scrapes_a_throttled_run() {
    let test = "export_prom_real_prometheus_scrapes_a_throttled_run";
    let Some(layout) = common::live(test) else {
        return;
    };
    if !have("prometheus", test) {
        return;
    }
    let name = unique("prom");
    let mut cleanup = Cleanup::new(&layout, &name);
    let group = cleanup.group();
    let bin = common::cgdash_bin();
    let child = spawn_cgdash(&[
        "run",
        "--name",
        &name,
        "--cpu",
        "20%",
        "--memory",
        "64M",
        "--",
        bin,
        "stress",
        "cpu",
        "--workers",
        "2",
        "--duration",
        "120s",
    ]);
    cleanup.children.push(child);
    assert!(
        wait_for(Duration::from_secs(20), || !layout.procs(&group).is_empty()),
        "workload did not appear in {group}; {}",
        said(&mut cleanup.children[0])
    );
    // Under the scrape interval, so each 1 s scrape reads afresh.
    let exporter = Server::start(&["--group", &group, "--min-interval", "500ms"]);
    let prom = Prometheus::start(&exporter.addr);
    let id = format!("id=\"/{group}\"");

    // Enough samples for a 20 s rate: poll, don't guess.
    let rate_q = format!("rate(container_cpu_usage_seconds_total{{{id}}}[20s])");
    let t = Instant::now();
    let mut rate = None;
    while t.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_secs(1));
        if prom
            .query(&format!(
                "count_over_time(container_cpu_usage_seconds_total{{{id}}}[20s])"
            ))
            .is_some_and(|n| n >= 20.0)
        {
            rate = prom.query(&rate_q);
            break;
        }
    }
    let rate = rate.unwrap_or_else(|| panic!("no rate after {:?}", t.elapsed()));
    eprintln!(
        "prometheus: {rate_q} = {rate:.3} after {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let raw = prom.api(&format!(
        "/api/v1/query?query={}",
        urlencode(&format!("container_cpu_usage_seconds_total{{{id}}}[20s]"))
    ));
    // The quota caps it at 0.20; a machine loaded by other work can give
    // the burner a little less than its quota.
    assert!(
        (0.14..=0.24).contains(&rate),
        "rate {rate}, want ≈ 0.20; samples: {raw}"
    );
    let throttled = prom
        .query(&format!(
            "increase(container_cpu_cfs_throttled_periods_total{{{id}}}[10s])"
        ))
        .expect("throttled periods");
    eprintln!("prometheus: throttled periods in 10 s: {throttled}");
    assert!(throttled > 0.0);
    assert_eq!(
        prom.query(&format!("container_spec_cpu_quota{{{id}}}")),
        Some(20000.0)
    );
    assert_eq!(
        prom.query(&format!("container_spec_cpu_period{{{id}}}")),
        Some(100000.0)
    );
    assert_eq!(
        prom.query(&format!("container_spec_memory_limit_bytes{{{id}}}")),
        Some(67108864.0)
    );
    // Every kubelet label is there, empty (dashboards select on them);
    // `name` is the run's name (issue 13: cgdash's own groups are named).
    assert_eq!(
        prom.query(&format!(
            "container_spec_cpu_quota{{{id},container=\"\",pod=\"\",namespace=\"\",name=\"{name}\",image=\"\"}}"
        )),
        Some(20000.0)
    );
    assert!(prom.query("machine_cpu_cores").is_some_and(|n| n >= 1.0));
    assert!(prom.query("machine_memory_bytes").is_some_and(|n| n > 0.0));
    assert_eq!(prom.query("up{job=\"cgdash\"}"), Some(1.0));

    let targets = prom.api("/api/v1/targets");
    let active = targets["data"]["activeTargets"]
        .as_array()
        .expect("targets");
    assert_eq!(active.len(), 1, "{targets}");
    assert_eq!(active[0]["health"], "up", "{targets}");
    assert_eq!(active[0]["lastError"], "", "{targets}");
    // Samples Prometheus dropped would be counted in its own metrics.
    let own = request(&prom.addr, "GET", "/metrics", &[]).body;
    for name in [
        "prometheus_target_scrapes_sample_out_of_order_total",
        "prometheus_target_scrapes_sample_duplicate_timestamp_total",
        "prometheus_target_scrapes_sample_out_of_bounds_total",
        "prometheus_target_scrapes_exceeded_sample_limit_total",
    ] {
        assert_eq!(
            export_util::value(&own, name, ""),
            Some(0.0),
            "{name} in Prometheus's own metrics"
        );
    }
}

/// Under strace: while scraped, the exporter opens no `/proc/PID/…` file
/// (no per-process series) but `/proc/PID/net/dev` (a network namespace's
/// counters), and nothing under /sys/fs/cgroup for writing.
#[test]
fn export_prom_strace_no_process_files_no_writes() {
    let test = "export_prom_strace_no_process_files_no_writes";
    if common::live(test).is_none() || !have("strace", test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("trace");
    let log_s = log.to_str().unwrap();
    let s = Server::start_under(
        &[
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=open,openat,openat2,creat,truncate,mkdir,rmdir,unlink,rename",
            "-o",
            log_s,
        ],
        &["--min-interval", "50ms"],
    );
    for _ in 0..3 {
        assert!(s.metrics().contains("container_cpu_usage_seconds_total{"));
        std::thread::sleep(Duration::from_millis(100));
    }
    // End the traced cgdash (strace's child) first, then strace with it.
    let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", s.child.id()))
        .unwrap_or_default();
    for pid in kids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    drop(s);
    let trace = std::fs::read_to_string(&log).expect("strace log");
    let opens = trace.lines().filter(|l| l.contains("open")).count();
    assert!(opens > 20, "strace saw too little:\n{trace}");
    let per_process: Vec<&str> = trace
        .lines()
        .filter(|l| {
            l.split("\"/proc/").nth(1).is_some_and(|rest| {
                // The one exception: `net/dev` of a group's member, for
                // the container_network_* series of groups with a
                // network namespace of their own.
                rest.starts_with(|c: char| c.is_ascii_digit())
                    && !rest
                        .split_once('/')
                        .is_some_and(|(_, file)| file.starts_with("net/dev\""))
            })
        })
        .collect();
    assert!(
        per_process.is_empty(),
        "per-process files read: {per_process:#?}"
    );
    let writes: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("/sys/fs/cgroup"))
        .filter(|l| {
            l.contains("O_WRONLY")
                || l.contains("O_RDWR")
                || l.contains("O_CREAT")
                || l.contains("O_TRUNC")
                || ["mkdir(", "rmdir(", "unlink", "rename", "truncate("]
                    .iter()
                    .any(|c| l.contains(c))
        })
        .collect();
    assert!(writes.is_empty(), "writes to cgroups: {writes:#?}");
}
