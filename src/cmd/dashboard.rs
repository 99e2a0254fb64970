//! `cgdash` with no arguments: the dashboard. This is the event loop — the
//! only place that does I/O for the UI: terminal input, the sampler's
//! snapshots, signals, and executing the app's effects (limit writes and
//! launches off the UI path, signals by PID). See `app` (state) and `ui` (drawing).

use std::io::{self, IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cgdash::app::{keymap, Action, App, Effect, LaunchRequest, OwnedWorkload, SignalKind};
use cgdash::cgroup::{display_path, Applied, CgroupError, Layout};
use cgdash::launch::{self, LaunchSpec, Namespace, StdioMode, Workload};
use cgdash::sampler::{self, Sampler};
use cgdash::ui::screen::Screen;
use cgdash::ui::Dashboard;
use crossterm::cursor;
use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, MouseEventKind};
use crossterm::terminal::EnterAlternateScreen;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::widgets::Widget as _;
use tokio::signal::unix::{signal, SignalKind as UnixSignal};
use tokio::sync::mpsc;

/// How the dashboard starts (`cgdash`, `cgdash demo`, `cgdash run --tui`).
pub struct Options {
    pub interval: Duration,
    /// Select this group (display form, `cgdash/demo`) as soon as it appears.
    pub focus: Option<String>,
    /// A line under the header (the demo's hint).
    pub title: Option<String>,
    /// Workloads handed to the dashboard: stopped and cleaned up when it ends.
    pub workloads: Vec<Workload>,
    /// Ask before quitting while the handed workloads run (false for the demo).
    pub ask_on_quit: bool,
}

impl Options {
    pub fn new(interval: Duration) -> Options {
        Options {
            interval,
            focus: None,
            title: None,
            workloads: Vec::new(),
            ask_on_quit: true,
        }
    }
}

pub fn run(interval: Duration) -> anyhow::Result<ExitCode> {
    run_with(Options::new(interval))
}

/// Fails early, before anything is started, when there is no terminal to
/// draw on (a pipe, a cron job, `ssh host cgdash` without `-t`).
pub fn need_terminal() -> anyhow::Result<()> {
    if io::stdin().is_terminal() && io::stdout().is_terminal() {
        Ok(())
    } else {
        anyhow::bail!(
            "the dashboard needs a terminal on stdin and stdout (for a reading without one: cgdash snapshot)"
        )
    }
}

/// Runs the dashboard until the user quits (or SIGTERM/SIGHUP/SIGINT), then
/// stops and removes every workload it owns.
pub fn run_with(opts: Options) -> anyhow::Result<ExitCode> {
    need_terminal()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    let mut workloads = Vec::new();
    let result = rt.block_on(event_loop(opts, &mut workloads));
    // Terminal restored by now; stop what we launched (off the runtime).
    for w in workloads {
        let group = w.group().to_string();
        if let Err(e) = w.cleanup() {
            cgdash::errln!("cgdash: cleaning up {group}: {e}");
        }
    }
    result
}

/// Why editing is off, if it is.
pub fn read_only_reason() -> Option<String> {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        None
    } else {
        Some(format!(
            "not root (uid {uid}): changing limits needs root or a delegated group"
        ))
    }
}

/// Puts the terminal back however the loop ends (error, panic, signal).
struct TerminalGuard;

type Term = Screen<CrosstermBackend<io::Stdout>>;

impl TerminalGuard {
    /// What `ratatui::init` does, with `ui::screen` instead of ratatui's
    /// two-buffer `Terminal` (half the terminal's memory).
    fn enter() -> io::Result<(Term, TerminalGuard)> {
        let previous_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            leave();
            previous_hook(info);
        }));
        crossterm::terminal::enable_raw_mode()?;
        // From here on, dropping the guard puts the terminal back.
        let guard = TerminalGuard;
        crossterm::execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
        let screen = Screen::new(CrosstermBackend::new(io::stdout()))?;
        Ok((screen, guard))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        leave();
    }
}

/// Puts the terminal back as the shell had it. The screen hides the cursor
/// on every frame; it is shown again after leaving the alternate screen
/// (terminals such as tmux keep that mode per screen).
fn leave() {
    let _ = crossterm::execute!(io::stdout(), DisableMouseCapture);
    ratatui::restore();
    let _ = crossterm::execute!(io::stdout(), cursor::Show);
    let _ = io::stdout().flush();
}

/// Terminal events, read on a thread of their own (blocking reads never
/// stall the loop); stops when `stop` is set.
fn spawn_input(tx: mpsc::UnboundedSender<Event>, stop: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new()
        .name("cgdash-input".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match event::poll(Duration::from_millis(250)) {
                    Ok(true) => match event::read() {
                        Ok(ev) => {
                            if tx.send(ev).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    },
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        });
}

/// Messages from effects running off the loop.
enum Done {
    Action(Action),
    Launched(Result<Workload, String>),
}

async fn event_loop(opts: Options, workloads: &mut Vec<Workload>) -> anyhow::Result<ExitCode> {
    let layout = Layout::detect().context("finding the cgroup hierarchies")?;
    let read_only = read_only_reason();
    if read_only.is_none() {
        for g in launch::cleanup_stale(&layout) {
            cgdash::errln!("cgdash: removed {g}, left behind by a cgdash that was killed");
        }
    }
    let sampler = Sampler::new(layout.clone(), "/proc".into()).context("reading /proc")?;
    let (mut snapshots, sampler_handle) = sampler::spawn(sampler, opts.interval);

    let mut app = App::new(read_only);
    app.title = opts.title;
    for w in opts.workloads {
        app.add_owned(OwnedWorkload {
            group: display_path(w.group()).to_string(),
            pid: w.pid(),
            keep: false,
            ask_on_quit: opts.ask_on_quit,
            running: true,
        });
        workloads.push(w);
    }
    if let Some(f) = &opts.focus {
        app.focus_group(f);
    }

    let mut sigterm = signal(UnixSignal::terminate())?;
    let mut sighup = signal(UnixSignal::hangup())?;
    let mut sigint = signal(UnixSignal::interrupt())?;

    let (mut terminal, _guard) = TerminalGuard::enter().context("setting up the terminal")?;
    let stop_input = Arc::new(AtomicBool::new(false));
    let (input_tx, mut input) = mpsc::unbounded_channel();
    spawn_input(input_tx, Arc::clone(&stop_input));
    let (done_tx, mut done) = mpsc::unbounded_channel::<Done>();
    // Only while workloads run: has one of them exited?
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let mut dirty = true;
    let mut quit = false;
    while !quit {
        if dirty {
            terminal.draw(|area, buf| Dashboard(&app).render(area, buf))?;
            dirty = false;
        }
        let mut actions: Vec<Action> = Vec::new();
        tokio::select! {
            ev = input.recv() => match ev {
                // Unmapped keys change nothing: no redraw.
                Some(Event::Key(k)) => actions.extend(keymap::lookup(app.key_mode(), k)),
                Some(Event::Mouse(m)) => {
                    let size = terminal.size();
                    let screen = Rect::new(0, 0, size.width, size.height);
                    let wheel = match m.kind {
                        MouseEventKind::ScrollUp => Some(-3),
                        MouseEventKind::ScrollDown => Some(3),
                        MouseEventKind::Down(_) => None,
                        _ => continue,
                    };
                    if let Some(a) = cgdash::ui::mouse_action(screen, &app, m.column, m.row, wheel) {
                        actions.push(a);
                    }
                }
                Some(Event::Resize(..)) => {
                    terminal.autoresize()?;
                    dirty = true;
                }
                Some(_) => {}
                None => quit = true,
            },
            changed = snapshots.changed() => {
                if changed.is_err() {
                    anyhow::bail!("the sampler stopped");
                }
                let snap = Arc::clone(&snapshots.borrow_and_update());
                actions.push(Action::Snapshot(snap));
                // An incomplete sample says so on every tick it lasts.
                if let Some(p) = sampler_handle.problem() {
                    app.status = Some(cgdash::app::Status {
                        text: format!("incomplete sample: {p}"),
                        kind: cgdash::app::StatusKind::Error,
                    });
                }
            }
            Some(d) = done.recv() => match d {
                Done::Action(a) => {
                    if matches!(a, Action::Applied { .. }) {
                        sampler_handle.resample();
                    }
                    actions.push(a);
                }
                Done::Launched(Ok(w)) => {
                    let owned = OwnedWorkload {
                        group: display_path(w.group()).to_string(),
                        pid: w.pid(),
                        keep: false,
                        ask_on_quit: true,
                        running: true,
                    };
                    workloads.push(w);
                    actions.push(Action::Launched(Ok(owned)));
                }
                Done::Launched(Err(e)) => actions.push(Action::Launched(Err(e))),
            },
            _ = tick.tick(), if !workloads.is_empty() => {
                for w in workloads.iter_mut() {
                    let group = display_path(w.group()).to_string();
                    let running = app.owned.iter().any(|o| o.group == group && o.running);
                    if !running {
                        continue;
                    }
                    match w.try_wait() {
                        Ok(Some(exit)) => actions.push(Action::WorkloadExited { group, status: exit.to_string() }),
                        Ok(None) => {}
                        Err(e) => actions.push(Action::WorkloadExited { group, status: format!("lost: {e}") }),
                    }
                }
            }
            _ = sigterm.recv() => actions.push(Action::ForceQuit),
            _ = sighup.recv() => actions.push(Action::ForceQuit),
            _ = sigint.recv() => actions.push(Action::ForceQuit),
        }
        for a in actions {
            let fx = app.update(a);
            dirty = true;
            quit |= execute(fx, &mut app, &layout, &done_tx, &sampler_handle);
        }
    }
    stop_input.store(true, Ordering::Relaxed);
    Ok(ExitCode::SUCCESS)
}

/// Runs effects; returns true when the app asked to quit.
fn execute(
    effects: Vec<Effect>,
    app: &mut App,
    layout: &Layout,
    done: &mpsc::UnboundedSender<Done>,
    sampler: &sampler::SamplerHandle,
) -> bool {
    let mut quit = false;
    for e in effects {
        match e {
            Effect::Apply {
                group,
                settings,
                label,
                undo,
            } => {
                let layout = layout.clone();
                let done = done.clone();
                tokio::task::spawn_blocking(move || {
                    let result = layout
                        .apply(&group, &settings)
                        .map(|a| describe(&a))
                        .map_err(|e| explain(&e));
                    let _ = done.send(Done::Action(Action::Applied {
                        group: display_path(&group).to_string(),
                        label,
                        undo,
                        result,
                    }));
                });
            }
            Effect::Signal { pid, signal } => {
                let sig = match signal {
                    SignalKind::Term => Signal::SIGTERM,
                    SignalKind::Kill => Signal::SIGKILL,
                    SignalKind::Stop => Signal::SIGSTOP,
                    SignalKind::Cont => Signal::SIGCONT,
                };
                let result = kill(Pid::from_raw(pid), sig).map_err(|e| e.desc().to_string());
                let more = app.update(Action::Signalled {
                    pid,
                    signal,
                    result,
                });
                quit |= execute(more, app, layout, done, sampler);
            }
            Effect::Launch(req) => {
                let layout = layout.clone();
                let done = done.clone();
                tokio::task::spawn_blocking(move || {
                    let r = launch_request(&layout, req);
                    let _ = done.send(Done::Launched(r));
                });
            }
            Effect::Resample => sampler.resample(),
            Effect::Quit => quit = true,
        }
    }
    quit
}

fn launch_request(layout: &Layout, req: LaunchRequest) -> Result<Workload, String> {
    let mut spec = LaunchSpec::new(req.command);
    spec.name = req.name;
    spec.settings = req.settings;
    spec.share = Namespace::parse_list(&req.share).map_err(|e| e.to_string())?;
    spec.hostname = req.hostname;
    spec.keep = req.keep;
    spec.stdio = StdioMode::Null;
    launch::launch(layout, &spec).map_err(|e| e.to_string())
}

/// A refused write in words: which file, which value, what the kernel means.
fn explain(e: &CgroupError) -> String {
    match e {
        CgroupError::Refused {
            path,
            value,
            meaning,
            source,
            ..
        } => {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let errno = source
                .raw_os_error()
                .map(|n| format!("{:?}", nix::errno::Errno::from_raw(n)))
                .unwrap_or_else(|| source.to_string());
            format!("the kernel refused {file} ← {value}: {meaning} ({errno})")
        }
        other => other.to_string(),
    }
}

/// `cpu.cfs_quota_us ← 50000`: which files got which values.
fn describe(applied: &[Applied]) -> String {
    applied
        .iter()
        .flat_map(|a| &a.writes)
        .map(|w| {
            let file = w
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("{file} ← {}", w.contents)
        })
        .collect::<Vec<_>>()
        .join(", ")
}
