//! Keys → actions, one small table per mode. The app never looks at raw keys
//! anywhere else, and the help overlay is generated from the same tables.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::{Action, SignalKind};

/// Which keymap is active (follows the overlay on screen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    Normal,
    Help,
    /// Typing a filter, a form field.
    Text,
    Signal,
    ConfirmQuit,
    /// A write to a group cgdash did not launch: only `y` confirms.
    Confirm,
}

/// Looks a key up in the keymap of `mode`.
pub fn lookup(mode: KeyMode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    // Ctrl-C is `q` everywhere: it asks while launched workloads run (a
    // second Ctrl-C in that question quits).
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return Some(Action::Quit);
    }
    match mode {
        KeyMode::Normal => normal(key.code, ctrl),
        KeyMode::Help => help(key.code),
        KeyMode::Text => text(key.code, ctrl),
        KeyMode::Signal => signal(key.code),
        KeyMode::ConfirmQuit => confirm_quit(key.code),
        KeyMode::Confirm => confirm(key.code),
    }
}

fn normal(code: KeyCode, ctrl: bool) -> Option<Action> {
    use KeyCode::*;
    Some(match (code, ctrl) {
        (Char('b'), true) | (PageUp, _) => Action::PageUp,
        (Char('f'), true) | (PageDown, _) => Action::PageDown,
        (_, true) => return None,
        (Char('q'), _) => Action::Quit,
        (Tab | BackTab, _) => Action::FocusNext,
        (Up | Char('k'), _) => Action::Up,
        (Down | Char('j'), _) => Action::Down,
        (Home | Char('g'), _) => Action::Home,
        (End | Char('G'), _) => Action::End,
        (Left | Char('h'), _) => Action::Collapse,
        (Right | Char('l'), _) => Action::Expand,
        (Enter, _) => Action::Enter,
        (Char('z'), _) => Action::Zoom,
        (Char('s') | Char('>'), _) => Action::SortNext,
        (Char('S') | Char('<'), _) => Action::SortReverse,
        (Char('/'), _) => Action::StartFilter,
        (Char('t'), _) => Action::ToggleTree,
        (Char('a'), _) => Action::ToggleScope,
        (Char('+') | Char('='), _) => Action::CpuUp,
        (Char('-') | Char('_'), _) => Action::CpuDown,
        (Char('m'), _) => Action::MemoryDown,
        (Char('M'), _) => Action::MemoryUp,
        (Char('f'), _) => Action::ToggleFreeze,
        (Char('u'), _) => Action::Undo,
        (Char('e'), _) => Action::OpenEditor,
        (Char('n'), _) => Action::OpenLaunch,
        (Char('o'), _) => Action::ShowOutput,
        (Char('x') | F(9), _) => Action::OpenSignal(SignalKind::Term),
        (Char('K'), _) => Action::OpenSignal(SignalKind::Kill),
        (Char('?') | F(1), _) => Action::ToggleHelp,
        (Esc, _) => Action::Cancel,
        _ => return None,
    })
}

fn help(code: KeyCode) -> Option<Action> {
    use KeyCode::*;
    match code {
        Char('?') | Esc | Char('q') | Enter | F(1) => Some(Action::ToggleHelp),
        _ => None,
    }
}

fn text(code: KeyCode, ctrl: bool) -> Option<Action> {
    use KeyCode::*;
    Some(match (code, ctrl) {
        (Char('u'), true) => Action::ClearInput,
        (_, true) => return None,
        (Enter, _) => Action::Submit,
        (Esc, _) => Action::Cancel,
        (Backspace, _) => Action::Backspace,
        (Tab | Down, _) => Action::NextField,
        (BackTab | Up, _) => Action::PrevField,
        (Char(c), _) => Action::Input(c),
        _ => return None,
    })
}

fn signal(code: KeyCode) -> Option<Action> {
    use KeyCode::*;
    Some(match code {
        Left | Char('h') | BackTab | Up => Action::PrevField,
        Right | Char('l') | Tab | Down => Action::NextField,
        Enter | Char('y') => Action::Submit,
        Esc | Char('n') | Char('q') => Action::Cancel,
        Char(c @ ('t' | 'k' | 's' | 'c')) => Action::Input(c),
        _ => return None,
    })
}

fn confirm_quit(code: KeyCode) -> Option<Action> {
    use KeyCode::*;
    Some(match code {
        Enter | Char('y') | Char('q') => Action::Submit,
        Esc | Char('n') => Action::Cancel,
        _ => return None,
    })
}

fn confirm(code: KeyCode) -> Option<Action> {
    use KeyCode::*;
    Some(match code {
        Char('y') => Action::Submit,
        Esc | Char('n') | Char('q') => Action::Cancel,
        _ => return None,
    })
}

/// Every key of the normal mode, for the help overlay (keys, what they do).
pub const HELP: &[(&str, &str)] = &[
    ("↑↓ / j k", "move the selection"),
    ("PgUp PgDn g G", "page, first, last"),
    ("Tab", "switch panel (groups ⇄ processes)"),
    ("← → / h l", "collapse / expand a group"),
    ("Enter", "expand/collapse group; zoom process list"),
    ("z", "zoom the focused panel"),
    ("s / S", "sort by next column / reverse"),
    ("/", "filter the focused panel (Esc clears)"),
    ("t", "process tree view on/off"),
    ("a", "processes: selected group ⇄ all"),
    ("+ / -", "CPU quota ±10 points (from unlimited - gives 90%)"),
    ("m / M", "memory limit: halve / double"),
    ("f", "freeze / thaw the group"),
    ("u", "undo the last change"),
    ("e", "edit all limits of the group"),
    ("n / o", "launch a command in a new group / show its output"),
    ("x / K", "signal the selected process (TERM… / KILL)"),
    ("mouse", "click selects, wheel scrolls"),
    ("?", "this help"),
    ("q / Ctrl-C", "quit (asks while launched workloads run)"),
];
