//! The dashboard's real event loop asks the sampler to read every
//! process's `/proc/PID/io` only while the process panel shows the IO R/s /
//! IO W/s columns (a 200-column screen) or is sorted by them, or the I/O
//! microscope is open, and tells it to stop when none holds any more.

mod ui_fixture;

use std::collections::VecDeque;
use std::sync::Arc;

use cgdash::app::{Action, App, LaunchRequest, OwnedWorkload, SignalKind};
use cgdash::event_loop::{self, Input, Inputs, Launcher, Sample, WriteJob, Writer};
use cgdash::ui::screen::Screen;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

/// Scripted inputs; records each `read_process_io` call.
struct Script {
    steps: VecDeque<Input>,
    calls: Vec<bool>,
    /// `calls` as they stood when each input was handed out.
    seen: Vec<Vec<bool>>,
    /// What `reads_io_at_start` answers.
    at_start: bool,
}

impl Inputs for Script {
    async fn next(&mut self, _frame: &Buffer, _watching: bool) -> Input {
        self.seen.push(self.calls.clone());
        self.steps.pop_front().unwrap_or(Input::TerminalClosed)
    }
    fn resample(&mut self) {}
    fn read_process_io(&mut self, on: bool) {
        self.calls.push(on);
    }
    fn reads_io_at_start(&self) -> bool {
        self.at_start
    }
}

struct NoWriter;

impl Writer for NoWriter {
    fn submit(&mut self, _job: WriteJob) {}
}

struct NoLauncher;

impl Launcher for NoLauncher {
    fn launch(&mut self, _req: LaunchRequest) {}
    fn signal(&mut self, _pid: i32, _signal: SignalKind) -> Result<(), String> {
        Ok(())
    }
    fn output(&mut self, _group: &str) -> Vec<String> {
        Vec::new()
    }
    fn watching(&self) -> bool {
        false
    }
    fn exited(&mut self, _owned: &[OwnedWorkload]) -> Vec<Action> {
        Vec::new()
    }
}

fn key(code: KeyCode) -> Input {
    Input::Terminal(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn sample(i: u64) -> Input {
    Input::Sample(Sample {
        snapshot: Arc::new(ui_fixture::snapshot(i, 20.0)),
        problem: None,
    })
}

fn run(w: u16, h: u16, steps: Vec<Input>) -> Script {
    run_from(false, w, h, steps)
}

/// `at_start`: the sampler was started reading per-process I/O.
fn run_from(at_start: bool, w: u16, h: u16, steps: Vec<Input>) -> Script {
    let mut app = App::new(None);
    app.focus_group("cgdash/demo");
    let mut script = Script {
        steps: steps.into(),
        calls: Vec::new(),
        seen: Vec::new(),
        at_start,
    };
    let mut screen = Screen::new(TestBackend::new(w, h)).expect("screen");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _ = rt.block_on(event_loop::run(
        &mut app,
        &mut screen,
        &mut script,
        &mut NoWriter,
        &mut NoLauncher,
    ));
    script
}

#[test]
fn io_loop_started_reading_io_is_not_asked_again() {
    // The dashboard starts its sampler reading I/O when the first screen
    // shows it (issue 18: turning it on after the first sample cost a
    // second full sample at once): 200×50, nothing to ask.
    let wide = run_from(true, 200, 50, vec![sample(0), sample(1)]);
    assert!(wide.calls.is_empty(), "{:?}", wide.calls);
    // Started reading it where it is not shown: turned off at once.
    let narrow = run_from(true, 80, 24, vec![sample(0)]);
    assert_eq!(narrow.calls, vec![false]);
}

#[test]
fn io_loop_reads_process_io_only_while_shown_or_sorted() {
    // 200×50: the process panel (~116 columns) shows them: on at once, once.
    let wide = run(200, 50, vec![sample(0), sample(1)]);
    assert_eq!(wide.calls, vec![true]);
    assert_eq!(wide.seen[0], vec![true], "before the first input");
    // 80×24: not shown, never asked for.
    let narrow = run(80, 24, vec![sample(0), sample(1)]);
    assert!(narrow.calls.is_empty(), "{:?}", narrow.calls);
    // 80×24, the process list sorted by IO R/s (Tab, then `s` from CPU%:
    // MEM%, RSS, TIME+, IO R/s): on; one more `s` (IO W/s) keeps it on;
    // past them (CGROUP): off.
    let mut steps = vec![sample(0), key(KeyCode::Tab)];
    steps.extend((0..4).map(|_| key(KeyCode::Char('s'))));
    steps.push(key(KeyCode::Char('s')));
    steps.push(key(KeyCode::Char('s')));
    let sorted = run(80, 24, steps);
    assert_eq!(sorted.calls, vec![true, false]);
    // Sorted by IO R/s only after the 4th `s` (inputs 2..=5 are the keys).
    assert_eq!(sorted.seen[5], Vec::<bool>::new());
    assert_eq!(sorted.seen[6], vec![true]);
    assert_eq!(sorted.seen[7], vec![true], "IO W/s sorts too");
    assert_eq!(sorted.seen[8], vec![true, false]);
    // 80×24 with the I/O microscope open (it lists the busiest processes): on.
    let micro = run(
        80,
        24,
        vec![sample(0), key(KeyCode::Char('i')), key(KeyCode::Char('i'))],
    );
    assert_eq!(micro.calls, vec![true, false]);
}
