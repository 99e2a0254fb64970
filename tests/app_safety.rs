//! Issue 11, dashboard behaviour at app level (no terminal): freezing
//! cgdash's own group is refused, a foreign group's first write asks, Ctrl-C
//! asks like `q`, read-only signals go to the kernel for the user's own
//! processes, failed launches and refused edits keep the form, `o` shows a
//! launched workload's output.

mod ui_fixture;

use cgdash::app::{
    Action, App, Effect, LaunchFailure, LaunchField, Overlay, OwnedWorkload, Panel, SignalKind,
    StatusKind,
};
use cgdash::cgroup::knob::{Knob, Setting};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(app: &mut App, c: KeyCode) -> Vec<Effect> {
    app.handle_key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn ch(app: &mut App, c: char) -> Vec<Effect> {
    key(app, KeyCode::Char(c))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        ch(app, c);
    }
}

fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn setting(s: &str) -> Setting {
    Setting::parse(s).expect(s)
}

fn own(app: &mut App, group: &str, ask_on_quit: bool) {
    app.add_owned(OwnedWorkload {
        group: group.into(),
        pid: 5003,
        keep: false,
        ask_on_quit,
        running: true,
    });
}

/// cgdash (or its shell) runs in `group`.
fn protect(app: &mut App, group: &str) {
    let group = group.to_string();
    app.where_we_run = Some(cgdash::app::WhereWeRun(Box::new(move || {
        vec![group.clone()]
    })));
}

/// The fixture with `path` selected.
fn at(path: &str) -> App {
    let mut app = ui_fixture::app(None);
    app.focus_group(path);
    assert_eq!(app.selected_group().map(|g| g.path.as_str()), Some(path));
    app
}

fn status(app: &App) -> String {
    app.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

fn settings_of(fx: &[Effect]) -> Vec<Setting> {
    match fx {
        [Effect::Apply { settings, .. }] => settings.clone(),
        other => panic!("expected one Apply, got {other:?}"),
    }
}

#[test]
fn where_cgdash_runs_is_asked_at_each_freeze_and_only_then() {
    // The dashboard finds where it runs when a freeze is asked for, not on
    // every sample: a move of cgdash's shell after start still counts.
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let asked = Arc::new(AtomicUsize::new(0));
    let now = Arc::new(Mutex::new(vec!["system.slice/ssh.service".to_string()]));
    let mut app = at("user.slice/user-1000.slice");
    own(&mut app, "user.slice/user-1000.slice", false);
    let (a, n) = (Arc::clone(&asked), Arc::clone(&now));
    app.where_we_run = Some(cgdash::app::WhereWeRun(Box::new(move || {
        a.fetch_add(1, Ordering::SeqCst);
        n.lock().unwrap().clone()
    })));
    app.update(Action::Snapshot(Arc::new(ui_fixture::snapshot(2, -1.0))));
    assert_eq!(asked.load(Ordering::SeqCst), 0, "a sample does not ask");
    assert_eq!(
        settings_of(&ch(&mut app, 'f')),
        vec![setting("freeze=true")],
        "cgdash is elsewhere now: the freeze goes ahead"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    // cgdash's shell moved below user.slice since.
    *now.lock().unwrap() = vec!["user.slice/user-1000.slice/session-3.scope".into()];
    app.focus_group("user.slice");
    assert!(ch(&mut app, 'f').is_empty());
    assert!(status(&app).contains("runs below it"), "{}", status(&app));
    assert_eq!(asked.load(Ordering::SeqCst), 2);
}

#[test]
fn ha_freeze_refused_where_cgdash_or_its_shell_runs() {
    // cgdash runs (say) in the user's slice: that group and every group
    // above it must not be frozen, whoever launched them.
    let mut app = at("user.slice/user-1000.slice");
    protect(&mut app, "user.slice/user-1000.slice");
    own(&mut app, "user.slice/user-1000.slice", false);
    assert!(ch(&mut app, 'f').is_empty());
    assert_eq!(app.overlay, Overlay::None, "refused, not asked");
    let st = app.status.clone().unwrap();
    assert_eq!(st.kind, StatusKind::Error);
    assert!(
        st.text.contains("not frozen") && st.text.contains("cgdash itself"),
        "{}",
        st.text
    );

    app.focus_group("user.slice");
    assert!(ch(&mut app, 'f').is_empty());
    assert!(
        ch(&mut app, 'y').is_empty(),
        "no confirmation to say yes to"
    );
    assert!(status(&app).contains("runs below it"), "{}", status(&app));

    // The editor's freeze=true is refused too, and the form stays as typed.
    app.focus_group("user.slice/user-1000.slice");
    ch(&mut app, 'e');
    let freeze = Knob::all().position(|k| k == Knob::Freeze).unwrap();
    for _ in 0..freeze {
        key(&mut app, KeyCode::Tab);
    }
    ctrl(&mut app, 'u');
    typed(&mut app, "true");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    let Overlay::Edit(form) = &app.overlay else {
        panic!("editor closed: {:?}", app.overlay)
    };
    assert_eq!(form.fields.fields[freeze].input, "true");
    assert!(status(&app).contains("not frozen"));

    // Thawing, and freezing a group elsewhere, are fine.
    key(&mut app, KeyCode::Esc);
    protect(&mut app, "system.slice/ssh.service");
    app.focus_group("user.slice/user-1000.slice");
    assert_eq!(
        settings_of(&ch(&mut app, 'f')),
        vec![setting("freeze=true")]
    );
}

#[test]
fn ha_first_write_to_a_foreign_group_asks_and_stray_keys_write_nothing() {
    let mut app = at("system.slice/ssh.service");
    assert!(ch(&mut app, '-').is_empty());
    let Overlay::ConfirmWrite(c) = &app.overlay else {
        panic!("no confirmation: {:?}", app.overlay)
    };
    assert_eq!(c.group, "system.slice/ssh.service");
    assert_eq!(c.settings, vec![setting("cpu=90%")]);
    // Stray keys (Enter, q, f, +) neither write nor confirm.
    for k in [
        KeyCode::Enter,
        KeyCode::Char('f'),
        KeyCode::Char('+'),
        KeyCode::Char(' '),
    ] {
        assert!(key(&mut app, k).is_empty(), "{k:?}");
        assert!(matches!(app.overlay, Overlay::ConfirmWrite(_)), "{k:?}");
    }
    // Esc: nothing written, and the next write asks again.
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    assert!(status(&app).contains("not written"), "{}", status(&app));
    assert!(ch(&mut app, '-').is_empty());
    assert!(matches!(app.overlay, Overlay::ConfirmWrite(_)));
    // y: written; later writes to the same group go through at once.
    assert_eq!(settings_of(&ch(&mut app, 'y')), vec![setting("cpu=90%")]);
    assert_eq!(settings_of(&ch(&mut app, '-')), vec![setting("cpu=80%")]);
    // Another foreign group asks on its own.
    app.focus_group("system.slice/cron.service");
    assert!(ch(&mut app, 'f').is_empty());
    assert!(matches!(app.overlay, Overlay::ConfirmWrite(_)));
    key(&mut app, KeyCode::Esc);
    // A group cgdash launched never asks.
    own(&mut app, "cgdash/demo", false);
    app.focus_group("cgdash/demo");
    assert_eq!(settings_of(&ch(&mut app, '+')), vec![setting("cpu=60%")]);
}

#[test]
fn ha_ctrl_c_asks_like_q_while_launched_workloads_run() {
    let mut app = ui_fixture::app(None);
    own(&mut app, "cgdash/demo", true);
    assert!(ctrl(&mut app, 'c').is_empty());
    assert_eq!(app.overlay, Overlay::ConfirmQuit);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
    // From inside a form too; a second Ctrl-C in the question quits.
    ch(&mut app, 'n');
    assert!(ctrl(&mut app, 'c').is_empty());
    assert_eq!(app.overlay, Overlay::ConfirmQuit);
    assert_eq!(ctrl(&mut app, 'c'), vec![Effect::Quit]);
    // Nothing running that asks: Ctrl-C quits at once, as q does.
    let mut app = ui_fixture::app(None);
    assert_eq!(ctrl(&mut app, 'c'), vec![Effect::Quit]);
}

/// Selects `pid` in the all-processes list.
fn select_pid(app: &mut App, pid: i32) {
    key(app, KeyCode::Tab);
    assert_eq!(app.focus, Panel::Processes);
    ch(app, 'a');
    for _ in 0..20 {
        if app.selected_process().map(|p| p.pid) == Some(pid) {
            return;
        }
        key(app, KeyCode::Down);
    }
    panic!("pid {pid} not in the list");
}

#[test]
fn ha_read_only_user_may_signal_own_processes() {
    let mut app = ui_fixture::app(Some("not root (uid 1000)"));
    app.euid = Some(1000);
    // alice's (uid 1000) python: the dialog opens, the kernel decides.
    select_pid(&mut app, 4242);
    assert!(ch(&mut app, 'x').is_empty());
    assert!(
        matches!(app.overlay, Overlay::Signal(_)),
        "{:?}",
        app.status
    );
    let fx = key(&mut app, KeyCode::Enter);
    assert_eq!(
        fx,
        vec![Effect::Signal {
            pid: 4242,
            signal: SignalKind::Term
        }]
    );
    // The kernel's answer is shown.
    app.update(Action::Signalled {
        pid: 4242,
        signal: SignalKind::Term,
        result: Err("Operation not permitted".into()),
    });
    assert!(status(&app).contains("Operation not permitted"));
    // root's sshd: refused with the reason, not with "limits".
    let mut app = ui_fixture::app(Some("not root (uid 1000)"));
    app.euid = Some(1000);
    select_pid(&mut app, 515);
    assert!(ch(&mut app, 'K').is_empty());
    assert_eq!(app.overlay, Overlay::None);
    let st = status(&app);
    assert!(st.contains("uid 0") && !st.contains("limits"), "{st}");
}

#[test]
fn ha_init_is_never_signalled_from_the_dashboard() {
    // Root may signal anything, but not PID 1: every signal key is refused
    // with the reason, and no dialog is left for a stray Enter.
    for k in ['x', 'K'] {
        let mut app = ui_fixture::app(None);
        select_pid(&mut app, 1);
        assert!(ch(&mut app, k).is_empty());
        assert_eq!(app.overlay, Overlay::None, "{k}");
        assert!(key(&mut app, KeyCode::Enter).is_empty());
        let st = status(&app);
        assert!(st.contains("PID 1") && st.contains("init"), "{st}");
    }
}

#[test]
fn ha_failed_launch_keeps_the_form_and_marks_the_field() {
    let mut app = ui_fixture::app(None);
    ch(&mut app, 'n');
    typed(&mut app, "cgdash stres cpu");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "mywork");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "30%");
    let fx = key(&mut app, KeyCode::Enter);
    assert!(matches!(fx.as_slice(), [Effect::Launch(_)]), "{fx:?}");
    app.update(Action::Launched(Err(LaunchFailure {
        message: "command `cgdash stres` not found".into(),
        field: Some(LaunchField::Command),
    })));
    let Overlay::Launch(form) = &app.overlay else {
        panic!("form not reopened: {:?}", app.overlay)
    };
    let inputs: Vec<&str> = form
        .fields
        .fields
        .iter()
        .map(|f| f.input.as_str())
        .collect();
    assert_eq!(inputs[..3], ["cgdash stres cpu", "mywork", "30%"]);
    assert_eq!(form.fields.selected, 0);
    assert!(form.fields.fields[0]
        .error
        .as_deref()
        .unwrap()
        .contains("not found"));
    assert!(status(&app).contains("launch failed"));
    // A name taken marks the name.
    let fx = key(&mut app, KeyCode::Enter);
    assert!(matches!(fx.as_slice(), [Effect::Launch(_)]));
    app.update(Action::Launched(Err(LaunchFailure {
        message: "a group named cgdash/mywork already exists".into(),
        field: Some(LaunchField::Name),
    })));
    let Overlay::Launch(form) = &app.overlay else {
        panic!("form not reopened")
    };
    assert_eq!(form.fields.selected, 1);
    assert!(form.fields.fields[1].error.is_some());
}

#[test]
fn ha_refused_edit_reopens_the_form_as_typed() {
    let mut app = ui_fixture::app(None);
    own(&mut app, "cgdash/demo", false);
    ch(&mut app, 'e');
    let mem = Knob::all().position(|k| k == Knob::Memory).unwrap();
    for _ in 0..mem {
        key(&mut app, KeyCode::Tab);
    }
    ctrl(&mut app, 'u');
    typed(&mut app, "1M");
    let fx = key(&mut app, KeyCode::Enter);
    let Some(Effect::Apply {
        group, label, undo, ..
    }) = fx.first()
    else {
        panic!("{fx:?}")
    };
    assert_eq!(app.overlay, Overlay::None);
    app.update(Action::Applied {
        group: group.clone(),
        label: label.clone(),
        undo: undo.clone(),
        result: Err(
            "the kernel refused memory.limit_in_bytes ← 1048576: below usage (EBUSY)".into(),
        ),
    });
    app.update(Action::WriteRefused {
        group: "cgdash/demo".into(),
        knob: Knob::Memory,
    });
    let Overlay::Edit(form) = &app.overlay else {
        panic!("editor not reopened: {:?}", app.overlay)
    };
    assert_eq!(form.fields.fields[mem].input, "1M");
    assert_eq!(form.fields.selected, mem);
    assert!(form.fields.fields[mem].error.is_some());
    assert!(status(&app).contains("EBUSY"));
    // A write that succeeded does not bring the form back.
    key(&mut app, KeyCode::Esc);
    ch(&mut app, 'e');
    ctrl(&mut app, 'u');
    typed(&mut app, "40%");
    let fx = key(&mut app, KeyCode::Enter);
    let Some(Effect::Apply { label, .. }) = fx.first() else {
        panic!("{fx:?}")
    };
    app.update(Action::Applied {
        group: "cgdash/demo".into(),
        label: label.clone(),
        undo: None,
        result: Ok(String::new()),
    });
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn ha_output_of_a_launched_workload_on_o() {
    let mut app = ui_fixture::app(None);
    // Not launched by cgdash: nothing kept, said so.
    assert!(ch(&mut app, 'o').is_empty());
    assert!(status(&app).contains("launched with n"), "{}", status(&app));
    own(&mut app, "cgdash/demo", true);
    assert_eq!(
        ch(&mut app, 'o'),
        vec![Effect::ShowOutput {
            group: "cgdash/demo".into()
        }]
    );
    app.update(Action::Output {
        group: "cgdash/demo".into(),
        lines: vec!["hello".into(), "world".into()],
    });
    let Overlay::Output(o) = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    assert_eq!(o.lines, ["hello", "world"]);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn ha_quit_question_ends_when_the_last_workload_exits() {
    let mut app = ui_fixture::app(None);
    own(&mut app, "cgdash/demo", true);
    ch(&mut app, 'q');
    assert_eq!(app.overlay, Overlay::ConfirmQuit);
    let fx = app.update(Action::WorkloadExited {
        group: "cgdash/demo".into(),
        status: "exited with code 0".into(),
    });
    assert_eq!(
        fx,
        vec![Effect::Quit],
        "no \"0 workload(s) still running\" question"
    );
}

fn answer(app: &mut App, fx: &[Effect], ok: bool) {
    let [Effect::Apply {
        group, label, undo, ..
    }] = fx
    else {
        panic!("expected one Apply, got {fx:?}")
    };
    app.update(Action::Applied {
        group: cgdash::cgroup::display_path(group).to_string(),
        label: label.clone(),
        undo: undo.clone(),
        result: if ok {
            Ok(String::new())
        } else {
            Err("refused (EINVAL)".into())
        },
    });
}

#[test]
fn ha_undo_follows_the_order_of_the_keys_not_of_the_answers() {
    let mut app = ui_fixture::app(None);
    own(&mut app, "cgdash/demo", false);
    own(&mut app, "system.slice/ssh.service", false);
    let a = ch(&mut app, '+'); // demo 50 → 60 %
    app.focus_group("system.slice/ssh.service");
    let b = ch(&mut app, '-'); // ssh max → 90 %
                               // The writes come back in the other order (two groups, two writers).
    answer(&mut app, &b, true);
    answer(&mut app, &a, true);
    // u undoes the last key pressed (ssh), then the demo.
    assert_eq!(settings_of(&ch(&mut app, 'u')), vec![setting("cpu=max")]);
    assert_eq!(settings_of(&ch(&mut app, 'u')), vec![setting("cpu=50%")]);
    // A refused write leaves nothing to undo.
    app.focus_group("cgdash/demo");
    let c = ch(&mut app, '+');
    answer(&mut app, &c, false);
    assert!(ch(&mut app, 'u').is_empty());
    assert!(status(&app).contains("nothing to undo"), "{}", status(&app));
    // A write still in flight is undone too (its undo is queued behind it in
    // the group's writer): the answers lagging behind the keys must not make
    // u skip to an older step (seen in the v2 VM: `+`×8 `u`×5 ended at 30 %).
    let d = ch(&mut app, '+'); // 50 → 60 %
    let e = ch(&mut app, '+'); // 60 → 70 %
    assert_eq!(settings_of(&ch(&mut app, 'u')), vec![setting("cpu=60%")]);
    answer(&mut app, &d, true);
    answer(&mut app, &e, true);
    assert_eq!(settings_of(&ch(&mut app, 'u')), vec![setting("cpu=50%")]);
    assert!(ch(&mut app, 'u').is_empty());
}

/// Samples that arrive while writes to a group are queued show values older
/// than those writes: they must not wear out the guess the next key counts
/// from. (Under load, 8 × `+` from 20 % once ended at 50 %: the resamples
/// after the first answers used up the guess's four samples.)
#[test]
fn ha_queued_writes_keep_the_guess_through_older_samples() {
    let mut app = ui_fixture::app(None);
    own(&mut app, "cgdash/demo", false);
    let a = ch(&mut app, '+'); // 50 → 60 %
    assert_eq!(settings_of(&a), vec![setting("cpu=60%")]);
    let _b = ch(&mut app, '+'); // → 70 %
    let _c = ch(&mut app, '+'); // → 80 %
    answer(&mut app, &a, true);
    for i in 0..6 {
        // Each answer's resample: the kernel has the first write only.
        app.update(Action::Snapshot(std::sync::Arc::new(ui_fixture::snapshot(
            100 + i,
            60.0,
        ))));
    }
    assert_eq!(settings_of(&ch(&mut app, '+')), vec![setting("cpu=90%")]);
}
