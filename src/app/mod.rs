//! The dashboard's state and its one entry point, [`App::update`]: an
//! [`Action`] in, state changed, [`Effect`]s out. Pure: no files, no clock,
//! no terminal — the event loop (`cmd/dashboard.rs`) does the I/O, and the
//! `ui` module draws this state.

pub mod action;
pub mod form;
pub mod groups;
pub mod keymap;
pub mod procs;
mod quick;
mod view;

use std::collections::HashMap;
use std::sync::Arc;

use crossterm::event::KeyEvent;

pub use crate::sampler::History;
pub use action::{Action, Effect, LaunchRequest, OwnedWorkload, Panel, SignalKind};
use form::{EditForm, LaunchForm};
use keymap::KeyMode;
pub use view::{GroupsView, ProcsView};

use crate::cgroup::knob::{Knob, Setting, Value};
use crate::cgroup::{CpuQuota, Limit};
use crate::model::{GroupSnapshot, ProcessSnapshot, Snapshot};

/// Samples of history kept per group (at 1 s: five minutes).
pub const HISTORY_LEN: usize = 300;
/// How many limit-change markers are remembered.
const MAX_MARKERS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Ok,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub kind: StatusKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalDialog {
    pub pid: i32,
    pub command: String,
    pub signal: SignalKind,
}

/// What is drawn over the panels (and which keymap is active).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Overlay {
    #[default]
    None,
    Help,
    /// Typing the filter of the focused panel (applied as you type).
    Filter,
    Edit(Box<EditForm>),
    Launch(Box<LaunchForm>),
    Signal(SignalDialog),
    ConfirmQuit,
}

/// A limit change, drawn on the charts at the instant it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    pub group: String,
    pub timestamp_ms: u64,
    pub label: String,
}

#[derive(Clone, Debug)]
struct UndoEntry {
    group: String,
    settings: Vec<Setting>,
}

/// Values just written and not yet seen in a snapshot, so that `+ + +`
/// pressed within one refresh counts from 20 % to 50 %, not to 30 % three times.
#[derive(Clone, Debug, Default)]
struct Pending {
    cpu: Option<Option<f64>>,
    memory: Option<Option<u64>>,
    frozen: Option<bool>,
    /// Snapshots left before the guess is dropped.
    ttl: u8,
}

#[derive(Debug)]
pub struct App {
    pub snapshot: Arc<Snapshot>,
    pub history: History,
    /// `Some(why)` when limits can't be changed (e.g. not root).
    pub read_only: Option<String>,
    /// A title line (the demo's hint).
    pub title: Option<String>,
    pub focus: Panel,
    pub zoom: Option<Panel>,
    pub overlay: Overlay,
    pub groups: GroupsView,
    pub procs: ProcsView,
    pub status: Option<Status>,
    pub markers: Vec<Marker>,
    pub owned: Vec<OwnedWorkload>,
    undo: Vec<UndoEntry>,
    pending: HashMap<String, Pending>,
}

impl App {
    pub fn new(read_only: Option<String>) -> App {
        App {
            snapshot: Arc::new(Snapshot::default()),
            history: History::new(HISTORY_LEN),
            read_only,
            title: None,
            focus: Panel::Groups,
            zoom: None,
            overlay: Overlay::None,
            groups: GroupsView::default(),
            procs: ProcsView::default(),
            status: None,
            markers: Vec::new(),
            owned: Vec::new(),
            undo: Vec::new(),
            pending: HashMap::new(),
        }
    }

    /// Selects `path` (display form) as soon as it appears, expanding its parents.
    pub fn focus_group(&mut self, path: &str) {
        self.groups.want(path);
        self.groups.rebuild(&self.snapshot);
        self.procs.rebuild(&self.snapshot, &self.groups);
    }

    pub fn add_owned(&mut self, w: OwnedWorkload) {
        self.owned.push(w);
    }

    pub fn key_mode(&self) -> KeyMode {
        match self.overlay {
            Overlay::None => KeyMode::Normal,
            Overlay::Help => KeyMode::Help,
            Overlay::Filter | Overlay::Edit(_) | Overlay::Launch(_) => KeyMode::Text,
            Overlay::Signal(_) => KeyMode::Signal,
            Overlay::ConfirmQuit => KeyMode::ConfirmQuit,
        }
    }

    /// A key press through the active keymap.
    pub fn handle_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match keymap::lookup(self.key_mode(), key) {
            Some(a) => self.update(a),
            None => Vec::new(),
        }
    }

    pub fn selected_group(&self) -> Option<&GroupSnapshot> {
        self.groups.selected_group(&self.snapshot)
    }

    pub fn selected_process(&self) -> Option<&ProcessSnapshot> {
        self.procs.selected_process(&self.snapshot)
    }

    /// Whether cgdash launched this group (marked in the tree).
    pub fn is_owned(&self, path: &str) -> bool {
        self.owned.iter().any(|w| w.group == path)
    }

    /// Workloads still running that the user should be asked about on quit.
    pub fn running_to_ask(&self) -> usize {
        self.owned
            .iter()
            .filter(|w| w.running && w.ask_on_quit && !w.keep)
            .count()
    }

    fn set_status(&mut self, kind: StatusKind, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            kind,
        });
    }

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Snapshot(s) => self.on_snapshot(s),
            Action::Quit => {
                if self.running_to_ask() > 0 {
                    self.overlay = Overlay::ConfirmQuit;
                } else {
                    return vec![Effect::Quit];
                }
            }
            Action::ForceQuit => return vec![Effect::Quit],
            Action::ToggleHelp => {
                self.overlay = match self.overlay {
                    Overlay::Help => Overlay::None,
                    _ => Overlay::Help,
                }
            }
            Action::Applied {
                group,
                label,
                undo,
                result,
            } => self.on_applied(group, label, undo, result),
            Action::Signalled {
                pid,
                signal,
                result,
            } => match result {
                Ok(()) => self.set_status(
                    StatusKind::Ok,
                    format!("sent SIG{} to {pid}", signal.name()),
                ),
                Err(e) => self.set_status(
                    StatusKind::Error,
                    format!("SIG{} to {pid} failed: {e}", signal.name()),
                ),
            },
            Action::Launched(Ok(w)) => {
                self.set_status(
                    StatusKind::Ok,
                    format!("launched pid {} in {}", w.pid, w.group),
                );
                self.focus = Panel::Groups;
                self.groups.want(&w.group);
                self.owned.push(w);
                return vec![Effect::Resample];
            }
            Action::Launched(Err(e)) => {
                self.set_status(StatusKind::Error, format!("launch failed: {e}"))
            }
            Action::WorkloadExited { group, status } => {
                for w in self.owned.iter_mut().filter(|w| w.group == group) {
                    w.running = false;
                }
                self.set_status(StatusKind::Info, format!("{group}: workload {status}"));
            }
            Action::Failed(e) => self.set_status(StatusKind::Error, e),
            other => {
                return match std::mem::take(&mut self.overlay) {
                    Overlay::None => self.normal(other),
                    overlay => self.in_overlay(overlay, other),
                }
            }
        }
        Vec::new()
    }

    fn on_snapshot(&mut self, s: Arc<Snapshot>) {
        self.history.record(&s);
        self.pending.retain(|path, p| {
            let Some(g) = s.group(path) else { return false };
            let seen = p.cpu.is_none_or(|c| close(c, g.cpu.limit_percent))
                && p.memory.is_none_or(|m| m == g.memory.max_bytes)
                && p.frozen.is_none_or(|f| Some(f) == g.frozen);
            p.ttl = p.ttl.saturating_sub(1);
            !seen && p.ttl > 0
        });
        self.snapshot = s;
        self.groups.rebuild(&self.snapshot);
        self.procs.rebuild(&self.snapshot, &self.groups);
    }

    fn on_applied(
        &mut self,
        group: String,
        label: String,
        undo: Option<Vec<Setting>>,
        result: Result<String, String>,
    ) {
        match result {
            Ok(detail) => {
                let text = if detail.is_empty() {
                    format!("{group}: {label}")
                } else {
                    format!("{group}: {label} ({detail})")
                };
                self.set_status(StatusKind::Ok, text);
                if let Some(settings) = undo.filter(|u| !u.is_empty()) {
                    self.undo.push(UndoEntry {
                        group: group.clone(),
                        settings,
                    });
                }
                if self.markers.len() == MAX_MARKERS {
                    self.markers.remove(0);
                }
                self.markers.push(Marker {
                    group,
                    timestamp_ms: self.snapshot.timestamp_ms,
                    label,
                });
            }
            Err(e) => {
                self.pending.remove(&group);
                self.set_status(
                    StatusKind::Error,
                    format!("{group}: {label} not written: {e}"),
                );
            }
        }
    }

    /// Actions with no overlay open.
    fn normal(&mut self, action: Action) -> Vec<Effect> {
        let snap = Arc::clone(&self.snapshot);
        match action {
            Action::FocusNext => {
                self.focus = match self.focus {
                    Panel::Groups => Panel::Processes,
                    Panel::Processes => Panel::Groups,
                };
                if self.zoom.is_some() {
                    self.zoom = Some(self.focus);
                }
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-10),
            Action::PageDown => self.move_by(10),
            Action::Home => self.move_by(i32::MIN / 2),
            Action::End => self.move_by(i32::MAX / 2),
            Action::Expand if self.focus == Panel::Groups => self.groups.set_expanded(&snap, true),
            Action::Collapse if self.focus == Panel::Groups => {
                self.groups.set_expanded(&snap, false);
                self.procs.rebuild(&snap, &self.groups);
            }
            Action::Enter => match self.focus {
                Panel::Groups => self.groups.toggle_expanded(&snap),
                Panel::Processes => self.toggle_zoom(),
            },
            Action::Zoom => self.toggle_zoom(),
            Action::SortNext | Action::SortReverse => {
                let next = matches!(action, Action::SortNext);
                match self.focus {
                    Panel::Groups => self.groups.sort(&snap, next),
                    Panel::Processes => self.procs.sort(&snap, &self.groups, next),
                }
            }
            Action::StartFilter => self.overlay = Overlay::Filter,
            Action::ToggleTree => {
                self.procs.tree = !self.procs.tree;
                self.procs.rebuild(&snap, &self.groups);
            }
            Action::ToggleScope => {
                self.procs.all = !self.procs.all;
                self.procs.rebuild(&snap, &self.groups);
            }
            Action::Cancel => match self.focus {
                Panel::Groups if !self.groups.filter.is_empty() => {
                    self.groups.filter.clear();
                    self.groups.rebuild(&snap);
                }
                Panel::Processes if !self.procs.filter.is_empty() => {
                    self.procs.filter.clear();
                    self.procs.rebuild(&snap, &self.groups);
                }
                _ => self.zoom = None,
            },
            Action::Click { panel, row } => {
                self.focus = panel;
                match panel {
                    Panel::Groups => self.groups.select(&snap, row),
                    Panel::Processes => self.procs.select(&snap, row),
                }
                if panel == Panel::Groups {
                    self.procs.rebuild(&snap, &self.groups);
                }
            }
            Action::Scroll { panel, delta } => {
                self.focus = panel;
                self.move_by(delta);
            }
            Action::CpuUp | Action::CpuDown => {
                return self.quick_cpu(matches!(action, Action::CpuUp))
            }
            Action::MemoryDown | Action::MemoryUp => {
                return self.quick_memory(matches!(action, Action::MemoryUp))
            }
            Action::ToggleFreeze => return self.quick_freeze(),
            Action::Undo => return self.undo(),
            Action::OpenEditor => {
                if let Some(g) = self.editable_group() {
                    self.overlay = Overlay::Edit(Box::new(EditForm::new(&g)));
                }
            }
            Action::OpenLaunch if self.check_writable() => {
                self.overlay = Overlay::Launch(Box::default());
            }
            Action::OpenSignal(signal) => {
                if !self.check_writable() {
                    return Vec::new();
                }
                match self.selected_process() {
                    Some(p) => {
                        self.overlay = Overlay::Signal(SignalDialog {
                            pid: p.pid,
                            command: p.command.clone(),
                            signal,
                        })
                    }
                    None => self.set_status(StatusKind::Info, "no process selected"),
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// Actions while an overlay is open (it was taken out of `self.overlay`;
    /// put it back unless the action closes it).
    fn in_overlay(&mut self, overlay: Overlay, action: Action) -> Vec<Effect> {
        let snap = Arc::clone(&self.snapshot);
        match overlay {
            Overlay::Filter => {
                let target = match self.focus {
                    Panel::Groups => &mut self.groups.filter,
                    Panel::Processes => &mut self.procs.filter,
                };
                let mut keep_open = true;
                match action {
                    Action::Input(c) => target.push(c),
                    Action::Backspace => {
                        target.pop();
                    }
                    Action::ClearInput => target.clear(),
                    Action::Submit => keep_open = false,
                    Action::Cancel => {
                        target.clear();
                        keep_open = false;
                    }
                    _ => {}
                }
                self.groups.rebuild(&snap);
                self.procs.rebuild(&snap, &self.groups);
                if keep_open {
                    self.overlay = Overlay::Filter;
                }
            }
            Overlay::Edit(mut form) => match action {
                Action::Cancel => {
                    self.set_status(StatusKind::Info, "edit cancelled, nothing written")
                }
                Action::Submit => match form.submit() {
                    Ok(sub) if sub.settings.is_empty() => {
                        self.set_status(StatusKind::Info, "nothing changed, nothing written")
                    }
                    Ok(sub) => {
                        let group = form.group.clone();
                        return self.apply(&group, sub.settings, Some(sub.undo));
                    }
                    Err(n) => {
                        self.set_status(
                            StatusKind::Error,
                            format!("{n} invalid value(s), nothing written"),
                        );
                        self.overlay = Overlay::Edit(form);
                    }
                },
                other => {
                    form_input(&mut form.fields, other);
                    self.overlay = Overlay::Edit(form);
                }
            },
            Overlay::Launch(mut form) => match action {
                Action::Cancel => {}
                Action::Submit => match form.submit() {
                    Ok(req) => {
                        self.set_status(
                            StatusKind::Info,
                            format!("launching {}…", req.command.join(" ")),
                        );
                        return vec![Effect::Launch(req)];
                    }
                    Err(n) => {
                        self.set_status(
                            StatusKind::Error,
                            format!("{n} invalid field(s), nothing launched"),
                        );
                        self.overlay = Overlay::Launch(form);
                    }
                },
                other => {
                    form_input(&mut form.fields, other);
                    self.overlay = Overlay::Launch(form);
                }
            },
            Overlay::Signal(mut d) => match action {
                Action::Cancel => {}
                Action::Submit => {
                    return vec![Effect::Signal {
                        pid: d.pid,
                        signal: d.signal,
                    }]
                }
                Action::NextField | Action::PrevField | Action::Input(_) => {
                    let i = SignalKind::ALL
                        .iter()
                        .position(|s| *s == d.signal)
                        .unwrap_or(0);
                    d.signal = match action {
                        Action::NextField => SignalKind::ALL[(i + 1) % 4],
                        Action::PrevField => SignalKind::ALL[(i + 3) % 4],
                        Action::Input('k') => SignalKind::Kill,
                        Action::Input('s') => SignalKind::Stop,
                        Action::Input('c') => SignalKind::Cont,
                        _ => SignalKind::Term,
                    };
                    self.overlay = Overlay::Signal(d);
                }
                _ => self.overlay = Overlay::Signal(d),
            },
            Overlay::ConfirmQuit => match action {
                Action::Submit => return vec![Effect::Quit],
                Action::Cancel => {}
                _ => self.overlay = Overlay::ConfirmQuit,
            },
            Overlay::Help | Overlay::None => self.overlay = overlay,
        }
        Vec::new()
    }

    fn toggle_zoom(&mut self) {
        self.zoom = match self.zoom {
            Some(_) => None,
            None => Some(self.focus),
        };
    }

    fn move_by(&mut self, delta: i32) {
        let snap = Arc::clone(&self.snapshot);
        match self.focus {
            Panel::Groups => {
                self.groups.move_by(&snap, delta);
                self.procs.rebuild(&snap, &self.groups);
            }
            Panel::Processes => self.procs.move_by(&snap, delta),
        }
    }

    fn check_writable(&mut self) -> bool {
        match &self.read_only {
            Some(why) => {
                let text = format!("read-only: {why}");
                self.set_status(StatusKind::Error, text);
                false
            }
            None => true,
        }
    }

    /// The selected group if it can be changed (not read-only, not the root).
    fn editable_group(&mut self) -> Option<GroupSnapshot> {
        if !self.check_writable() {
            return None;
        }
        match self.selected_group() {
            None => {
                self.set_status(StatusKind::Info, "no group selected");
                None
            }
            Some(g) if g.path == "/" => {
                self.set_status(
                    StatusKind::Error,
                    "the root group has no limits; select a child group",
                );
                None
            }
            Some(g) => Some(g.clone()),
        }
    }

    fn pending_mut(&mut self, path: &str) -> &mut Pending {
        let p = self.pending.entry(path.to_string()).or_default();
        p.ttl = 4;
        p
    }

    fn apply(
        &mut self,
        group: &str,
        settings: Vec<Setting>,
        undo: Option<Vec<Setting>>,
    ) -> Vec<Effect> {
        let label = settings
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        for s in &settings {
            match &s.value {
                Value::Cpu(q) => self.pending_mut(group).cpu = Some(q.percent()),
                Value::Bytes(l) if s.knob == Knob::Memory => {
                    self.pending_mut(group).memory = Some(l.value())
                }
                Value::Bool(b) => self.pending_mut(group).frozen = Some(*b),
                _ => {}
            }
        }
        self.set_status(StatusKind::Info, format!("{group}: writing {label}…"));
        vec![Effect::Apply {
            group: crate::cgroup::normalize_path(group),
            settings,
            label,
            undo,
        }]
    }

    fn quick_cpu(&mut self, up: bool) -> Vec<Effect> {
        let Some(g) = self.editable_group() else {
            return Vec::new();
        };
        let current = match self.pending.get(&g.path).and_then(|p| p.cpu) {
            Some(c) => c,
            None => g.cpu.limit_percent,
        };
        match quick::cpu_step(current, up, self.snapshot.cpus) {
            Ok(q) => {
                let old = current.map(CpuQuota::from_percent).unwrap_or(CpuQuota::Max);
                let undo = vec![Setting {
                    knob: Knob::Cpu,
                    value: Value::Cpu(old),
                }];
                let new = vec![Setting {
                    knob: Knob::Cpu,
                    value: Value::Cpu(q),
                }];
                self.apply(&g.path, new, Some(undo))
            }
            Err(why) => {
                self.set_status(StatusKind::Info, format!("{}: {why}", g.path));
                Vec::new()
            }
        }
    }

    fn quick_memory(&mut self, up: bool) -> Vec<Effect> {
        let Some(g) = self.editable_group() else {
            return Vec::new();
        };
        let current = match self.pending.get(&g.path).and_then(|p| p.memory) {
            Some(c) => c,
            None => g.memory.max_bytes,
        };
        let step = quick::memory_step(
            current,
            g.memory.current_bytes,
            self.snapshot.memory_total_bytes,
            up,
        );
        match step {
            Ok(l) => {
                let old = current.map(Limit::Value).unwrap_or(Limit::Max);
                let undo = vec![Setting {
                    knob: Knob::Memory,
                    value: Value::Bytes(old),
                }];
                let new = vec![Setting {
                    knob: Knob::Memory,
                    value: Value::Bytes(l),
                }];
                self.apply(&g.path, new, Some(undo))
            }
            Err(why) => {
                self.set_status(StatusKind::Info, format!("{}: {why}", g.path));
                Vec::new()
            }
        }
    }

    fn quick_freeze(&mut self) -> Vec<Effect> {
        let Some(g) = self.editable_group() else {
            return Vec::new();
        };
        let current = self
            .pending
            .get(&g.path)
            .and_then(|p| p.frozen)
            .or(g.frozen);
        match current {
            Some(f) => {
                let undo = vec![Setting {
                    knob: Knob::Freeze,
                    value: Value::Bool(f),
                }];
                let new = vec![Setting {
                    knob: Knob::Freeze,
                    value: Value::Bool(!f),
                }];
                self.apply(&g.path, new, Some(undo))
            }
            None => {
                self.set_status(
                    StatusKind::Error,
                    format!("{}: no freezer for this group", g.path),
                );
                Vec::new()
            }
        }
    }

    fn undo(&mut self) -> Vec<Effect> {
        if !self.check_writable() {
            return Vec::new();
        }
        match self.undo.pop() {
            Some(e) => {
                let mut fx = self.apply(&e.group, e.settings, None);
                if let Some(Effect::Apply { label, .. }) = fx.first_mut() {
                    *label = format!("undo → {label}");
                }
                fx
            }
            None => {
                self.set_status(StatusKind::Info, "nothing to undo");
                Vec::new()
            }
        }
    }
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 0.5,
        (None, None) => true,
        _ => false,
    }
}

fn form_input(fields: &mut form::Fields, action: Action) {
    match action {
        Action::Input(c) => fields.input(c),
        Action::Backspace => fields.backspace(),
        Action::ClearInput => fields.clear(),
        Action::NextField => fields.next(),
        Action::PrevField => fields.prev(),
        _ => {}
    }
}
