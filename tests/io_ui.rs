//! issue 16: the groups panel's IO R/s and IO W/s columns (wide screens)
//! show a group's disk rates, and sort by them.

mod ui_fixture;

use std::sync::Arc;

use cgdash::app::{Action, App};
use cgdash::model::IoView;
use cgdash::ui::groups::GroupsPanel;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

fn rows(app: &App, w: u16) -> Vec<String> {
    let area = Rect::new(0, 0, w, 12);
    let mut b = Buffer::empty(area);
    GroupsPanel(app).render(area, &mut b);
    (0..area.height)
        .map(|y| (0..w).map(|x| b[(x, y)].symbol()).collect::<String>())
        .collect()
}

#[test]
fn io_columns_show_rates_and_sort() {
    let mut app = App::new(None);
    let mut snap = ui_fixture::snapshot(0, 20.0);
    for g in &mut snap.groups {
        // The kernel counts a group's I/O with its descendants'.
        if g.path == "cgdash/demo" || g.path == "cgdash" {
            g.io = IoView {
                read_bytes_per_s: Some(1024.0 * 1024.0),
                write_bytes_per_s: Some(5.0 * 1024.0 * 1024.0),
                ..Default::default()
            };
        }
    }
    app.update(Action::Snapshot(Arc::new(snap)));
    let wide = rows(&app, 150);
    assert!(
        wide[1].contains("IO R/s") && wide[1].contains("IO W/s"),
        "{wide:#?}"
    );
    let demo = wide
        .iter()
        .find(|l| l.contains(" demo "))
        .expect("demo row");
    let cells: Vec<&str> = demo
        .trim_end_matches([' ', '│'])
        .split_whitespace()
        .collect();
    assert_eq!(&cells[cells.len() - 2..], ["1M", "5M"], "{demo}");
    // Narrow: no IO columns (the name keeps its room).
    let narrow = rows(&app, 80);
    assert!(!narrow[1].contains("IO W/s"), "{narrow:#?}");
    // `s` cycles the sort to IO W/s: the writer's branch comes first
    // among the root's children (siblings are sorted, the tree kept).
    for _ in 0..20 {
        if rows(&app, 150)[0].contains("sort IO W/s") {
            break;
        }
        app.handle_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE));
    }
    let sorted = rows(&app, 150);
    assert!(sorted[0].contains("sort IO W/s"), "{sorted:#?}");
    assert!(sorted[3].contains("cgdash"), "{sorted:#?}");
    assert!(sorted[4].contains(" demo "), "{sorted:#?}");
}

/// The selected group's charts get an I/O chart (write and read rates, the
/// write limit) when the group has I/O readings, on a tall screen.
#[test]
fn io_chart_shows_rates_and_the_write_limit() {
    use cgdash::model::IoLimitView;
    use cgdash::ui::Dashboard;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    let screen = |app: &App| {
        let mut t = Terminal::new(TestBackend::new(160, 48)).unwrap();
        t.draw(|f| f.render_widget(Dashboard(app), f.area()))
            .unwrap();
        let b = t.backend().buffer().clone();
        (0..b.area.height)
            .map(|y| {
                (0..b.area.width)
                    .map(|x| b[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Without I/O readings (the fixture's groups): no I/O chart.
    let app = ui_fixture::app(None);
    assert!(!screen(&app).contains("io write"));
    let mut app = ui_fixture::app(None);
    for i in 40..50 {
        let mut snap = ui_fixture::snapshot(i, 50.0);
        for g in &mut snap.groups {
            if g.path == "cgdash/demo" {
                g.io = IoView {
                    read_bytes_per_s: Some(0.0),
                    write_bytes_per_s: Some(5.0 * 1024.0 * 1024.0),
                    limits: vec![IoLimitView {
                        device: "254:0".into(),
                        write_bps: Some(5 << 20),
                        ..Default::default()
                    }],
                    ..Default::default()
                };
            }
        }
        app.update(Action::Snapshot(Arc::new(snap)));
    }
    let s = screen(&app);
    assert!(
        s.contains("io write 5M/s · read 0/s · write limit 5M/s"),
        "{s}"
    );
    // The writer sits on its limit: drawn as "at limit".
    // (The plot's rows: between the title and the legend, which names `━`.)
    let chart: Vec<&str> = s
        .lines()
        .skip_while(|l| !l.contains("io write"))
        .skip(1)
        .take_while(|l| !l.contains("at limit"))
        .collect();
    assert!(
        chart.iter().any(|l| l.contains('━')),
        "{}",
        chart.join("\n")
    );
}
