//! App-level tests: sequences of actions → state and effects, no terminal.

mod ui_fixture;

use std::sync::Arc;

use cgdash::app::{Action, App, Effect, Overlay, OwnedWorkload, Panel, SignalKind, StatusKind};
use cgdash::cgroup::knob::Setting;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(app: &mut App, c: KeyCode) -> Vec<Effect> {
    app.handle_key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn ch(app: &mut App, c: char) -> Vec<Effect> {
    key(app, KeyCode::Char(c))
}

fn setting(s: &str) -> Setting {
    Setting::parse(s).expect(s)
}

/// The settings of the single `Apply` in `fx`.
fn applied(fx: &[Effect]) -> (String, Vec<Setting>, Option<Vec<Setting>>) {
    match fx {
        [Effect::Apply {
            group,
            settings,
            undo,
            ..
        }] => (group.clone(), settings.clone(), undo.clone()),
        other => panic!("expected one Apply, got {other:?}"),
    }
}

/// Marks `group` as launched by cgdash (as the demo's is): writes go
/// through without the confirmation a foreign group gets.
fn own(app: &mut App, group: &str) {
    app.add_owned(OwnedWorkload {
        group: group.into(),
        pid: 5003,
        keep: false,
        ask_on_quit: false,
        running: true,
    });
}

/// Answers the write confirmation of a foreign group with `y`.
fn confirm(app: &mut App, fx: Vec<Effect>) -> Vec<Effect> {
    assert!(fx.is_empty(), "a foreign group's first write waits: {fx:?}");
    assert!(
        matches!(app.overlay, Overlay::ConfirmWrite(_)),
        "{:?}",
        app.overlay
    );
    ch(app, 'y')
}

fn ok(app: &mut App, fx: &[Effect]) {
    if let [Effect::Apply {
        group, label, undo, ..
    }] = fx
    {
        app.update(Action::Applied {
            group: group.clone(),
            label: label.clone(),
            undo: undo.clone(),
            result: Ok(String::new()),
        });
    }
}

#[test]
fn demo_group_is_selected_and_scopes_processes() {
    let app = ui_fixture::app(None);
    assert_eq!(
        app.selected_group().map(|g| g.path.as_str()),
        Some("cgdash/demo")
    );
    assert_eq!(app.procs.scope.as_deref(), Some("cgdash/demo"));
    assert_eq!(app.procs.rows.len(), 3);
    // Sorted by CPU, the burner first.
    assert_eq!(app.selected_process().map(|p| p.pid), Some(5003));
}

#[test]
fn plus_three_times_within_one_refresh_counts_up() {
    let mut app = App::new(None);
    own(&mut app, "cgdash/demo");
    app.focus_group("cgdash/demo");
    app.update(Action::Snapshot(Arc::new(ui_fixture::snapshot(0, 20.0))));
    let mut seen = Vec::new();
    for _ in 0..3 {
        let fx = ch(&mut app, '+');
        let (group, s, undo) = applied(&fx);
        assert_eq!(group, "cgdash/demo");
        seen.push((s[0].to_string(), undo.expect("undoable")[0].to_string()));
        ok(&mut app, &fx);
    }
    assert_eq!(
        seen,
        [
            ("cpu=30%".to_string(), "cpu=20%".to_string()),
            ("cpu=40%".into(), "cpu=30%".into()),
            ("cpu=50%".into(), "cpu=40%".into())
        ]
    );
    // Undo goes back one step, and is not itself undoable.
    let (_, s, undo) = applied(&ch(&mut app, 'u'));
    assert_eq!(s, vec![setting("cpu=40%")]);
    assert!(undo.is_none());
    assert_eq!(app.markers.len(), 3);
}

#[test]
fn minus_from_unlimited_starts_at_90() {
    let mut app = App::new(None);
    app.focus_group("system.slice/ssh.service");
    app.update(Action::Snapshot(Arc::new(ui_fixture::snapshot(0, 20.0))));
    let fx = ch(&mut app, '-');
    let (g, s, undo) = applied(&confirm(&mut app, fx));
    assert_eq!(g, "system.slice/ssh.service");
    assert_eq!(s, vec![setting("cpu=90%")]);
    assert_eq!(undo, Some(vec![setting("cpu=max")]));
    // + on an unlimited group writes nothing and says why.
    let mut app = App::new(None);
    app.focus_group("system.slice/ssh.service");
    app.update(Action::Snapshot(Arc::new(ui_fixture::snapshot(0, 20.0))));
    assert!(ch(&mut app, '+').is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("unlimited"));
}

#[test]
fn memory_and_freeze_quick_keys() {
    let mut app = App::new(None);
    app.focus_group("user.slice/user-1000.slice");
    app.update(Action::Snapshot(Arc::new(ui_fixture::snapshot(0, 20.0))));
    let fx = ch(&mut app, 'm');
    let (_, s, _) = applied(&confirm(&mut app, fx));
    assert_eq!(s, vec![setting("memory=1G")]);
    let (_, s, _) = applied(&ch(&mut app, 'M'));
    assert_eq!(s, vec![setting("memory=2G")], "counts from the pending 1G");
    let (_, s, undo) = applied(&ch(&mut app, 'f'));
    assert_eq!(s, vec![setting("freeze=true")]);
    assert_eq!(undo, Some(vec![setting("freeze=false")]));
}

#[test]
fn a_refused_write_is_reported_and_forgotten() {
    let mut app = App::new(None);
    own(&mut app, "cgdash/demo");
    app.focus_group("cgdash/demo");
    app.update(Action::Snapshot(Arc::new(ui_fixture::snapshot(0, 20.0))));
    let fx = ch(&mut app, '+');
    let (group, _, undo) = applied(&fx);
    app.update(Action::Applied {
        group,
        label: "cpu=30%".into(),
        undo,
        result: Err("the kernel refused cpu.cfs_quota_us ← 30000: out of range (EINVAL)".into()),
    });
    let st = app.status.clone().unwrap();
    assert_eq!(st.kind, StatusKind::Error);
    assert!(
        st.text.contains("EINVAL") && st.text.contains("cpu=30%"),
        "{}",
        st.text
    );
    // Nothing to undo, and the next + counts from the real 20 % again.
    assert!(ch(&mut app, 'u').is_empty());
    let (_, s, _) = applied(&ch(&mut app, '+'));
    assert_eq!(s, vec![setting("cpu=30%")]);
}

#[test]
fn read_only_mode_writes_nothing_and_says_why() {
    let mut app = ui_fixture::app(Some("not root (uid 1000)"));
    for c in ['+', '-', 'm', 'M', 'f', 'u', 'e', 'n'] {
        assert!(ch(&mut app, c).is_empty(), "{c}");
        assert_eq!(app.overlay, Overlay::None, "{c}");
        let st = app.status.clone().unwrap();
        assert_eq!(st.kind, StatusKind::Error);
        assert!(st.text.contains("read-only: not root"), "{c}: {}", st.text);
    }
}

#[test]
fn editor_marks_invalid_input_and_writes_only_changes() {
    let mut app = ui_fixture::app(None);
    own(&mut app, "cgdash/demo");
    ch(&mut app, 'e');
    let Overlay::Edit(form) = &app.overlay else {
        panic!("editor not open")
    };
    assert_eq!(form.group, "cgdash/demo");
    assert_eq!(form.fields.fields[0].input, "50%");
    // memory := 12Q → invalid, nothing written, form stays.
    let mem = memory_field();
    for _ in 0..mem {
        key(&mut app, KeyCode::Tab);
    }
    key(&mut app, KeyCode::Char('u'));
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    for c in "12Q".chars() {
        ch(&mut app, c);
    }
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    let Overlay::Edit(form) = &app.overlay else {
        panic!("editor closed on invalid input")
    };
    assert!(form.fields.fields[mem]
        .error
        .as_deref()
        .unwrap()
        .contains("unit"));
    // Fix it: 256M is written, with the old `max` as its undo.
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    for c in "256M".chars() {
        ch(&mut app, c);
    }
    let (g, s, undo) = applied(&key(&mut app, KeyCode::Enter));
    assert_eq!(g, "cgdash/demo");
    assert_eq!(s, vec![setting("memory=256M")]);
    assert_eq!(undo, Some(vec![setting("memory=max")]));
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn root_group_has_no_limits() {
    let mut app = ui_fixture::app(None);
    ch(&mut app, 'g');
    assert_eq!(app.selected_group().unwrap().path, "/");
    assert!(ch(&mut app, '+').is_empty());
    assert!(ch(&mut app, 'e').is_empty());
    assert!(app.status.unwrap().text.contains("root group"));
}

#[test]
fn filter_collapse_and_navigation() {
    let mut app = ui_fixture::app(None);
    assert_eq!(app.groups.rows.len(), 8);
    ch(&mut app, '/');
    for c in "ssh".chars() {
        ch(&mut app, c);
    }
    key(&mut app, KeyCode::Enter);
    let snap = app.snapshot.clone();
    let paths: Vec<&str> = app
        .groups
        .rows
        .iter()
        .map(|r| snap.groups[r.index].path.as_str())
        .collect();
    assert_eq!(paths, ["/", "system.slice", "system.slice/ssh.service"]);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.groups.rows.len(), 8);
    // Collapse system.slice: its two children disappear; selection stays on it.
    app.focus_group("system.slice");
    ch(&mut app, 'h');
    assert_eq!(app.groups.rows.len(), 6);
    assert_eq!(app.selected_group().unwrap().path, "system.slice");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.groups.rows.len(), 8);
    // A snapshot keeps the selection by path.
    app.update(Action::Snapshot(Arc::new(ui_fixture::snapshot(50, 50.0))));
    assert_eq!(app.selected_group().unwrap().path, "system.slice");
}

#[test]
fn processes_scope_sort_tree_and_click() {
    let mut app = ui_fixture::app(None);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Panel::Processes);
    ch(&mut app, 'a');
    assert_eq!(app.procs.rows.len(), 8);
    ch(&mut app, 's'); // CPU → MEM%
    let snap = app.snapshot.clone();
    assert_eq!(snap.processes[app.procs.rows[0].index()].pid, 4242);
    ch(&mut app, 't');
    let depths: Vec<u16> = app.procs.rows.iter().map(|r| r.depth).collect();
    assert_eq!(
        depths.iter().filter(|d| **d == 0).count(),
        1,
        "init is the only root: {depths:?}"
    );
    app.update(Action::Click {
        panel: Panel::Processes,
        row: 2,
    });
    assert_eq!(app.procs.selected, 2);
}

/// The process selection stays on the top row until the user picks one;
/// then it follows that process as the sort moves it (the first frame has
/// rates: following its busiest process scrolled the list by itself).
#[test]
fn the_process_selection_follows_only_a_process_the_user_picked() {
    let mut app = ui_fixture::app(None);
    key(&mut app, KeyCode::Tab);
    ch(&mut app, 'a');
    let top = |app: &App| {
        let snap = &app.snapshot;
        snap.processes[app.procs.rows[app.procs.selected].index()].pid
    };
    let first = top(&app);
    assert_eq!(app.procs.selected, 0);
    // The busiest goes quiet: the selection stays on the top row.
    let mut quiet = (*app.snapshot).clone();
    for p in &mut quiet.processes {
        p.cpu_percent = Some(if p.pid == first {
            0.0
        } else {
            p.pid as f64 % 50.0
        });
    }
    app.update(Action::Snapshot(Arc::new(quiet.clone())));
    assert_eq!(app.procs.selected, 0, "not picked: the top row");
    assert_ne!(top(&app), first);
    // Picked: followed down the list.
    key(&mut app, KeyCode::Down);
    let picked = top(&app);
    let mut busy = quiet;
    for p in &mut busy.processes {
        if p.pid == picked {
            p.cpu_percent = Some(0.0);
        }
    }
    app.update(Action::Snapshot(Arc::new(busy)));
    assert_eq!(top(&app), picked, "picked: followed");
    assert_ne!(app.procs.selected, 1);
}

#[test]
fn signals_need_confirmation() {
    let mut app = ui_fixture::app(None);
    key(&mut app, KeyCode::Tab);
    assert!(ch(&mut app, 'x').is_empty());
    assert!(matches!(app.overlay, Overlay::Signal(_)));
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    ch(&mut app, 'x');
    key(&mut app, KeyCode::Right); // TERM → KILL
    let fx = key(&mut app, KeyCode::Enter);
    assert_eq!(
        fx,
        vec![Effect::Signal {
            pid: 5003,
            signal: SignalKind::Kill
        }]
    );
}

#[test]
fn quitting_asks_while_launched_workloads_run() {
    let mut app = ui_fixture::app(None);
    assert_eq!(ch(&mut app, 'q'), vec![Effect::Quit]);
    app.add_owned(OwnedWorkload {
        group: "cgdash/demo".into(),
        pid: 5003,
        keep: false,
        ask_on_quit: true,
        running: true,
    });
    assert!(ch(&mut app, 'q').is_empty());
    assert_eq!(app.overlay, Overlay::ConfirmQuit);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
    ch(&mut app, 'q');
    assert_eq!(ch(&mut app, 'y'), vec![Effect::Quit]);
    // Ctrl-C asks like q (issue 11 item 21); a second Ctrl-C quits.
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(app.handle_key(ctrl_c).is_empty());
    assert_eq!(app.overlay, Overlay::ConfirmQuit);
    assert_eq!(app.handle_key(ctrl_c), vec![Effect::Quit]);
    // Once it exited, q quits at once.
    app.update(Action::WorkloadExited {
        group: "cgdash/demo".into(),
        status: "exited with code 0".into(),
    });
    assert_eq!(ch(&mut app, 'q'), vec![Effect::Quit]);
}

#[test]
fn launch_dialog_validates_then_launches() {
    let mut app = ui_fixture::app(None);
    ch(&mut app, 'n');
    assert!(key(&mut app, KeyCode::Enter).is_empty(), "no command");
    for c in "sleep 100".chars() {
        ch(&mut app, c);
    }
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    for c in "30%".chars() {
        ch(&mut app, c);
    }
    let fx = key(&mut app, KeyCode::Enter);
    let [Effect::Launch(req)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(req.command, ["sleep", "100"]);
    assert_eq!(req.settings, vec![setting("cpu=30%")]);
    app.update(Action::Launched(Ok(OwnedWorkload {
        group: "cgdash/sleep".into(),
        pid: 77,
        keep: false,
        ask_on_quit: true,
        running: true,
    })));
    assert!(app.is_owned("cgdash/sleep"));
}

#[test]
fn mouse_clicks_and_wheel_map_to_rows() {
    use cgdash::ui::{mouse_action, Areas};
    use ratatui::layout::Rect;
    let mut app = ui_fixture::app(None);
    let screen = Rect::new(0, 0, 80, 24);
    let a = Areas::new(screen, &app);
    let g = a.groups.expect("groups panel");
    // Border, header row, then rows from the top: the 2nd row is `cgdash`.
    let act = mouse_action(screen, &app, g.x + 5, g.y + 3, None).expect("a click");
    assert!(
        matches!(
            act,
            Action::Click {
                panel: Panel::Groups,
                row: 1
            }
        ),
        "{act:?}"
    );
    app.update(act);
    assert_eq!(app.selected_group().unwrap().path, "cgdash");
    // The wheel over the process list scrolls it (and focuses it).
    let p = a.processes.expect("process panel");
    let act = mouse_action(screen, &app, p.x + 5, p.y + 3, Some(3)).expect("a scroll");
    assert!(
        matches!(
            act,
            Action::Scroll {
                panel: Panel::Processes,
                delta: 3
            }
        ),
        "{act:?}"
    );
    // Outside the panels: nothing.
    assert!(mouse_action(screen, &app, 0, 0, None).is_none());
}

/// The editor's field of `memory` (fields follow the declared knobs).
fn memory_field() -> usize {
    cgdash::cgroup::Knob::all()
        .position(|k| k == cgdash::cgroup::Knob::Memory)
        .unwrap()
}
