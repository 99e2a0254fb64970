use super::*;

#[test]
fn work_rate_and_address_grammar() {
    assert_eq!(parse_work("2ms").unwrap(), Duration::from_millis(2));
    assert_eq!(parse_work("500us").unwrap(), Duration::from_micros(500));
    assert_eq!(parse_work("0").unwrap(), Duration::ZERO);
    assert_eq!(parse_work("0.5s").unwrap(), Duration::from_millis(500));
    for bad in ["2", "fast", "-1ms", "11s", "NaNms", ""] {
        let e = parse_work(bad).unwrap_err().to_string();
        assert!(e.contains("--work"), "{bad}: {e}");
    }
    assert_eq!(parse_rate("100/s").unwrap(), Some(100.0));
    assert_eq!(parse_rate("2.5").unwrap(), Some(2.5));
    assert_eq!(parse_rate("max").unwrap(), None);
    for bad in ["0", "0/s", "-3/s", "lots", "2000000/s", "inf"] {
        let e = parse_rate(bad).unwrap_err().to_string();
        assert!(e.contains("--rate") && e.contains(bad), "{bad}: {e}");
    }
    assert_eq!(
        parse_addr("target", "127.0.0.1:80").unwrap(),
        "127.0.0.1:80".parse().unwrap()
    );
    let e = parse_addr("target", "localhost:80")
        .unwrap_err()
        .to_string();
    assert!(e.contains("--target `localhost:80`"), "{e}");
}

#[test]
fn request_heads() {
    let r = parse_request("GET /?bytes=1000 HTTP/1.1\r\nHost: x").unwrap();
    assert_eq!(
        r,
        Request {
            method: "GET".into(),
            bytes: Some(1000),
            content_length: 0,
            close: false
        }
    );
    // curl's form, HTTP/1.0 closes by default, keep-alive keeps.
    let r =
        parse_request("GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8\r\nAccept: */*").unwrap();
    assert_eq!((r.bytes, r.close), (None, false));
    assert!(parse_request("GET / HTTP/1.0").unwrap().close);
    assert!(
        !parse_request("GET / HTTP/1.0\r\nConnection: Keep-Alive")
            .unwrap()
            .close
    );
    assert!(
        parse_request("GET / HTTP/1.1\r\nConnection: close")
            .unwrap()
            .close
    );
    let r = parse_request("POST /up HTTP/1.1\r\nContent-Length: 12").unwrap();
    assert_eq!(r.content_length, 12);
    assert_eq!(parse_request("GET /").unwrap_err(), "400 Bad Request");
    assert_eq!(
        parse_request("GET / HTTP/2").unwrap_err(),
        "505 HTTP Version Not Supported"
    );
    assert_eq!(
        parse_request("DELETE / HTTP/1.1").unwrap_err(),
        "405 Method Not Allowed"
    );
    assert_eq!(
        parse_request("GET /?bytes=99999999999 HTTP/1.1").unwrap_err(),
        "400 Bad Request"
    );
    assert_eq!(
        parse_request("GET / HTTP/1.1\r\nno colon").unwrap_err(),
        "400 Bad Request"
    );
    assert_eq!(
        parse_request("POST / HTTP/1.1\r\nTransfer-Encoding: chunked").unwrap_err(),
        "501 Not Implemented"
    );
}

#[test]
fn histogram_buckets_are_tight_and_ordered() {
    let mut last = 0;
    let mut x: u64 = 1;
    for i in 0..200_000u64 {
        // Every small value, then a spread of large ones.
        let v = if i < 5000 {
            i
        } else {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> (x % 60)
        };
        let b = Histogram::index(v);
        let hi = Histogram::highest(b);
        assert!(hi >= v, "{v}: bucket {b} ends at {hi}");
        assert!(hi - v <= v / 64, "{v}: bucket {b} ends at {hi}");
        if i < 5000 {
            assert!(b >= last);
            last = b;
        }
    }
    assert_eq!(Histogram::highest(Histogram::index(u64::MAX)), u64::MAX);
}

#[test]
fn percentiles_agree_with_sorting() {
    let mut h = Histogram::default();
    let mut v: Vec<u64> = Vec::new();
    let mut x: u64 = 7;
    for _ in 0..10_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let us = 50 + (x >> 40) % 200_000;
        h.record(us);
        v.push(us);
    }
    v.sort_unstable();
    for p in [50.0, 90.0, 99.0, 100.0] {
        let exact = v[((p / 100.0 * v.len() as f64).ceil() as usize).max(1) - 1];
        let got = h.percentile(p).unwrap();
        assert!(
            got >= exact && got - exact <= exact / 64,
            "p{p}: {got} vs {exact}"
        );
    }
    assert_eq!(h.max(), v.last().copied());
    assert_eq!(h.percentile(100.0), h.max());
    assert_eq!(Histogram::default().percentile(50.0), None);
}

fn server(
    work: Duration,
    bytes: u64,
) -> (SocketAddr, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let s = Server::bind(ServePlan {
        listen: "127.0.0.1:0".parse().unwrap(),
        work,
        bytes,
        // A deadline of its own: nothing outlives a failed test.
        duration: Some(Duration::from_secs(30)),
        udp: false,
    })
    .unwrap();
    let (addr, stop) = (s.local_addr().unwrap(), s.stopper());
    let h = std::thread::spawn(move || s.run(&mut |_| {}).unwrap());
    (addr, stop, h)
}

/// Counts are deterministic (the schedule fixes how many requests are due),
/// so they are asserted exactly; times only for order and lower bounds.
#[test]
fn load_against_serve_on_loopback() {
    let (addr, stop, h) = server(Duration::from_millis(3), 10_000);
    let plan = LoadPlan {
        target: addr,
        rate: Some(100.0),
        connections: 2,
        duration: Duration::from_secs(1),
        bytes: None,
    };
    let r = load(&plan, &mut |_| {}).unwrap();
    assert_eq!(r.requests, 100, "{r:?}");
    assert_eq!((r.ok, r.errors, r.unfinished), (100, 0, 0), "{r:?}");
    assert_eq!(r.bytes, 100 * 10_000);
    let l = &r.latency_ms;
    let (p50, p90, p99, max) = (
        l.p50.unwrap(),
        l.p90.unwrap(),
        l.p99.unwrap(),
        l.max.unwrap(),
    );
    // Each request burns 3 ms of CPU: no answer comes sooner.
    assert!(
        p50 >= 3.0 && p50 <= p90 && p90 <= p99 && p99 <= max,
        "{l:?}"
    );
    // `?bytes=` overrides the server's default; `max` is closed-loop.
    let r = load(
        &LoadPlan {
            rate: None,
            bytes: Some(123),
            duration: Duration::from_millis(300),
            ..plan
        },
        &mut |_| {},
    )
    .unwrap();
    assert!(r.ok > 0 && r.errors == 0, "{r:?}");
    assert_eq!(r.bytes, r.ok * 123);
    assert_eq!(r.latency_from, "sent");
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
}

#[test]
fn load_counts_refused_connections_as_errors() {
    // A port just bound and released: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = load(
        &LoadPlan {
            target: addr,
            rate: Some(50.0),
            connections: 1,
            duration: Duration::from_millis(200),
            bytes: None,
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((r.requests, r.ok, r.errors), (10, 0, 10), "{r:?}");
    assert_eq!(r.latency_ms.p50, None);
    assert!(report_table(&r).contains("–"));
}

#[test]
fn a_port_in_use_is_refused_by_name() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = Server::bind(ServePlan {
        listen: addr,
        work: Duration::ZERO,
        bytes: 0,
        duration: None,
        udp: false,
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains(&addr.to_string()) && e.contains("in use"), "{e}");
}

/// Coordinated omission: a server slower than the offered rate builds a
/// backlog, and latency counted from when each request was *due* shows it.
/// 20/s × 80 ms of CPU on one connection: request k can't be answered
/// before (k+1)·80 ms, and was due at k·50 ms, so the 15th waits ≥ 500 ms
/// however fast the machine (a slower one only waits longer); from the
/// send, each would look like ~80 ms.
#[test]
fn latency_counts_from_when_a_request_was_due() {
    let (addr, stop, h) = server(Duration::from_millis(80), 0);
    let r = load(
        &LoadPlan {
            target: addr,
            rate: Some(20.0),
            connections: 1,
            duration: Duration::from_secs(1),
            bytes: None,
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.requests, 20, "{r:?}");
    assert_eq!(r.latency_from, "due");
    // (On a machine too busy to serve 1.6 s of CPU within the 2 s of
    // grace, the backlog shows as unfinished requests instead.)
    assert!(
        r.latency_ms.max.is_some_and(|m| m >= 500.0) || r.unfinished > 0,
        "{r:?}"
    );
    assert_eq!(r.ok + r.errors + r.unfinished, 20, "{r:?}");
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
}

/// `--udp`: datagrams echoed whole on the TCP port's number, beside HTTP.
#[test]
fn serve_udp_echoes_on_the_same_port() {
    let s = Server::bind(ServePlan {
        listen: "127.0.0.1:0".parse().unwrap(),
        work: Duration::ZERO,
        bytes: 0,
        duration: Some(Duration::from_secs(30)),
        udp: true,
    })
    .unwrap();
    let (addr, stop) = (s.local_addr().unwrap(), s.stopper());
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let l2 = lines.clone();
    let h = std::thread::spawn(move || s.run(&mut |l| l2.lock().unwrap().push(l)).unwrap());
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for msg in ["ping", &"x".repeat(1400)] {
        c.send_to(msg.as_bytes(), addr).unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = c.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (msg.as_bytes(), addr));
    }
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    let lines = lines.lock().unwrap();
    assert!(lines[0].contains("UDP echo on the same port"), "{lines:?}");
    assert!(
        lines.last().unwrap().ends_with("; 2 UDP datagrams echoed"),
        "{lines:?}"
    );
}
