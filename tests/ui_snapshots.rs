//! Full-screen snapshots of the dashboard from fixed data, at 80×24 and
//! 160×48 (ratatui's `TestBackend`, insta). Review changes by hand: run with
//! `INSTA_UPDATE=always`, read the `.snap` diff, commit what is right.

mod ui_fixture;

use std::sync::Arc;

use cgdash::app::{Action, App};
use cgdash::ui::Dashboard;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| f.render_widget(Dashboard(app), f.area()))
        .expect("draw");
    t
}

fn both(name: &str, app: &App) {
    for (w, h) in [(80, 24), (160, 48)] {
        let t = render(app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
    }
}

fn key(app: &mut App, c: KeyCode) {
    app.handle_key(KeyEvent::new(c, KeyModifiers::NONE));
}

fn typ(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

#[test]
fn normal() {
    let mut app = ui_fixture::app(None);
    app.status = None;
    both("normal", &app);
}

#[test]
fn read_only() {
    let mut app = ui_fixture::app(Some(
        "not root (uid 1000): changing limits needs root or a delegated group",
    ));
    app.status = None;
    // An edit key in read-only mode says why it does nothing.
    key(&mut app, KeyCode::Char('+'));
    both("read_only", &app);
}

#[test]
fn edit_form_with_invalid_value() {
    let mut app = ui_fixture::app(None);
    app.status = None;
    key(&mut app, KeyCode::Char('e'));
    // memory's field: the fields follow the declared knobs.
    let mem = cgdash::cgroup::Knob::all()
        .position(|k| k == cgdash::cgroup::Knob::Memory)
        .unwrap();
    for _ in 0..mem {
        key(&mut app, KeyCode::Down);
    }
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Backspace);
    typ(&mut app, "12Q");
    let fx = app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(fx.is_empty(), "nothing is written: {fx:?}");
    both("edit_invalid", &app);
}

#[test]
fn error_in_status_line() {
    let mut app = ui_fixture::app(None);
    app.update(Action::Applied {
        group: "cgdash/demo".into(),
        label: "memory=1M".into(),
        undo: None,
        result: Err("the kernel refused memory.limit_in_bytes ← 1048576: the new limit is below the group's current usage and the kernel could not reclaim enough; the old limit is still in place (EBUSY)".into()),
    });
    both("status_error", &app);
}

#[test]
fn empty_process_list() {
    let mut app = ui_fixture::app(None);
    app.status = None;
    let mut s = ui_fixture::snapshot(40, 50.0);
    s.processes.clear();
    app.update(Action::Snapshot(Arc::new(s)));
    both("no_processes", &app);
}

#[test]
fn help_overlay() {
    let mut app = ui_fixture::app(None);
    app.status = None;
    key(&mut app, KeyCode::Char('?'));
    both("help", &app);
}

#[test]
fn launch_dialog_and_tree() {
    let mut app = ui_fixture::app(None);
    app.status = None;
    // All processes as a tree, then the launch dialog over it.
    key(&mut app, KeyCode::Char('a'));
    key(&mut app, KeyCode::Char('t'));
    key(&mut app, KeyCode::Char('n'));
    typ(&mut app, "cgdash stress cpu");
    both("launch", &app);
}
