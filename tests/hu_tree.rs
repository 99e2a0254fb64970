//! The process tree as drawn (issue 11, item 20): `├─` for a child with
//! siblings after it, `└─` for the last, `│` continuing an ancestor's line;
//! the program's name first when the command line does not fit.

mod ui_fixture;

use cgdash::app::App;
use cgdash::ui::Dashboard;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn key(app: &mut App, c: char) {
    app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
}

#[test]
fn hu_tree_zoomed() {
    let mut app = ui_fixture::app(None);
    app.status = None;
    // Processes panel, all processes, tree view, zoomed.
    app.handle_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    key(&mut app, 'a');
    key(&mut app, 't');
    key(&mut app, 'z');
    for (w, h) in [(80, 24), (160, 48)] {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        t.draw(|f| f.render_widget(Dashboard(&app), f.area()))
            .expect("draw");
        let screen = format!("{}", t.backend());
        assert!(screen.contains("├─ "), "{screen}");
        assert!(screen.contains("│  └─ "), "{screen}");
        insta::assert_snapshot!(format!("hu_tree_{w}x{h}"), t.backend());
    }
}
