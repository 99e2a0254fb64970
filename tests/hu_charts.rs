//! What the charts show (issue 11, item 22): the quota line stays visible
//! when the usage sits on it, throttling has its own scale (it no longer
//! squashes the CPU axis), stacked charts line their markers up, and the
//! legends say what throttled % means. Fixed data (tests/ui_fixture),
//! drawn with ratatui's TestBackend at 80×24 and 160×48.

mod ui_fixture;

use std::sync::Arc;

use cgdash::app::{Action, App};
use cgdash::ui::Dashboard;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::Terminal;

fn render(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| f.render_widget(Dashboard(app), f.area()))
        .expect("draw");
    t.backend().buffer().clone()
}

fn row(buf: &Buffer, y: u16, r: Rect) -> String {
    (r.x..r.x + r.width).map(|x| buf[(x, y)].symbol()).collect()
}

/// The box whose top border starts with `┌ title` (its outer rectangle).
fn find_box(buf: &Buffer, title: &str) -> Rect {
    let a = buf.area;
    let want = format!("┌ {title}");
    for y in 0..a.height {
        let line = row(buf, y, a);
        if let Some(byte) = line.find(&want) {
            let x = line[..byte].chars().count() as u16;
            let right = (x + 1..a.width)
                .find(|&c| buf[(c, y)].symbol() == "┐")
                .expect("top right corner");
            let bottom = (y + 1..a.height)
                .find(|&r| buf[(x, r)].symbol() == "└")
                .expect("bottom left corner");
            return Rect::new(x, y, right - x + 1, bottom - y + 1);
        }
    }
    panic!("no box titled {title}:\n{}", text(buf));
}

fn text(buf: &Buffer) -> String {
    (0..buf.area.height)
        .map(|y| row(buf, y, buf.area) + "\n")
        .collect()
}

/// 40 samples (30 at 20 %, a change, 10 at 50 %) with the demo's usage
/// exactly at its quota: the case where the quota line used to vanish.
fn pinned_app() -> App {
    let mut app = App::new(None);
    app.focus_group("cgdash/demo");
    let pinned = |i, quota| {
        let mut s = ui_fixture::snapshot(i, quota);
        for g in s.groups.iter_mut().filter(|g| g.path == "cgdash/demo") {
            g.cpu.usage_percent = Some(quota);
        }
        Arc::new(s)
    };
    for i in 0..30 {
        app.update(Action::Snapshot(pinned(i, 20.0)));
    }
    app.update(Action::Applied {
        group: "cgdash/demo".into(),
        label: "cpu=50%".into(),
        undo: None,
        result: Ok("cpu.cfs_quota_us ← 50000".into()),
    });
    for i in 30..40 {
        app.update(Action::Snapshot(pinned(i, 50.0)));
    }
    app.status = None;
    app
}

#[test]
fn hu_quota_line_drawn_over_pinned_usage() {
    let app = pinned_app();
    for (w, h) in [(80, 24), (160, 48)] {
        let buf = render(&app, w, h);
        let b = find_box(&buf, "CPU");
        let mut quota_cells = 0;
        for y in b.y + 1..b.y + b.height - 1 {
            for x in b.x + 1..b.x + b.width - 1 {
                let c = &buf[(x, y)];
                // `╌` the quota alone, `━` the quota with the usage on it.
                if (c.symbol() == "╌" || c.symbol() == "━") && c.fg == Color::Red {
                    quota_cells += 1;
                }
            }
        }
        // The quota is there for the whole window: most plot columns show it.
        let plot_w = i32::from(b.width) - 7;
        assert!(
            quota_cells >= plot_w * 3 / 4,
            "{w}x{h}: only {quota_cells} quota cells over a {plot_w}-column plot:\n{}",
            text(&buf)
        );
    }
    insta::assert_snapshot!("hu_pinned_80x24", text(&render(&app, 80, 24)));
    insta::assert_snapshot!("hu_pinned_160x48", text(&render(&app, 160, 48)));
}

/// The y axis' top label of the chart titled `title`.
fn top_label(buf: &Buffer, title: &str) -> String {
    let b = find_box(buf, title);
    let first = row(buf, b.y + 1, Rect::new(b.x + 1, 0, 5, 1));
    first.trim_end_matches('│').trim().to_string()
}

#[test]
fn hu_throttling_has_its_own_scale() {
    // The fixture's demo: ≈ 20 % CPU, 78 % throttled, before the change.
    let mut app = App::new(None);
    app.focus_group("cgdash/demo");
    for i in 0..30 {
        app.update(Action::Snapshot(Arc::new(ui_fixture::snapshot(i, 20.0))));
    }
    for (w, h) in [(80, 24), (160, 48)] {
        let buf = render(&app, w, h);
        assert_eq!(top_label(&buf, "CPU"), "25%", "{w}x{h}:\n{}", text(&buf));
        assert_eq!(top_label(&buf, "throttled"), "100%", "{w}x{h}");
        let s = text(&buf);
        if w >= 160 {
            assert!(s.contains("summed over CPUs: can pass 100"), "{s}");
        } else {
            assert!(s.contains("Σ CPUs"), "{s}");
        }
    }
}

/// Where the limit-change marker is drawn inside the box `title`: absolute
/// columns, each with the half of the cell its Braille dots use (a cell
/// holds two dot columns, so alignment is checked to the dot).
fn marker_columns(buf: &Buffer, title: &str) -> Vec<(u16, bool)> {
    let b = find_box(buf, title);
    let mut xs: Vec<(u16, bool)> = Vec::new();
    for x in b.x + 1..b.x + b.width - 1 {
        for y in b.y + 1..b.y + b.height - 1 {
            let c = &buf[(x, y)];
            let Some(ch) = c.symbol().chars().next() else {
                continue;
            };
            if c.fg == Color::White && ('⠁'..='⣿').contains(&ch) {
                // Dots 4-6 and 8 are the right half of a Braille cell.
                let right = (ch as u32 - 0x2800) & 0xb8 != 0;
                if !xs.contains(&(x, right)) {
                    xs.push((x, right));
                }
            }
        }
    }
    xs
}

#[test]
fn hu_stacked_charts_line_up() {
    let app = ui_fixture::app(None);
    let buf = render(&app, 160, 48);
    let cpu = marker_columns(&buf, "CPU");
    assert!(!cpu.is_empty(), "no marker:\n{}", text(&buf));
    assert_eq!(cpu, marker_columns(&buf, "throttled"), "\n{}", text(&buf));
    assert_eq!(cpu, marker_columns(&buf, "memory"), "\n{}", text(&buf));
}

/// Side by side (80×24) all charts span the same time: with more history
/// than fits, each says the same window.
#[test]
fn hu_side_by_side_charts_share_the_window() {
    let mut app = App::new(None);
    app.focus_group("cgdash/demo");
    for i in 0..150 {
        app.update(Action::Snapshot(Arc::new(ui_fixture::snapshot(i, 20.0))));
    }
    for (w, h) in [(80, 24), (120, 40), (160, 48)] {
        let s = text(&render(&app, w, h));
        let windows: Vec<&str> = ["-60s", "-120s", " 60s: ", " 120s: "]
            .into_iter()
            .filter(|l| s.contains(l))
            .collect();
        assert_eq!(windows.len(), 1, "{w}x{h}: {windows:?}\n{s}");
        // Each chart of the row or column says it (or the CPU chart alone).
        let n = s.matches(windows[0]).count();
        assert!(n == 1 || n == 3, "{w}x{h}: {n}× {}\n{s}", windows[0]);
    }
}

/// THR% above 100 gets a footnote under the groups that says why (and
/// only then).
#[test]
fn hu_throttled_over_100_is_explained() {
    let note = "THR% over 100: throttled time is summed over CPUs";
    let mut app = App::new(None);
    app.focus_group("cgdash/demo");
    let mut s = ui_fixture::snapshot(0, 20.0);
    app.update(Action::Snapshot(Arc::new(s.clone())));
    for (w, h) in [(80, 24), (160, 48)] {
        assert!(!text(&render(&app, w, h)).contains(note));
    }
    for g in s.groups.iter_mut().filter(|g| g.path == "cgdash/demo") {
        g.cpu.throttled_percent = Some(150.0);
    }
    s.timestamp_ms += 1000;
    app.update(Action::Snapshot(Arc::new(s)));
    for (w, h) in [(80, 24), (160, 48)] {
        let t = text(&render(&app, w, h));
        assert!(t.contains(note), "{w}x{h}:\n{t}");
        assert!(t.contains("150"), "{t}");
    }
}

/// Too narrow for a throttling chart (under 60 columns): the CPU chart's
/// title still says how much the group is throttled.
#[test]
fn hu_narrow_screen_still_shows_throttling() {
    let app = ui_fixture::app(None);
    let s = text(&render(&app, 58, 24));
    assert!(s.contains("thr 49.0%"), "{s}");
    assert!(!s.contains("┌ throttled"), "{s}");
}
