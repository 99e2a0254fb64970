//! The dashboard's PIDS column and process panel for groups a v1 hierarchy
//! lacks (issue 11, item 10): absent is `–`, never a count from elsewhere.

mod ui_fixture;

use std::sync::Arc;

use cgdash::app::{Action, App};
use cgdash::ui::Dashboard;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn lines(app: &App) -> Vec<Vec<char>> {
    let mut t = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    t.draw(|f| f.render_widget(Dashboard(app), f.area()))
        .expect("draw");
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().chars().next().unwrap_or(' '))
                .collect()
        })
        .collect()
}

/// The PIDS cell of the row whose text contains `name`.
fn pids_of(screen: &[Vec<char>], name: &str) -> String {
    let find = |needle: &str| {
        screen
            .iter()
            .find_map(|l| {
                let s: String = l.iter().collect();
                s.find(needle).map(|b| (l, s[..b].chars().count()))
            })
            .unwrap_or_else(|| panic!("`{needle}` not on screen"))
    };
    let (_, col) = find("PIDS");
    let (row, _) = find(name);
    row[col..col + 6]
        .iter()
        .collect::<String>()
        .trim()
        .to_string()
}

#[test]
fn hr_pids_column_is_a_dash_without_the_pids_controller() {
    let mut app = ui_fixture::app(None);
    let mut s = ui_fixture::snapshot(40, 50.0);
    for g in &mut s.groups {
        if g.path == "system.slice" {
            // A parent in the cpu hierarchy without the pids controller:
            // its own processes (nprocs) are 0, its children hold them.
            g.pids.current = None;
            g.nprocs = Some(0);
        }
    }
    let mut only_mem = s.groups[1].clone();
    only_mem.path = "hr-memonly".into();
    only_mem.pids.current = None;
    only_mem.nprocs = None;
    s.groups.push(only_mem);
    app.update(Action::Snapshot(Arc::new(s)));
    let screen = lines(&app);
    assert_eq!(pids_of(&screen, "system.slice"), "–");
    assert_eq!(pids_of(&screen, "hr-memonly"), "–");
    assert_eq!(pids_of(&screen, "user-1000.slice"), "12");

    // Selected, the memory-only group's process panel says why it is empty.
    app.focus_group("hr-memonly");
    let text: Vec<String> = lines(&app).iter().map(|l| l.iter().collect()).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("hr-memonly is not in the cpu hierarchy")),
        "{}",
        text.join("\n")
    );
}
