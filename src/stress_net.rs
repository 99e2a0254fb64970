//! `cgdash stress serve` and `cgdash stress load`: a tiny HTTP/1.1 server
//! and a load generator for it, the workloads the network demos and tests
//! use (nothing to install, and `curl` can talk to the server too).
//!
//! The server burns `--work` of *CPU time* (not wall time) per request, so
//! under a CPU quota its latency grows as the quota shrinks, and sends
//! `--bytes` per response (a request's `?bytes=N` overrides it), so its
//! throughput follows a bandwidth limit. One thread per connection (at most
//! [`MAX_CONNECTIONS`]; more are answered 503 and closed), keep-alive.
//!
//! The load generator is open-loop (as wrk2): request *k* of the run is due
//! at `start + k / rate`, spread round-robin over the connections; latency is
//! measured from when a request was *due*, so a server that falls behind
//! shows it in the percentiles instead of quietly lowering the offered load
//! (coordinated omission). `--rate max` sends back-to-back on every
//! connection (closed loop; latency from the send). Latencies go into a
//! log-linear histogram (≤ 1/64 relative error, any run length).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cgroup::knob::format_size;
use crate::stress::StressError;

/// Connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 256;
/// Largest response body (`--bytes`, `?bytes=`): 1 GiB.
pub const MAX_BYTES: u64 = 1 << 30;
/// Largest request head (request line + headers).
const MAX_HEAD: usize = 8192;
/// Longest `--work` per request.
const MAX_WORK: Duration = Duration::from_secs(10);
/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// How long `load` waits for answers still in flight after `--duration`.
pub const GRACE: Duration = Duration::from_secs(2);

fn invalid(s: impl Into<String>) -> StressError {
    StressError::Invalid(s.into())
}

/// `2ms`, `500us`, `0`, `1.5ms`, `0.01s`: CPU time per request, 0–10 s.
pub fn parse_work(s: &str) -> Result<Duration, StressError> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix("µs") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if t == "0" {
        ("0", 1.0)
    } else {
        return Err(invalid(format!(
            "invalid --work `{t}`: give a duration with its unit (2ms, 500us, 0)"
        )));
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| invalid(format!("invalid --work `{t}`: not a number")))?;
    let secs = x * mult;
    if !secs.is_finite() || !(0.0..=MAX_WORK.as_secs_f64()).contains(&secs) {
        return Err(invalid(format!("invalid --work `{t}`: 0 to 10s")));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `100/s`, `100`, `2.5/s`, or `max` (`None`: back-to-back). At most 1,000,000/s.
pub fn parse_rate(s: &str) -> Result<Option<f64>, StressError> {
    let t = s.trim();
    if t == "max" {
        return Ok(None);
    }
    let num = t.strip_suffix("/s").unwrap_or(t);
    match num.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 1e6 => Ok(Some(x)),
        Ok(_) => Err(invalid(format!(
            "invalid --rate `{t}`: above 0 and at most 1000000/s (or max)"
        ))),
        Err(_) => Err(invalid(format!(
            "invalid --rate `{t}`: requests per second, e.g. 100/s, or max"
        ))),
    }
}

/// `127.0.0.1:8080` (an address and a port: no name is looked up).
pub fn parse_addr(flag: &str, s: &str) -> Result<SocketAddr, StressError> {
    s.trim().parse().map_err(|_| {
        invalid(format!(
            "invalid --{flag} `{s}`: give IP:PORT, e.g. 127.0.0.1:8080"
        ))
    })
}

// ---------------------------------------------------------------- server

/// What `stress serve` runs.
#[derive(Clone, Debug)]
pub struct ServePlan {
    pub listen: SocketAddr,
    /// CPU time burnt per request.
    pub work: Duration,
    /// Body bytes per response (unless the request asks with `?bytes=N`).
    pub bytes: u64,
    pub duration: Option<Duration>,
    /// Also echo UDP datagrams on the same address and port (`--udp`: what
    /// `-p …/udp` is tested with).
    pub udp: bool,
}

/// A bound server; [`Server::run`] serves until its duration or [`Server::stopper`].
pub struct Server {
    listener: TcpListener,
    /// The UDP echo socket (`--udp`), on the TCP listener's address.
    udp: Option<UdpSocket>,
    plan: ServePlan,
    stop: Arc<AtomicBool>,
}

/// Counts, for the final report line.
#[derive(Default)]
struct ServeCounts {
    requests: AtomicUsize,
    connections: AtomicUsize,
    refused: AtomicUsize,
}

impl Server {
    pub fn bind(plan: ServePlan) -> Result<Server, StressError> {
        if plan.bytes > MAX_BYTES {
            return Err(invalid(format!(
                "--bytes {} is more than {}",
                plan.bytes,
                format_size(MAX_BYTES)
            )));
        }
        if plan.work > MAX_WORK {
            return Err(invalid("--work is at most 10s"));
        }
        let listener = TcpListener::bind(plan.listen).map_err(|e| {
            invalid(match e.kind() {
                ErrorKind::AddrInUse => format!("--listen {}: the port is in use", plan.listen),
                ErrorKind::AddrNotAvailable => {
                    format!("--listen {}: no such address on this host", plan.listen)
                }
                _ => format!("--listen {}: {e}", plan.listen),
            })
        })?;
        // On the TCP listener's own address: port 0 becomes the same port.
        let udp = match plan.udp {
            false => None,
            true => {
                let at = listener.local_addr().unwrap_or(plan.listen);
                let u = UdpSocket::bind(at).map_err(|e| {
                    invalid(match e.kind() {
                        ErrorKind::AddrInUse => format!("--listen {at} (udp): the port is in use"),
                        _ => format!("--listen {at} (udp): {e}"),
                    })
                })?;
                let _ = u.set_read_timeout(Some(POLL));
                Some(u)
            }
        };
        Ok(Server {
            listener,
            udp,
            plan,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The address bound (the port chosen for `:0`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Set it to make [`Server::run`] return (within ~100 ms).
    pub fn stopper(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    pub fn run(self, progress: &mut dyn FnMut(String)) -> Result<(), StressError> {
        let addr = self.local_addr().unwrap_or(self.plan.listen);
        progress(format!(
            "stress serve: listening on {addr} (HTTP/1.1; {:?} of CPU and {} per request{}{})",
            self.plan.work,
            format_size(self.plan.bytes),
            if self.udp.is_some() {
                "; UDP echo on the same port"
            } else {
                ""
            },
            self.plan
                .duration
                .map(|d| format!("; for {d:?}"))
                .unwrap_or_default()
        ));
        let end = self.plan.duration.map(|d| Instant::now() + d);
        let counts = Arc::new(ServeCounts::default());
        let datagrams = Arc::new(AtomicUsize::new(0));
        let echo = self.udp.map(|u| {
            let (stop, n) = (self.stop.clone(), datagrams.clone());
            std::thread::spawn(move || udp_echo(&u, &stop, end, &n))
        });
        let active = Arc::new(AtomicUsize::new(0));
        let body: Arc<[u8]> = vec![b'x'; 64 << 10].into();
        let mut handles: Vec<std::thread::JoinHandle<()>> = Vec::new();
        while !self.stop.load(Ordering::Relaxed) && end.is_none_or(|e| Instant::now() < e) {
            handles.retain(|h| !h.is_finished());
            if !readable(&self.listener, POLL) {
                continue;
            }
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                // Out of descriptors (EMFILE) leaves the connection queued
                // and the listener readable: don't spin on it.
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            counts.connections.fetch_add(1, Ordering::Relaxed);
            if active.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                counts.refused.fetch_add(1, Ordering::Relaxed);
                let mut s = stream;
                let _ = s.set_write_timeout(Some(POLL));
                let _ = s.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            active.fetch_add(1, Ordering::Relaxed);
            let (stop, counts, mine, body) = (
                self.stop.clone(),
                counts.clone(),
                active.clone(),
                body.clone(),
            );
            let (work, bytes) = (self.plan.work, self.plan.bytes);
            let spawned = std::thread::Builder::new()
                .name("serve-conn".into())
                .stack_size(256 << 10)
                .spawn(move || {
                    connection(stream, work, bytes, &body, &stop, end, &counts);
                    mine.fetch_sub(1, Ordering::Relaxed);
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(_) => {
                    // The closure (and the stream) is gone: the client sees a reset.
                    active.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
        let udp = match echo {
            Some(h) => {
                let _ = h.join();
                format!(
                    "; {} UDP datagrams echoed",
                    datagrams.load(Ordering::Relaxed)
                )
            }
            None => String::new(),
        };
        progress(format!(
            "stress serve: done: {} requests on {} connections ({} refused: over {MAX_CONNECTIONS} at once){udp}",
            counts.requests.load(Ordering::Relaxed),
            counts.connections.load(Ordering::Relaxed),
            counts.refused.load(Ordering::Relaxed),
        ));
        Ok(())
    }
}

/// Sends every datagram back to where it came from, until `stop` or `end`.
fn udp_echo(u: &UdpSocket, stop: &AtomicBool, end: Option<Instant>, n: &AtomicUsize) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) && end.is_none_or(|e| Instant::now() < e) {
        if let Ok((len, from)) = u.recv_from(&mut buf) {
            if u.send_to(&buf[..len], from).is_ok() {
                n.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Whether `l` has a connection waiting, within `wait`.
fn readable(l: &TcpListener, wait: Duration) -> bool {
    let mut fds = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut fds, 1, wait.as_millis() as libc::c_int) };
    n > 0 && fds.revents & libc::POLLIN != 0
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// `?bytes=N` in the target.
    pub bytes: Option<u64>,
    /// Request body length to read and discard.
    pub content_length: u64,
    /// `Connection: close`, or HTTP/1.0 without keep-alive.
    pub close: bool,
}

/// Parses a request head (without the final blank line). `Err`: the status
/// line to answer with.
pub fn parse_request(head: &str) -> Result<Request, &'static str> {
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("400 Bad Request");
    };
    if !version.starts_with("HTTP/1.") {
        return Err("505 HTTP Version Not Supported");
    }
    if !matches!(method, "GET" | "HEAD" | "POST" | "PUT") {
        return Err("405 Method Not Allowed");
    }
    let mut bytes = None;
    if let Some((_, query)) = target.split_once('?') {
        for kv in query.split('&') {
            if let Some(v) = kv.strip_prefix("bytes=") {
                match v.parse::<u64>() {
                    Ok(n) if n <= MAX_BYTES => bytes = Some(n),
                    _ => return Err("400 Bad Request"),
                }
            }
        }
    }
    let mut close = version == "HTTP/1.0";
    let mut content_length = 0;
    for h in lines {
        let Some((name, value)) = h.split_once(':') else {
            return Err("400 Bad Request");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value
                .parse::<u64>()
                .ok()
                .filter(|&n| n <= MAX_BYTES)
                .ok_or("400 Bad Request")?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("501 Not Implemented");
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                close = true;
            } else if v.contains("keep-alive") {
                close = false;
            }
        }
    }
    Ok(Request {
        method: method.to_string(),
        bytes,
        content_length,
        close,
    })
}

/// Serves one connection until the client closes, asks to, errs, or the
/// server stops.
fn connection(
    mut s: TcpStream,
    work: Duration,
    default_bytes: u64,
    body: &[u8],
    stop: &AtomicBool,
    end: Option<Instant>,
    counts: &ServeCounts,
) {
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(POLL));
    let _ = s.set_write_timeout(Some(POLL));
    let running = || !stop.load(Ordering::Relaxed) && end.is_none_or(|e| Instant::now() < e);
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    'requests: while running() {
        // Read one head (pipelined bytes after it stay in `buf`).
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            if buf.len() > MAX_HEAD {
                let _ = reply_error(&mut s, "431 Request Header Fields Too Large");
                return;
            }
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if timed_out(&e) => {
                    if !running() {
                        return;
                    }
                }
                Err(_) => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end + 4);
        let req = match parse_request(&head) {
            Ok(r) => r,
            Err(status) => {
                let _ = reply_error(&mut s, status);
                return;
            }
        };
        // Discard a request body.
        let mut left = req.content_length;
        let have = (buf.len() as u64).min(left);
        buf.drain(..have as usize);
        left -= have;
        while left > 0 {
            match s.read(&mut chunk[..(left.min(4096) as usize)]) {
                Ok(0) => return,
                Ok(n) => left -= n as u64,
                Err(e) if timed_out(&e) => {
                    if !running() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        burn(work);
        let n = req.bytes.unwrap_or(default_bytes);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {n}\r\n{}\r\n",
            if req.close { "Connection: close\r\n" } else { "" }
        );
        if write_all(&mut s, head.as_bytes(), &running).is_err() {
            return;
        }
        if req.method != "HEAD" {
            let mut left = n;
            while left > 0 {
                let k = left.min(body.len() as u64) as usize;
                if write_all(&mut s, &body[..k], &running).is_err() {
                    return;
                }
                left -= k as u64;
            }
        }
        counts.requests.fetch_add(1, Ordering::Relaxed);
        if req.close {
            break 'requests;
        }
    }
    let _ = s.shutdown(Shutdown::Write);
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// `write_all` that keeps trying across write timeouts while `running`.
fn write_all(s: &mut TcpStream, mut data: &[u8], running: &dyn Fn() -> bool) -> Result<(), ()> {
    while !data.is_empty() {
        match s.write(data) {
            Ok(0) => return Err(()),
            Ok(n) => data = &data[n..],
            Err(e) if timed_out(&e) || e.kind() == ErrorKind::Interrupted => {
                if !running() {
                    return Err(());
                }
            }
            Err(_) => return Err(()),
        }
    }
    Ok(())
}

fn reply_error(s: &mut TcpStream, status: &str) -> std::io::Result<()> {
    s.write_all(
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Burns `work` of this thread's CPU time.
fn burn(work: Duration) {
    if work.is_zero() {
        return;
    }
    let start = crate::stress::thread_cpu();
    let mut x: u64 = 1;
    while crate::stress::thread_cpu().saturating_sub(start) < work {
        for _ in 0..2_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

// ---------------------------------------------------------------- histogram

/// Log-linear histogram of microseconds: exact below 128 µs, then 64
/// buckets per power of two (relative error ≤ 1/64).
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    n: u64,
    sum: u128,
    max: u64,
}

const SUB: u32 = 64;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; Histogram::index(u64::MAX) + 1],
            n: 0,
            sum: 0,
            max: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < 2 * SUB as u64 {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros(); // ≥ 7
        let shift = msb - 6;
        (2 * SUB + (msb - 7) * SUB) as usize + ((v >> shift) - SUB as u64) as usize
    }

    /// The largest value that falls in bucket `i`.
    fn highest(i: usize) -> u64 {
        if i < 2 * SUB as usize {
            return i as u64;
        }
        let j = i as u32 - 2 * SUB;
        let msb = 7 + j / SUB;
        let shift = msb - 6;
        let lo = (u64::from(SUB + j % SUB)) << shift;
        lo + ((1u64 << shift) - 1)
    }

    pub fn record(&mut self, us: u64) {
        self.counts[Histogram::index(us)] += 1;
        self.n += 1;
        self.sum += u128::from(us);
        self.max = self.max.max(us);
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
        self.sum += o.sum;
        self.max = self.max.max(o.max);
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    pub fn max(&self) -> Option<u64> {
        (self.n > 0).then_some(self.max)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum as f64 / self.n as f64)
    }

    /// The value at percentile `p` (0–100): the highest value of the bucket
    /// holding the ⌈p·n/100⌉-th smallest, never above the maximum seen.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((p / 100.0 * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Histogram::highest(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

// ---------------------------------------------------------------- load

/// What `stress load` runs.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub target: SocketAddr,
    /// Requests per second over all connections; `None`: back-to-back.
    pub rate: Option<f64>,
    pub connections: u32,
    pub duration: Duration,
    /// Ask for this many body bytes per response (`?bytes=N`); `None`: the server's default.
    pub bytes: Option<u64>,
}

/// Latency percentiles, milliseconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

/// What `stress load` reports (`--json` prints it as is).
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    pub target: String,
    /// Offered requests per second; `null` for `max`.
    pub rate_per_s: Option<f64>,
    pub connections: u32,
    /// From the start to the end of `--duration` or the last answer (or
    /// give-up), whichever is later, seconds: the rates are over it.
    pub elapsed_s: f64,
    /// Requests due within `--duration`.
    pub requests: u64,
    /// Answered 200 with the whole body.
    pub ok: u64,
    /// Refused connections, resets, non-200 answers, short bodies.
    pub errors: u64,
    /// Still unanswered 2 s after `--duration` (given up), with the
    /// requests due after it on its connection (never sent).
    pub unfinished: u64,
    /// Body bytes received in answers.
    pub bytes: u64,
    pub requests_per_s: f64,
    pub bytes_per_s: f64,
    /// From when each request was due (rate) or sent (`max`), to its last byte.
    pub latency_ms: Latency,
    /// `due` (open loop, corrected for coordinated omission) or `sent` (`max`).
    pub latency_from: &'static str,
}

#[derive(Default)]
struct ConnStats {
    hist: Histogram,
    requests: u64,
    ok: u64,
    errors: u64,
    unfinished: u64,
    bytes: u64,
}

pub fn load(plan: &LoadPlan, progress: &mut dyn FnMut(String)) -> Result<LoadReport, StressError> {
    if plan.connections == 0 || plan.connections > 1024 {
        return Err(invalid("--connections must be 1–1024"));
    }
    if plan.duration.is_zero() {
        return Err(invalid("--duration must be above 0"));
    }
    if plan.bytes.is_some_and(|b| b > MAX_BYTES) {
        return Err(invalid(format!(
            "--bytes is at most {}",
            format_size(MAX_BYTES)
        )));
    }
    progress(format!(
        "stress load: {} at {} over {} connection(s) for {:?}",
        plan.target,
        plan.rate
            .map(|r| format!("{r}/s"))
            .unwrap_or_else(|| "max (back-to-back)".into()),
        plan.connections,
        plan.duration
    ));
    let start = Instant::now();
    let end = start + plan.duration;
    let request = match plan.bytes {
        Some(n) => format!("GET /?bytes={n} HTTP/1.1\r\nHost: {}\r\n\r\n", plan.target),
        None => format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", plan.target),
    };
    let request: Arc<[u8]> = request.into_bytes().into();
    let mut handles = Vec::new();
    for i in 0..plan.connections {
        let (request, target, rate, conns) =
            (request.clone(), plan.target, plan.rate, plan.connections);
        let h = std::thread::Builder::new()
            .name(format!("load-{i}"))
            .stack_size(256 << 10)
            .spawn(move || {
                let slot = rate.map(|r| {
                    (
                        Duration::from_secs_f64(1.0 / r) * i,
                        Duration::from_secs_f64(f64::from(conns) / r),
                    )
                });
                load_connection(target, &request, start, end, slot)
            })
            .map_err(StressError::Thread)?;
        handles.push(h);
    }
    let mut all = ConnStats::default();
    for h in handles {
        if let Ok(s) = h.join() {
            all.hist.merge(&s.hist);
            all.requests += s.requests;
            all.ok += s.ok;
            all.errors += s.errors;
            all.unfinished += s.unfinished;
            all.bytes += s.bytes;
        }
    }
    let elapsed = start.elapsed().max(plan.duration).as_secs_f64();
    let ms = |us: Option<u64>| us.map(|u| u as f64 / 1000.0);
    Ok(LoadReport {
        target: plan.target.to_string(),
        rate_per_s: plan.rate,
        connections: plan.connections,
        elapsed_s: elapsed,
        requests: all.requests,
        ok: all.ok,
        errors: all.errors,
        unfinished: all.unfinished,
        bytes: all.bytes,
        requests_per_s: all.ok as f64 / elapsed,
        bytes_per_s: all.bytes as f64 / elapsed,
        latency_ms: Latency {
            p50: ms(all.hist.percentile(50.0)),
            p90: ms(all.hist.percentile(90.0)),
            p99: ms(all.hist.percentile(99.0)),
            max: ms(all.hist.max()),
            mean: all.hist.mean().map(|u| u / 1000.0),
        },
        latency_from: if plan.rate.is_some() { "due" } else { "sent" },
    })
}

/// One connection's share: `slot` = (offset of its first request, time
/// between its requests); `None`: back-to-back.
fn load_connection(
    target: SocketAddr,
    request: &[u8],
    start: Instant,
    end: Instant,
    slot: Option<(Duration, Duration)>,
) -> ConnStats {
    let mut st = ConnStats::default();
    let mut conn: Option<(TcpStream, Vec<u8>)> = None;
    // Body bytes are read into this and dropped.
    let mut chunk = vec![0u8; 64 << 10];
    let give_up = end + GRACE;
    let mut k: u32 = 0;
    loop {
        let due = match slot {
            Some((first, every)) => start + first + every * k,
            None => Instant::now(),
        };
        if due >= end {
            break;
        }
        k = k.saturating_add(1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        st.requests += 1;
        let sent = Instant::now();
        if conn.is_none() {
            match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    conn = Some((s, Vec::with_capacity(4096)));
                }
                Err(_) => {
                    st.errors += 1;
                    // Don't spin on a refused port in `max` mode.
                    if slot.is_none() {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    continue;
                }
            }
        }
        let Some((s, buf)) = conn.as_mut() else {
            continue;
        };
        match exchange(s, buf, &mut chunk, request, give_up) {
            Exchange::Ok { body, keep } => {
                st.ok += 1;
                st.bytes += body;
                let from = if slot.is_some() { due } else { sent };
                st.hist.record(from.elapsed().as_micros() as u64);
                if !keep {
                    conn = None;
                }
            }
            Exchange::Failed { body } => {
                st.errors += 1;
                st.bytes += body;
                conn = None;
            }
            Exchange::GaveUp { body } => {
                st.unfinished += 1;
                st.bytes += body;
                // The requests still due after it were never sent: due,
                // and unfinished, too (the count stays the schedule's).
                if let Some((first, every)) = slot {
                    let due_in = end.saturating_duration_since(start + first);
                    let all = due_in.as_nanos().div_ceil(every.as_nanos().max(1));
                    let left = (all as u64).saturating_sub(u64::from(k));
                    st.requests += left;
                    st.unfinished += left;
                }
                break;
            }
        }
    }
    st
}

enum Exchange {
    Ok { body: u64, keep: bool },
    Failed { body: u64 },
    GaveUp { body: u64 },
}

/// Sends one request and reads its answer (until `give_up`).
fn exchange(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    chunk: &mut [u8],
    request: &[u8],
    give_up: Instant,
) -> Exchange {
    let failed = Exchange::Failed { body: 0 };
    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
    if s.write_all(request).is_err() {
        return failed;
    }
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return failed;
        }
        match fill(s, buf, chunk, give_up) {
            Ok(_) => {}
            Err(true) => return Exchange::GaveUp { body: 0 },
            Err(false) => return failed,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    let status_ok = head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200");
    let mut len = None;
    let mut keep = head.starts_with("HTTP/1.1");
    for h in head.split("\r\n").skip(1) {
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                len = value.trim().parse::<u64>().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                keep = !value.to_ascii_lowercase().contains("close");
            }
        }
    }
    let Some(len) = len else {
        return failed;
    };
    let mut got = (buf.len() as u64).min(len);
    buf.drain(..got as usize);
    while got < len {
        // Body bytes are counted and dropped, not kept.
        let want = ((len - got) as usize).min(chunk.len());
        let n = {
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Exchange::GaveUp { body: got };
            }
            let _ = s.set_read_timeout(Some(left.min(POLL * 5)));
            match s.read(&mut chunk[..want]) {
                Ok(0) => return Exchange::Failed { body: got },
                Ok(n) => n,
                Err(e) if timed_out(&e) || e.kind() == ErrorKind::Interrupted => 0,
                Err(_) => return Exchange::Failed { body: got },
            }
        };
        got += n as u64;
    }
    if status_ok {
        Exchange::Ok { body: got, keep }
    } else {
        Exchange::Failed { body: got }
    }
}

/// Reads more into `buf` (until `give_up`). `Err(true)`: gave up, `Err(false)`: failed.
fn fill(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    chunk: &mut [u8],
    give_up: Instant,
) -> Result<usize, bool> {
    loop {
        let left = give_up.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(true);
        }
        let _ = s.set_read_timeout(Some(left.min(POLL * 5)));
        match s.read(chunk) {
            Ok(0) => return Err(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if timed_out(&e) || e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Err(false),
        }
    }
}

/// The report as a table (what `stress load` prints without `--json`).
pub fn report_table(r: &LoadReport) -> String {
    let ms = |v: Option<f64>| match v {
        Some(x) if x >= 1000.0 => format!("{:.2}s", x / 1000.0),
        Some(x) if x >= 10.0 => format!("{x:.1}ms"),
        Some(x) => format!("{x:.2}ms"),
        None => "–".into(),
    };
    let mut out = String::new();
    out.push_str(&format!(
        "{:>9} {:>9} {:>7} {:>10} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}\n",
        "REQUESTS", "OK", "ERRORS", "UNFINISHED", "REQ/S", "BYTES/S", "P50", "P90", "P99", "MAX"
    ));
    out.push_str(&format!(
        "{:>9} {:>9} {:>7} {:>10} {:>9.1} {:>10} {:>9} {:>9} {:>9} {:>9}\n",
        r.requests,
        r.ok,
        r.errors,
        r.unfinished,
        r.requests_per_s,
        format!("{}/s", format_size(r.bytes_per_s as u64)),
        ms(r.latency_ms.p50),
        ms(r.latency_ms.p90),
        ms(r.latency_ms.p99),
        ms(r.latency_ms.max),
    ));
    out.push_str(&format!(
        "latency from when each request was {} to its last byte; {} body bytes in {:.2}s",
        r.latency_from, r.bytes, r.elapsed_s
    ));
    out
}

#[cfg(test)]
mod tests;
