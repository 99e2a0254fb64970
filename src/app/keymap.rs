//! Keys → actions, one table per mode. The app never looks at raw keys
//! anywhere else, and the help overlay (`?`, `ui/help.rs`) is generated from
//! these same tables: a binding is a key list, an action and its help text,
//! so a key cannot be bound without showing up in the help.
//!
//! To add a key: add a [`Binding`] to the table of its mode. To add a mode:
//! a [`KeyMode`] variant, its table in [`table`], its heading in
//! [`KeyMode::title`] and its place in [`KeyMode::ALL`].

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

impl KeyMode {
    /// Every mode, in the order the help lists them.
    pub const ALL: [KeyMode; 6] = [
        KeyMode::Normal,
        KeyMode::Help,
        KeyMode::Text,
        KeyMode::Signal,
        KeyMode::ConfirmQuit,
        KeyMode::Confirm,
    ];

    /// The heading of the mode's section in the help.
    pub fn title(self) -> &'static str {
        match self {
            KeyMode::Normal => "Dashboard",
            KeyMode::Help => "In this help",
            KeyMode::Text => "Filter (/) and forms (e, n)",
            KeyMode::Signal => "Signal dialog (x, K)",
            KeyMode::ConfirmQuit => "Quit confirmation",
            KeyMode::Confirm => "First change to a group cgdash did not launch",
        }
    }
}

/// One key of a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// The key without Ctrl (Shift is part of the character: `G`, `<`).
    Plain(KeyCode),
    /// Ctrl + a letter.
    Ctrl(char),
    /// Any printable character; the binding's `Action::Input` gets it.
    AnyChar,
}

impl Key {
    fn matches(self, code: KeyCode, ctrl: bool) -> bool {
        match self {
            Key::Plain(c) => !ctrl && c == code,
            Key::Ctrl(c) => ctrl && code == KeyCode::Char(c),
            Key::AnyChar => !ctrl && matches!(code, KeyCode::Char(_)),
        }
    }

    /// How the help names the key: `k`, `↑`, `PgUp`, `Ctrl-b`, `F1`.
    pub fn label(self) -> String {
        use KeyCode::*;
        match self {
            Key::Ctrl(c) => format!("Ctrl-{c}"),
            Key::AnyChar => "text".into(),
            Key::Plain(code) => match code {
                Char(' ') => "Space".into(),
                Char(c) => c.to_string(),
                Up => "↑".into(),
                Down => "↓".into(),
                Left => "←".into(),
                Right => "→".into(),
                PageUp => "PgUp".into(),
                PageDown => "PgDn".into(),
                BackTab => "Shift-Tab".into(),
                F(n) => format!("F{n}"),
                other => other.to_string(),
            },
        }
    }
}

/// A key binding: the keys, what they do, and the help line that says so.
#[derive(Debug)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn ch(c: char) -> Key {
    Key::Plain(KeyCode::Char(c))
}

const fn key(code: KeyCode) -> Key {
    Key::Plain(code)
}

const fn bind(keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding { keys, action, help }
}

use KeyCode::{
    BackTab, Backspace, Down, End, Enter, Esc, Home, Left, PageDown, PageUp, Right, Tab, Up, F,
};

/// Bindings of every mode, looked up before the mode's own table.
#[rustfmt::skip]
pub const ANYWHERE: &[Binding] = &[
    bind(&[Key::Ctrl('c')], Action::Quit, "quit, as q (asks while launched workloads run)"),
];

// One binding per line (kept so by hand: `cargo fmt` leaves these tables be).
#[rustfmt::skip]
pub const NORMAL: &[Binding] = &[
    bind(&[key(Up), ch('k')], Action::Up, "move the selection up"),
    bind(&[key(Down), ch('j')], Action::Down, "move the selection down"),
    bind(&[key(PageUp), Key::Ctrl('b')], Action::PageUp, "page up"),
    bind(&[key(PageDown), Key::Ctrl('f')], Action::PageDown, "page down"),
    bind(&[key(Home), ch('g')], Action::Home, "first row"),
    bind(&[key(End), ch('G')], Action::End, "last row"),
    bind(&[key(Tab), key(BackTab)], Action::FocusNext, "switch panel (groups ⇄ processes)"),
    bind(&[key(Left), ch('h')], Action::Collapse, "collapse a group (or go to its parent)"),
    bind(&[key(Right), ch('l')], Action::Expand, "expand a group"),
    bind(&[key(Enter)], Action::Enter, "expand/collapse group; zoom process list"),
    bind(&[ch('z')], Action::Zoom, "zoom the focused panel"),
    bind(&[ch('s'), ch('>')], Action::SortNext, "sort by the next column"),
    bind(&[ch('S'), ch('<')], Action::SortReverse, "reverse the sort"),
    bind(&[ch('/')], Action::StartFilter, "filter the focused panel"),
    bind(&[ch('t')], Action::ToggleTree, "process tree view on/off"),
    bind(&[ch('a')], Action::ToggleScope, "processes: selected group ⇄ all"),
    bind(&[ch('+'), ch('=')], Action::CpuUp, "CPU quota +10 points"),
    bind(&[ch('-'), ch('_')], Action::CpuDown, "CPU quota -10 points (from unlimited: 90%)"),
    bind(&[ch('m')], Action::MemoryDown, "memory limit: halve"),
    bind(&[ch('M')], Action::MemoryUp, "memory limit: double"),
    bind(&[ch('f')], Action::ToggleFreeze, "freeze / thaw the group"),
    bind(&[ch('u')], Action::Undo, "undo the last change"),
    bind(&[ch('e')], Action::OpenEditor, "edit all limits of the group"),
    bind(&[ch('n')], Action::OpenLaunch, "launch a command in a new group"),
    bind(&[ch('o')], Action::ShowOutput, "output of a workload launched with n"),
    bind(&[ch('p')], Action::ToggleMicroscope, "CPU microscope: every CFS period of the group"),
    bind(&[ch('i')], Action::ToggleIoMicroscope, "I/O microscope: I/O vs its limits, dirty memory"),
    bind(&[ch('w')], Action::IoWriteDown, "I/O write limit: halve (each disk that has one)"),
    bind(&[ch('W')], Action::IoWriteUp, "I/O write limit: double (each disk that has one)"),
    bind(&[ch('b')], Action::ToggleBurst, "CPU burst: as large as the quota / none"),
    bind(&[ch('[')], Action::PeriodShorter, "CPU period: halve (the quota keeps its %)"),
    bind(&[ch(']')], Action::PeriodLonger, "CPU period: double (the quota keeps its %)"),
    bind(&[ch('x'), key(F(9))], Action::OpenSignal(SignalKind::Term), "signal the selected process (TERM…)"),
    bind(&[ch('K')], Action::OpenSignal(SignalKind::Kill), "kill the selected process (KILL…)"),
    bind(&[ch('?'), key(F(1))], Action::ToggleHelp, "this help"),
    bind(&[key(Esc)], Action::Cancel, "clear the filter, or leave the zoom"),
    bind(&[ch('q')], Action::Quit, "quit (removes what cgdash launched; asks first)"),
];

#[rustfmt::skip]
pub const HELP: &[Binding] = &[
    bind(&[key(Up), ch('k')], Action::Up, "scroll up"),
    bind(&[key(Down), ch('j')], Action::Down, "scroll down"),
    bind(&[key(PageUp), Key::Ctrl('b')], Action::PageUp, "page up"),
    bind(&[key(PageDown), Key::Ctrl('f')], Action::PageDown, "page down"),
    bind(&[key(Home), ch('g')], Action::Home, "top"),
    bind(&[key(End), ch('G')], Action::End, "bottom"),
    bind(&[ch('?'), key(Esc), ch('q'), key(Enter), key(F(1))], Action::ToggleHelp, "close the help"),
];

#[rustfmt::skip]
pub const TEXT: &[Binding] = &[
    bind(&[Key::AnyChar], Action::Input(' '), "typed into the filter or field"),
    bind(&[key(Backspace)], Action::Backspace, "delete the last character"),
    bind(&[Key::Ctrl('u')], Action::ClearInput, "clear the filter or field"),
    bind(&[key(Tab), key(Down)], Action::NextField, "next field"),
    bind(&[key(BackTab), key(Up)], Action::PrevField, "previous field"),
    bind(&[key(Enter)], Action::Submit, "apply (form: write / launch)"),
    bind(&[key(Esc)], Action::Cancel, "cancel (filter: clear)"),
];

#[rustfmt::skip]
pub const SIGNAL: &[Binding] = &[
    bind(&[key(Left), ch('h'), key(BackTab), key(Up)], Action::PrevField, "previous signal"),
    bind(&[key(Right), ch('l'), key(Tab), key(Down)], Action::NextField, "next signal"),
    bind(&[ch('t')], Action::Input('t'), "choose TERM"),
    bind(&[ch('k')], Action::Input('k'), "choose KILL"),
    bind(&[ch('s')], Action::Input('s'), "choose STOP"),
    bind(&[ch('c')], Action::Input('c'), "choose CONT"),
    bind(&[key(Enter), ch('y')], Action::Submit, "send it"),
    bind(&[key(Esc), ch('n'), ch('q')], Action::Cancel, "cancel"),
];

#[rustfmt::skip]
pub const CONFIRM_QUIT: &[Binding] = &[
    bind(&[key(Enter), ch('y'), ch('q')], Action::Submit, "stop the launched workloads and quit"),
    bind(&[key(Esc), ch('n')], Action::Cancel, "stay"),
];

#[rustfmt::skip]
pub const CONFIRM: &[Binding] = &[
    bind(&[ch('y')], Action::Submit, "write it (this group is not asked about again)"),
    bind(&[key(Esc), ch('n'), ch('q')], Action::Cancel, "write nothing"),
];

/// The table of a mode (without [`ANYWHERE`]).
pub fn table(mode: KeyMode) -> &'static [Binding] {
    match mode {
        KeyMode::Normal => NORMAL,
        KeyMode::Help => HELP,
        KeyMode::Text => TEXT,
        KeyMode::Signal => SIGNAL,
        KeyMode::ConfirmQuit => CONFIRM_QUIT,
        KeyMode::Confirm => CONFIRM,
    }
}

/// Looks a key up: [`ANYWHERE`] first, then the table of `mode`.
pub fn lookup(mode: KeyMode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    ANYWHERE.iter().chain(table(mode)).find_map(|b| {
        let k = b.keys.iter().find(|k| k.matches(key.code, ctrl))?;
        Some(match (k, &b.action, key.code) {
            (Key::AnyChar, Action::Input(_), KeyCode::Char(c)) => Action::Input(c),
            _ => b.action.clone(),
        })
    })
}

/// The help's sections, in order: a heading and its bindings.
pub fn sections() -> impl Iterator<Item = (&'static str, &'static [Binding])> {
    std::iter::once(("Anywhere", ANYWHERE))
        .chain(KeyMode::ALL.into_iter().map(|m| (m.title(), table(m))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(mode: KeyMode, code: KeyCode, mods: KeyModifiers) -> Option<Action> {
        lookup(mode, KeyEvent::new(code, mods))
    }

    fn name(a: Option<Action>) -> String {
        format!("{a:?}")
    }

    #[test]
    fn hu_keys_map_as_before() {
        use KeyModifiers as M;
        let n = KeyMode::Normal;
        assert_eq!(name(press(n, KeyCode::Char('q'), M::NONE)), "Some(Quit)");
        assert_eq!(name(press(n, KeyCode::Char('G'), M::SHIFT)), "Some(End)");
        assert_eq!(
            name(press(n, KeyCode::Char('b'), M::CONTROL)),
            "Some(PageUp)"
        );
        assert_eq!(
            name(press(n, KeyCode::Char('f'), M::CONTROL)),
            "Some(PageDown)"
        );
        assert_eq!(
            name(press(n, KeyCode::Char('f'), M::NONE)),
            "Some(ToggleFreeze)"
        );
        assert_eq!(name(press(n, KeyCode::Char('q'), M::CONTROL)), "None");
        assert_eq!(
            name(press(n, KeyCode::F(9), M::NONE)),
            "Some(OpenSignal(Term))"
        );
        assert_eq!(
            name(press(n, KeyCode::Char('<'), M::NONE)),
            "Some(SortReverse)"
        );
        for m in KeyMode::ALL {
            assert_eq!(name(press(m, KeyCode::Char('c'), M::CONTROL)), "Some(Quit)");
        }
        let t = KeyMode::Text;
        assert_eq!(
            name(press(t, KeyCode::Char('q'), M::NONE)),
            "Some(Input('q'))"
        );
        assert_eq!(
            name(press(t, KeyCode::Char('u'), M::CONTROL)),
            "Some(ClearInput)"
        );
        assert_eq!(name(press(t, KeyCode::Char('x'), M::CONTROL)), "None");
        let s = KeyMode::Signal;
        assert_eq!(
            name(press(s, KeyCode::Char('k'), M::NONE)),
            "Some(Input('k'))"
        );
        assert_eq!(name(press(s, KeyCode::Char('x'), M::NONE)), "None");
        let h = KeyMode::Help;
        assert_eq!(name(press(h, KeyCode::Char('j'), M::NONE)), "Some(Down)");
        assert_eq!(name(press(h, KeyCode::Esc, M::NONE)), "Some(ToggleHelp)");
        let release = KeyEvent {
            kind: KeyEventKind::Release,
            ..KeyEvent::new(KeyCode::Char('q'), M::NONE)
        };
        assert!(lookup(n, release).is_none());
    }

    /// No key is bound twice in one mode (the second binding would be dead).
    #[test]
    fn hu_no_key_bound_twice() {
        for mode in KeyMode::ALL {
            let mut seen = Vec::new();
            for b in ANYWHERE.iter().chain(table(mode)) {
                for k in b.keys {
                    assert!(!seen.contains(k), "{mode:?}: {k:?} is bound twice");
                    seen.push(*k);
                }
            }
        }
    }
}
