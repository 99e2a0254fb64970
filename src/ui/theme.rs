//! Colours and styles in one place.

use ratatui::style::{Color, Modifier, Style};

pub const CPU: Color = Color::Green;
pub const LIMIT: Color = Color::Red;
pub const THROTTLED: Color = Color::Yellow;
pub const PERIODS: Color = Color::Magenta;
pub const MEMORY: Color = Color::Cyan;
pub const HIGH: Color = Color::Yellow;
pub const MARKER: Color = Color::White;
pub const OWNED: Color = Color::LightMagenta;
/// The kind badge of a named group (`dkr web`).
pub const BADGE: Color = Color::LightCyan;

pub fn header() -> Style {
    Style::new().fg(Color::Black).bg(Color::Cyan)
}

pub fn title_bar() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Yellow)
        .add_modifier(Modifier::BOLD)
}

pub fn read_only() -> Style {
    Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD)
}

pub fn column_header() -> Style {
    Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
}

pub fn sorted_column() -> Style {
    column_header().fg(Color::Yellow)
}

pub fn selected(focused: bool) -> Style {
    if focused {
        Style::new().fg(Color::Black).bg(Color::LightBlue)
    } else {
        Style::new().add_modifier(Modifier::REVERSED)
    }
}

pub fn border(focused: bool) -> Style {
    if focused {
        Style::new().fg(Color::LightBlue)
    } else {
        Style::new().fg(Color::DarkGray)
    }
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn ok() -> Style {
    Style::new().fg(Color::Green)
}

pub fn error() -> Style {
    Style::new()
        .fg(Color::LightRed)
        .add_modifier(Modifier::BOLD)
}

pub fn key() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}
