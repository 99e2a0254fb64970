//! Replays `demo.tape` (the VHS script that records assets/demo.gif), and
//! `demo-throttle.tape` (the microscope; `demo_throttle_tape_replays`), into the
//! real binary in tmux, and checks at every `Sleep` what a viewer would see:
//! the demo group at its 20 % quota, then at each quota the `+` presses lead
//! to, the help overlay while it is open, and after `q` nothing left behind.
//! The expectations follow from the tape's own keys, so a tape that drifts
//! from the program (or a program that drifts from the tape) fails here.

mod common;
mod tmux;

use std::time::{Duration, Instant};

use tmux::{cpu_and_quota, Tmux};

/// The two replays run one at a time: two demos on two CPUs would disturb
/// each other's readings.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The replay terminal: what the tape's 1200×700 px at font size 14 holds, about.
const COLS: u16 = 120;
const ROWS: u16 = 35;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Type(String),
    Key(String),
    Sleep(Duration),
    Output(String),
    Set(String, String),
    Hide,
    Show,
}

fn duration(s: &str) -> Duration {
    let s = s.trim();
    if let Some(ms) = s.strip_suffix("ms") {
        Duration::from_millis(ms.parse().expect("ms"))
    } else if let Some(sec) = s.strip_suffix('s') {
        Duration::from_secs_f64(sec.parse().expect("seconds"))
    } else {
        Duration::from_secs_f64(s.parse().expect("seconds"))
    }
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let q = s.chars().next().expect("a quoted string");
    assert!(matches!(q, '"' | '\'' | '`'), "not quoted: {s}");
    s[1..s.rfind(q).expect("closing quote")].to_string()
}

/// The standard VHS commands this tape may use; anything else fails.
fn parse(tape: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for (n, line) in tape.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        // `Type@100ms "x"`, `Enter 3` (repeat count), `Sleep 2s`.
        let (cmd, _speed) = cmd.split_once('@').unwrap_or((cmd, ""));
        let repeat = rest.trim().parse::<usize>().unwrap_or(1);
        match cmd {
            "Output" => steps.push(Step::Output(rest.trim().to_string())),
            "Set" => {
                let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                steps.push(Step::Set(k.to_string(), v.trim().to_string()));
            }
            "Type" => steps.push(Step::Type(unquote(rest))),
            "Sleep" => steps.push(Step::Sleep(duration(rest))),
            "Hide" => steps.push(Step::Hide),
            "Show" => steps.push(Step::Show),
            "Enter" | "Escape" | "Tab" | "Space" | "Backspace" | "Up" | "Down" | "Left"
            | "Right" | "PageUp" | "PageDown" => {
                for _ in 0..repeat {
                    steps.push(Step::Key(cmd.to_string()));
                }
            }
            c if c.starts_with("Ctrl+") => {
                steps.push(Step::Key(format!("C-{}", &c[5..].to_lowercase())))
            }
            other => panic!(
                "demo.tape line {}: `{other}` is not a VHS command this replay knows",
                n + 1
            ),
        }
    }
    steps
}

fn tmux_key(vhs: &str) -> &str {
    match vhs {
        "Space" => "Space",
        "Backspace" => "BSpace",
        "PageUp" => "PPage",
        "PageDown" => "NPage",
        k => k,
    }
}

/// What the viewer should see, derived from the keys played so far.
#[derive(Debug, Default)]
struct Model {
    started: bool,
    help: bool,
    quit: bool,
    quota: f64,
    /// Time since the last quota change (CPU % needs a couple of samples).
    settled: Duration,
    /// The shell line being typed.
    line: String,
}

impl Model {
    fn key(&mut self, k: &str) {
        if !self.started {
            match k {
                "Enter" => {
                    assert_eq!(
                        self.line.trim(),
                        "cgdash demo",
                        "the tape must start `cgdash demo`"
                    );
                    self.started = true;
                    self.quota = 20.0;
                    self.settled = Duration::ZERO;
                }
                _ => self.line.push_str(k),
            }
            return;
        }
        if self.quit {
            return;
        }
        match (self.help, k) {
            (true, "?" | "Escape" | "q" | "Enter") => self.help = false,
            (true, _) => {}
            (false, "?") => self.help = true,
            (false, "+" | "=") => {
                self.quota += 10.0;
                self.settled = Duration::ZERO;
            }
            (false, "-") => {
                self.quota -= 10.0;
                self.settled = Duration::ZERO;
            }
            (false, "q") => self.quit = true,
            (false, other) => panic!(
                "demo.tape presses `{other}`; this replay doesn't know what a viewer \
                 should see after it (teach Model::key)"
            ),
        }
    }
}

fn demo_group(screen: &str) -> Option<String> {
    let i = screen.find("CPU burner in ")? + "CPU burner in ".len();
    Some(screen[i..].split([',', ' ']).next()?.to_string())
}

#[test]
fn demo_tape_replays() {
    let Some(layout) = common::live("demo_tape_replays") else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tape = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo.tape"))
        .expect("demo.tape");
    let steps = parse(&tape);
    assert!(
        steps.contains(&Step::Output("assets/demo.gif".into())),
        "the tape records assets/demo.gif"
    );
    let bin_dir = std::path::Path::new(common::cgdash_bin())
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let Some(t) = Tmux::start(
        "tape",
        COLS,
        ROWS,
        &[("PATH", &path), ("PS1", "$ "), ("TERM", "xterm-256color")],
        &["bash", "--norc", "--noprofile"],
    ) else {
        return;
    };
    let mut m = Model::default();
    let mut group: Option<String> = None;
    let mut checks = 0;
    for step in &steps {
        match step {
            Step::Type(s) => {
                for c in s.chars() {
                    t.text(&c.to_string());
                    m.key(&c.to_string());
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Step::Key(k) => {
                t.key(tmux_key(k));
                m.key(k);
            }
            Step::Sleep(d) => {
                std::thread::sleep(*d);
                m.settled += *d;
                if m.started {
                    check(&t, &m, &mut group);
                    checks += 1;
                }
            }
            Step::Output(_) | Step::Set(..) | Step::Hide | Step::Show => {}
        }
    }
    assert!(m.quit, "the tape must end by quitting the demo");
    assert!(checks >= 5, "too few checkpoints in the tape ({checks})");
    // Nothing left behind: no group, hence no process in it.
    let g = group.expect("the demo's group was seen");
    // Quitting stops the workload (SIGTERM, SIGKILL after a grace) and
    // removes the group; on a busy machine that takes a few seconds.
    let end = Instant::now() + Duration::from_secs(15);
    while layout.group_exists(&g) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !layout.group_exists(&g),
        "{g} is still there after quitting"
    );
}

/// Asserts what the screen must show now (polling a little: a viewer would
/// see it within the tape's own timing plus a second or two).
fn check(t: &Tmux, m: &Model, group: &mut Option<String>) {
    let grace = Duration::from_secs(3);
    if m.quit {
        let r = t.wait_for(grace, |s| !s.contains("cgdash │") && s.contains("$ "));
        let s = r.unwrap_or_else(|s| panic!("after q the shell should be back:\n{s}"));
        assert!(!s.contains("Help:"), "{s}");
        return;
    }
    if m.help {
        let r = t.wait_for(grace, |s| {
            s.contains("Help: cgdash keys") && s.contains("CPU quota +10 points")
        });
        r.unwrap_or_else(|s| panic!("the help overlay should be open:\n{s}"));
        return;
    }
    let want = m.quota;
    let settled = m.settled >= Duration::from_millis(2500);
    let ok = |s: &str| {
        let Some((cpu, quota)) = cpu_and_quota(s) else {
            return false;
        };
        let quota_ok = quota.is_some_and(|q| (q - want).abs() < 0.5);
        // Held at the quota: a little under it when the host is busy too.
        let cpu_ok = !settled || (cpu <= want + 4.0 && cpu >= want - (want * 0.25).max(6.0));
        quota_ok && cpu_ok && !s.contains("Help: cgdash keys")
    };
    let s = t
        .wait_for(grace + Duration::from_secs(2), ok)
        .unwrap_or_else(|s| {
            panic!(
                "expected the demo at quota {want}% (CPU ≈ {want}% once settled: {settled}):\n{s}"
            )
        });
    assert!(
        s.contains("press + / - to change the quota"),
        "the demo's hint:\n{s}"
    );
    if group.is_none() {
        *group = demo_group(&s);
        assert!(
            group
                .as_deref()
                .is_some_and(|g| g.starts_with("cgdash/demo")),
            "{s}"
        );
    }
}

#[test]
fn parser_knows_the_tape_commands() {
    let steps = parse("# c\nOutput a.gif\nSet Width 1200\nType@50ms \"ab\"\nEnter 2\nSleep 500ms\nCtrl+C\nHide\nShow\n");
    assert_eq!(
        steps,
        vec![
            Step::Output("a.gif".into()),
            Step::Set("Width".into(), "1200".into()),
            Step::Type("ab".into()),
            Step::Key("Enter".into()),
            Step::Key("Enter".into()),
            Step::Sleep(Duration::from_millis(500)),
            Step::Key("C-c".into()),
            Step::Hide,
            Step::Show,
        ]
    );
}

/// Replays `demo-throttle.tape` the same way: after start the microscope
/// shows the throttled periods and the hint; after `b` the burst is
/// allowed (and the kernel holds it); after `q` the shell is back and the
/// group gone.
#[test]
fn demo_throttle_tape_replays() {
    let Some(layout) = common::live("demo_throttle_tape_replays") else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tape = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo-throttle.tape"))
        .expect("demo-throttle.tape");
    let steps = parse(&tape);
    assert!(steps.contains(&Step::Output("assets/demo-throttle.gif".into())));
    let bin_dir = std::path::Path::new(common::cgdash_bin())
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let Some(t) = Tmux::start(
        "tape-throttle",
        COLS,
        ROWS,
        &[("PATH", &path), ("PS1", "$ "), ("TERM", "xterm-256color")],
        &["bash", "--norc", "--noprofile"],
    ) else {
        return;
    };
    let (mut line, mut started, mut burst, mut quit) = (String::new(), false, false, false);
    let mut group: Option<String> = None;
    let mut checks = 0;
    for step in &steps {
        match step {
            Step::Type(s) => {
                for c in s.chars() {
                    let k = c.to_string();
                    t.text(&k);
                    match (started, k.as_str()) {
                        (false, _) => line.push(c),
                        (true, "b") => burst = !burst,
                        (true, "q") => quit = true,
                        (true, other) => {
                            panic!("demo-throttle.tape presses `{other}`: teach the replay")
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Step::Key(k) => {
                t.key(tmux_key(k));
                if k == "Enter" && !started {
                    assert_eq!(line.trim(), "cgdash demo throttle");
                    started = true;
                }
            }
            Step::Sleep(d) => {
                std::thread::sleep(*d);
                if !started {
                    continue;
                }
                checks += 1;
                let grace = Duration::from_secs(5);
                if quit {
                    t.wait_for(grace, |s| !s.contains("cgdash │") && s.contains("$ "))
                        .unwrap_or_else(|s| panic!("after q the shell should be back:\n{s}"));
                    continue;
                }
                let want = if burst {
                    "burst: 50ms allowed"
                } else {
                    "burst: none"
                };
                let s = t
                    .wait_for(grace, |s| {
                        s.contains("CPU microscope · cgdash/demo-throttle")
                            && s.contains("b allow a burst")
                            && s.contains(want)
                    })
                    .unwrap_or_else(|s| panic!("expected the microscope with `{want}`:\n{s}"));
                if group.is_none() {
                    let i = s.find("CPU microscope · ").unwrap() + "CPU microscope · ".len();
                    group = s[i..].split_whitespace().next().map(str::to_string);
                }
            }
            Step::Output(_) | Step::Set(..) | Step::Hide | Step::Show => {}
        }
    }
    assert!(
        quit && checks >= 3,
        "the tape quits after a few checkpoints"
    );
    let g = group.expect("the demo's group was seen");
    let end = Instant::now() + Duration::from_secs(15);
    while layout.group_exists(&g) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !layout.group_exists(&g),
        "{g} is still there after quitting"
    );
}
