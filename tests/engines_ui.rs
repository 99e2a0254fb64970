//! The dashboard's names (issue 13) from fixed data: the NAME column (kind
//! badge, name, image when wide), container ids cut to 12 characters in
//! the tree, the `/` filter matching names and images, a pod's cgroup
//! named after the pod its containers belong to. Styled snapshots at a
//! narrow and a wide size (review with INSTA_UPDATE=always, commit the .snap).

use std::fmt::Write as _;
use std::sync::Arc;

use cgdash::app::{Action, App};
use cgdash::model::{CpuView, GroupSnapshot, Identity, MemoryView, Snapshot};
use cgdash::ui::groups::GroupsPanel;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

const MIB: u64 = 1 << 20;
const WEB: &str = "09cfd27c02d40169ff250e4ba37eb050316439dac3f35f92756df8e5897a064b";
const DB: &str = "e86963253459aa0f0e6e1c7b5d1e6f1f7dbc6ffd058c79493e4544fee9ef5609";
const POD: &str = "6e0da28561069b3bab5f6ddf2a80b461ffd2cb7c0b869059f3994b6d5d977f9b";
const API: &str = "3658617c85aef8b25e33b8d2ba812aa2e0d295a09735ee490966e7d9eb941024";
const WORKER: &str = "554eaac20f9e92f407a108ab63df6f80f8b81ee1b469d52e31e7bad2fc8f2d35";

fn id(kind: &str, name: &str, image: Option<&str>, pod: Option<&str>) -> Identity {
    Identity {
        kind: Some(kind.into()),
        name: Some(name.into()),
        image: image.map(Into::into),
        pod: pod.map(Into::into),
        ..Default::default()
    }
}

fn group(path: &str, cpu: f64, limit: Option<f64>, mem: u64, identity: Identity) -> GroupSnapshot {
    GroupSnapshot {
        path: path.into(),
        cpu: CpuView {
            usage_percent: Some(cpu),
            limit_percent: limit,
            ..Default::default()
        },
        memory: MemoryView {
            current_bytes: Some(mem * MIB),
            oom_kills: Some(0),
            ..Default::default()
        },
        frozen: Some(false),
        identity: identity.into(),
        ..Default::default()
    }
}

fn snapshot() -> Snapshot {
    let none = Identity::default;
    Snapshot {
        schema: 1,
        timestamp_ms: 1_764_400_000_000,
        interval_ms: 1000,
        host: "demo-host".into(),
        cpus: 2,
        groups: vec![
            group("/", 60.0, None, 900, none()),
            group("docker", 45.0, None, 100, none()),
            group(
                &format!("docker/{WEB}"),
                19.8,
                Some(20.0),
                3,
                id("docker", "web", Some("cgdash/bb:1"), None),
            ),
            group(
                &format!("docker/{DB}"),
                25.0,
                Some(50.0),
                97,
                id("docker", "db", Some("postgres:16"), None),
            ),
            group("libpod_parent", 10.0, None, 20, none()),
            group(&format!("libpod_parent/{POD}"), 10.0, None, 20, none()),
            group(
                &format!("libpod_parent/{POD}/libpod-{API}"),
                7.0,
                Some(30.0),
                12,
                id("podman", "api", Some("localhost/shop/api:2"), Some("shop")),
            ),
            group(
                &format!("libpod_parent/{POD}/libpod-{WORKER}"),
                3.0,
                None,
                8,
                id(
                    "podman",
                    "worker",
                    Some("localhost/shop/worker:2"),
                    Some("shop"),
                ),
            ),
            group("system.slice", 2.0, None, 300, none()),
            group(
                "system.slice/nginx.service",
                1.0,
                None,
                30,
                Identity {
                    unit: Some("nginx.service".into()),
                    ..id("systemd-unit", "nginx.service", None, None)
                },
            ),
        ],
        ..Default::default()
    }
}

fn app() -> App {
    let mut app = App::new(None);
    for _ in 0..2 {
        app.update(Action::Snapshot(Arc::new(snapshot())));
    }
    app.status = None;
    app
}

fn key(app: &mut App, c: KeyCode) {
    app.handle_key(KeyEvent::new(c, KeyModifiers::NONE));
}

fn filter(app: &mut App, s: &str) {
    key(app, KeyCode::Char('/'));
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
    key(app, KeyCode::Enter);
}

fn draw(app: &App, w: u16, h: u16) -> Buffer {
    let area = Rect::new(0, 0, w, h);
    let mut b = Buffer::empty(area);
    GroupsPanel(app).render(area, &mut b);
    b
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

/// The line of the row whose text contains `needle`.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"))
}

/// Wide: the tree with ids cut to docker's 12 characters and a NAME
/// column (badge, name, image).
#[test]
fn engines_ui_name_column_wide() {
    let b = draw(&app(), 160, 14);
    insta::assert_snapshot!("names_160", styled(&b));
    let t = text(&b);
    assert!(t.contains("NAME"), "{t}");
    let web = line_with(&t, "09cfd27c02d4");
    assert!(!web.contains("09cfd27c02d40"), "id shortened: {web}");
    assert!(
        web.contains("dkr web") && web.contains("cgdash/bb:1"),
        "{web}"
    );
    let api = line_with(&t, "libpod-3658617c85ae");
    assert!(api.contains("pdm api"), "{api}");
    // The pod's own cgroup is named after the pod its containers share.
    let pod = line_with(&t, "6e0da2856106");
    assert!(pod.contains("pod shop"), "{pod}");
    assert!(line_with(&t, "nginx.service").contains("svc nginx.service"));
}

/// 80 wide: no room for a column; the tree shows badge and name where the
/// directory would be, so the id does not eat the GROUP column.
#[test]
fn engines_ui_names_in_the_tree_when_narrow() {
    let b = draw(&app(), 80, 14);
    insta::assert_snapshot!("names_80", styled(&b));
    let t = text(&b);
    assert!(!t.contains("NAME"), "{t}");
    assert!(!t.contains("09cfd27c02d4"), "{t}");
    assert!(line_with(&t, "dkr web").contains("19.8"), "{t}");
    assert!(line_with(&t, "pod shop").contains("10.0"), "{t}");
    assert!(line_with(&t, "pdm worker").contains("3.0"), "{t}");
    // Unnamed groups keep their directory.
    assert!(t.contains("libpod_parent"), "{t}");
}

#[test]
fn engines_ui_filter_matches_names_and_images() {
    let mut a = app();
    filter(&mut a, "web");
    let t = text(&draw(&a, 160, 14));
    assert!(t.contains("dkr web"), "{t}");
    assert!(!t.contains("dkr db"), "{t}");
    assert!(!t.contains("pdm api"), "{t}");

    let mut a = app();
    filter(&mut a, "postgres");
    let t = text(&draw(&a, 160, 14));
    assert!(t.contains("dkr db") && !t.contains("dkr web"), "{t}");

    // A pod name: the pod's group and both its containers.
    let mut a = app();
    filter(&mut a, "shop");
    let b = draw(&a, 160, 14);
    let t = text(&b);
    assert!(
        t.contains("pod shop") && t.contains("pdm api") && t.contains("pdm worker"),
        "{t}"
    );
    assert!(!t.contains("dkr"), "{t}");
    insta::assert_snapshot!("names_filter_shop", styled(&b));
}

/// Sorted by name, containers go by the names people use, not their ids:
/// `db` (id e869…) before `web` (id 09cf…).
#[test]
fn engines_ui_sort_by_name_uses_names() {
    let t = text(&draw(&app(), 160, 14));
    let db = t.find("dkr db").expect("db row");
    let web = t.find("dkr web").expect("web row");
    assert!(db < web, "{t}");
}

/// Without any named group there is no NAME column (no space taken).
#[test]
fn engines_ui_no_names_no_column() {
    let mut snap = snapshot();
    for g in &mut snap.groups {
        g.identity = Identity::none();
    }
    let mut app = App::new(None);
    app.update(Action::Snapshot(Arc::new(snap)));
    let t = text(&draw(&app, 160, 14));
    assert!(!t.contains("NAME"), "{t}");
    // Ids are still cut.
    assert!(
        t.contains("09cfd27c02d4") && !t.contains("09cfd27c02d40"),
        "{t}"
    );
}

/// A container's monitor (podman's conmon under systemd:
/// `libpod-conmon-<id>.scope` beside `libpod-<id>.scope`) is folded under
/// its container instead of listed as a sibling.
#[test]
fn engines_ui_conmon_folded_under_its_container() {
    let short = &API[..12];
    let with_id = |kind: &str| Identity {
        container_id: Some(short.into()),
        ..id(kind, "api", Some("localhost/shop/api:2"), None)
    };
    let mut snap = snapshot();
    snap.groups = vec![
        group("/", 10.0, None, 100, Identity::default()),
        group("machine.slice", 10.0, None, 100, Identity::default()),
        group(
            &format!("machine.slice/libpod-conmon-{API}.scope"),
            0.1,
            None,
            1,
            with_id("conmon"),
        ),
        group(
            &format!("machine.slice/libpod-{API}.scope"),
            9.0,
            Some(30.0),
            50,
            with_id("podman"),
        ),
        group(
            &format!("machine.slice/libpod-{WORKER}.scope"),
            1.0,
            None,
            5,
            id("podman", "worker", None, None),
        ),
    ];
    let mut app = App::new(None);
    app.update(Action::Snapshot(Arc::new(snap)));
    let t = text(&draw(&app, 160, 10));
    let lines: Vec<&str> = t.lines().collect();
    let api = lines
        .iter()
        .position(|l| l.contains("pdm api"))
        .expect("api row");
    let mon = lines
        .iter()
        .position(|l| l.contains("mon api"))
        .expect("conmon row");
    assert_eq!(mon, api + 1, "conmon right under its container:\n{t}");
    // Characters before the directory (border, indent, fold marker).
    let indent = |l: &str| l.chars().take_while(|c| !c.is_alphanumeric()).count();
    assert!(
        indent(lines[mon]) > indent(lines[api]),
        "conmon one level deeper:\n{t}"
    );
    assert!(
        lines[api].contains('▾'),
        "the container now has a child:\n{t}"
    );
}

/// The pod label is only for a pod's own cgroup: a parent holding a pod
/// group, or containers outside any pod beside pod members, is not one.
#[test]
fn engines_ui_pod_label_only_for_a_pods_group() {
    let mut snap = snapshot();
    // libpod_parent also holds a pod's group and a container of no pod.
    snap.groups.push(group(
        "libpod_parent/libpod-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        1.0,
        None,
        1,
        id("podman", "solo", None, None),
    ));
    let mut app = App::new(None);
    app.update(Action::Snapshot(Arc::new(snap.clone())));
    let t = text(&draw(&app, 160, 16));
    assert!(line_with(&t, "6e0da2856106").contains("pod shop"), "{t}");
    assert!(!line_with(&t, "libpod_parent").contains("pod "), "{t}");

    // A pod group among the children: the parent is not that pod.
    let pod = Identity {
        pod: Some("p1".into()),
        ..id("podman-pod", "p1", None, None)
    };
    snap.groups
        .push(group("libpod_parent/bbbb", 0.0, None, 1, pod));
    let mut app = App::new(None);
    app.update(Action::Snapshot(Arc::new(snap)));
    let t = text(&draw(&app, 160, 16));
    assert!(!line_with(&t, "libpod_parent").contains("pod "), "{t}");
}

/// Writing from the dashboard to a container docker owns: the confirmation
/// says whose it is and which command makes the change stick, and the
/// status line after the write says it again (issue 13: owners respected).
#[test]
fn engines_ui_owner_note_on_write() {
    let mut app = app();
    let web = format!("docker/{WEB}");
    app.focus_group(&web);
    key(&mut app, KeyCode::Char('+'));
    let dlg = match &app.overlay {
        cgdash::app::Overlay::ConfirmWrite(c) => c.clone(),
        other => panic!("expected the write confirmation, got {other:?}"),
    };
    let owner = dlg.owner.clone().expect("owner note in the confirmation");
    assert!(owner.contains("docker update --cpus"), "{owner}");
    assert!(owner.contains(" web"), "{owner}");
    // Drawn in the dialog.
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    t.draw(|f| f.render_widget(cgdash::ui::Dashboard(&app), f.area()))
        .unwrap();
    let screen = format!("{:?}", t.backend());
    assert!(screen.contains("docker update --cpus"), "{screen}");

    let fx = app.handle_key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE));
    let (group, label, settings) = fx
        .iter()
        .find_map(|e| match e {
            cgdash::app::Effect::Apply {
                group,
                label,
                settings,
                ..
            } => Some((group.clone(), label.clone(), settings.clone())),
            _ => None,
        })
        .expect("a write");
    assert!(group.contains(WEB), "{group}");
    app.update(Action::Applied {
        group: web.clone(),
        label: label.clone(),
        undo: None,
        result: Ok("cpu.cfs_quota_us ← 30000".into()),
    });
    let status = app.status.as_ref().expect("status").text.clone();
    let cores = match settings[0].value {
        cgdash::cgroup::knob::Value::Cpu(q) => q.percent().unwrap_or(0.0) / 100.0,
        _ => panic!("a cpu write: {settings:?}"),
    };
    assert!(
        status.contains(&format!("docker update --cpus {cores} web")),
        "{status}"
    );
    assert!(status.contains(&label), "{status}");

    // The same group with nobody known to own it: no note.
    let mut snap = snapshot();
    for g in &mut snap.groups {
        g.identity = Identity::none();
    }
    let mut app2 = App::new(None);
    app2.update(Action::Snapshot(Arc::new(snap)));
    app2.focus_group(&web);
    key(&mut app2, KeyCode::Char('+'));
    match &app2.overlay {
        cgdash::app::Overlay::ConfirmWrite(c) => assert!(c.owner.is_none(), "{:?}", c.owner),
        other => panic!("expected the write confirmation, got {other:?}"),
    }
}

/// The processes panel's title names the selected container, id cut to 12.
#[test]
fn engines_ui_processes_title_names_the_group() {
    let mut app = app();
    app.focus_group(&format!("docker/{WEB}"));
    let area = Rect::new(0, 0, 160, 6);
    let mut b = Buffer::empty(area);
    cgdash::ui::processes::ProcessesPanel(&app).render(area, &mut b);
    let t = text(&b);
    assert!(
        t.contains(&format!("Processes: docker/{} · dkr web", &WEB[..12])),
        "{t}"
    );
    assert!(!t.contains(&WEB[..13]), "{t}");
}

/// Beside the charts (a 200-column screen gives the groups panel ~116):
/// NAME takes what the tree's widest row leaves, but at least half of what
/// the numbers leave; with room, it is as wide as its longest entry, no
/// wider.
#[test]
fn engines_ui_name_column_shares_the_room() {
    let b = draw(&app(), 116, 14);
    let t = text(&b);
    let header = line_with(&t, "│GROUP");
    let group_w = header.find("NAME").unwrap() - header.find("GROUP").unwrap();
    let name_w = header.find("CPU%").unwrap() - header.find("NAME").unwrap();
    assert!(group_w > name_w, "GROUP {group_w} vs NAME {name_w}:\n{t}");
    assert!(name_w >= 18, "{t}");
    assert!(
        line_with(&t, "libpod-3658617c85ae").contains("pdm api"),
        "{t}"
    );

    // Short names: the column shrinks to fit them (and no less than 18).
    let mut snap = snapshot();
    for g in &mut snap.groups {
        std::sync::Arc::make_mut(&mut g.identity).image = None;
    }
    let mut app = App::new(None);
    app.update(Action::Snapshot(Arc::new(snap)));
    let t = text(&draw(&app, 160, 14));
    let header = line_with(&t, "│GROUP");
    let name_w = header.find("CPU%").unwrap() - header.find("NAME").unwrap();
    // The longest, `svc nginx.service`, is 17: the minimum 18 and a space.
    assert_eq!(name_w, 19, "{t}");
}

/// cgdash's own groups keep their look: named by their path already (and
/// marked ○/●), no badge, no NAME column for them alone.
#[test]
fn engines_ui_cgdash_groups_unchanged() {
    let mut snap = snapshot();
    for g in &mut snap.groups {
        g.identity = Identity::none();
    }
    snap.groups
        .push(group("cgdash", 1.0, None, 1, Identity::default()));
    snap.groups.push(group(
        "cgdash/demo",
        1.0,
        Some(20.0),
        1,
        id("cgdash", "demo", None, None),
    ));
    let mut app = App::new(None);
    app.update(Action::Snapshot(Arc::new(snap)));
    for w in [80, 160] {
        let t = text(&draw(&app, w, 16));
        assert!(!t.contains("NAME") && !t.contains("cgd "), "{t}");
        assert!(line_with(&t, "demo").contains("20%"), "{t}");
    }
}
