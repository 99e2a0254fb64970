//! Support for the exporter's tests: fixture trees, a `cgdash export`
//! process on an ephemeral loopback port, and a minimal HTTP client.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn write(dir: &Path, file: &str, text: &str) {
    fs::create_dir_all(dir).expect("mkdir");
    fs::write(dir.join(file), text).expect("write");
}

/// Sets the mtime of every directory and file under `root` (start times
/// come from them): golden output stays the same from run to run.
pub fn pin_times(root: &Path) {
    let st = Command::new("touch")
        .arg("-d")
        .arg("@1700000000")
        .args(walk(root))
        .status()
        .expect("touch");
    assert!(st.success());
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut v = vec![p.to_path_buf()];
    if p.is_dir() {
        for e in fs::read_dir(p).expect("read_dir").flatten() {
            v.extend(walk(&e.path()));
        }
    }
    v
}

/// A v2 tree: the root, `cgdash/demo` (quota, memory limit, PSI, memory.stat,
/// pids), a group whose name needs escaping, and `other` (no limits).
pub fn v2_tree(root: &Path) {
    write(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
    write(root, "cgroup.procs", "1\n");
    write(
        root,
        "cpu.stat",
        "usage_usec 5000000\nuser_usec 1\nsystem_usec 1\n",
    );
    let g = root.join("cgdash/demo");
    write(&g, "cgroup.procs", "100\n101\n");
    write(&g, "cgroup.controllers", "cpu memory pids\n");
    write(&g, "cgroup.events", "populated 1\nfrozen 0\n");
    write(
        &g,
        "cpu.stat",
        "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\nnr_periods 50\nnr_throttled 40\nthrottled_usec 3000000\nnr_bursts 2\nburst_usec 1500\n",
    );
    write(&g, "cpu.max", "20000 100000\n");
    write(&g, "cpu.max.burst", "5000\n");
    write(&g, "cpu.weight", "100\n");
    write(&g, "memory.current", "33554432\n");
    write(&g, "memory.peak", "40000000\n");
    write(&g, "memory.max", "67108864\n");
    write(&g, "memory.high", "50331648\n");
    write(&g, "memory.swap.max", "0\n");
    write(
        &g,
        "memory.stat",
        "anon 20000000\nfile 10000000\nfile_mapped 4096\nactive_file 6000000\ninactive_file 4000000\n",
    );
    write(
        &g,
        "memory.events",
        "low 0\nhigh 9\nmax 7\noom 2\noom_kill 2\n",
    );
    write(&g, "pids.current", "3\n");
    write(&g, "pids.max", "64\n");
    write(&g, "pids.events", "max 5\n");
    write(&g, "cgroup.freeze", "1\n");
    write(
        &g,
        "cpu.pressure",
        "some avg10=1.50 avg60=0.00 avg300=0.00 total=1500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=500000\n",
    );
    write(
        &g,
        "memory.pressure",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=250000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=125000\n",
    );
    write(&root.join("cgdash"), "cgroup.procs", "");
    write(&root.join("cgdash"), "cpu.stat", "usage_usec 2000001\n");
    let odd = root.join("cgdash/we\"ird\\name");
    write(&odd, "cgroup.procs", "");
    write(&odd, "cpu.stat", "usage_usec 1\n");
    write(&root.join("other"), "cgroup.procs", "");
    write(&root.join("other"), "cpu.stat", "usage_usec 7\n");
}

/// A v1 tree (separate cpu / cpuacct mounts, as on this CI host).
pub fn v1_tree(root: &Path) {
    for c in ["cpu", "cpuacct", "memory", "pids"] {
        write(&root.join(c), "cgroup.procs", "1\n");
        write(&root.join(c).join("box"), "cgroup.procs", "42\n");
    }
    let cpu = root.join("cpu/box");
    write(&cpu, "cpu.cfs_quota_us", "150000\n");
    write(&cpu, "cpu.cfs_period_us", "100000\n");
    write(&cpu, "cpu.shares", "512\n");
    write(
        &cpu,
        "cpu.stat",
        "nr_periods 10\nnr_throttled 4\nthrottled_time 123456789\n",
    );
    write(&root.join("cpuacct/box"), "cpuacct.usage", "987654321\n");
    let mem = root.join("memory/box");
    write(&mem, "memory.usage_in_bytes", "1048576\n");
    write(&mem, "memory.max_usage_in_bytes", "2097152\n");
    write(&mem, "memory.limit_in_bytes", "33554432\n");
    write(&mem, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
    write(&mem, "memory.failcnt", "5\n");
    write(
        &mem,
        "memory.stat",
        "cache 1\nrss 2\ntotal_cache 65536\ntotal_rss 524288\ntotal_mapped_file 0\ntotal_inactive_file 16384\ntotal_active_file 49152\n",
    );
    write(
        &mem,
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    );
    let pids = root.join("pids/box");
    write(&pids, "pids.current", "1\n");
    write(&pids, "pids.max", "max\n");
    write(&pids, "pids.events", "max 0\n");
}

/// `cgdash export ARGS --listen 127.0.0.1:0`, killed on drop.
pub struct Server {
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_under(&[], args)
    }

    /// As `start`, run under a wrapper command (`strace -f -o LOG`).
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> Server {
        let bin = env!("CARGO_BIN_EXE_cgdash");
        let mut cmd = match wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .arg("export")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn cgdash export");
        // Its first line names the bound address; the pipe closes if it dies.
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let addr = line
            .trim()
            .strip_prefix("cgdash export: serving http://")
            .and_then(|s| s.strip_suffix("/metrics"))
            .map(str::to_string);
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cgdash export did not start: {line:?}");
        };
        Server { child, addr }
    }

    pub fn get(&self, path: &str) -> Resp {
        request(&self.addr, "GET", path, &[])
    }

    pub fn metrics(&self) -> String {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "{}", r.head);
        r.body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 request, reading the response until the server closes.
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    try_request(addr, method, path, headers)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

pub fn try_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    // `Connection: close`: read_to_end must end (Prometheus keeps
    // connections alive otherwise).
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    Ok(parse(&raw))
}

pub fn parse(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Resp {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// The value of the sample `name{…labels…}` whose label set contains `has`.
pub fn value(expo: &str, name: &str, has: &str) -> Option<f64> {
    expo.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) || !rest.contains(has) {
            return None;
        }
        l.rsplit(' ').next()?.parse().ok()
    })
}

/// Retries `GET /healthz` until one gets 200 (503s and resets while the
/// server is busy are retried) or `timeout` passes.
pub fn wait_ok(addr: &str, timeout: Duration) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if try_request(addr, "GET", "/healthz", &[]).is_ok_and(|r| r.status == 200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
