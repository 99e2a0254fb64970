//! The dashboard's state and its one entry point, [`App::update`]: an
//! [`Action`] in, state changed, [`Effect`]s out. Pure: no files, no clock,
//! no terminal — the event loop (`event_loop`, fed by `cmd/dashboard.rs`) does the I/O, and the
//! `ui` module draws this state.

pub mod action;
pub mod commands;
pub mod form;
pub mod groups;
pub mod keymap;
mod limits;
pub mod micro;
mod overlay;
pub mod procs;
mod quick;
mod view;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crossterm::event::KeyEvent;

pub use crate::sampler::History;
pub use action::{
    Action, Effect, LaunchFailure, LaunchField, LaunchRequest, OwnedWorkload, Panel, SignalKind,
};
use form::{EditForm, LaunchForm};
use keymap::KeyMode;
pub use view::{GroupsView, ProcsView};

use crate::model::{GroupSnapshot, ProcessSnapshot, Snapshot};
use limits::{close, Pending, UndoEntry};
pub use limits::{NetChange, WriteConfirm};

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
    /// The first write to a group cgdash did not launch waits for a `y`.
    ConfirmWrite(Box<WriteConfirm>),
    /// The kept output of a launched workload (`o`).
    Output(Box<OutputView>),
}

/// The last lines a workload launched with `n` printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputView {
    pub group: String,
    pub lines: Vec<String>,
}

/// A limit change, drawn on the charts at the instant it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    pub group: String,
    pub timestamp_ms: u64,
    pub label: String,
}

/// A whole reading of a group, by display path (`None`: gone or unreadable).
pub type ReadGroup = dyn Fn(&str) -> Option<crate::cgroup::GroupStats>;

/// [`ReadGroup`] for [`App::group_details`].
pub struct GroupDetails(pub Box<ReadGroup>);

impl std::fmt::Debug for GroupDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupDetails")
    }
}

/// [`App::where_we_run`]: the groups cgdash, its shell and its terminal are in.
pub struct WhereWeRun(pub Box<dyn Fn() -> Vec<String>>);

impl std::fmt::Debug for WhereWeRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WhereWeRun")
    }
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
    /// First line of the help shown (↑↓ in the help).
    pub help_scroll: usize,
    pub groups: GroupsView,
    pub procs: ProcsView,
    pub status: Option<Status>,
    pub markers: Vec<Marker>,
    pub owned: Vec<OwnedWorkload>,
    /// The groups (display form) whose freezing would freeze cgdash itself,
    /// its terminal or its shell: where cgdash and its ancestor processes
    /// are (in the freezer's hierarchy), and so every group above them.
    /// Asked at each freeze (the dashboard's walks cgdash's parent chain in
    /// `/proc`; it was run on every sample, ~0.1 ms a tick for a list only a
    /// freeze reads). None: nothing is protected (tests).
    pub where_we_run: Option<WhereWeRun>,
    /// The user cgdash runs as (None: unknown). A non-root user may signal
    /// their own processes even in read-only mode.
    pub euid: Option<u32>,
    undo: Vec<UndoEntry>,
    /// The last [`UndoEntry::batch`] given out.
    undo_batch: u64,
    pending: HashMap<String, Pending>,
    /// Groups cgdash did not launch that the user agreed to change.
    confirmed: HashSet<String>,
    /// Where the engines keep their metadata (the dashboard's `--docker-root`
    /// & co.), for the owner notes' details (docker's CPU flag style). None:
    /// the environment's `CGDASH_*_ROOT`, then the defaults.
    pub names_roots: Option<crate::names::Roots>,
    /// Reads a group whole for the limit editor, whose current values
    /// (weight, swap, low) the dashboard's sampler leaves unread
    /// (`cgroup::reader::unshown`). None: the snapshots have them (tests).
    pub group_details: Option<GroupDetails>,
    /// Owner notes of writes in flight to groups an engine or systemd owns
    /// (group, label, note), shown with the write's outcome (issue 13).
    owner_notes: Vec<(String, String, String)>,
    /// The launch form last submitted, reopened as typed if the launch fails.
    launch_stash: Option<Box<LaunchForm>>,
    /// The editor last submitted (with the label of its write), reopened as
    /// typed if the kernel refuses the write.
    edit_stash: Option<(String, Box<EditForm>)>,
    /// The throttling microscope, while open (`p`).
    pub microscope: Option<micro::Microscope>,
    /// The I/O microscope is open (`i`; in the CPU microscope's place).
    pub io_microscope: bool,
    /// A write limit changed with `w`/`W` and not yet in a snapshot.
    io_pending: Option<micro::IoPending>,
    /// Command lines of the rows shown, read when drawn (lazy command
    /// lines): a cell, since drawing takes the app by shared reference.
    pub commands: std::cell::RefCell<commands::CommandLines>,
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
            help_scroll: 0,
            groups: GroupsView::default(),
            procs: ProcsView::default(),
            status: None,
            markers: Vec::new(),
            owned: Vec::new(),
            where_we_run: None,
            euid: None,
            undo: Vec::new(),
            undo_batch: 0,
            pending: HashMap::new(),
            confirmed: HashSet::new(),
            owner_notes: Vec::new(),
            names_roots: None,
            group_details: None,
            launch_stash: None,
            edit_stash: None,
            microscope: None,
            io_microscope: false,
            io_pending: None,
            commands: Default::default(),
        }
    }

    /// `p`'s command line, read now if the sampler left it pending.
    pub fn command(&self, p: &ProcessSnapshot) -> Arc<str> {
        self.commands.borrow_mut().of(p)
    }

    /// Whether the process list needs every process's command line (a
    /// filter matches on it, or it is sorted by it): the dashboard's
    /// sampler then reads them all rather than leaving them pending.
    pub fn needs_all_commands(&self) -> bool {
        !self.procs.filter.trim().is_empty() || self.procs.sort == procs::ProcSort::Command
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
            Overlay::Help | Overlay::Output(_) => KeyMode::Help,
            Overlay::Filter | Overlay::Edit(_) | Overlay::Launch(_) => KeyMode::Text,
            Overlay::Signal(_) => KeyMode::Signal,
            Overlay::ConfirmQuit => KeyMode::ConfirmQuit,
            Overlay::ConfirmWrite(_) => KeyMode::Confirm,
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
                // Ctrl-C (which maps to Quit in every mode) a second time
                // in the confirmation: the user means it.
                if self.overlay == Overlay::ConfirmQuit {
                    return vec![Effect::Quit];
                }
                if self.running_to_ask() > 0 {
                    self.overlay = Overlay::ConfirmQuit;
                } else {
                    return vec![Effect::Quit];
                }
            }
            Action::ForceQuit => return vec![Effect::Quit],
            Action::ToggleHelp => {
                self.help_scroll = 0;
                self.overlay = match self.overlay {
                    Overlay::Help | Overlay::Output(_) => Overlay::None,
                    _ => Overlay::Help,
                }
            }
            Action::Applied {
                group,
                label,
                undo,
                result,
            } => {
                self.on_applied(group, label, undo, result);
                // Show what the write did (or that it did nothing) now,
                // not a refresh later.
                return vec![Effect::Resample];
            }
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
                self.launch_stash = None;
                self.set_status(
                    StatusKind::Ok,
                    format!("launched pid {} in {}", w.pid, w.group),
                );
                self.focus = Panel::Groups;
                self.groups.want(&w.group);
                self.owned.push(w);
                return vec![Effect::Resample];
            }
            Action::Launched(Err(e)) => self.on_launch_failed(e),
            Action::Output { group, lines } => {
                if self.overlay == Overlay::None {
                    self.overlay = Overlay::Output(Box::new(OutputView { group, lines }));
                }
            }
            Action::WorkloadExited { group, status } => {
                for w in self.owned.iter_mut().filter(|w| w.group == group) {
                    w.running = false;
                }
                self.set_status(StatusKind::Info, format!("{group}: workload {status}"));
                // The user asked to quit and nothing is left to ask about.
                if self.overlay == Overlay::ConfirmQuit && self.running_to_ask() == 0 {
                    return vec![Effect::Quit];
                }
            }
            Action::Failed(e) => self.set_status(StatusKind::Error, e),
            Action::Periods(r) => self.on_periods(r),
            Action::WriteRefused { group, knob } => self.on_write_refused(&group, knob),
            other => {
                return match std::mem::take(&mut self.overlay) {
                    Overlay::None => self.normal(other),
                    overlay => self.in_overlay(overlay, other),
                }
            }
        }
        Vec::new()
    }

    /// A failed launch: the form comes back as typed, the failing field marked.
    fn on_launch_failed(&mut self, e: LaunchFailure) {
        self.set_status(StatusKind::Error, format!("launch failed: {}", e.message));
        if let Some(mut form) = self.launch_stash.take() {
            if let Some(field) = e.field {
                form.mark(field, &e.message);
            }
            if self.overlay == Overlay::None {
                self.overlay = Overlay::Launch(form);
            }
        }
    }

    fn on_snapshot(&mut self, s: Arc<Snapshot>) {
        self.history.record(&s);
        self.pending.retain(|path, p| {
            let Some(g) = s.group(path) else { return false };
            let seen = p.cpu.is_none_or(|c| close(c, g.cpu.limit_percent))
                && p.memory.is_none_or(|m| m == g.memory.max_bytes)
                && p.frozen.is_none_or(|f| Some(f) == g.frozen);
            if p.in_flight > 0 {
                return true;
            }
            p.ttl = p.ttl.saturating_sub(1);
            !seen && p.ttl > 0
        });
        self.snapshot = s;
        self.groups.rebuild(&self.snapshot);
        self.procs.rebuild_for_sample(&self.snapshot, &self.groups);
    }

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
            Action::ShowOutput => return self.show_output(),
            Action::ToggleMicroscope => self.toggle_microscope(),
            Action::ToggleIoMicroscope => self.toggle_io_microscope(),
            Action::IoWriteDown | Action::IoWriteUp => {
                return self.quick_io_write(matches!(action, Action::IoWriteUp))
            }
            Action::ToggleBurst => return self.quick_burst(),
            Action::PeriodShorter | Action::PeriodLonger => {
                return self.quick_period(matches!(action, Action::PeriodLonger))
            }
            Action::OpenEditor => {
                if let Some(mut g) = self.editable_group() {
                    // The current values, the unshown ones too: the form
                    // shows them and an undo writes them back.
                    if let Some(s) = self.group_details.as_ref().and_then(|d| (d.0)(&g.path)) {
                        crate::sampler::fill_unshown(&mut g, &s);
                    }
                    self.overlay = Overlay::Edit(Box::new(EditForm::new(&g)));
                }
            }
            Action::OpenLaunch if self.check_writable() => {
                self.overlay = Overlay::Launch(Box::default());
            }
            Action::OpenSignal(signal) => match self.selected_process() {
                // Init: SIGKILL/SIGSTOP to a namespace's PID 1 end or stop
                // everything in it (a container, or the host when cgdash
                // runs in one), and a mistyped key followed by Enter is all
                // the dialog asks for. Not from here: a shell says it on purpose.
                Some(p) if p.pid == 1 => {
                    let text = format!(
                        "PID 1 ({}) is init: cgdash does not signal it (use kill from a shell if you mean it)",
                        crate::output::escape_controls(&self.command(p))
                    );
                    self.set_status(StatusKind::Error, text);
                }
                Some(p) if !self.may_signal(p.uid) => {
                    let text = format!(
                        "PID {} belongs to uid {}: only root may signal other users' processes",
                        p.pid, p.uid
                    );
                    self.set_status(StatusKind::Error, text);
                }
                Some(p) => {
                    self.overlay = Overlay::Signal(SignalDialog {
                        pid: p.pid,
                        command: self.command(p).to_string(),
                        signal,
                    })
                }
                None => self.set_status(StatusKind::Info, "no process selected"),
            },
            _ => {}
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

    /// Whether a process of `uid` can be signalled by us, as far as we can
    /// tell: root signals anyone, anyone their own processes. When unsure,
    /// the dialog opens and the kernel answers.
    fn may_signal(&self, uid: u32) -> bool {
        match self.euid {
            Some(0) | None => true,
            Some(me) => me == uid,
        }
    }

    /// `o`: the output of the selected group's workload, if cgdash launched it.
    fn show_output(&mut self) -> Vec<Effect> {
        let Some(g) = self.selected_group().map(|g| g.path.clone()) else {
            self.set_status(StatusKind::Info, "no group selected");
            return Vec::new();
        };
        if self.is_owned(&g) {
            vec![Effect::ShowOutput { group: g }]
        } else {
            self.set_status(
                StatusKind::Info,
                format!("{g}: output is kept only for workloads launched with n"),
            );
            Vec::new()
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

    /// [`App::editable_group`] with its period and burst read afresh
    /// where the dashboard's reader left them unread (no quota:
    /// `cgroup::reader::quota_only`), for what changes or restores them.
    fn editable_group_cfs(&mut self) -> Option<GroupSnapshot> {
        let mut g = self.editable_group()?;
        if g.cpu_unread_without_quota {
            if let Some(s) = self.group_details.as_ref().and_then(|d| (d.0)(&g.path)) {
                crate::sampler::fill_unshown(&mut g, &s);
            }
        }
        Some(g)
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
}
