//! `cgdash` with no arguments: the dashboard. The only place that does I/O
//! for the UI: it sets up the terminal, the sampler and the signals, and
//! plugs the real inputs, writer and launcher (limit writes and launches off
//! the UI path, signals by PID) into the event loop (`event_loop`, which a
//! test drives with fakes). See `app` (state) and `ui` (drawing).

use std::collections::{HashMap, VecDeque};
use std::io::{self, IsTerminal as _, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, BorrowedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use cgdash::app::{
    Action, App, LaunchFailure, LaunchField, LaunchRequest, OwnedWorkload, SignalKind,
};
use cgdash::cgroup::knob::{Knob, KnobError};
use cgdash::cgroup::{display_path, parse, Applied, CgroupError, Layout, Setting};
use cgdash::event_loop::{End, Input, Inputs, Launcher, OsSignal, Sample, WriteJob, Writer};
use cgdash::launch::{self, LaunchError, LaunchSpec, Namespace, StdioMode, Workload, WorkloadExit};
use cgdash::net::NetKnob;
use cgdash::sampler::{self, Sampler};
use cgdash::ui::screen::Screen;
use crossterm::cursor;
use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ratatui::backend::CrosstermBackend;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
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
    /// Where the engines' metadata is, for group names (issue 13).
    pub names: cgdash::names::Roots,
    /// Open on the throttling microscope (`demo throttle`).
    pub microscope: bool,
    /// Open on the I/O microscope (`demo io`).
    pub io_microscope: bool,
    /// Output pipes of handed workloads, by group (`cgdash/demo-net-load`):
    /// their last lines show with `o`, as for workloads launched with `n`.
    pub outputs: Vec<(String, std::os::fd::OwnedFd)>,
}

impl Options {
    pub fn new(interval: Duration) -> Options {
        Options {
            interval,
            focus: None,
            title: None,
            workloads: Vec::new(),
            ask_on_quit: true,
            // The environment's roots (CGDASH_*_ROOT), then the defaults.
            names: cgdash::names::Roots::from_flags(&Default::default()),
            microscope: false,
            io_microscope: false,
            outputs: Vec::new(),
        }
    }
}

/// `cgdash [--group GROUP|KIND:NAME] [--docker-root …]`: the dashboard,
/// names read from `names`, selecting `group` when it appears. A group
/// that names nothing is bad input (exit 2), before the screen is taken.
pub fn run_named(
    interval: Duration,
    group: Option<String>,
    names: cgdash::names::Roots,
) -> anyhow::Result<ExitCode> {
    let mut opts = Options::new(interval);
    if let Some(g) = group {
        let layout = Layout::detect().context("finding the cgroup hierarchies")?;
        match cgdash::names::resolve_group_arg(&layout, &names, &g) {
            Ok(path) => opts.focus = Some(display_path(&path).to_string()),
            Err(e) => {
                say(&e.to_string());
                return Ok(ExitCode::from(2));
            }
        }
    }
    opts.names = names;
    run_with(opts)
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
    let workloads = Arc::new(Mutex::new(Vec::new()));
    let result = rt.block_on(event_loop(opts, &workloads));
    // Terminal restored by now; stop what we launched (off the runtime).
    let mut exits = Vec::new();
    let workloads = std::mem::take(&mut *lock(&workloads));
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

type Term = Screen<CrosstermBackend<io::BufWriter<io::Stdout>>>;

/// The frame's bytes are gathered here and written at its end (the screen
/// flushes after each frame). Straight to `Stdout`, each of the backend's
/// writes (a cell's symbol, a cursor move, a colour: thousands in a first
/// frame) took the stdout lock and went through its 1 KB line buffer: a
/// write(2) per KB (19 for a 16 KB first frame at 200×50, now 4), and
/// about a fifth of a frame's time in `perf` (issue 18, startup).
const FRAME_BUFFER: usize = 64 * 1024;

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
        let out = io::BufWriter::with_capacity(FRAME_BUFFER, io::stdout());
        let screen = Screen::new(CrosstermBackend::new(out))?;
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
/// stall the loop). A read error (EIO once the terminal hung up) ends the
/// thread, which closes the channel: the loop takes that as the terminal
/// gone. [`stop_input`] ends it when the dashboard does.
///
/// The read blocks until the terminal has something (a key, the mouse, a
/// resize): no timer wakes the thread. It polled every 250 ms to see
/// `stop` until session 23; each wake-up cost ~50 µs on the test VM
/// (0.21 ms/s, a seventh of the dashboard's CPU at rest).
fn spawn_input(tx: mpsc::UnboundedSender<Event>, stop: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new()
        .name("cgdash-input".into())
        .spawn(move || loop {
            let ev = event::read();
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match ev {
                Ok(ev) => {
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        });
}

/// Ends the input thread (see [`spawn_input`]), so that nothing typed
/// after the dashboard, while its workloads are stopped, is taken from the
/// shell: `stop`, then a SIGWINCH to cgdash itself, which crossterm's
/// reader wakes for (its handler writes to the pipe the read polls, so one
/// that comes before the read is not lost). The resize it reads is
/// dropped. Before the thread's first read, crossterm's handler is not
/// there yet and the signal is ignored (its default): that thread then
/// takes one more event, as the polling one could.
fn stop_input(stop: &AtomicBool) {
    stop.store(true, Ordering::Relaxed);
    // SAFETY: kill takes numbers; SIGWINCH's default action is to ignore it.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGWINCH);
    }
}

/// Watches the terminal's input (stdin: [`need_terminal`] made sure it is
/// the terminal, and crossterm reads it) for its hangup, which the kernel
/// reports as an error on every descriptor of it (`EPOLLERR`, with
/// `EPOLLHUP`). A key is not one: the watch's branch is never ready for
/// input (tokio's reactor still sees each key, as the loop wakes for it
/// anyway: an error-only watch is registered with read interest).
///
/// A hangup does not always come with a SIGHUP: only the terminal's session
/// leader gets one, and when that is not cgdash (under `strace`, a wrapper
/// that does not pass it on, a pty that is not its controlling terminal)
/// cgdash heard of it only when its next frame failed to draw, up to an
/// interval later. Meanwhile its input thread spun on the dead terminal:
/// crossterm's reader retries a read that returns end-of-file at once,
/// forever, without returning (crossterm issue 793). Measured under
/// `strace` in tmux (kill-session, 1 s interval): 0.7 s and ~17,000 reads
/// before the frame failed.
fn hangup_watch() -> io::Result<AsyncFd<BorrowedFd<'static>>> {
    // SAFETY: fd 0 stays open on the terminal for as long as the watch
    // lives: nothing closes it, and `park_input` puts another file there
    // only after the watch is dropped.
    unsafe {
        let stdin = BorrowedFd::borrow_raw(libc::STDIN_FILENO);
        AsyncFd::register_with_interest(stdin, Interest::ERROR).map_err(io::Error::from)
    }
}

/// Stops the input thread's spin once the terminal is gone (see
/// [`hangup_watch`]): it can't be told to stop (it is inside crossterm's
/// read loop), so fd 0, which that loop reads, becomes the read end of an
/// empty pipe whose write end is never closed. Its next read blocks there
/// for good, instead of spinning through the cleanup that follows (up to
/// [`STOP_GRACE`] for each workload that ignores SIGTERM). The process
/// exits soon after; both ends go with it.
fn park_input() {
    let Ok((read, write)) = nix::unistd::pipe() else {
        return;
    };
    // SAFETY: dup2 onto fd 0 replaces the dead terminal there atomically;
    // nothing else reads fd 0 after the loop.
    unsafe {
        libc::dup2(read.as_raw_fd(), libc::STDIN_FILENO);
    }
    std::mem::forget(write);
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

async fn event_loop(opts: Options, workloads: &Arc<Mutex<Vec<Workload>>>) -> anyhow::Result<End> {
    let layout = Layout::detect().context("finding the cgroup hierarchies")?;
    let read_only = read_only_reason();
    if read_only.is_none() {
        for g in launch::cleanup_stale(&layout) {
            cgdash::errln!("cgdash: removed {g}, left behind by a cgdash that was killed");
        }
    }
    let mut sampler = Sampler::new(layout.clone(), "/proc".into()).context("reading /proc")?;
    sampler
        .choose(cgdash::sampler::choice())
        .map_err(anyhow::Error::msg)?;
    sampler.set_names(Some(cgdash::names::Resolver::new(opts.names.clone())));

    let mut app = App::new(read_only);
    app.names_roots = Some(opts.names.clone());
    // The files only the editor shows are read when it opens, not every
    // group's at startup and on every slow tick (issue 18).
    sampler.set_unshown(false);
    let details = layout.clone();
    app.group_details = Some(cgdash::app::GroupDetails(Box::new(move |path| {
        details.read_group(&cgdash::cgroup::normalize_path(path))
    })));
    app.title = opts.title;
    app.euid = Some(nix::unistd::geteuid().as_raw());
    // Where cgdash and its ancestors are may change (moved by someone):
    // looked up at each freeze, not kept.
    let ours = layout.clone();
    app.where_we_run = Some(cgdash::app::WhereWeRun(Box::new(move || {
        protected_groups(&ours)
    })));
    for w in opts.workloads {
        app.add_owned(OwnedWorkload {
            group: display_path(w.group()).to_string(),
            pid: w.pid(),
            keep: false,
            ask_on_quit: opts.ask_on_quit,
            running: true,
        });
        lock(workloads).push(w);
    }
    if let Some(f) = &opts.focus {
        app.focus_group(f);
    }
    if opts.microscope {
        app.open_microscope();
    }
    if opts.io_microscope {
        app.io_microscope = true;
    }

    // Whether the first screen shows per-process I/O: then the first
    // sample reads it. Turned on after the first sample, it took a second
    // full sample at once (issue 18: startup CPU at 10,000 processes).
    let io_at_start = crossterm::terminal::size().is_ok_and(|(w, h)| {
        cgdash::ui::processes::reads_io(ratatui::layout::Rect::new(0, 0, w, h), &app)
    });
    sampler.set_process_io(io_at_start);
    // Its rates only: a process that has not run since it was first seen
    // has rates of 0 without its file read (issue 18: startup).
    sampler.set_lazy_io(true);
    // Command lines are read for the rows drawn (`app::commands`), unless a
    // filter or sort needs them all from the start (issue 18: startup).
    sampler.set_lazy_commands(!app.needs_all_commands());
    let (snapshots, sampler_handle) = sampler::spawn(sampler, opts.interval);

    let sigterm = signal(UnixSignal::terminate())?;
    let sighup = signal(UnixSignal::hangup())?;
    let sigint = signal(UnixSignal::interrupt())?;

    let (mut terminal, _guard) = TerminalGuard::enter().context("setting up the terminal")?;
    let hangup = hangup_watch().context("watching the terminal for a hangup")?;
    let stop = Arc::new(AtomicBool::new(false));
    let (input_tx, input) = mpsc::unbounded_channel();
    spawn_input(input_tx, Arc::clone(&stop));
    let (done_tx, done) = mpsc::unbounded_channel::<Action>();
    let writer_layout = layout.clone();
    let mut writers = Writers::new(
        Arc::new(move |group: &str, settings: &[Setting]| write(&writer_layout, group, settings)),
        done_tx.clone(),
    );
    let mut launcher = RealLauncher {
        layout: layout.clone(),
        done: done_tx,
        workloads: Arc::clone(workloads),
        outputs: Arc::default(),
    };
    for (group, pipe) in opts.outputs {
        lock(&launcher.outputs).insert(group, spawn_output_reader(pipe));
    }
    // Only while workloads run: has one of them exited?
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The microscope's readings are drawn this often while it is open.
    let mut periods_tick = tokio::time::interval(PERIODS_REDRAW);
    periods_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut inputs = RealInputs {
        periods: None,
        periods_tick,
        layout,
        input,
        snapshots,
        sampler: sampler_handle,
        io_at_start,
        lazy_at_start: !app.needs_all_commands(),
        done,
        tick,
        sigterm,
        sighup,
        sigint,
        hangup,
    };
    let end = cgdash::event_loop::run(
        &mut app,
        &mut terminal,
        &mut inputs,
        &mut writers,
        &mut launcher,
    )
    .await;
    // The hangup watch goes first: fd 0 must stay the terminal while it is.
    drop(inputs);
    if matches!(end, Ok(End::TerminalLost)) {
        park_input();
    } else {
        stop_input(&stop);
    }
    end
}

/// Locks a mutex whose holder may have panicked (the data stays usable:
/// a list of workloads, a map of output rings).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The real inputs: the terminal (read on its own thread), the sampler
/// thread, Unix signals, a clock, and the answers of writes and launches.
struct RealInputs {
    /// The microscope's sampler thread, while it shows a group.
    periods: Option<sampler::periods::Watch>,
    periods_tick: tokio::time::Interval,
    layout: Layout,
    input: mpsc::UnboundedReceiver<Event>,
    snapshots: tokio::sync::watch::Receiver<Arc<cgdash::model::Snapshot>>,
    sampler: sampler::SamplerHandle,
    /// The sampler was started reading per-process I/O.
    io_at_start: bool,
    /// The sampler was started leaving command lines unread.
    lazy_at_start: bool,
    done: mpsc::UnboundedReceiver<Action>,
    tick: tokio::time::Interval,
    sigterm: tokio::signal::unix::Signal,
    sighup: tokio::signal::unix::Signal,
    sigint: tokio::signal::unix::Signal,
    /// The terminal's hangup, seen on its input (see [`hangup_watch`]).
    hangup: AsyncFd<BorrowedFd<'static>>,
}

/// How long the first frame waits for the first rates (the sampler's
/// second sample, `sampler::thread`'s `FIRST_INTERVAL` after the first;
/// see [`cgdash::event_loop::first_with_rates`]). Past it (a machine too
/// large or too busy to sample twice in a second), the first sample is
/// drawn alone.
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(1);

impl Inputs for RealInputs {
    async fn first(&mut self) -> Vec<Input> {
        // `next` is cancel-safe (every branch of its select! is): whatever
        // did not come in time comes from the next call.
        cgdash::event_loop::first_with_rates(self, FIRST_FRAME_WAIT).await
    }

    async fn next(&mut self, _frame: &ratatui::buffer::Buffer, watching: bool) -> Input {
        tokio::select! {
            ev = self.input.recv() => match ev {
                Some(ev) => Input::Terminal(ev),
                // The input thread ended: EIO/EOF on the terminal.
                None => Input::TerminalClosed,
            },
            changed = self.snapshots.changed() => {
                if changed.is_err() {
                    return Input::SamplerStopped;
                }
                let snapshot = Arc::clone(&self.snapshots.borrow_and_update());
                Input::Sample(Sample {
                    snapshot,
                    problem: self.sampler.problem(),
                })
            }
            Some(a) = self.done.recv() => Input::Done(a),
            _ = self.tick.tick(), if watching => Input::Tick,
            _ = self.periods_tick.tick(), if self.periods.is_some() => match &self.periods {
                Some(w) => Input::Periods(Arc::new(w.report())),
                None => Input::Tick,
            },
            _ = self.sigterm.recv() => Input::Signal(OsSignal::Term),
            _ = self.sighup.recv() => Input::Signal(OsSignal::Hup),
            _ = self.sigint.recv() => Input::Signal(OsSignal::Int),
            _ = self.hangup.ready(Interest::ERROR) => Input::TerminalClosed,
        }
    }

    fn resample(&mut self) {
        self.sampler.resample();
    }

    fn read_process_io(&mut self, on: bool) {
        // Turned on, the sampler samples at once (rates need two readings).
        self.sampler.set_process_io(on);
    }

    fn reads_io_at_start(&self) -> bool {
        self.io_at_start
    }

    fn lazy_commands_at_start(&self) -> bool {
        self.lazy_at_start
    }

    fn read_all_commands(&mut self, on: bool) {
        self.sampler.set_lazy_commands(!on);
    }

    fn watch_periods(&mut self, group: Option<String>) {
        // Dropping the old watch stops (and joins) its thread first.
        self.periods = None;
        self.periods = group.map(|g| {
            sampler::periods::Watch::start(self.layout.clone(), &g, sampler::periods::INTERVAL)
        });
    }
}

/// How often the microscope is redrawn with new periods.
const PERIODS_REDRAW: Duration = Duration::from_millis(500);

/// Launches with `launch::launch` off the loop, keeps each launched
/// workload's output, signals with kill(2).
struct RealLauncher {
    layout: Layout,
    done: mpsc::UnboundedSender<Action>,
    /// Every workload cgdash holds (handed ones first): stopped and cleaned
    /// up when the dashboard ends.
    workloads: Arc<Mutex<Vec<Workload>>>,
    outputs: Arc<Mutex<HashMap<String, Output>>>,
}

impl Launcher for RealLauncher {
    fn launch(&mut self, req: LaunchRequest) {
        let layout = self.layout.clone();
        let done = self.done.clone();
        let workloads = Arc::clone(&self.workloads);
        let outputs = Arc::clone(&self.outputs);
        tokio::task::spawn_blocking(move || {
            let answer = launch_request(&layout, req).map(|(w, output)| {
                let group = display_path(w.group()).to_string();
                let owned = OwnedWorkload {
                    group: group.clone(),
                    pid: w.pid(),
                    keep: false,
                    ask_on_quit: true,
                    running: true,
                };
                lock(&outputs).insert(group, output);
                // Held before the app hears of it: cleaned up at the end
                // even if the loop is gone by now.
                lock(&workloads).push(w);
                owned
            });
            let _ = done.send(Action::Launched(answer));
        });
    }

    fn signal(&mut self, pid: i32, signal: SignalKind) -> Result<(), String> {
        let sig = match signal {
            SignalKind::Term => Signal::SIGTERM,
            SignalKind::Kill => Signal::SIGKILL,
            SignalKind::Stop => Signal::SIGSTOP,
            SignalKind::Cont => Signal::SIGCONT,
        };
        kill(Pid::from_raw(pid), sig).map_err(|e| e.desc().to_string())
    }

    fn output(&mut self, group: &str) -> Vec<String> {
        lock(&self.outputs)
            .get(group)
            .map(|o| lock(o).iter().cloned().collect())
            .unwrap_or_default()
    }

    fn watching(&self) -> bool {
        !lock(&self.workloads).is_empty()
    }

    fn exited(&mut self, owned: &[OwnedWorkload]) -> Vec<Action> {
        let mut out = Vec::new();
        for w in lock(&self.workloads).iter_mut() {
            let group = display_path(w.group()).to_string();
            if !owned.iter().any(|o| o.group == group && o.running) {
                continue;
            }
            match w.try_wait() {
                Ok(Some(exit)) => out.push(Action::WorkloadExited {
                    group,
                    status: exit.to_string(),
                }),
                Ok(None) => {}
                Err(e) => out.push(Action::WorkloadExited {
                    group,
                    status: format!("lost: {e}"),
                }),
            }
        }
        out
    }
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
                CgroupError::Refused { knob, .. }
                | CgroupError::Unsupported { knob, .. }
                | CgroupError::Invalid { knob, .. } => Some(*knob),
                _ => None,
            };
            (explain(&e), knob)
        })
}

/// Sets `net.rate_*` knobs of a group (all or nothing): what was set in
/// words, or why not.
type NetFn = dyn Fn(&str, &[(NetKnob, Option<u64>)]) -> Result<String, String> + Send + Sync;

/// The real [`NetFn`]: finds the veth in the launcher's state file, sets
/// each rate (entering the workload's namespace for `rate_out`, on a
/// short-lived thread of its own), records it; a refusal puts back the
/// rates set before it.
fn write_net(group: &str, net: &[(NetKnob, Option<u64>)]) -> Result<String, String> {
    let (st, ns) = cgdash::launch::net_of_group(group).map_err(|why| {
        format!(
            "{} works only for workloads started with --net veth: {why}",
            net.first().map_or("net", |(k, _)| k.name())
        )
    })?;
    let mut io = cgdash::net::rate::Kernel {
        group,
        state: &st,
        netns: &ns,
    };
    cgdash::net::rate::apply_rates(&mut io, net).map_err(|e| e.to_string())?;
    Ok(format!("tbf on {} / eth0", st.veth))
}

/// What a group's writer thread is asked to do.
enum Job {
    /// Cgroup knobs.
    Knobs(WriteJob),
    /// Network knobs (`Effect::SetNet`).
    Net {
        group: String,
        net: Vec<(NetKnob, Option<u64>)>,
        label: String,
    },
}

impl Job {
    fn group(&self) -> &str {
        match self {
            Job::Knobs(j) => &j.group,
            Job::Net { group, .. } => group,
        }
    }
}

/// One writer thread per group, fed in the order the app asked: `+ + +`
/// lands as 30, 40, 50 % and is reported (and pushed on the undo stack) in
/// that order, while a slow write to one group (a frozen one, a memory
/// limit reclaiming) does not hold up the others. The network knobs go
/// through the same thread, so a rate and its undo land in order too.
/// Threads end when cgdash drops this (their channel closes).
struct Writers {
    write: Arc<WriteFn>,
    net: Arc<NetFn>,
    done: mpsc::UnboundedSender<Action>,
    by_group: HashMap<String, std::sync::mpsc::Sender<Job>>,
}

impl Writer for Writers {
    fn submit(&mut self, job: WriteJob) {
        self.queue(Job::Knobs(job))
    }

    /// Queued behind the group's earlier writes (answered later).
    fn submit_net(
        &mut self,
        group: String,
        net: Vec<(NetKnob, Option<u64>)>,
        label: String,
    ) -> Option<Action> {
        self.queue(Job::Net { group, net, label });
        None
    }
}

impl Writers {
    fn new(write: Arc<WriteFn>, done: mpsc::UnboundedSender<Action>) -> Writers {
        Writers {
            write,
            net: Arc::new(write_net),
            done,
            by_group: HashMap::new(),
        }
    }

    /// Queues `job` behind the earlier writes to its group.
    fn queue(&mut self, job: Job) {
        let job = match self.by_group.get(job.group()) {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                // Its thread is gone: start another below.
                Err(std::sync::mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let write = Arc::clone(&self.write);
        let net = Arc::clone(&self.net);
        let done = self.done.clone();
        let spawned = std::thread::Builder::new()
            .name("cgdash-writer".into())
            .spawn(move || {
                for job in rx {
                    let job = match job {
                        Job::Knobs(job) => job,
                        Job::Net {
                            group,
                            net: rates,
                            label,
                        } => {
                            let result = net(&group, &rates);
                            let _ = done.send(Action::Applied {
                                group: display_path(&group).to_string(),
                                label,
                                undo: None,
                                result,
                            });
                            continue;
                        }
                    };
                    let result = write(&job.group, &job.settings);
                    let group = display_path(&job.group).to_string();
                    let knob = result.as_ref().err().and_then(|(_, k)| *k);
                    let _ = done.send(Action::Applied {
                        group: group.clone(),
                        label: job.label,
                        undo: job.undo,
                        result: result.map_err(|(e, _)| e),
                    });
                    if let Some(knob) = knob {
                        let _ = done.send(Action::WriteRefused { group, knob });
                    }
                }
            });
        if let Err(e) = spawned {
            let (group, label, undo) = match job {
                Job::Knobs(j) => (j.group, j.label, j.undo),
                Job::Net { group, label, .. } => (group, label, None),
            };
            let _ = self.done.send(Action::Applied {
                group: display_path(&group).to_string(),
                label,
                undo,
                result: Err(format!("cannot start a writer thread: {e}")),
            });
            return;
        }
        let group = job.group().to_string();
        // The thread holds the receiver until this sender is dropped.
        let _ = tx.send(job);
        self.by_group.insert(group, tx);
    }
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
    // --net: veth on the default bridge and subnet (no published ports:
    // they would live in this dashboard's process); host = --share net.
    let net_failure = |message: String| LaunchFailure {
        message,
        field: Some(LaunchField::Net),
    };
    match req.net.as_deref().map(cgdash::net::NetMode::parse) {
        Some(Ok(m @ (cgdash::net::NetMode::Veth | cgdash::net::NetMode::VethNat))) => {
            let mut v = cgdash::net::VethSpec::new(None, None).map_err(net_failure)?;
            v.nat = m == cgdash::net::NetMode::VethNat;
            spec.net = Some(v);
        }
        Some(Ok(cgdash::net::NetMode::Host)) if !spec.share.contains(&Namespace::Net) => {
            spec.share.push(Namespace::Net);
        }
        Some(Err(e)) => return Err(net_failure(e)),
        _ => {}
    }
    // Output into a pipe whose last lines the dashboard keeps (`o`).
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| LaunchFailure {
        message: format!("cannot make the output pipe: {}", e.desc()),
        field: None,
    })?;
    spec.stdio = StdioMode::Pipe(w.as_raw_fd());
    // An image (issue 17): its tree and config; the run lives as long as the workload.
    let image_run = match &req.image {
        Some(img) => {
            let args = spec.command.clone();
            let r = cgdash::image::prepare(&mut spec, std::path::Path::new(img), None, &args)
                .map_err(|e| LaunchFailure {
                    message: e.to_string(),
                    field: Some(LaunchField::Image),
                })?;
            Some(r)
        }
        None => None,
    };
    let launched = launch::launch(layout, &spec);
    // Our copy of the write end closes: the reader sees EOF when the
    // workload's copies are gone.
    drop(w);
    let mut workload = launched.map_err(|e| failure(&e))?;
    if let Some(r) = image_run {
        workload.attach(Box::new(r));
    }
    Ok((workload, spawn_output_reader(r)))
}

/// A launch error and the form field it is about.
fn failure(e: &LaunchError) -> LaunchFailure {
    // The knob's field, or its controller's (declared: `KnobDef::launch`).
    let knob_field = |k: Knob| cgdash::cgroup::controllers::launch_field(k).map(LaunchField::Knob);
    let field = match e {
        LaunchError::NoCommand
        | LaunchError::CommandNotFound(_)
        | LaunchError::CommandNotInRootfs { .. }
        | LaunchError::NotExecutable(_)
        | LaunchError::Spawn { .. } => Some(LaunchField::Command),
        LaunchError::Setup(m) if m.starts_with("exec ") => Some(LaunchField::Command),
        LaunchError::BadName(_) | LaunchError::NameTaken(_) => Some(LaunchField::Name),
        LaunchError::UnknownNamespace(_) => Some(LaunchField::Share),
        LaunchError::Net(_) => Some(LaunchField::Net),
        LaunchError::Conflict(m) if m.contains("--net") || m.contains("subnet") => {
            Some(LaunchField::Net)
        }
        LaunchError::BadLimits(errs) => errs.iter().find_map(|k| match k {
            KnobError::BadValue { knob, .. } | KnobError::Duplicate(knob) => knob_field(*knob),
            _ => None,
        }),
        LaunchError::Cgroup(CgroupError::Refused { knob, .. })
        | LaunchError::Cgroup(CgroupError::Unsupported { knob, .. })
        | LaunchError::Cgroup(CgroupError::Invalid { knob, .. }) => knob_field(*knob),
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

/// `cpu.cfs_quota_us ← 50000`: which files got which values, and what
/// they don't say (the controllers' notes: v1 io throttles direct I/O only).
fn describe(applied: &[Applied]) -> String {
    let notes = cgdash::cgroup::controllers::notes(applied);
    let files = applied
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
        .join(", ");
    match notes.is_empty() {
        true => files,
        false => format!("{files} — {}", notes.join("; ")),
    }
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
            writers.submit(WriteJob {
                group: group.into(),
                settings: vec![Setting::parse(&value).unwrap()],
                label: value,
                undo: None,
            });
        }
        let mut reported = Vec::new();
        while reported.len() < want.len() {
            match rx.blocking_recv() {
                Some(Action::Applied { group, label, .. }) => {
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

    /// issue 19: a rate and its undo go through the group's writer thread,
    /// in the order asked, between the cgroup writes (a thread per rate
    /// could land the undo before the rate it undoes).
    #[test]
    fn net_writes_queue_behind_the_groups_other_writes() {
        let landed: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&landed);
        let write = Arc::new(move |_: &str, settings: &[Setting]| {
            std::thread::sleep(Duration::from_millis(20));
            seen.lock().unwrap().push(settings[0].to_string());
            Ok(String::new())
        });
        let seen = Arc::clone(&landed);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut writers = Writers::new(write, tx);
        writers.net = Arc::new(move |_: &str, net: &[(NetKnob, Option<u64>)]| {
            seen.lock()
                .unwrap()
                .push(cgdash::net::rate::setting_text(net[0].0, net[0].1));
            Ok(String::new())
        });
        let rate = |r| vec![(NetKnob::RateOut, r)];
        let cpu = |v: &str| WriteJob {
            group: "cgdash/web".into(),
            settings: vec![Setting::parse(v).unwrap()],
            label: v.into(),
            undo: None,
        };
        writers.submit(cpu("cpu=30%"));
        assert!(writers
            .submit_net("cgdash/web".into(), rate(Some(2 << 20)), "a".into())
            .is_none());
        writers.submit(cpu("cpu=40%"));
        writers.submit_net("cgdash/web".into(), rate(None), "b".into());
        let mut labels = Vec::new();
        while labels.len() < 4 {
            match rx.blocking_recv() {
                Some(Action::Applied { label, .. }) => labels.push(label),
                Some(_) => {}
                None => panic!("writers stopped early"),
            }
        }
        assert_eq!(labels, ["cpu=30%", "a", "cpu=40%", "b"]);
        assert_eq!(
            *landed.lock().unwrap(),
            ["cpu=30%", "net.rate_out=2M", "cpu=40%", "net.rate_out=max"]
        );
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

    /// issue 16: the status line after an io limit on v1 says what the
    /// files don't: only direct I/O is throttled. Not on v2 (io.max).
    #[test]
    fn io_v1_limit_says_direct_io_only_in_the_status_line() {
        let applied = |file: &str, contents: &str| Applied {
            setting: Setting::parse("io.write_bps=max").unwrap(),
            writes: vec![cgdash::cgroup::FileWrite {
                knob: cgdash::cgroup::Knob::IoWriteBps,
                path: std::path::PathBuf::from(format!("/nonexistent/g/{file}")),
                contents: contents.into(),
            }],
        };
        let v1 = describe(&[applied("blkio.throttle.write_bps_device", "254:0 5242880")]);
        assert!(
            v1.starts_with("blkio.throttle.write_bps_device ← 254:0 5242880")
                && v1.contains("direct I/O only"),
            "{v1}"
        );
        // Clearing a v1 limit throttles nothing: no note.
        let clear = describe(&[applied("blkio.throttle.write_bps_device", "254:0 0")]);
        assert!(!clear.contains("direct I/O"), "{clear}");
        let v2 = describe(&[applied("io.max", "254:0 wbps=5242880")]);
        assert_eq!(v2, "io.max ← 254:0 wbps=5242880");
    }
}
