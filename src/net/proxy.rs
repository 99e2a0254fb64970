//! The published ports (`-p HOST:PORT[/tcp|/udp]`): small proxies in the
//! launching process, as docker's userland proxy — 127.0.0.1 cannot be
//! DNATed onto a bridge without `route_localnet`, and no firewall rule or
//! sysctl is touched. The workload sees the proxy's traffic as coming from
//! the gateway address.
//!
//! TCP: a thread accepting, two threads per connection copying. UDP has no
//! connections: each client address (IP:port) that sends gets a flow — a
//! socket of its own towards the workload, so the workload's replies can be
//! told apart and sent back to that client from the published port —,
//! forgotten after [`UDP_IDLE`] without traffic either way; at most
//! [`UDP_FLOWS`] at once (a datagram from one more client is dropped, as a
//! full network would).

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A bound published port, TCP or UDP.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// A UDP flow is forgotten after this long without a datagram either way
/// (docker's userland proxy: 90 s).
pub const UDP_IDLE: Duration = Duration::from_secs(90);
/// UDP flows (client addresses) at once; a datagram from one more is dropped.
pub const UDP_FLOWS: usize = 1024;
/// How often the proxy threads look at their stop flag.
const TICK: Duration = Duration::from_millis(200);

/// Serves `l` until `stop`, relaying to `target` (the workload's address
/// and port).
pub fn run(l: Listener, target: SocketAddr, stop: Arc<AtomicBool>) {
    match l {
        Listener::Tcp(l) => tcp(l, target, stop),
        Listener::Udp(s) => udp(s, target, stop, UDP_IDLE),
    }
}

/// Accepts on `l` until `stop`, relaying each connection to `target`.
fn tcp(l: TcpListener, target: SocketAddr, stop: Arc<AtomicBool>) {
    let _ = l.set_nonblocking(true);
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd: l.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, TICK.as_millis() as i32) };
        let Ok((client, _)) = l.accept() else {
            continue;
        };
        let _ = client.set_nonblocking(false);
        let _ = std::thread::Builder::new()
            .name("cgdash-proxy-conn".into())
            .spawn(move || relay(client, target));
    }
}

/// Copies both ways until each side has closed its half.
fn relay(client: TcpStream, target: SocketAddr) {
    let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || pump(client, server));
    pump(s2, c2);
    let _ = up.join();
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// One UDP client's flow: its socket towards the workload, and when it
/// last carried a datagram (ms since the proxy started).
struct Flow {
    up: UdpSocket,
    last: AtomicU64,
}

type Flows = Arc<Mutex<HashMap<SocketAddr, Arc<Flow>>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Receives on the published socket until `stop`; each datagram goes to
/// `target` through its client's flow (made on the client's first one).
fn udp(sock: UdpSocket, target: SocketAddr, stop: Arc<AtomicBool>, idle: Duration) {
    udp_flows(sock, target, stop, idle, Arc::default())
}

/// [`udp`] keeping its flows in `flows` (the tests look at them).
fn udp_flows(
    sock: UdpSocket,
    target: SocketAddr,
    stop: Arc<AtomicBool>,
    idle: Duration,
    flows: Flows,
) {
    let _ = sock.set_read_timeout(Some(TICK));
    let Ok(down) = sock.try_clone() else { return };
    let down = Arc::new(down);
    let t0 = Instant::now();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, client)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let now = t0.elapsed().as_millis() as u64;
        let flow = {
            let mut f = lock(&flows);
            match f.get(&client) {
                Some(flow) => Arc::clone(flow),
                None => {
                    if f.len() >= UDP_FLOWS {
                        continue;
                    }
                    let bind: SocketAddr = match target {
                        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
                        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
                    };
                    let Ok(up) = UdpSocket::bind(bind) else {
                        continue;
                    };
                    if up.connect(target).is_err() || up.set_read_timeout(Some(TICK)).is_err() {
                        continue;
                    }
                    let flow = Arc::new(Flow {
                        up,
                        last: AtomicU64::new(now),
                    });
                    let (fl, dn, fs, st) = (
                        Arc::clone(&flow),
                        Arc::clone(&down),
                        Arc::clone(&flows),
                        Arc::clone(&stop),
                    );
                    let spawned = std::thread::Builder::new()
                        .name("cgdash-proxy-udp".into())
                        .spawn(move || replies(fl, dn, client, fs, st, t0, idle));
                    if spawned.is_err() {
                        continue;
                    }
                    f.insert(client, Arc::clone(&flow));
                    flow
                }
            }
        };
        flow.last.store(now, Ordering::Relaxed);
        let _ = flow.up.send(&buf[..n]);
    }
}

/// Sends the workload's replies on `flow` back to `client` from the
/// published socket, until the flow is idle for `idle` or the proxy stops.
fn replies(
    flow: Arc<Flow>,
    down: Arc<UdpSocket>,
    client: SocketAddr,
    flows: Flows,
    stop: Arc<AtomicBool>,
    t0: Instant,
    idle: Duration,
) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        match flow.up.recv(&mut buf) {
            Ok(n) => {
                flow.last
                    .store(t0.elapsed().as_millis() as u64, Ordering::Relaxed);
                let _ = down.send_to(&buf[..n], client);
            }
            // A timeout, or the workload's port unreachable (ICMP, seen as
            // ECONNREFUSED on a connected socket): the flow stays.
            Err(_) => {
                let quiet = (t0.elapsed().as_millis() as u64)
                    .saturating_sub(flow.last.load(Ordering::Relaxed));
                if quiet >= idle.as_millis() as u64 {
                    // Forgotten under the lock, so a datagram arriving now
                    // makes a new flow rather than using this one.
                    let mut f = lock(&flows);
                    if flow.last.load(Ordering::Relaxed) + idle.as_millis() as u64
                        <= t0.elapsed().as_millis() as u64
                    {
                        f.remove(&client);
                        return;
                    }
                }
            }
        }
    }
    lock(&flows).remove(&client);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UDP echo server on loopback that answers `tag:` + the datagram,
    /// until `stop`; returns its address.
    fn echo(stop: Arc<AtomicBool>) -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = s.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::SeqCst) {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    let mut out = b"echo:".to_vec();
                    out.extend_from_slice(&buf[..n]);
                    let _ = s.send_to(&out, from);
                }
            }
        });
        addr
    }

    fn client() -> UdpSocket {
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c
    }

    fn ask(c: &UdpSocket, to: SocketAddr, what: &str) -> String {
        c.send_to(what.as_bytes(), to).unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = c.recv_from(&mut buf).expect("an answer through the proxy");
        assert_eq!(from, to, "the answer comes from the published port");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// On loopback: two clients each get their own answers back from the
    /// published port, the server sees a flow per client, an idle flow is
    /// forgotten (and a later datagram makes a new one), and the proxy and
    /// its flows end with `stop`.
    #[test]
    fn udp_is_relayed_per_client_and_idle_flows_are_forgotten() {
        let stop = Arc::new(AtomicBool::new(false));
        let server = echo(stop.clone());
        let published = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = published.local_addr().unwrap();
        let pstop = Arc::new(AtomicBool::new(false));
        let s2 = pstop.clone();
        let idle = Duration::from_millis(600);
        let flows: Flows = Arc::default();
        let f2 = Arc::clone(&flows);
        let proxy = std::thread::spawn(move || udp_flows(published, server, s2, idle, f2));
        let (a, b) = (client(), client());
        assert_eq!(ask(&a, port, "one"), "echo:one");
        assert_eq!(ask(&b, port, "two"), "echo:two");
        assert_eq!(ask(&a, port, "three"), "echo:three");
        // A big datagram whole (a UDP message is not a stream).
        let big = "x".repeat(1400);
        assert_eq!(ask(&b, port, &big), format!("echo:{big}"));
        assert_eq!(lock(&flows).len(), 2, "one flow per client");
        // Idle past the timeout (a generous 5×: the reply threads look
        // every 200 ms, on a loaded machine later): forgotten; the client
        // still gets answers, through a new flow.
        let end = Instant::now() + idle * 5 + Duration::from_secs(5);
        while !lock(&flows).is_empty() {
            assert!(Instant::now() < end, "idle flows never forgotten");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(ask(&a, port, "again"), "echo:again");
        assert_eq!(lock(&flows).len(), 1);
        pstop.store(true, Ordering::SeqCst);
        proxy.join().unwrap();
        // Its flow ends with the proxy (within a tick or two).
        let end = Instant::now() + Duration::from_secs(10);
        while !lock(&flows).is_empty() {
            assert!(Instant::now() < end, "a flow outlived the proxy");
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::SeqCst);
        // Stopped: nothing answers on the published port any more.
        a.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let _ = a.send_to(b"late", port);
        let mut buf = [0u8; 64];
        assert!(a.recv_from(&mut buf).is_err());
    }

    /// Each client address is a flow of its own: what the server answers
    /// one client never reaches another, however they interleave.
    #[test]
    fn udp_answers_never_cross_between_clients() {
        let stop = Arc::new(AtomicBool::new(false));
        let server = echo(stop.clone());
        let published = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = published.local_addr().unwrap();
        let s2 = stop.clone();
        let proxy = std::thread::spawn(move || udp(published, server, s2, UDP_IDLE));
        let clients: Vec<UdpSocket> = (0..8).map(|_| client()).collect();
        for round in 0..5 {
            for (i, c) in clients.iter().enumerate() {
                assert_eq!(
                    ask(c, port, &format!("{i}/{round}")),
                    format!("echo:{i}/{round}")
                );
            }
        }
        stop.store(true, Ordering::SeqCst);
        proxy.join().unwrap();
    }
}
