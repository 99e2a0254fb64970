//! Network readings on screen: the groups panel's NET RX/s and NET TX/s
//! columns (wide panels, only when some group has a namespace of its own),
//! `shared` for a group whose namespace another group carries, sorting by
//! them, and the network chart with its rate limit line.

mod ui_fixture;

use std::sync::Arc;

use cgdash::app::{Action, App};
use cgdash::model::{NetInterfaceView, NetView, Snapshot};
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

const MIB: f64 = 1024.0 * 1024.0;

fn net(rx: f64, tx: f64, rate_out: Option<u64>) -> NetView {
    NetView {
        rx_bytes_per_s: Some(rx),
        tx_bytes_per_s: Some(tx),
        rate_out,
        netns: 4026532189,
        pid: 4242,
        interfaces: vec![
            NetInterfaceView {
                name: "lo".into(),
                ..Default::default()
            },
            NetInterfaceView {
                name: "eth0".into(),
                rx_bytes_per_s: Some(rx),
                tx_bytes_per_s: Some(tx),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

/// The fixture with `cgdash/demo` in a namespace of its own and
/// `system.slice/ssh.service` sharing it.
fn with_net(i: u64, rate_out: Option<u64>) -> Snapshot {
    let mut snap = ui_fixture::snapshot(i, 20.0);
    for g in &mut snap.groups {
        if g.path == "cgdash/demo" {
            g.net = Some(Box::new(net(MIB, 2.0 * MIB, rate_out)));
        }
        if g.path == "system.slice/ssh.service" {
            g.net = Some(Box::new(NetView {
                shared_with: Some("cgdash/demo".into()),
                ..Default::default()
            }));
        }
    }
    snap
}

#[test]
fn net_columns_show_rates_shared_and_sort() {
    // Without a group in a namespace of its own: no NET columns at all.
    let mut plain = App::new(None);
    plain.update(Action::Snapshot(Arc::new(ui_fixture::snapshot(0, 20.0))));
    assert!(!rows(&plain, 200)[1].contains("NET RX/s"));

    let mut app = App::new(None);
    app.update(Action::Snapshot(Arc::new(with_net(0, None))));
    let wide = rows(&app, 150);
    assert!(
        wide[1].contains("NET RX/s") && wide[1].contains("NET TX/s"),
        "{wide:#?}"
    );
    let cells = |line: &str| -> Vec<String> {
        line.trim_end_matches([' ', '│'])
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let demo = wide.iter().find(|l| l.contains(" demo ")).expect("demo");
    let c = cells(demo);
    assert_eq!(&c[c.len() - 2..], ["1M", "2M"], "{demo}");
    let ssh = wide.iter().find(|l| l.contains("ssh")).expect("ssh");
    let c = cells(ssh);
    assert_eq!(&c[c.len() - 2..], ["shared", "shared"], "{ssh}");
    let root = wide.iter().find(|l| l.contains("▾ /")).expect("root row");
    let c = cells(root);
    assert_eq!(&c[c.len() - 2..], ["–", "–"], "{root}");
    // Narrow: no NET columns (the name keeps its room).
    assert!(!rows(&app, 90)[1].contains("NET"), "{:#?}", rows(&app, 90));
    // `s` reaches NET TX/s (cron.service now sends: it sorts before ssh.service).
    let mut snap = with_net(1, None);
    for g in &mut snap.groups {
        if g.path == "system.slice/cron.service" {
            g.net = Some(Box::new(net(0.0, 5.0 * MIB, None)));
        }
    }
    app.update(Action::Snapshot(Arc::new(snap)));
    for _ in 0..20 {
        if rows(&app, 150)[0].contains("sort NET TX/s") {
            break;
        }
        app.handle_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE));
    }
    let sorted = rows(&app, 150);
    assert!(sorted[0].contains("sort NET TX/s"), "{sorted:#?}");
    // Network is per namespace, not summed into parents: the tree's
    // siblings sort by their own readings, a group without one last.
    let pos = |name: &str| sorted.iter().position(|l| l.contains(name)).unwrap();
    assert!(pos("cron.service") < pos("ssh.service"), "{sorted:#?}");
}

/// The selected group's network chart: tx and rx with the rate_out line,
/// on a tall screen, in the I/O chart's place.
#[test]
fn net_chart_shows_rates_and_the_limit() {
    use cgdash::ui::Dashboard;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    let screen = |app: &App, h: u16| {
        let mut t = Terminal::new(TestBackend::new(160, h)).unwrap();
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
    let app = ui_fixture::app(None);
    assert!(!screen(&app, 48).contains("net tx"));
    let mut app = ui_fixture::app(None);
    for i in 40..50 {
        app.update(Action::Snapshot(Arc::new(with_net(i, Some(2 << 20)))));
    }
    let s = screen(&app, 48);
    assert!(
        s.contains("net tx 2M/s · rx 1M/s · rate_out 2M/s · no rate_in"),
        "{s}"
    );
    assert!(s.contains("⣀ tx") && s.contains("rate_out"), "{s}");
    // Pinned at the limit: the limit line shows it (`━`).
    assert!(s.contains('━'), "{s}");
    // A short screen has no room for a fourth chart.
    assert!(!screen(&app, 24).contains("net tx"));
}
