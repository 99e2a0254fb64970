//! The exporter's HTTP side, in process on an ephemeral loopback port:
//! routes (404, 405, HEAD, /healthz, /), bad requests, content negotiation,
//! the scrape cache, and abuse — slow, silent and non-reading clients can't
//! stall the sampler, and threads stay bounded. No root needed.

mod export_util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cgdash::cgroup::Layout;
use cgdash::export::format::Format;
use cgdash::export::http::{self, Limits, Response};
use cgdash::export::{Exporter, Filters};
use cgdash::sampler::Sampler;
use export_util::{request, v2_tree};

fn exporter(dir: &std::path::Path, min_interval: Duration) -> Arc<Exporter> {
    let layout = Layout::from_root(dir).expect("fixture layout");
    Arc::new(Exporter::new(
        Sampler::cgroups_only(layout),
        min_interval,
        Filters::default(),
    ))
}

/// Serves `handler` on 127.0.0.1:0 in background threads; returns the address.
fn serve(handler: http::Handler, limits: Limits) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || http::serve(l, handler, limits));
    addr
}

/// The tests of this binary run one at a time: one counts the process's
/// threads, which the others' servers would change.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn routes_methods_and_head() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let addr = serve(
        exporter(dir.path(), Duration::from_secs(1)).handler(),
        Limits::default(),
    );
    let get = request(&addr, "GET", "/metrics", &[]);
    assert_eq!(get.status, 200);
    assert!(get.body.contains("container_cpu_usage_seconds_total{"));
    // The query string is not part of the path.
    assert_eq!(request(&addr, "GET", "/metrics?x=1", &[]).status, 200);

    let head = request(&addr, "HEAD", "/metrics", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "", "HEAD has no body");
    assert_eq!(
        head.header("content-length"),
        Some(&*get.body.len().to_string()),
        "HEAD: the length GET would send"
    );

    for path in ["/nope", "/metrics/", "/favicon.ico", "/healthz/x"] {
        assert_eq!(request(&addr, "GET", path, &[]).status, 404, "{path}");
    }
    for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
        let r = request(&addr, m, "/metrics", &[]);
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{m}");
    }
    let h = request(&addr, "GET", "/healthz", &[]);
    assert_eq!((h.status, h.body.as_str()), (200, "ok\n"));
    let index = request(&addr, "GET", "/", &[]);
    assert_eq!(index.status, 200);
    assert!(index
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(index.body.contains("<a href=\"/metrics\">"));
    assert!(index
        .body
        .contains("container_cpu_cfs_throttled_periods_total"));
}

#[test]
fn content_negotiation() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let addr = serve(
        exporter(dir.path(), Duration::from_secs(1)).handler(),
        Limits::default(),
    );
    let om = request(
        &addr,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")],
    );
    assert!(om
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    assert!(om.body.ends_with("# EOF\n"));
    assert!(om
        .body
        .contains("# TYPE container_cpu_usage_seconds counter\n"));
    assert!(om
        .body
        .contains("# UNIT container_cpu_usage_seconds seconds\n"));
    let text = request(&addr, "GET", "/metrics", &[("Accept", "text/plain")]);
    assert!(!text.body.contains("# EOF"));
    assert!(text
        .body
        .contains("# TYPE container_cpu_usage_seconds_total counter\n"));
}

#[test]
fn bad_requests_get_400_and_431() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let addr = serve(
        exporter(dir.path(), Duration::from_secs(1)).handler(),
        Limits::default(),
    );
    let raw = |bytes: &[u8]| {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(bytes).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        export_util::parse(&out).status
    };
    assert_eq!(raw(b"GARBAGE\r\n\r\n"), 400);
    assert_eq!(raw(b"GET metrics HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(raw(b"GET /metrics SPDY/3\r\n\r\n"), 400);
    let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 20_000));
    assert_eq!(raw(&huge), 431);
}

/// Scrapes closer together than --min-interval share one read; later ones
/// read again.
#[test]
fn scrapes_within_min_interval_share_one_read() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let e = exporter(dir.path(), Duration::from_secs(30));
    let a = e.metrics(Format::Text);
    for _ in 0..5 {
        assert!(
            Arc::ptr_eq(&a, &e.metrics(Format::Text)),
            "same body, not re-rendered"
        );
        e.metrics(Format::OpenMetrics);
    }
    assert_eq!(e.reads(), 1, "6+5 scrapes within 30 s: one read");

    let short = exporter(dir.path(), Duration::from_millis(50));
    short.metrics(Format::Text);
    std::thread::sleep(Duration::from_millis(120));
    short.metrics(Format::Text);
    assert_eq!(short.reads(), 2);
}

/// Silent clients (connect, send nothing) hold a worker only until the read
/// deadline; past workers + queue they get 503 at once; the exporter itself
/// answers meanwhile; and the thread count doesn't grow with clients.
#[test]
fn silent_clients_cannot_stall_the_exporter() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let e = exporter(dir.path(), Duration::from_millis(50));
    let limits = Limits {
        workers: 2,
        queue: 2,
        read_deadline: Duration::from_secs(2),
        ..Limits::default()
    };
    let addr = serve(e.clone().handler(), limits);
    std::thread::sleep(Duration::from_millis(100));
    let before = threads();
    let mut silent: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    // Past the 2 workers and 2 queued: 503, immediately.
    let mut busy = 0;
    for s in silent.iter_mut().skip(8) {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        if export_util::parse(&out).status == 503 {
            busy += 1;
        }
    }
    assert!(busy >= 30, "only {busy} of the excess clients got 503");
    // The sampler side is not behind any connection.
    let t = Instant::now();
    e.metrics(Format::Text);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        threads() <= before,
        "threads grew with clients: {before} -> {}",
        threads()
    );
    // Once the silent ones time out, a real scrape is served.
    let ok = export_util::wait_ok(&addr, Duration::from_secs(30));
    assert!(ok, "no scrape served after the silent clients timed out");
    drop(silent);
}

/// A client trickling its request one byte at a time is cut off at the
/// deadline for the whole head, not kept alive by each byte.
#[test]
fn trickling_client_is_cut_at_the_head_deadline() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    v2_tree(dir.path());
    let limits = Limits {
        workers: 1,
        queue: 1,
        read_deadline: Duration::from_secs(1),
        ..Limits::default()
    };
    let addr = serve(
        exporter(dir.path(), Duration::from_secs(1)).handler(),
        limits,
    );
    let mut s = TcpStream::connect(&addr).unwrap();
    let t = Instant::now();
    let mut closed_at = None;
    for b in b"GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if s.write_all(&[*b]).is_err() {
            closed_at = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The server closed its side after ~1 s: reading gives EOF.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let n = s.read_to_end(&mut out).unwrap_or(0);
    assert_eq!(n, 0, "no response to an unfinished request");
    let elapsed = closed_at.unwrap_or(t.elapsed());
    assert!(elapsed < Duration::from_secs(8), "held for {elapsed:?}");
    assert!(export_util::wait_ok(&addr, Duration::from_secs(10)));
}

/// A client that asks and then never reads a large body frees its worker
/// at the write deadline.
#[test]
fn non_reading_client_is_dropped_at_the_write_deadline() {
    let _serial = serial();
    let body = Arc::new(vec![b'x'; 64 << 20]);
    let handler: http::Handler = Arc::new(move |req: &http::Request| {
        if req.path == "/healthz" {
            return Response::text(200, "ok\n");
        }
        Response {
            status: 200,
            content_type: "text/plain",
            body: body.clone(),
            extra_headers: Vec::new(),
        }
    });
    let limits = Limits {
        workers: 1,
        queue: 1,
        write_deadline: Duration::from_secs(1),
        ..Limits::default()
    };
    let addr = serve(handler, limits);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\n\r\n").unwrap();
    // Never read. The one worker must come free for the next client.
    let t = Instant::now();
    assert!(export_util::wait_ok(&addr, Duration::from_secs(20)));
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    drop(s);
}
