//! A small HTTP/1.1 server on std: one acceptor thread, a fixed pool of
//! worker threads and a bounded queue between them. Enough for scrapers
//! (a handful of GETs per interval), and bounded against abuse:
//!
//! - at most `workers` connections are served at once and `queue` wait;
//!   past that a connection gets `503` at once and is closed;
//! - reading the request head has a total deadline (a client trickling one
//!   byte at a time can't hold a worker past it) and a size cap;
//! - writing the response has a total deadline too (a client that stops
//!   reading is dropped), and bodies are shared (`Arc`), never copied per
//!   client: memory is bounded by workers × (head cap + socket buffers);
//! - one request per connection (`Connection: close`): no idle keep-alive
//!   connections to hold workers.
//!
//! Responses are produced by the handler off any lock the sampler needs:
//! a slow client delays only its own worker.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Limits {
    pub workers: usize,
    pub queue: usize,
    /// Whole request head, from accept to the blank line.
    pub read_deadline: Duration,
    /// Whole response.
    pub write_deadline: Duration,
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            workers: 4,
            queue: 16,
            read_deadline: Duration::from_secs(5),
            write_deadline: Duration::from_secs(30),
            max_head: 8192,
        }
    }
}

#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    pub accept: Option<String>,
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Arc<Vec<u8>>,
    pub extra_headers: Vec<(&'static str, &'static str)>,
}

impl Response {
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Arc::new(body.as_bytes().to_vec()),
            extra_headers: Vec::new(),
        }
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Serves forever on `listener` (returns only if accepting fails for good).
pub fn serve(listener: TcpListener, handler: Handler, limits: Limits) -> std::io::Result<()> {
    let (tx, rx) = sync_channel::<TcpStream>(limits.queue);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..limits.workers.max(1) {
        let (rx, handler, limits) = (rx.clone(), handler.clone(), limits.clone());
        std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || worker(&rx, &handler, &limits))?;
    }
    let mut failures = 0u32;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                failures = 0;
                match tx.try_send(stream) {
                    Ok(()) => {}
                    Err(TrySendError::Full(s)) => busy(s),
                    Err(TrySendError::Disconnected(_)) => {
                        return Err(std::io::Error::other("all HTTP workers ended"))
                    }
                }
            }
            // Out of descriptors, or a connection reset before accept:
            // pause (don't spin), then go on.
            Err(e) => {
                failures += 1;
                if failures > 1000 {
                    return Err(e);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Too many connections: a short 503, written without waiting.
fn busy(mut s: TcpStream) {
    let _ = s.set_nonblocking(true);
    let _ = s.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
    );
    let _ = s.shutdown(Shutdown::Both);
}

fn worker(rx: &Mutex<Receiver<TcpStream>>, handler: &Handler, limits: &Limits) {
    loop {
        let next = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(stream) = next else { return };
        serve_one(stream, handler, limits);
    }
}

fn serve_one(mut s: TcpStream, handler: &Handler, limits: &Limits) {
    let resp = match read_request(&mut s, limits) {
        Ok(req) => {
            let head_only = req.method == "HEAD";
            let resp = route_method(&req, handler);
            let _ = write_response(&mut s, &resp, head_only, limits.write_deadline);
            let _ = s.shutdown(Shutdown::Write);
            return;
        }
        Err(ReadError::Gone) => return,
        Err(ReadError::Bad(status, why)) => Response::text(status, why),
    };
    let _ = write_response(&mut s, &resp, false, limits.write_deadline);
    let _ = s.shutdown(Shutdown::Write);
}

fn route_method(req: &Request, handler: &Handler) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        let mut r = Response::text(405, "405 method not allowed: only GET and HEAD\n");
        r.extra_headers.push(("Allow", "GET, HEAD"));
        return r;
    }
    handler(req)
}

enum ReadError {
    /// Timed out or closed before a whole head: nothing to answer.
    Gone,
    Bad(u16, &'static str),
}

fn read_request(s: &mut TcpStream, limits: &Limits) -> Result<Request, ReadError> {
    let end = Instant::now() + limits.read_deadline;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_len = loop {
        if let Some(i) = find_head_end(&buf) {
            break i;
        }
        if buf.len() >= limits.max_head {
            return Err(ReadError::Bad(431, "431 request head too large\n"));
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Gone);
        }
        // A zero timeout would mean "block forever".
        let _ = s.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        let want = chunk.len().min(limits.max_head - buf.len());
        match s.read(&mut chunk[..want]) {
            Ok(0) => return Err(ReadError::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadError::Gone),
        }
    };
    let head = std::str::from_utf8(&buf[..head_len])
        .map_err(|_| ReadError::Bad(400, "400 bad request\n"))?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (first.next(), first.next(), first.next(), first.next())
    else {
        return Err(ReadError::Bad(400, "400 bad request\n"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(ReadError::Bad(400, "400 bad request\n"));
    }
    let mut accept = None;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("accept") {
                accept = Some(v.trim().to_string());
            }
        }
    }
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    Ok(Request {
        method: method.to_string(),
        path,
        accept,
    })
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn write_response(
    s: &mut TcpStream,
    r: &Response,
    head_only: bool,
    deadline: Duration,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    for (k, v) in &r.extra_headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let end = Instant::now() + deadline;
    write_until(s, head.as_bytes(), end)?;
    if !head_only {
        write_until(s, &r.body, end)?;
    }
    Ok(())
}

/// Writes all of `data` or gives up at `end` (a client that stopped reading).
fn write_until(s: &mut TcpStream, mut data: &[u8], end: Instant) -> std::io::Result<()> {
    while !data.is_empty() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        s.set_write_timeout(Some(left.max(Duration::from_millis(1))))?;
        match s.write(data) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
