//! Driving the real binary in tmux: start it at a given size, send keys,
//! read the screen back. Each test process uses its own tmux server
//! (`-L cgdash-test-PID`), and every session is killed on drop; the last
//! one's drop also removes the server's socket file.
#![allow(dead_code)]

use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Sessions of this process's server started and not yet dropped. tmux
/// leaves its socket file behind when its last session ends (CI left one
/// stale `cgdash-test-PID` per test binary in /tmp/tmux-0), so the drop
/// that ends the last one removes it. Held while a session starts or ends,
/// so that no start can race the removal.
static LIVE: Mutex<usize> = Mutex::new(0);

/// Where tmux puts the socket of server `socket` (`-L`): `$TMUX_TMPDIR`
/// (default /tmp), `tmux-UID/`.
pub fn socket_path(socket: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("TMUX_TMPDIR").unwrap_or_else(|| "/tmp".into());
    std::path::Path::new(&dir)
        .join(format!("tmux-{}", nix::unistd::getuid()))
        .join(socket)
}

pub struct Tmux {
    socket: String,
    name: String,
}

fn tmux_ok() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

impl Tmux {
    /// Starts `argv` (no shell involved) in a detached `w`×`h` session with
    /// `env` added. `None` (with a message) when tmux is missing.
    pub fn start(name: &str, w: u16, h: u16, env: &[(&str, &str)], argv: &[&str]) -> Option<Tmux> {
        if !tmux_ok() {
            let required = std::env::var("CGDASH_LIVE_TESTS").is_ok_and(|v| v == "required");
            assert!(
                !required,
                "tmux is not installed but CGDASH_LIVE_TESTS=required"
            );
            eprintln!("SKIP: tmux is not installed");
            return None;
        }
        let t = Tmux {
            socket: format!("cgdash-test-{}", std::process::id()),
            name: format!("{name}-{}", std::process::id()),
        };
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        let mut cmd = Command::new("tmux");
        cmd.args([
            "-L",
            &t.socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            &t.name,
        ]);
        cmd.args(["-x", &w.to_string(), "-y", &h.to_string()]);
        // Through env(1): a new tmux server's own environment would win over -e.
        cmd.arg("env");
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.args(argv);
        let st = cmd.status().expect("run tmux");
        assert!(st.success(), "tmux new-session failed");
        *live += 1;
        drop(live);
        // Keep the pane after the program exits, to read its last screen.
        t.tmux(&["set-option", "-t", &t.name, "remain-on-exit", "on"]);
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// tmux key names: `Enter`, `Escape`, `C-c`, `Up`, or a single character.
    pub fn key(&self, key: &str) {
        self.tmux(&["send-keys", "-t", &self.name, key]);
    }

    /// Text typed literally.
    pub fn text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", &self.name, "-l", text]);
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", &self.name])
    }

    /// The screen with colours (ANSI escapes), for screenshots.
    pub fn screen_ansi(&self) -> String {
        self.tmux(&["capture-pane", "-e", "-p", "-t", &self.name])
    }

    /// Whether the program in the pane has exited: tmux says the pane is
    /// dead, or its process is a zombie. (The tmux server reaps a pane's
    /// process up to ~2 s after it exits here, whatever the program: `top`
    /// quit with `q` showed the same delay in 4 of 8 quits, measured from
    /// the key to the pid gone; 2026-12-05.)
    pub fn dead(&self) -> bool {
        let out = self.tmux(&[
            "display-message",
            "-p",
            "-t",
            &self.name,
            "#{pane_dead} #{pane_pid}",
        ]);
        let mut f = out.split_whitespace();
        if f.next() == Some("1") {
            return true;
        }
        f.next()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .is_some_and(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
    }

    /// The pane's terminal modes: (cursor visible, alternate screen on).
    pub fn modes(&self) -> (bool, bool) {
        let out = self.tmux(&[
            "display-message",
            "-p",
            "-t",
            &self.name,
            "#{cursor_flag} #{alternate_on}",
        ]);
        let mut it = out.split_whitespace().map(|v| v == "1");
        (it.next().unwrap_or(false), it.next().unwrap_or(false))
    }

    /// PID of the program in the pane.
    pub fn pid(&self) -> Option<i32> {
        self.tmux(&["display-message", "-p", "-t", &self.name, "#{pane_pid}"])
            .trim()
            .parse()
            .ok()
    }

    /// Polls the screen until `pred` holds; `Err(last screen)` after `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let end = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if pred(&s) {
                return Ok(s);
            }
            if Instant::now() >= end {
                return Err(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn resize(&self, w: u16, h: u16) {
        self.tmux(&[
            "resize-window",
            "-t",
            &self.name,
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        // SIGHUP to the program: cgdash cleans up what it made.
        self.tmux(&["kill-session", "-t", &self.name]);
        *live = live.saturating_sub(1);
        if *live == 0 {
            // The server exits with its last session; make sure, then
            // remove the socket file it leaves.
            self.tmux(&["kill-server"]);
            let _ = std::fs::remove_file(socket_path(&self.socket));
        }
        drop(live);
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `CPU 49.7% · quota 50%` from the chart title: (usage, quota); quota
/// `None` = `max`.
pub fn cpu_and_quota(screen: &str) -> Option<(f64, Option<f64>)> {
    let line = screen
        .lines()
        .find(|l| l.contains("CPU ") && l.contains(" · quota "))?;
    let after = |key: &str| -> Option<&str> {
        let i = line.find(key)? + key.len();
        line[i..]
            .split(|c: char| c == '%' || c.is_whitespace())
            .next()
    };
    let cpu = after("CPU ")?.parse().ok()?;
    let quota = match after("quota ")? {
        "max" => None,
        q => Some(q.parse().ok()?),
    };
    Some((cpu, quota))
}
