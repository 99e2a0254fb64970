//! issue 19: the network knobs (`net.rate_in`, `net.rate_out`) in the
//! dashboard behave like every other knob (app level, no terminal): an
//! editor change is undone by `u` to the value the editor showed, a change
//! of cgroup and network knobs in one submission is undone by one `u`, a
//! refused rate leaves nothing to undo and reopens the editor as typed, and
//! a group cgdash did not launch asks first, naming the rate.

mod ui_fixture;

use std::sync::Arc;

use cgdash::app::{Action, App, Effect, Overlay, OwnedWorkload};
use cgdash::cgroup::knob::Knob;
use cgdash::model::NetView;
use cgdash::net::NetKnob;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const M: u64 = 1 << 20;
const K: u64 = 1 << 10;

fn key(app: &mut App, c: KeyCode) -> Vec<Effect> {
    app.handle_key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn status(app: &App) -> String {
    app.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

/// The fixture, with `cgdash/demo` in a namespace of its own under
/// `net.rate_out=1M` (as `run --net veth --net-rate-out 1M` leaves it),
/// launched by this cgdash unless `owned` is false.
fn app(owned: bool) -> App {
    let mut app = ui_fixture::app(None);
    let mut snap = ui_fixture::snapshot(40, 50.0);
    for g in &mut snap.groups {
        if g.path == "cgdash/demo" {
            g.net = Some(Box::new(NetView {
                rate_out: Some(M),
                netns: 4026532189,
                pid: 4242,
                ..Default::default()
            }));
        }
    }
    app.update(Action::Snapshot(Arc::new(snap)));
    if owned {
        app.add_owned(OwnedWorkload {
            group: "cgdash/demo".into(),
            pid: 5003,
            keep: false,
            ask_on_quit: false,
            running: true,
        });
    }
    app.focus_group("cgdash/demo");
    app
}

/// `e`, then FIELD (counted back from the last one: 1 = net.rate_out,
/// 2 = net.rate_in) set to VALUE; the form stays open.
fn edit_net(app: &mut App, back: usize, value: &str) {
    key(app, KeyCode::Char('e'));
    assert!(matches!(app.overlay, Overlay::Edit(_)), "{:?}", app.overlay);
    for _ in 0..back {
        key(app, KeyCode::Up);
    }
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    typed(app, value);
}

fn net_effect(fx: &Effect) -> (&str, &[(NetKnob, Option<u64>)], &str) {
    match fx {
        Effect::SetNet { group, net, label } => (group, net, label),
        other => panic!("expected SetNet, got {other:?}"),
    }
}

fn answer(app: &mut App, fx: &Effect, ok: bool) {
    let (group, label, undo) = match fx {
        Effect::SetNet { group, label, .. } => (group, label, None),
        Effect::Apply {
            group, label, undo, ..
        } => (group, label, undo.clone()),
        other => panic!("{other:?}"),
    };
    app.update(Action::Applied {
        group: cgdash::cgroup::display_path(group).to_string(),
        label: label.clone(),
        undo,
        result: if ok {
            Ok(String::new())
        } else {
            Err("cgdash/demo has no cgdash veth".into())
        },
    });
}

#[test]
fn net_rate_edit_is_undone_by_u() {
    let mut app = app(true);
    edit_net(&mut app, 1, "512K");
    let fx = key(&mut app, KeyCode::Enter);
    assert_eq!(fx.len(), 1, "{fx:?}");
    let (group, net, label) = net_effect(&fx[0]);
    assert_eq!(group, "cgdash/demo");
    assert_eq!(net, [(NetKnob::RateOut, Some(512 * K))]);
    assert_eq!(label, "net.rate_out=512K");
    assert!(
        status(&app).contains("writing net.rate_out=512K"),
        "{}",
        status(&app)
    );
    answer(&mut app, &fx[0], true);
    assert!(
        status(&app).contains("net.rate_out=512K"),
        "{}",
        status(&app)
    );
    // `u`: back to what the editor showed (1M), through the same effect.
    let fx = key(&mut app, KeyCode::Char('u'));
    assert_eq!(fx.len(), 1, "{fx:?}");
    let (group, net, label) = net_effect(&fx[0]);
    assert_eq!(group, "cgdash/demo");
    assert_eq!(net, [(NetKnob::RateOut, Some(M))]);
    assert_eq!(label, "undo → net.rate_out=1M");
    answer(&mut app, &fx[0], true);
    // An undo is not undone again.
    assert!(key(&mut app, KeyCode::Char('u')).is_empty());
    assert!(status(&app).contains("nothing to undo"), "{}", status(&app));

    // From no limit: undone to `max` (the qdisc removed).
    edit_net(&mut app, 2, "2M");
    let fx = key(&mut app, KeyCode::Enter);
    assert_eq!(net_effect(&fx[0]).1, [(NetKnob::RateIn, Some(2 * M))]);
    answer(&mut app, &fx[0], true);
    let fx = key(&mut app, KeyCode::Char('u'));
    assert_eq!(net_effect(&fx[0]).1, [(NetKnob::RateIn, None)]);
    assert_eq!(net_effect(&fx[0]).2, "undo → net.rate_in=max");
}

/// One submission with a cgroup knob and a rate: two effects (cgroup first),
/// one `u` undoes both; the undo of a `+` made before stays below them.
#[test]
fn cgroup_and_net_knobs_of_one_submission_are_undone_together() {
    let mut app = app(true);
    let plus = key(&mut app, KeyCode::Char('+')); // cpu 50 → 60 %
    answer(&mut app, &plus[0], true);
    key(&mut app, KeyCode::Char('e'));
    let pids = Knob::all().position(|k| k == Knob::Pids).unwrap();
    for _ in 0..pids {
        key(&mut app, KeyCode::Tab);
    }
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    typed(&mut app, "77");
    // The last field: net.rate_out.
    for _ in 0..(Knob::all().count() + 2 - 1 - pids) {
        key(&mut app, KeyCode::Tab);
    }
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    typed(&mut app, "256K");
    let fx = key(&mut app, KeyCode::Enter);
    assert_eq!(fx.len(), 2, "{fx:?}");
    let Effect::Apply { settings, .. } = &fx[0] else {
        panic!("{fx:?}")
    };
    assert_eq!(settings[0].to_string(), "pids=77");
    assert_eq!(net_effect(&fx[1]).1, [(NetKnob::RateOut, Some(256 * K))]);
    assert!(
        status(&app).contains("writing pids=77 net.rate_out=256K"),
        "{}",
        status(&app)
    );
    // Answered in either order.
    answer(&mut app, &fx[1], true);
    answer(&mut app, &fx[0], true);
    let fx = key(&mut app, KeyCode::Char('u'));
    assert_eq!(fx.len(), 2, "one u undoes both halves: {fx:?}");
    let Effect::Apply {
        settings, label, ..
    } = &fx[0]
    else {
        panic!("{fx:?}")
    };
    assert!(label.starts_with("undo → pids="), "{label}");
    assert_eq!(settings.len(), 1);
    assert_eq!(net_effect(&fx[1]).1, [(NetKnob::RateOut, Some(M))]);
    // Then the `+` from before.
    let fx = key(&mut app, KeyCode::Char('u'));
    let [Effect::Apply { label, .. }] = &fx[..] else {
        panic!("{fx:?}")
    };
    assert_eq!(label, "undo → cpu=50%");
}

/// A refused rate: nothing to undo, the editor back as typed, the reason
/// in the status line.
#[test]
fn a_refused_rate_leaves_nothing_to_undo() {
    let mut app = app(true);
    edit_net(&mut app, 1, "3M");
    let fx = key(&mut app, KeyCode::Enter);
    answer(&mut app, &fx[0], false);
    assert!(status(&app).contains("no cgdash veth"), "{}", status(&app));
    let Overlay::Edit(form) = &app.overlay else {
        panic!("editor not reopened: {:?}", app.overlay)
    };
    assert_eq!(form.fields.fields.last().unwrap().input, "3M");
    key(&mut app, KeyCode::Esc);
    assert!(key(&mut app, KeyCode::Char('u')).is_empty());
    assert!(status(&app).contains("nothing to undo"), "{}", status(&app));
}

/// A `cgdash/…` group another cgdash launched: the first change asks, and
/// the question names the rate; nothing is written before `y`.
#[test]
fn a_rate_on_a_group_not_launched_here_asks_first() {
    let mut app = app(false);
    edit_net(&mut app, 1, "2M");
    let fx = key(&mut app, KeyCode::Enter);
    assert!(fx.is_empty(), "{fx:?}");
    let Overlay::ConfirmWrite(c) = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    assert_eq!(c.what(), "net.rate_out=2M");
    let fx = key(&mut app, KeyCode::Char('y'));
    assert_eq!(net_effect(&fx[0]).1, [(NetKnob::RateOut, Some(2 * M))]);
    answer(&mut app, &fx[0], true);
    let fx = key(&mut app, KeyCode::Char('u'));
    assert_eq!(net_effect(&fx[0]).1, [(NetKnob::RateOut, Some(M))]);
}
