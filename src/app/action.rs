//! What can happen to the dashboard (`Action`) and what it asks the outside
//! world to do (`Effect`). The app turns actions into state changes and
//! effects; the event loop executes effects and feeds their outcome back as
//! actions. Nothing here does I/O.

use std::sync::Arc;

use crate::cgroup::knob::Knob;
use crate::cgroup::Setting;
use crate::model::Snapshot;

/// The two panels that take the keyboard focus (Tab switches).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Panel {
    #[default]
    Groups,
    Processes,
}

/// Signals the dashboard can send to a process (each one confirmed first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalKind {
    Term,
    Kill,
    Stop,
    Cont,
}

impl SignalKind {
    pub const ALL: [SignalKind; 4] = [
        SignalKind::Term,
        SignalKind::Kill,
        SignalKind::Stop,
        SignalKind::Cont,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SignalKind::Term => "TERM",
            SignalKind::Kill => "KILL",
            SignalKind::Stop => "STOP",
            SignalKind::Cont => "CONT",
        }
    }
}

/// A workload to start, as typed in the launch dialog (the loop turns it into
/// the launcher's `LaunchSpec`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchRequest {
    pub name: Option<String>,
    pub command: Vec<String>,
    pub settings: Vec<Setting>,
    pub share: Vec<String>,
    pub hostname: Option<String>,
    /// Keep the group after the workload exits (`--keep`).
    pub keep: bool,
    /// A container image to run (`--image`): archive or OCI layout path.
    pub image: Option<String>,
    /// `--net`: `veth` or `host` (`None`: lo only).
    pub net: Option<String>,
}

/// A workload the dashboard started (or was handed by `demo` / `run --tui`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedWorkload {
    /// Group path in display form (`cgdash/demo`).
    pub group: String,
    pub pid: i32,
    pub keep: bool,
    /// Ask before quitting while it runs (false for the demo's own workload).
    pub ask_on_quit: bool,
    pub running: bool,
}

/// Which launch-form field a failed launch is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchField {
    Command,
    Name,
    /// The field of a knob the launch dialog has (`KnobDef::launch`).
    Knob(Knob),
    Share,
    Hostname,
    Image,
    /// `net` (issue 19).
    Net,
}

/// Why a launch failed, and the field to mark (None: not one field's fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchFailure {
    pub message: String,
    pub field: Option<LaunchField>,
}

impl From<String> for LaunchFailure {
    fn from(message: String) -> LaunchFailure {
        LaunchFailure {
            message,
            field: None,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Action {
    /// A new sample from the sampler.
    Snapshot(Arc<Snapshot>),
    Quit,
    /// SIGTERM, SIGHUP, SIGINT from outside, a lost terminal: quit now,
    /// cleaning up what cgdash made (Ctrl-C on the keyboard is `Quit`).
    ForceQuit,
    FocusNext,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    /// Right / `l`: expand the selected group.
    Expand,
    /// Left / `h`: collapse the selected group (or go to its parent).
    Collapse,
    /// Enter: expand/collapse a group, zoom the process list.
    Enter,
    /// `z`: the focused panel takes the whole body (again: back).
    Zoom,
    SortNext,
    SortReverse,
    StartFilter,
    ToggleTree,
    ToggleScope,
    CpuUp,
    CpuDown,
    MemoryDown,
    MemoryUp,
    ToggleFreeze,
    Undo,
    OpenEditor,
    OpenLaunch,
    OpenSignal(SignalKind),
    /// `o`: the last lines a workload started with `n` printed.
    ShowOutput,
    /// `p`: the throttling microscope on the selected group (again: off).
    ToggleMicroscope,
    /// `i`: the I/O microscope on the selected group (again: off).
    ToggleIoMicroscope,
    /// `w` / `W`: halve / double the group's write limit on each disk it has one on.
    IoWriteDown,
    IoWriteUp,
    /// `b`: allow a CPU burst as large as the quota (again: none).
    ToggleBurst,
    /// `[` / `]`: halve / double the CPU period (the quota keeps its %).
    PeriodShorter,
    PeriodLonger,
    /// The microscope's latest periods (from its sampler thread).
    Periods(Arc<crate::sampler::periods::Report>),
    ToggleHelp,
    /// Text input in the filter and the forms.
    Input(char),
    Backspace,
    ClearInput,
    NextField,
    PrevField,
    Submit,
    Cancel,
    /// Mouse: a click on row `n` (0 = first visible) of a panel.
    Click {
        panel: Panel,
        row: usize,
    },
    /// Mouse wheel over a panel.
    Scroll {
        panel: Panel,
        delta: i32,
    },
    /// Outcome of `Effect::Apply`: the written settings, or the kernel's refusal in words.
    Applied {
        group: String,
        label: String,
        undo: Option<Vec<Setting>>,
        result: Result<String, String>,
    },
    /// Follows a refused `Applied`: the knob the kernel refused (the editor
    /// marks its field).
    WriteRefused {
        group: String,
        knob: Knob,
    },
    Signalled {
        pid: i32,
        signal: SignalKind,
        result: Result<(), String>,
    },
    Launched(Result<OwnedWorkload, LaunchFailure>),
    /// The last lines of a launched workload's output (answer to `Effect::ShowOutput`).
    Output {
        group: String,
        lines: Vec<String>,
    },
    /// A workload cgdash started has exited (`status` in words).
    WorkloadExited {
        group: String,
        status: String,
    },
    /// Something went wrong outside (shown in the status line).
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Write limits (off the UI path) and answer with `Action::Applied`.
    Apply {
        /// Internal group form (`cgdash/demo`, `""` = root).
        group: String,
        settings: Vec<Setting>,
        /// What the status line calls this change (`cpu=50%`, `undo cpu=20%`).
        label: String,
        /// Settings that restore the previous values (None: not undoable).
        undo: Option<Vec<Setting>>,
    },
    /// Set network knobs (traffic control on a `--net veth` workload's
    /// veth, not cgroup files) off the UI path; answered with
    /// `Action::Applied`; undone like the cgroup knobs (`u`).
    SetNet {
        /// Internal group form (`cgdash/demo`).
        group: String,
        net: Vec<(crate::net::NetKnob, Option<u64>)>,
        label: String,
    },
    Signal {
        pid: i32,
        signal: SignalKind,
    },
    Launch(LaunchRequest),
    /// Fetch the kept output of the workload in this group (display form)
    /// and answer with `Action::Output`.
    ShowOutput {
        group: String,
    },
    /// Sample again now (e.g. right after a write) instead of waiting a tick.
    Resample,
    /// Leave the dashboard (the loop stops what it launched; groups are
    /// removed unless launched with `keep`).
    Quit,
}
