//! The two list panels (groups, processes) drawn through the one table
//! widget, styles included: the plain-text snapshots of `ui_snapshots`
//! do not see the sort column's highlight, the selection's colour or the
//! focused border. Each state is drawn at a wide and a narrow size and
//! compared with a snapshot of every cell's symbol and style (recorded
//! with the two near-copy panels before they became one widget).

mod ui_fixture;

use std::fmt::Write as _;

use cgdash::app::App;
use cgdash::ui::groups::GroupsPanel;
use cgdash::ui::processes::ProcessesPanel;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

fn key(app: &mut App, c: KeyCode) {
    app.handle_key(KeyEvent::new(c, KeyModifiers::NONE));
}

fn typ(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// Every row's text, then each run of cells sharing a style.
fn styled(b: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        let mut runs = String::new();
        let mut run: Option<(u16, String)> = None;
        for x in 0..b.area.width {
            let c = &b[(x, y)];
            line.push_str(c.symbol());
            let style = format!("{:?}/{:?}/{:?}", c.fg, c.bg, c.modifier);
            match &run {
                Some((_, s)) if *s == style => {}
                _ => {
                    if let Some((x0, s)) = run.take() {
                        let _ = write!(runs, " {x0}-{}:{s}", x - 1);
                    }
                    run = Some((x, style));
                }
            }
        }
        if let Some((x0, s)) = run {
            let _ = write!(runs, " {x0}-{}:{s}", b.area.width - 1);
        }
        let _ = writeln!(out, "{line}\n   {runs}");
    }
    out
}

/// Both panels at 80×9 (narrow columns, scrolling) and 150×9 (the
/// USE/LIMIT bar, the CGROUP column).
fn both(name: &str, app: &App) {
    for w in [80u16, 150] {
        let area = Rect::new(0, 0, w, 9);
        let mut g = Buffer::empty(area);
        GroupsPanel(app).render(area, &mut g);
        let mut p = Buffer::empty(area);
        ProcessesPanel(app).render(area, &mut p);
        insta::assert_snapshot!(
            format!("{name}_{w}"),
            format!("{}\n{}", styled(&g), styled(&p))
        );
    }
}

#[test]
fn hp_table_normal() {
    both("normal", &ui_fixture::app(None));
}

/// Processes focused, sorted by the next column reversed, scrolled to the end.
#[test]
fn hp_table_processes_sorted_and_scrolled() {
    let mut app = ui_fixture::app(None);
    key(&mut app, KeyCode::Char('a'));
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('S'));
    key(&mut app, KeyCode::End);
    both("procs_sorted", &app);
}

/// Groups sorted by memory, the filter being typed; the tree of processes.
#[test]
fn hp_table_filter_typing_and_tree() {
    let mut app = ui_fixture::app(None);
    for _ in 0..4 {
        key(&mut app, KeyCode::Char('s'));
    }
    key(&mut app, KeyCode::Char('t'));
    key(&mut app, KeyCode::Char('/'));
    typ(&mut app, "cg");
    both("filter_tree", &app);
}

/// No process matches: the table's header and the centered message.
#[test]
fn hp_table_empty_with_message() {
    let mut app = ui_fixture::app(None);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('/'));
    typ(&mut app, "nothing-matches-this");
    key(&mut app, KeyCode::Enter);
    both("empty", &app);
}

/// An empty groups list says why, as the processes list does (before, it
/// showed a bare header): a filter matching nothing, no sample yet.
#[test]
fn hp_table_empty_groups_say_why() {
    let mut app = ui_fixture::app(None);
    key(&mut app, KeyCode::Char('/'));
    typ(&mut app, "zzz");
    key(&mut app, KeyCode::Enter);
    let text = groups_text(&app);
    assert!(
        text.contains("no group matches /zzz (Esc clears)"),
        "{text}"
    );
    let text = groups_text(&App::new(None));
    assert!(
        text.contains("no groups (waiting for the first sample)"),
        "{text}"
    );
}

fn groups_text(app: &App) -> String {
    let area = Rect::new(0, 0, 80, 9);
    let mut g = Buffer::empty(area);
    GroupsPanel(app).render(area, &mut g);
    styled(&g)
}
