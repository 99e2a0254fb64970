//! The status pipe: the helper and our init tell the launching process what
//! happened, one short line per event (a single `write(2)` below PIPE_BUF is
//! atomic, so lines from the two writers never interleave).
//!
//! `init PID` (helper: host pid of our init), `started` (init: the workload's
//! exec succeeded), `error MESSAGE` (setup failed; nothing ran),
//! `execfail ERRNO` (init: the workload's exec failed with this errno),
//! `exit CODE` / `signal N` (init: how the workload ended).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Init(i32),
    /// helper: its network namespace exists; it waits for the launcher.
    NetNs,
    Started,
    Error(String),
    ExecFailed(i32),
    Exit(i32),
    Signal(i32),
}

impl Msg {
    fn parse(line: &str) -> Option<Msg> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        Some(match word {
            "init" => Msg::Init(rest.trim().parse().ok()?),
            "started" => Msg::Started,
            "netns" => Msg::NetNs,
            "error" => Msg::Error(rest.to_string()),
            "execfail" => Msg::ExecFailed(rest.trim().parse().ok()?),
            "exit" => Msg::Exit(rest.trim().parse().ok()?),
            "signal" => Msg::Signal(rest.trim().parse().ok()?),
            _ => return None,
        })
    }

    pub fn line(&self) -> String {
        match self {
            Msg::Init(p) => format!("init {p}\n"),
            Msg::Started => "started\n".into(),
            Msg::NetNs => "netns\n".into(),
            // One line, bounded, so the write stays atomic.
            Msg::Error(m) => {
                let m: String = m.replace('\n', " ").chars().take(400).collect();
                format!("error {m}\n")
            }
            Msg::ExecFailed(e) => format!("execfail {e}\n"),
            Msg::Exit(c) => format!("exit {c}\n"),
            Msg::Signal(s) => format!("signal {s}\n"),
        }
    }
}

/// Sends one message (helper / init side). Errors are ignored: if the
/// launcher is gone there is nobody to tell.
pub fn send(fd: RawFd, msg: &Msg) {
    let line = msg.line();
    // SAFETY: writing a valid buffer to an fd we were handed.
    unsafe {
        libc::write(fd, line.as_ptr().cast(), line.len());
    }
}

/// The launcher's end of the pipe.
#[derive(Debug)]
pub struct StatusReader {
    fd: OwnedFd,
    buf: Vec<u8>,
    eof: bool,
}

impl StatusReader {
    pub fn new(fd: OwnedFd) -> StatusReader {
        StatusReader {
            fd,
            buf: Vec::new(),
            eof: false,
        }
    }

    pub fn eof(&self) -> bool {
        self.eof
    }

    /// Reads what arrives within `timeout` (zero: only what is there now)
    /// and returns the complete lines.
    pub fn read(&mut self, timeout: Duration) -> Vec<Msg> {
        let end = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            if self.eof {
                break;
            }
            let left = end.saturating_duration_since(Instant::now());
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) => break,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {
                    self.eof = true;
                    break;
                }
            }
            let mut chunk = [0u8; 512];
            // SAFETY: reading into a local buffer of the given size.
            let n =
                unsafe { libc::read(self.fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if n < 0 {
                if nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                    continue;
                }
                self.eof = true;
                break;
            }
            if n == 0 {
                self.eof = true;
                break;
            }
            self.buf.extend_from_slice(&chunk[..n as usize]);
            while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                if let Some(m) = Msg::parse(String::from_utf8_lossy(&line).trim_end()) {
                    out.push(m);
                }
            }
            if !out.is_empty() && timeout.is_zero() {
                continue;
            }
            if !out.is_empty() {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for m in [
            Msg::Init(42),
            Msg::Started,
            Msg::Error("exec /bin/x: No such file".into()),
            Msg::Exit(7),
            Msg::Signal(9),
        ] {
            assert_eq!(Msg::parse(m.line().trim_end()), Some(m));
        }
        assert_eq!(Msg::parse("nonsense"), None);
    }

    #[test]
    fn reads_lines_until_eof() {
        let (r, w) = nix::unistd::pipe().unwrap();
        send(w.as_raw_fd(), &Msg::Init(5));
        send(w.as_raw_fd(), &Msg::Started);
        drop(w);
        let mut rd = StatusReader::new(r);
        let mut all = Vec::new();
        while !rd.eof() {
            all.extend(rd.read(Duration::from_millis(100)));
        }
        assert_eq!(all, vec![Msg::Init(5), Msg::Started]);
    }
}
