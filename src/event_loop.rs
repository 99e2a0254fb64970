//! The dashboard's event loop with the outside world passed in: inputs
//! arrive as [`Input`] values (terminal events, samples, signals, the
//! clock, the outcome of effects), and the effects the app asks for go out
//! through traits ([`Writer`], [`Launcher`], [`Inputs::resample`]). The
//! terminal is a [`Screen`] over any ratatui backend. `cmd/dashboard.rs`
//! plugs in the real ones (crossterm, the sampler thread, Unix signals,
//! cgroup writes, launches); a test plugs in fakes and a `TestBackend` and
//! runs this very loop, frames and effects included.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, MouseEventKind};
use ratatui::backend::Backend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget as _;

use crate::app::{keymap, Action, App, Effect, LaunchRequest, OwnedWorkload, SignalKind};
use crate::cgroup::Setting;
use crate::model::Snapshot;
use crate::ui::screen::Screen;
use crate::ui::{mouse_action, Dashboard};

/// Something that happened outside the app.
#[derive(Debug)]
pub enum Input {
    /// A terminal event: a key, the mouse, a resize.
    Terminal(Event),
    /// The terminal's input ended (EIO/EOF after a hangup).
    TerminalClosed,
    /// A new sample from the sampler.
    Sample(Sample),
    /// The sampler is gone: the loop ends with an error.
    SamplerStopped,
    /// A signal from outside.
    Signal(OsSignal),
    /// The clock, while workloads run: time to look whether one exited.
    Tick,
    /// The outcome of an effect run off the loop (a write, a launch).
    Done(Action),
    /// The microscope's latest periods.
    Periods(Arc<crate::sampler::periods::Report>),
}

/// A sample and what is known alongside it.
#[derive(Debug)]
pub struct Sample {
    pub snapshot: Arc<Snapshot>,
    /// Why the sample is incomplete, if it is (shown on every such tick).
    pub problem: Option<String>,
}

/// Signals that end the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsSignal {
    Term,
    /// The terminal hung up: ends as [`End::TerminalLost`].
    Hup,
    Int,
}

/// How the event loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Quit,
    /// The terminal went away (hangup, EIO/EOF on it): cleaned up quietly.
    TerminalLost,
}

/// Where inputs come from, and the sampler's one control.
pub trait Inputs {
    /// Waits for the next input. `frame` is what the screen shows now;
    /// `watching`: workloads run, so [`Input::Tick`]s are wanted.
    fn next(&mut self, frame: &Buffer, watching: bool) -> impl Future<Output = Input>;
    /// The first inputs, if they come soon: the loop takes them before its
    /// first frame, so that frame shows the sampler's readings (and their
    /// rates: [`first_with_rates`]) instead of an empty screen that is
    /// redrawn a moment later (issue 18: startup CPU). Default: none, the
    /// first frame is drawn at once.
    fn first(&mut self) -> impl Future<Output = Vec<Input>> {
        std::future::ready(Vec::new())
    }
    /// `Effect::Resample`: sample now instead of at the next tick.
    fn resample(&mut self);
    /// Read this group's periods (internal form) for the microscope, or
    /// stop reading (`None`): called whenever `App::microscope_target`
    /// changes. The readings come back as [`Input::Periods`].
    fn watch_periods(&mut self, _group: Option<String>) {}
    /// Read every process's `/proc/PID/io`, or stop: called whenever
    /// `ui::processes::reads_io` changes (the process panel's I/O columns
    /// shown, or sorted by).
    fn read_process_io(&mut self, _on: bool) {}
    /// Whether the sampler was started reading `/proc/PID/io` already (so
    /// the first frame's [`Inputs::read_process_io`] is not sent again).
    fn reads_io_at_start(&self) -> bool {
        false
    }
    /// Whether the sampler was started leaving command lines unread
    /// (`ProcessScanner::set_lazy_commands`): then
    /// [`Inputs::read_all_commands`] follows `App::needs_all_commands`.
    fn lazy_commands_at_start(&self) -> bool {
        false
    }
    /// Read every process's command line (a filter, a sort by command), or
    /// go back to leaving them unread until shown.
    fn read_all_commands(&mut self, _on: bool) {}
}

/// One limit write, as the app asked for it (`Effect::Apply`).
#[derive(Clone, Debug, PartialEq)]
pub struct WriteJob {
    /// Internal group form (`cgdash/demo`, `""` = root).
    pub group: String,
    pub settings: Vec<Setting>,
    pub label: String,
    pub undo: Option<Vec<Setting>>,
}

/// Writes limits off the loop; answers later with [`Input::Done`] carrying
/// `Action::Applied` (then `Action::WriteRefused` when a knob is to blame).
pub trait Writer {
    fn submit(&mut self, job: WriteJob);
    /// Sets network knobs (`Effect::SetNet`); answers with `Action::Applied`.
    /// Default: refused (writers without network support).
    fn submit_net(
        &mut self,
        group: String,
        net: Vec<(crate::net::NetKnob, Option<u64>)>,
        label: String,
    ) -> Option<Action> {
        let _ = net;
        Some(Action::Applied {
            group,
            label,
            undo: None,
            result: Err("network knobs are not supported here".into()),
        })
    }
}

/// Starts workloads and watches them, signals processes.
pub trait Launcher {
    /// Starts a workload off the loop; answers later with [`Input::Done`]
    /// carrying `Action::Launched`.
    fn launch(&mut self, req: LaunchRequest);
    fn signal(&mut self, pid: i32, signal: SignalKind) -> Result<(), String>;
    /// The kept output lines of the workload in `group` (display form).
    fn output(&mut self, group: &str) -> Vec<String>;
    /// Whether any workload is held (ticks are wanted while one is).
    fn watching(&self) -> bool;
    /// `Action::WorkloadExited` for each of `owned` still running in the
    /// app's view that has exited.
    fn exited(&mut self, owned: &[OwnedWorkload]) -> Vec<Action>;
}

/// The first input for [`Inputs::first`]: waits, up to `wait`, for the
/// sampler's *second* sample, the first with rates (a rate needs two
/// readings), so that the first frame shows CPU % and every other rate, and
/// is the only frame of the start. top does the same (a second sample
/// 150 ms in, then its first frame); htop too. Drawing the rate-less first
/// sample as well, as cgdash did until session 23, cost a whole frame (~1 ms
/// of a ~12 ms start at 200 processes / 20 groups; issue 18).
///
/// The first sample is then dropped: it says nothing the second doesn't
/// (the app's first snapshot is the second's, as after any start). Anything
/// else that comes first (a key, a resize, a signal) is returned at once,
/// after the first sample if it came (the app sees them in that order). At
/// the deadline, the first sample if it came (a machine slow to sample
/// still sees its groups), else nothing.
pub async fn first_with_rates(inputs: &mut impl Inputs, wait: Duration) -> Vec<Input> {
    let deadline = tokio::time::Instant::now() + wait;
    // Nothing is on the screen yet.
    let blank = Buffer::empty(Rect::default());
    let mut first: Option<Sample> = None;
    loop {
        // A timed-out `next` must lose nothing: it is cancel-safe.
        let input = match tokio::time::timeout_at(deadline, inputs.next(&blank, false)).await {
            Ok(input) => input,
            Err(_) => return first.map(Input::Sample).into_iter().collect(),
        };
        match (input, first.is_some()) {
            (Input::Sample(s), false) => first = Some(s),
            (Input::Sample(s), true) => return vec![Input::Sample(s)],
            (other, _) => {
                return first
                    .map(Input::Sample)
                    .into_iter()
                    .chain([other])
                    .collect()
            }
        }
    }
}

/// Runs the dashboard on `screen` until the app quits, the terminal goes
/// away or a signal ends it. Draws only when something changed.
pub async fn run<B: Backend>(
    app: &mut App,
    screen: &mut Screen<B>,
    inputs: &mut impl Inputs,
    writer: &mut impl Writer,
    launcher: &mut impl Launcher,
) -> anyhow::Result<End> {
    let mut dirty = true;
    let mut end = End::Quit;
    let mut watched: Option<String> = None;
    let mut reading_io = inputs.reads_io_at_start();
    let lazy_commands = inputs.lazy_commands_at_start();
    let mut all_commands = false;
    let mut pending: std::collections::VecDeque<Input> = inputs.first().await.into();
    loop {
        // The microscope's sampler runs only while it shows a group.
        let target = app.microscope_target();
        if target != watched {
            inputs.watch_periods(target.clone());
            watched = target;
        }
        // Per-process I/O is read only while the process panel shows it.
        let size = screen.size();
        let io = crate::ui::processes::reads_io(Rect::new(0, 0, size.width, size.height), app);
        if io != reading_io {
            inputs.read_process_io(io);
            reading_io = io;
        }
        // Command lines: all of them only while a filter or sort needs them.
        let all = lazy_commands && app.needs_all_commands();
        if all != all_commands {
            inputs.read_all_commands(all);
            all_commands = all;
        }
        if dirty && pending.is_empty() {
            // A failed draw is a terminal gone (EIO after a hangup): clean up.
            if screen
                .draw(|area, buf| Dashboard(app).render(area, buf))
                .is_err()
            {
                return Ok(End::TerminalLost);
            }
            dirty = false;
        }
        let input = match pending.pop_front() {
            Some(input) => input,
            None => inputs.next(screen.frame(), launcher.watching()).await,
        };
        let mut actions: Vec<Action> = Vec::new();
        match input {
            // Unmapped keys change nothing: no redraw.
            Input::Terminal(Event::Key(k)) => actions.extend(keymap::lookup(app.key_mode(), k)),
            Input::Terminal(Event::Mouse(m)) => {
                let size = screen.size();
                let area = Rect::new(0, 0, size.width, size.height);
                let wheel = match m.kind {
                    MouseEventKind::ScrollUp => Some(-3),
                    MouseEventKind::ScrollDown => Some(3),
                    MouseEventKind::Down(_) => None,
                    _ => continue,
                };
                actions.extend(mouse_action(area, app, m.column, m.row, wheel));
            }
            Input::Terminal(Event::Resize(..)) => {
                if screen.autoresize().is_err() {
                    return Ok(End::TerminalLost);
                }
                dirty = true;
            }
            Input::Terminal(_) => {}
            Input::TerminalClosed => return Ok(End::TerminalLost),
            Input::Sample(s) => {
                actions.push(Action::Snapshot(s.snapshot));
                // An incomplete sample says so on every tick it lasts.
                if let Some(p) = s.problem {
                    app.status = Some(crate::app::Status {
                        text: format!("incomplete sample: {p}"),
                        kind: crate::app::StatusKind::Error,
                    });
                }
            }
            Input::SamplerStopped => anyhow::bail!("the sampler stopped"),
            Input::Signal(sig) => {
                if sig == OsSignal::Hup {
                    end = End::TerminalLost;
                }
                actions.push(Action::ForceQuit);
            }
            Input::Tick => actions.extend(launcher.exited(&app.owned)),
            Input::Done(a) => actions.push(a),
            Input::Periods(r) => actions.push(Action::Periods(r)),
        }
        let mut quit = false;
        for a in actions {
            let fx = app.update(a);
            dirty = true;
            quit |= execute(fx, app, inputs, writer, launcher);
        }
        if quit {
            return Ok(end);
        }
    }
}

/// Runs effects; returns true when the app asked to quit.
fn execute(
    effects: Vec<Effect>,
    app: &mut App,
    inputs: &mut impl Inputs,
    writer: &mut impl Writer,
    launcher: &mut impl Launcher,
) -> bool {
    let mut quit = false;
    for e in effects {
        match e {
            Effect::Apply {
                group,
                settings,
                label,
                undo,
            } => writer.submit(WriteJob {
                group,
                settings,
                label,
                undo,
            }),
            Effect::SetNet { group, net, label } => {
                if let Some(answer) = writer.submit_net(group, net, label) {
                    let more = app.update(answer);
                    quit |= execute(more, app, inputs, writer, launcher);
                }
            }
            Effect::Signal { pid, signal } => {
                let result = launcher.signal(pid, signal);
                let more = app.update(Action::Signalled {
                    pid,
                    signal,
                    result,
                });
                quit |= execute(more, app, inputs, writer, launcher);
            }
            Effect::Launch(req) => launcher.launch(req),
            Effect::ShowOutput { group } => {
                let lines = launcher.output(&group);
                let more = app.update(Action::Output { group, lines });
                quit |= execute(more, app, inputs, writer, launcher);
            }
            Effect::Resample => inputs.resample(),
            Effect::Quit => quit = true,
        }
    }
    quit
}
