//! The microscope in the app and on screen, without a kernel: `p` opens it
//! on the selected group (and the loop's sampler target follows), `b`, `[`,
//! `]` write the burst and the period, and the panel draws a report's
//! periods with the words the issue asks for.

mod ui_fixture;

use std::sync::Arc;

use cgdash::app::{Action, App, Effect, OwnedWorkload};
use cgdash::sampler::periods::{Counters, Period, Report, Sums};
use cgdash::ui::Dashboard;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

fn ch(app: &mut App, c: char) -> Vec<Effect> {
    app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// The demo at a 50 % quota (50 ms per 100 ms), burst `burst`.
fn app(burst: Option<u64>) -> App {
    let mut app = App::new(None);
    app.add_owned(OwnedWorkload {
        group: "cgdash/demo".into(),
        pid: 5003,
        keep: false,
        ask_on_quit: false,
        running: true,
    });
    app.focus_group("cgdash/demo");
    let mut s = ui_fixture::snapshot(0, 50.0);
    for g in &mut s.groups {
        if g.path == "cgdash/demo" {
            g.cpu.quota_us = Some(50_000);
            g.cpu.period_us = Some(100_000);
            g.cpu.burst_us = burst;
            g.cpu.effective_limit_percent = Some(50.0);
            g.cpu.limiting_group = Some("cgdash/demo".into());
        }
    }
    app.update(Action::Snapshot(Arc::new(s)));
    app
}

fn written(fx: &[Effect]) -> (Vec<String>, Vec<String>) {
    match fx {
        [Effect::Apply { settings, undo, .. }] => (
            settings.iter().map(|s| s.to_string()).collect(),
            undo.iter().flatten().map(|s| s.to_string()).collect(),
        ),
        other => panic!("expected one write, got {other:?}"),
    }
}

#[test]
fn micro_p_opens_on_the_selected_group() {
    let mut a = app(Some(0));
    assert_eq!(a.microscope_target(), None, "closed: nothing sampled");
    ch(&mut a, 'p');
    assert_eq!(a.microscope_target().as_deref(), Some("cgdash/demo"));
    ch(&mut a, 'p');
    assert_eq!(a.microscope_target(), None);
}

#[test]
fn micro_b_and_period_keys_write_burst_and_period() {
    let mut a = app(Some(0));
    assert_eq!(
        written(&ch(&mut a, 'b')),
        (vec!["cpu.burst=50ms".into()], vec!["cpu.burst=0ms".into()])
    );
    let mut a = app(Some(50_000));
    assert_eq!(
        written(&ch(&mut a, 'b')).0,
        vec!["cpu.burst=0ms".to_string()]
    );
    // Halving the period halves the burst with it (burst ≤ quota).
    assert_eq!(
        written(&ch(&mut a, '[')),
        (
            vec!["cpu.period=50ms".into(), "cpu.burst=25ms".into()],
            vec!["cpu.period=100ms".into(), "cpu.burst=50ms".into()]
        )
    );
    let mut a = app(Some(0));
    assert_eq!(
        written(&ch(&mut a, ']')).0,
        vec!["cpu.period=200ms".to_string()]
    );
    // Within one refresh, with the microscope open, presses add up.
    let mut a = app(Some(0));
    ch(&mut a, 'p');
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.extend(written(&ch(&mut a, '[')).0);
    }
    assert_eq!(
        seen,
        ["cpu.period=50ms", "cpu.period=25ms", "cpu.period=12500us"]
    );
    // No burst in this kernel: nothing written, the reason shown.
    let mut a = app(None);
    assert!(ch(&mut a, 'b').is_empty());
    let st = a.status.clone().expect("a status");
    assert!(st.text.contains("5.14"), "{}", st.text);
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let area = Rect::new(0, 0, w, h);
    let mut buf = Buffer::empty(area);
    Dashboard(app).render(area, &mut buf);
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn micro_panel_tells_what_the_periods_say() {
    let mut a = app(Some(0));
    ch(&mut a, 'p');
    // The picture: 50T 50T 20 every 300 ms, 8 threads runnable.
    let mut periods = Vec::new();
    for i in 0..30u64 {
        for (k, (used, thr)) in [(50, true), (50, true), (20, false)]
            .into_iter()
            .enumerate()
        {
            periods.push(Period {
                used_ns: used * 1_000_000,
                throttled: thr,
                throttled_ns: if thr { 75_000_000 } else { 0 },
                burst_ns: 0,
                runnable: 8,
                end_ns: (i * 300 + 100 * (k as u64 + 1)) * 1_000_000,
            });
        }
    }
    let last = Counters {
        nr_periods: 1234,
        nr_throttled: 800,
        ..Counters::default()
    };
    a.update(Action::Periods(Arc::new(Report {
        group: "cgdash/demo".into(),
        periods,
        sums: Sums::default(),
        last: Some(last),
        kernel: Some((4, 19)),
        ..Report::default()
    })));
    for (w, h) in [(200, 50), (80, 24)] {
        let s = screen(&a, w, h);
        let flat: String = s.split('\n').collect::<Vec<_>>().join(" ");
        assert!(s.contains("CPU microscope · cgdash/demo"), "{s}");
        assert!(
            s.contains("average below quota, throttled in most periods"),
            "{s}"
        );
        if w == 200 {
            assert!(s.contains("40 of 60 periods (67%)"), "{s}");
            assert!(s.contains("nr_periods 1234 · nr_throttled 800"), "{s}");
            assert!(
                s.contains(
                    "8 runnable threads share a 0.5-CPU quota: a period's quota is gone in ~25 ms"
                ),
                "{s}"
            );
            assert!(s.contains("binding quota: this group's own (50%)"), "{s}");
            assert!(s.contains("burst: none · b allows 50ms"), "{s}");
            assert!(s.contains("kernel 4.19: before 5.4"), "{s}");
            assert!(s.contains("TT·TT·TT"), "throttled periods marked:\n{s}");
            assert!(s.contains("≥100%"), "the distribution:\n{s}");
        }
        assert!(!flat.is_empty());
    }
}

/// The dashboard's reader leaves a group's period and burst unread while it
/// has no quota (`cgroup::reader::quota_only`): the panel says "no quota"
/// (not "no cpu controller"), and `[` `]` `b` read the group afresh for
/// them (`App::group_details`), as the editor does.
#[test]
fn micro_keys_read_the_period_and_burst_left_unread_without_a_quota() {
    use cgdash::app::GroupDetails;
    use cgdash::cgroup::{CpuMax, GroupStats, Limit};
    let unread = || {
        let mut a = app(Some(0));
        let mut s = (*a.snapshot).clone();
        for g in s.groups.iter_mut().filter(|g| g.path == "cgdash/demo") {
            g.cpu.quota_us = None;
            g.cpu.limit_percent = None;
            g.cpu.period_us = None;
            g.cpu.burst_us = None;
            g.cpu_unread_without_quota = true;
            g.cpu.effective_limit_percent = None;
            g.cpu.limiting_group = None;
        }
        a.update(Action::Snapshot(Arc::new(s)));
        a
    };
    // A whole reading of the group: no quota, this period and burst.
    let details = |period_us: u64, burst_us: u64| {
        GroupDetails(Box::new(move |_| {
            let mut s = GroupStats::default();
            s.cpu.max = Some(CpuMax {
                quota_us: Limit::Max,
                period_us,
            });
            s.cpu.burst_us = Some(burst_us);
            Some(s)
        }))
    };
    // No reading to be had: nothing written; `b` says why.
    let mut a = unread();
    assert!(ch(&mut a, 'b').is_empty());
    let st = a.status.clone().expect("a status");
    assert!(st.text.contains("no CPU quota"), "{}", st.text);
    ch(&mut a, 'p');
    a.update(Action::Periods(Arc::new(Report {
        group: "cgdash/demo".into(),
        last: Some(Counters::default()),
        ..Report::default()
    })));
    let s = screen(&a, 200, 50);
    assert!(s.contains("cgdash/demo · no quota"), "{s}");
    assert!(!s.contains("no cpu controller"), "{s}");
    assert!(s.contains("burst: applies only with a quota"), "{s}");
    // With one: the period the group has, and undone to it.
    let mut a = unread();
    a.group_details = Some(details(200_000, 0));
    assert_eq!(
        written(&ch(&mut a, ']')),
        (
            vec!["cpu.period=400ms".into()],
            vec!["cpu.period=200ms".into()]
        )
    );
    let mut a = unread();
    a.group_details = Some(details(100_000, 30_000));
    // A burst left from a removed quota: `b` removes it.
    assert_eq!(
        written(&ch(&mut a, 'b')),
        (vec!["cpu.burst=0ms".into()], vec!["cpu.burst=30ms".into()])
    );
}
