//! The dashboard's sampler leaves unread the files only the limit editor
//! shows (`cgroup::reader::unshown`, issue 18): the editor reads the group
//! afresh when it opens, so its fields, and the undo of a write, hold the
//! group's current values.

mod ui_fixture;

use cgdash::app::{App, GroupDetails, Overlay};
use cgdash::cgroup::knob::Knob;
use cgdash::cgroup::{CpuMax, GroupStats, Limit};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn field(app: &App, knob: Knob) -> String {
    let Overlay::Edit(form) = &app.overlay else {
        panic!("no editor: {:?}", app.overlay)
    };
    let i = form.knobs.iter().position(|&k| k == knob).unwrap();
    form.fields.fields[i].input.clone()
}

fn open(app: &mut App) {
    app.handle_key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::NONE));
}

#[test]
fn the_editor_shows_the_values_the_sampler_left_unread() {
    let mut app = ui_fixture::app(None);
    app.status = None;
    // As the dashboard's snapshots have them: unread.
    let g = app.selected_group().expect("selected").path.clone();
    let mut snap = (*app.snapshot).clone();
    for s in snap.groups.iter_mut().filter(|s| s.path == g) {
        s.cpu.weight = None;
        s.memory.swap_max_bytes = None;
        // No quota: the period and burst unread too (`reader::quota_only`).
        s.cpu.quota_us = None;
        s.cpu.period_us = None;
        s.cpu.burst_us = None;
        s.cpu_unread_without_quota = true;
    }
    app.snapshot = std::sync::Arc::new(snap);
    open(&mut app);
    assert_eq!(field(&app, Knob::CpuWeight), "", "unknown without a reader");
    app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));

    let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = asked.clone();
    app.group_details = Some(GroupDetails(Box::new(move |path| {
        seen.borrow_mut().push(path.to_string());
        let mut s = GroupStats::default();
        s.cpu.weight = Some(250);
        s.memory.swap_max = Some(Limit::Value(64 << 20));
        s.cpu.max = Some(CpuMax {
            quota_us: Limit::Max,
            period_us: 250_000,
        });
        s.cpu.burst_us = Some(0);
        Some(s)
    })));
    open(&mut app);
    assert_eq!(
        *asked.borrow(),
        [g],
        "the selected group, read when the editor opens"
    );
    assert_eq!(field(&app, Knob::CpuWeight), "250");
    assert_eq!(field(&app, Knob::MemorySwap), "64M");
    assert_eq!(field(&app, Knob::CpuPeriod), "250ms");
}
