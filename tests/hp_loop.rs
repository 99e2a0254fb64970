//! The dashboard's real event loop (`cgdash::event_loop::run`) driven
//! without a terminal: scripted inputs (keys, mouse, samples, signals, the
//! clock), a fake writer and launcher, a `TestBackend` screen. Checks the
//! frames drawn and the effects that went out.

mod ui_fixture;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use cgdash::app::{Action, App, LaunchRequest, OwnedWorkload, SignalKind};
use cgdash::event_loop::{self, End, Input, Inputs, Launcher, OsSignal, Sample, WriteJob, Writer};
use cgdash::ui::screen::Screen;
use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

/// Answers of the fakes, read before the next scripted input (as a real
/// write or launch answers some time after it was asked for).
type Answers = Rc<RefCell<VecDeque<Input>>>;

/// Scripted inputs; records the frame shown whenever the loop waits, and
/// each resample. The script running out is the terminal going away.
struct Script {
    /// What `Inputs::first` answers (then taken).
    first: Vec<Input>,
    steps: VecDeque<Input>,
    answers: Answers,
    frames: Vec<String>,
    resamples: usize,
}

impl Inputs for Script {
    async fn first(&mut self) -> Vec<Input> {
        std::mem::take(&mut self.first)
    }

    async fn next(&mut self, frame: &Buffer, _watching: bool) -> Input {
        self.frames.push(text(frame));
        if let Some(a) = self.answers.borrow_mut().pop_front() {
            return a;
        }
        self.steps.pop_front().unwrap_or(Input::TerminalClosed)
    }

    fn resample(&mut self) {
        self.resamples += 1;
    }
}

/// Records writes; each one succeeds.
struct FakeWriter {
    jobs: Vec<WriteJob>,
    answers: Answers,
}

impl Writer for FakeWriter {
    fn submit(&mut self, job: WriteJob) {
        self.answers
            .borrow_mut()
            .push_back(Input::Done(Action::Applied {
                group: job.group.clone(),
                label: job.label.clone(),
                undo: job.undo.clone(),
                result: Ok("cpu.cfs_quota_us ← 30000".into()),
            }));
        self.jobs.push(job);
    }
}

/// Records launches and signals; workloads in `exited` have ended.
#[derive(Default)]
struct FakeLauncher {
    launches: Vec<LaunchRequest>,
    signals: Vec<(i32, SignalKind)>,
    exited: Vec<String>,
    watched: bool,
}

impl Launcher for FakeLauncher {
    fn launch(&mut self, req: LaunchRequest) {
        self.launches.push(req);
    }
    fn signal(&mut self, pid: i32, signal: SignalKind) -> Result<(), String> {
        self.signals.push((pid, signal));
        Ok(())
    }
    fn output(&mut self, _group: &str) -> Vec<String> {
        vec!["hello from the workload".into()]
    }
    fn watching(&self) -> bool {
        self.watched
    }
    fn exited(&mut self, owned: &[OwnedWorkload]) -> Vec<Action> {
        owned
            .iter()
            .filter(|o| o.running && self.exited.contains(&o.group))
            .map(|o| Action::WorkloadExited {
                group: o.group.clone(),
                status: "exited with 0".into(),
            })
            .collect()
    }
}

fn text(b: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..b.area.height {
        for x in 0..b.area.width {
            out.push_str(b[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn key(c: char) -> Input {
    Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

fn sample(i: u64, quota: f64) -> Input {
    Input::Sample(Sample {
        snapshot: Arc::new(ui_fixture::snapshot(i, quota)),
        problem: None,
    })
}

/// An app with the demo group selected and launched by cgdash (running).
fn app() -> App {
    let mut app = App::new(None);
    app.focus_group("cgdash/demo");
    app.add_owned(OwnedWorkload {
        group: "cgdash/demo".into(),
        pid: 5003,
        keep: false,
        ask_on_quit: true,
        running: true,
    });
    app
}

struct Run {
    end: anyhow::Result<End>,
    /// Frames drawn.
    draws: u64,
    app: App,
    script: Script,
    writer: FakeWriter,
    launcher: FakeLauncher,
}

impl Run {
    /// Whether some frame drawn showed `text`.
    fn showed(&self, text: &str) -> bool {
        self.script.frames.iter().any(|f| f.contains(text))
    }
}

fn run(app: App, steps: Vec<Input>, launcher: FakeLauncher) -> Run {
    run_first(app, Vec::new(), steps, launcher)
}

/// As [`run`], with `first` as what `Inputs::first` answers.
fn run_first(mut app: App, first: Vec<Input>, steps: Vec<Input>, launcher: FakeLauncher) -> Run {
    let answers: Answers = Rc::default();
    let mut script = Script {
        first,
        steps: steps.into(),
        answers: Rc::clone(&answers),
        frames: Vec::new(),
        resamples: 0,
    };
    let mut writer = FakeWriter {
        jobs: Vec::new(),
        answers,
    };
    let mut launcher = launcher;
    let mut screen = Screen::new(TestBackend::new(100, 30)).expect("screen");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let end = rt.block_on(event_loop::run(
        &mut app,
        &mut screen,
        &mut script,
        &mut writer,
        &mut launcher,
    ));
    Run {
        end,
        draws: screen.draws(),
        app,
        script,
        writer,
        launcher,
    }
}

/// `+` on the selected group: one write goes out, its answer makes the app
/// resample (an effect of the app, not a side path of the loop) and shows
/// on screen; `q` with a launched workload running asks first, `y` quits.
#[test]
fn hp_loop_write_answer_resamples_and_quit_asks() {
    let r = run(
        app(),
        vec![
            sample(0, 20.0),
            sample(1, 20.0),
            key('+'),
            sample(2, 30.0),
            key('q'),
            key('y'),
            // Never reached: the loop has quit.
            key('q'),
        ],
        FakeLauncher::default(),
    );
    assert_eq!(*r.end.as_ref().expect("loop"), End::Quit);
    assert_eq!(r.writer.jobs.len(), 1, "{:?}", r.writer.jobs);
    assert_eq!(r.writer.jobs[0].group, "cgdash/demo");
    assert_eq!(r.writer.jobs[0].label, "cpu=30%");
    assert_eq!(r.script.resamples, 1, "the applied write asks for a sample");
    assert!(
        r.showed("cgdash/demo: cpu=30% (cpu.cfs_quota_us ← 30000)"),
        "the write's outcome is drawn"
    );
    let last = r.script.frames.last().expect("frames");
    assert!(
        last.contains("1 workload(s) started by cgdash still running."),
        "the quit confirmation is drawn before quitting:\n{last}"
    );
    assert_eq!(
        r.script.steps.len(),
        1,
        "inputs after quitting are not read"
    );
}

/// A first sample that comes soon (`Inputs::first`) is what the first
/// frame shows: one frame drawn, with the group in it, where without it an
/// empty frame comes first and the sample's second.
#[test]
fn hp_loop_a_first_sample_that_comes_soon_is_the_first_frame() {
    let soon = run_first(
        app(),
        vec![sample(0, 20.0)],
        vec![Input::TerminalClosed],
        FakeLauncher::default(),
    );
    assert_eq!(*soon.end.as_ref().expect("loop"), End::TerminalLost);
    assert_eq!(soon.draws, 1);
    assert_eq!(soon.script.frames.len(), 1);
    assert!(soon.showed("cgdash/demo"), "{}", soon.script.frames[0]);
    let late = run(
        app(),
        vec![sample(0, 20.0), Input::TerminalClosed],
        FakeLauncher::default(),
    );
    assert_eq!(late.draws, 2);
    assert!(!late.script.frames[0].contains("cgdash/demo"));
    assert_eq!(late.script.frames[1], soon.script.frames[0]);
}

/// Inputs that come in order, then never again (a sampler between ticks).
struct Then(VecDeque<Input>);

impl Inputs for Then {
    async fn next(&mut self, _frame: &Buffer, _watching: bool) -> Input {
        match self.0.pop_front() {
            Some(i) => i,
            None => std::future::pending().await,
        }
    }

    fn resample(&mut self) {}
}

/// What `event_loop::first_with_rates` gives the loop before its first frame.
fn first_inputs(inputs: Vec<Input>, wait_ms: u64) -> Vec<Input> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut inputs = Then(inputs.into());
    rt.block_on(event_loop::first_with_rates(
        &mut inputs,
        std::time::Duration::from_millis(wait_ms),
    ))
}

/// Which sample (`ui_fixture::snapshot`'s `i`, from its timestamp) or what.
fn which(inputs: &[Input]) -> Vec<String> {
    let t0 = ui_fixture::snapshot(0, 20.0).timestamp_ms;
    inputs
        .iter()
        .map(|i| match i {
            Input::Sample(s) => format!("sample {}", (s.snapshot.timestamp_ms - t0) / 1000),
            Input::Terminal(Event::Key(k)) => format!("key {}", k.code),
            other => format!("{other:?}"),
        })
        .collect()
}

/// The first frame waits for the sampler's second sample, the first with
/// rates, and shows only that one (issue 18: the rate-less first sample's
/// own frame cost ~1 ms of a start); a key that comes first is not held up
/// or lost, and comes after the first sample; a sampler too slow for a
/// second sample in time gets its first drawn; none at all, an empty frame.
#[test]
fn hp_loop_the_first_frame_waits_for_rates() {
    let long = 60_000;
    assert_eq!(
        which(&first_inputs(vec![sample(0, 20.0), sample(1, 20.0)], long)),
        ["sample 1"]
    );
    assert_eq!(
        which(&first_inputs(
            vec![sample(0, 20.0), key('q'), sample(1, 20.0)],
            long
        )),
        ["sample 0", "key q"]
    );
    assert_eq!(which(&first_inputs(vec![key('q')], long)), ["key q"]);
    assert_eq!(
        which(&first_inputs(vec![sample(0, 20.0)], 50)),
        ["sample 0"]
    );
    assert!(first_inputs(Vec::new(), 50).is_empty());
}

/// A hangup ends the loop as a lost terminal, SIGTERM as a quit — both
/// without the confirmation; the terminal's input ending is a lost
/// terminal; a stopped sampler is an error.
#[test]
fn hp_loop_signals_and_lost_terminal() {
    let hup = run(
        app(),
        vec![sample(0, 20.0), Input::Signal(OsSignal::Hup)],
        FakeLauncher::default(),
    );
    assert_eq!(hup.end.expect("loop"), End::TerminalLost);
    for sig in [OsSignal::Term, OsSignal::Int] {
        let r = run(
            app(),
            vec![sample(0, 20.0), Input::Signal(sig)],
            FakeLauncher::default(),
        );
        assert_eq!(r.end.expect("loop"), End::Quit, "{sig:?}");
    }
    let closed = run(app(), vec![sample(0, 20.0)], FakeLauncher::default());
    assert_eq!(closed.end.expect("loop"), End::TerminalLost);
    let stopped = run(
        app(),
        vec![sample(0, 20.0), Input::SamplerStopped],
        FakeLauncher::default(),
    );
    let err = stopped.end.expect_err("a stopped sampler ends the loop");
    assert!(err.to_string().contains("sampler stopped"), "{err}");
}

/// The clock asks the launcher which workloads exited; one exiting while
/// the quit confirmation is up quits. `o` fetches the output through the
/// launcher, `x` + Enter signals the selected process through it, an
/// incomplete sample says so.
#[test]
fn hp_loop_clock_output_signals_and_problems() {
    let launcher = FakeLauncher {
        watched: true,
        exited: vec!["cgdash/demo".into()],
        ..FakeLauncher::default()
    };
    let incomplete = Input::Sample(Sample {
        snapshot: Arc::new(ui_fixture::snapshot(0, 20.0)),
        problem: Some("/proc/42/stat: gone".into()),
    });
    let r0 = run(app(), vec![incomplete, key('o')], FakeLauncher::default());
    assert!(
        r0.showed("incomplete sample: /proc/42/stat: gone"),
        "the sampler's problem is drawn"
    );
    assert!(
        r0.script
            .frames
            .last()
            .is_some_and(|f| f.contains("hello from the workload")),
        "o shows the launcher's output"
    );

    // The process list: Tab, then x and Enter signals the selected process.
    let r1 = run(
        app(),
        vec![
            sample(0, 20.0),
            Input::Terminal(Event::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE))),
            key('x'),
            Input::Terminal(Event::Key(KeyEvent::new(
                KeyCode::Enter,
                KeyModifiers::NONE,
            ))),
        ],
        FakeLauncher::default(),
    );
    assert_eq!(r1.launcher.signals.len(), 1, "{:?}", r1.launcher.signals);
    assert_eq!(r1.launcher.signals[0].1, SignalKind::Term);

    let r2 = run(
        app(),
        vec![sample(0, 20.0), key('q'), Input::Tick],
        launcher,
    );
    assert_eq!(
        r2.end.expect("loop"),
        End::Quit,
        "exit during the question quits"
    );
    assert!(!r2.app.owned[0].running);
    assert!(r2.launcher.launches.is_empty());
}

/// A mouse click on a group row selects it (the loop maps the position with
/// the screen's size); a click elsewhere or a mouse move changes nothing.
#[test]
fn hp_loop_mouse_click_selects_a_row() {
    let click = |column, row, kind| {
        Input::Terminal(Event::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        }))
    };
    let before = run(app(), vec![sample(0, 20.0)], FakeLauncher::default());
    let selected = before.app.groups.selected;
    // The screen row of the groups panel's first row (the root group).
    let mut found = None;
    for y in 0..30 {
        if let Some(Action::Click {
            panel: cgdash::app::Panel::Groups,
            row: 0,
        }) = cgdash::ui::mouse_action(
            ratatui::layout::Rect::new(0, 0, 100, 30),
            &before.app,
            5,
            y,
            None,
        ) {
            found = Some(y);
            break;
        }
    }
    let y = found.expect("a screen row for the first group row");
    let r = run(
        app(),
        vec![
            sample(0, 20.0),
            click(5, y, MouseEventKind::Moved),
            click(5, y, MouseEventKind::Down(MouseButton::Left)),
        ],
        FakeLauncher::default(),
    );
    assert_ne!(selected, 0, "the demo group starts selected");
    assert_eq!(r.app.groups.selected, 0, "the click selected the first row");
}
