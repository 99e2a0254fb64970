//! `cgdash` with no arguments: the dashboard. This is the event loop — the
//! only place that does I/O for the UI: terminal input, the sampler's
//! snapshots, signals, and executing the app's effects (limit writes and
//! launches off the UI path, signals by PID). See `app` (state) and `ui` (drawing).

use std::collections::{HashMap, VecDeque};
use std::io::{self, IsTerminal as _, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use cgdash::app::{
    keymap, Action, App, Effect, LaunchFailure, LaunchField, LaunchRequest, OwnedWorkload,
    SignalKind,
};
use cgdash::cgroup::knob::{Knob, KnobError};
use cgdash::cgroup::{display_path, parse, Applied, CgroupError, Layout, Setting};
use cgdash::launch::{self, LaunchError, LaunchSpec, Namespace, StdioMode, Workload, WorkloadExit};
use cgdash::sampler::{self, Sampler};
use cgdash::ui::screen::Screen;
use cgdash::ui::Dashboard;
use crossterm::cursor;
use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, MouseEventKind};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
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

/// Runs the dashboard until the user quits (or SIGTERM/SIGHUP/SIGINT, or
/// the terminal goes away), then stops and removes every workload it owns.
pub fn run_with(opts: Options) -> anyhow::Result<ExitCode> {
    run_with_exits(opts).map(|(code, _)| code)
}

/// [`run_with`], also returning how each workload handed in
/// `opts.workloads` ended (in that order): its own exit, or the one its stop
/// at quit gave it (SIGTERM → 143); `None` when it could not be told. For
/// `run --tui`, whose exit code is the command's.
pub fn run_with_exits(opts: Options) -> anyhow::Result<(ExitCode, Vec<Option<WorkloadExit>>)> {
    need_terminal()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    let handed = opts.workloads.len();
    let mut workloads = Vec::new();
    let result = rt.block_on(event_loop(opts, &mut workloads));
    // Terminal restored by now; stop what we launched (off the runtime).
    let mut exits = Vec::new();
    for (i, mut w) in workloads.into_iter().enumerate() {
        let group = w.group().to_string();
        if i < handed {
            let exit = match w.try_wait() {
                Ok(Some(e)) => Some(e),
                _ => w.terminate(STOP_GRACE).ok(),
            };
            exits.push(exit);
        }
        if let Err(e) = w.cleanup() {
            say(&format!("cleaning up {group}: {e}"));
        }
    }
    // Nothing to say on a lost terminal: whoever could read it is gone.
    let code = match result {
        Ok(End::Quit) | Ok(End::TerminalLost) => ExitCode::SUCCESS,
        Err(e) => return Err(e),
    };
    Ok((code, exits))
}

/// How long a workload gets between SIGTERM and SIGKILL when cgdash quits.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A line on stderr that never panics: after a hangup stderr may be a dead
/// terminal (EIO), and `eprintln!` would abort cgdash before its cleanup.
fn say(text: &str) {
    cgdash::errln!("cgdash: {text}");
}

/// How the event loop ended.
enum End {
    Quit,
    /// The terminal went away (hangup, EIO/EOF on it): cleaned up quietly.
    TerminalLost,
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
/// (terminals such as tmux keep that mode per screen). Every error is
/// ignored: when the terminal is gone (hangup) there is nothing to restore,
/// and `ratatui::restore` would report that with `eprintln!`, which panics
/// on the dead stderr — inside the panic hook, an abort before cleanup.
fn leave() {
    let _ = crossterm::execute!(io::stdout(), DisableMouseCapture);
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    let _ = io::stdout().flush();
}

/// Terminal events, read on a thread of their own (blocking reads never
/// stall the loop); stops when `stop` is set. A read error (EIO once the
/// terminal hung up) ends the thread, which closes the channel: the loop
/// takes that as the terminal gone.
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
    Launched(Result<(Workload, Output), LaunchFailure>),
}

/// Lines kept of each launched workload's output.
const OUTPUT_LINES: usize = 200;
/// Longest line kept (longer ones are cut).
const OUTPUT_LINE_CHARS: usize = 500;
/// Bytes read of one line at most (UTF-8: up to 4 a character).
const OUTPUT_LINE_BYTES: usize = 4 * OUTPUT_LINE_CHARS;

/// The last lines a launched workload wrote (stdout and stderr), filled by a
/// thread reading its pipe until every writer is gone.
type Output = Arc<Mutex<VecDeque<String>>>;

/// Drains `pipe` into a ring of the last lines. The thread ends at EOF (the
/// workload and everything it started have closed the pipe). Memory is
/// bounded whatever the workload writes: a line without an end is cut.
fn spawn_output_reader(pipe: std::os::fd::OwnedFd) -> Output {
    let out: Output = Arc::new(Mutex::new(VecDeque::new()));
    let ring = Arc::clone(&out);
    let _ = std::thread::Builder::new()
        .name("cgdash-output".into())
        .spawn(move || {
            let mut r = std::fs::File::from(pipe);
            let mut chunk = [0u8; 4096];
            let mut line: Vec<u8> = Vec::new();
            let push = |line: &[u8]| {
                if let Ok(mut ring) = ring.lock() {
                    if ring.len() == OUTPUT_LINES {
                        ring.pop_front();
                    }
                    ring.push_back(clean_line(line));
                }
            };
            loop {
                let n = match r.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                for &b in &chunk[..n] {
                    if b == b'\n' {
                        push(&line);
                        line.clear();
                    } else if line.len() < OUTPUT_LINE_BYTES {
                        line.push(b);
                    }
                }
            }
            if !line.is_empty() {
                push(&line);
            }
        });
    out
}

/// One output line as shown: lossy UTF-8, control characters (escape
/// sequences could repaint the dashboard) as `?`, tabs as a space, cut at
/// a sane length.
fn clean_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches(['\n', '\r'])
        .chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .take(OUTPUT_LINE_CHARS)
        .collect()
}

/// Groups whose freezing would stop cgdash: the freezer-hierarchy group of
/// cgdash and of each of its ancestors (its shell, its terminal, sshd…),
/// in display form. Freezing any of them, or a group above, freezes us.
fn protected_groups(layout: &Layout) -> Vec<String> {
    let ctrl = layout
        .hierarchy("freezer")
        .and_then(|h| h.controllers.first().cloned());
    let mut out: Vec<String> = Vec::new();
    let mut pid = std::process::id() as i32;
    // Up the parent chain (bounded: a loop in /proc would be a kernel bug).
    for _ in 0..64 {
        if pid <= 0 {
            break;
        }
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) {
            if let Some(p) = parse::proc_cgroup_path(&text, ctrl.as_deref()) {
                let p = display_path(p.trim_matches('/')).to_string();
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        if pid == 1 {
            break;
        }
        pid = parent_of(pid).unwrap_or(0);
    }
    out
}

/// The parent pid from `/proc/PID/stat` (after the command's closing paren).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

async fn event_loop(opts: Options, workloads: &mut Vec<Workload>) -> anyhow::Result<End> {
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
    app.euid = Some(nix::unistd::geteuid().as_raw());
    app.protected = protected_groups(&layout);
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
    let writer_layout = layout.clone();
    let mut writers = Writers::new(
        Arc::new(move |group: &str, settings: &[Setting]| write(&writer_layout, group, settings)),
        done_tx.clone(),
    );
    let mut outputs: HashMap<String, Output> = HashMap::new();
    // Only while workloads run: has one of them exited?
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let mut dirty = true;
    let mut quit = false;
    let mut end = End::Quit;
    while !quit {
        if dirty {
            // A failed draw is a terminal gone (EIO after a hangup): clean up.
            if terminal
                .draw(|area, buf| Dashboard(&app).render(area, buf))
                .is_err()
            {
                end = End::TerminalLost;
                break;
            }
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
                    if terminal.autoresize().is_err() {
                        end = End::TerminalLost;
                        break;
                    }
                    dirty = true;
                }
                Some(_) => {}
                // The input thread ended: EIO/EOF on the terminal.
                None => {
                    end = End::TerminalLost;
                    break;
                }
            },
            changed = snapshots.changed() => {
                if changed.is_err() {
                    anyhow::bail!("the sampler stopped");
                }
                let snap = Arc::clone(&snapshots.borrow_and_update());
                // Where cgdash and its ancestors are may change (moved by
                // someone): a handful of small /proc reads per sample.
                app.protected = protected_groups(&layout);
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
                Done::Launched(Ok((w, output))) => {
                    outputs.insert(display_path(w.group()).to_string(), output);
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
            _ = sighup.recv() => {
                end = End::TerminalLost;
                actions.push(Action::ForceQuit);
            }
            _ = sigint.recv() => actions.push(Action::ForceQuit),
        }
        for a in actions {
            let fx = app.update(a);
            dirty = true;
            let mut ctx = Ctx {
                layout: &layout,
                done: &done_tx,
                sampler: &sampler_handle,
                writers: &mut writers,
                outputs: &outputs,
            };
            quit |= execute(fx, &mut app, &mut ctx);
        }
    }
    stop_input.store(true, Ordering::Relaxed);
    Ok(end)
}

/// What executing effects needs from the loop.
struct Ctx<'a> {
    layout: &'a Layout,
    done: &'a mpsc::UnboundedSender<Done>,
    sampler: &'a sampler::SamplerHandle,
    writers: &'a mut Writers,
    outputs: &'a HashMap<String, Output>,
}

/// Writes settings to a group: the applied files in words, or the refusal
/// (with the refused knob, when one is to blame).
type WriteFn = dyn Fn(&str, &[Setting]) -> Result<String, (String, Option<Knob>)> + Send + Sync;

fn write(
    layout: &Layout,
    group: &str,
    settings: &[Setting],
) -> Result<String, (String, Option<Knob>)> {
    layout
        .apply(group, settings)
        .map(|a| describe(&a))
        .map_err(|e| {
            let knob = match &e {
                CgroupError::Refused { knob, .. } | CgroupError::Unsupported { knob, .. } => {
                    Some(*knob)
                }
                _ => None,
            };
            (explain(&e), knob)
        })
}

/// One write job for a group's writer.
struct Job {
    group: String,
    settings: Vec<Setting>,
    label: String,
    undo: Option<Vec<Setting>>,
}

/// One writer thread per group, fed in the order the app asked: `+ + +`
/// lands as 30, 40, 50 % and is reported (and pushed on the undo stack) in
/// that order, while a slow write to one group (a frozen one, a memory
/// limit reclaiming) does not hold up the others. Threads end when cgdash
/// drops this (their channel closes).
struct Writers {
    write: Arc<WriteFn>,
    done: mpsc::UnboundedSender<Done>,
    by_group: HashMap<String, std::sync::mpsc::Sender<Job>>,
}

impl Writers {
    fn new(write: Arc<WriteFn>, done: mpsc::UnboundedSender<Done>) -> Writers {
        Writers {
            write,
            done,
            by_group: HashMap::new(),
        }
    }

    /// Queues `job` behind the earlier writes to its group.
    fn submit(&mut self, job: Job) {
        let job = match self.by_group.get(&job.group) {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                // Its thread is gone: start another below.
                Err(std::sync::mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let write = Arc::clone(&self.write);
        let done = self.done.clone();
        let spawned = std::thread::Builder::new()
            .name("cgdash-writer".into())
            .spawn(move || {
                for job in rx {
                    let result = write(&job.group, &job.settings);
                    let group = display_path(&job.group).to_string();
                    let knob = result.as_ref().err().and_then(|(_, k)| *k);
                    let _ = done.send(Done::Action(Action::Applied {
                        group: group.clone(),
                        label: job.label,
                        undo: job.undo,
                        result: result.map_err(|(e, _)| e),
                    }));
                    if let Some(knob) = knob {
                        let _ = done.send(Done::Action(Action::WriteRefused { group, knob }));
                    }
                }
            });
        if let Err(e) = spawned {
            let _ = self.done.send(Done::Action(Action::Applied {
                group: display_path(&job.group).to_string(),
                label: job.label,
                undo: job.undo,
                result: Err(format!("cannot start a writer thread: {e}")),
            }));
            return;
        }
        let group = job.group.clone();
        // The thread holds the receiver until this sender is dropped.
        let _ = tx.send(job);
        self.by_group.insert(group, tx);
    }
}

/// Runs effects; returns true when the app asked to quit.
fn execute(effects: Vec<Effect>, app: &mut App, ctx: &mut Ctx) -> bool {
    let mut quit = false;
    for e in effects {
        match e {
            Effect::Apply {
                group,
                settings,
                label,
                undo,
            } => ctx.writers.submit(Job {
                group,
                settings,
                label,
                undo,
            }),
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
                quit |= execute(more, app, ctx);
            }
            Effect::Launch(req) => {
                let layout = ctx.layout.clone();
                let done = ctx.done.clone();
                tokio::task::spawn_blocking(move || {
                    let r = launch_request(&layout, req);
                    let _ = done.send(Done::Launched(r));
                });
            }
            Effect::ShowOutput { group } => {
                let lines = ctx
                    .outputs
                    .get(&group)
                    .and_then(|o| o.lock().ok().map(|o| o.iter().cloned().collect()))
                    .unwrap_or_default();
                let more = app.update(Action::Output { group, lines });
                quit |= execute(more, app, ctx);
            }
            Effect::Resample => ctx.sampler.resample(),
            Effect::Quit => quit = true,
        }
    }
    quit
}

/// `cgdash` typed in the launch form (its own hint: `cgdash stress cpu`)
/// means this binary, wherever it is, not a lookup in PATH.
fn resolve_self(mut command: Vec<String>) -> Vec<String> {
    if command.first().is_some_and(|c| c == "cgdash") {
        if let Ok(exe) = std::env::current_exe() {
            command[0] = exe.to_string_lossy().into_owned();
        }
    }
    command
}

fn launch_request(
    layout: &Layout,
    req: LaunchRequest,
) -> Result<(Workload, Output), LaunchFailure> {
    let mut spec = LaunchSpec::new(resolve_self(req.command));
    spec.name = req.name;
    spec.settings = req.settings;
    spec.share = Namespace::parse_list(&req.share).map_err(|e| failure(&e))?;
    spec.hostname = req.hostname;
    spec.keep = req.keep;
    // Output into a pipe whose last lines the dashboard keeps (`o`).
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| LaunchFailure {
        message: format!("cannot make the output pipe: {}", e.desc()),
        field: None,
    })?;
    spec.stdio = StdioMode::Pipe(w.as_raw_fd());
    let launched = launch::launch(layout, &spec);
    // Our copy of the write end closes: the reader sees EOF when the
    // workload's copies are gone.
    drop(w);
    let workload = launched.map_err(|e| failure(&e))?;
    Ok((workload, spawn_output_reader(r)))
}

/// A launch error and the form field it is about.
fn failure(e: &LaunchError) -> LaunchFailure {
    let knob_field = |k: Knob| match k {
        Knob::Cpu | Knob::CpuPeriod | Knob::CpuWeight => Some(LaunchField::Cpu),
        Knob::Memory | Knob::MemoryHigh | Knob::MemorySwap => Some(LaunchField::Memory),
        Knob::Pids => Some(LaunchField::Pids),
        _ => None,
    };
    let field = match e {
        LaunchError::NoCommand
        | LaunchError::CommandNotFound(_)
        | LaunchError::CommandNotInRootfs { .. }
        | LaunchError::NotExecutable(_)
        | LaunchError::Spawn { .. } => Some(LaunchField::Command),
        LaunchError::Setup(m) if m.starts_with("exec ") => Some(LaunchField::Command),
        LaunchError::BadName(_) | LaunchError::NameTaken(_) => Some(LaunchField::Name),
        LaunchError::UnknownNamespace(_) => Some(LaunchField::Share),
        LaunchError::BadLimits(errs) => errs.iter().find_map(|k| match k {
            KnobError::BadValue { knob, .. } | KnobError::Duplicate(knob) => knob_field(*knob),
            _ => None,
        }),
        LaunchError::Cgroup(CgroupError::Refused { knob, .. })
        | LaunchError::Cgroup(CgroupError::Unsupported { knob, .. }) => knob_field(*knob),
        _ => None,
    };
    LaunchFailure {
        message: e.to_string(),
        field,
    }
}

/// A refused write in words: which file, which value, what the kernel means.
fn explain(e: &CgroupError) -> String {
    match e {
        CgroupError::Refused {
            path,
            value,
            meaning,
            source,
            rollback,
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
            format!("the kernel refused {file} ← {value}: {meaning} ({errno}){rollback}")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `+` pressed many times fast: the writes must land in the order they
    /// were asked for, and come back (to the undo stack) in that order —
    /// however long each write takes. A fake write with uneven delays
    /// records the order; with one task per write it comes out shuffled.
    #[test]
    fn ha_writes_to_a_group_land_and_report_in_order() {
        let landed: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&landed);
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0x9e37_79b9));
        let write = Arc::new(move |group: &str, settings: &[Setting]| {
            // Pseudo-random 0–15 ms, different for every call.
            let n = counter.fetch_add(0x6a09_e667, Ordering::Relaxed);
            let ms = (n.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 60) % 16;
            std::thread::sleep(Duration::from_millis(ms));
            let value = settings[0].to_string();
            seen.lock().unwrap().push(format!("{group} {value}"));
            Ok(value)
        });
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut writers = Writers::new(write, tx);
        let mut want = Vec::new();
        for i in 1..=40u32 {
            // Two groups interleaved: each keeps its own order.
            let group = if i % 3 == 0 {
                "cgdash/ha-b"
            } else {
                "cgdash/ha-a"
            };
            let value = format!("cpu={i}%");
            want.push(format!("{group} {value}"));
            writers.submit(Job {
                group: group.into(),
                settings: vec![Setting::parse(&value).unwrap()],
                label: value,
                undo: None,
            });
        }
        let mut reported = Vec::new();
        while reported.len() < want.len() {
            match rx.blocking_recv() {
                Some(Done::Action(Action::Applied { group, label, .. })) => {
                    reported.push(format!("{group} {label}"))
                }
                Some(_) => {}
                None => panic!("writers stopped early"),
            }
        }
        let per_group = |v: &[String], g: &str| -> Vec<String> {
            v.iter().filter(|s| s.starts_with(g)).cloned().collect()
        };
        let landed = landed.lock().unwrap().clone();
        for g in ["cgdash/ha-a ", "cgdash/ha-b "] {
            assert_eq!(
                per_group(&landed, g),
                per_group(&want, g),
                "written order of {g}"
            );
            assert_eq!(
                per_group(&reported, g),
                per_group(&want, g),
                "reported order of {g}"
            );
        }
    }

    #[test]
    fn ha_cgdash_in_the_launch_form_is_this_binary() {
        let exe = std::env::current_exe()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            resolve_self(vec!["cgdash".into(), "stress".into(), "cpu".into()]),
            vec![exe, "stress".to_string(), "cpu".to_string()]
        );
        assert_eq!(
            resolve_self(vec!["sleep".into()]),
            vec!["sleep".to_string()]
        );
    }

    #[test]
    fn ha_output_keeps_the_last_lines_in_bounded_memory() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let out = spawn_output_reader(r);
        let mut w = std::fs::File::from(w);
        // 1 MB without a newline, then 300 numbered lines, no final newline.
        w.write_all(&vec![b'x'; 1 << 20]).unwrap();
        w.write_all(b"\n").unwrap();
        for i in 0..300 {
            writeln!(w, "line {i}").unwrap();
        }
        w.write_all(b"tail").unwrap();
        drop(w);
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while out.lock().unwrap().back().map(String::as_str) != Some("tail") {
            assert!(std::time::Instant::now() < end, "reader did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = out.lock().unwrap();
        assert_eq!(out.len(), OUTPUT_LINES);
        assert_eq!(out.front().map(String::as_str), Some("line 101"));
        assert!(out.iter().all(|l| l.len() <= OUTPUT_LINE_BYTES));
    }

    #[test]
    fn ha_output_lines_are_cleaned() {
        assert_eq!(clean_line(b"ok \x1b[2Jboom\ta\r\n"), "ok ?[2Jboom a");
        assert_eq!(clean_line(&[0xff, b'a', b'\n']), "\u{fffd}a");
        assert_eq!(clean_line(&[b'x'; 2000]).len(), OUTPUT_LINE_CHARS);
    }

    #[test]
    fn ha_protected_groups_include_our_own() {
        let Ok(layout) = Layout::detect() else { return };
        let mine = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let ctrl = layout
            .hierarchy("freezer")
            .and_then(|h| h.controllers.first().cloned());
        let own = parse::proc_cgroup_path(&mine, ctrl.as_deref()).unwrap();
        let own = display_path(own.trim_matches('/')).to_string();
        assert!(protected_groups(&layout).contains(&own));
    }
}
