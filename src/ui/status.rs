//! The bottom line: the outcome of the last action (a written value, or the
//! kernel's refusal in words), and key hints for the active mode.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::theme;
use crate::app::keymap::KeyMode;
use crate::app::{App, Overlay, StatusKind};

pub struct StatusLine<'a>(pub &'a App);

fn hints(app: &App) -> &'static str {
    match app.key_mode() {
        KeyMode::Normal if app.read_only.is_some() => {
            " ?:help  Tab:panel  /:filter  s:sort  q:quit "
        }
        KeyMode::Normal => " ?:help  +/-:cpu  m/M:mem  f:freeze  u:undo  e:edit  n:new  q:quit ",
        KeyMode::Help if matches!(app.overlay, Overlay::Output(_)) => " Esc/q: close ",
        KeyMode::Help => " ↑↓ PgUp PgDn: scroll  Esc/?: close help ",
        KeyMode::Text => " Enter:ok  Esc:cancel  Tab/↑↓:field  Ctrl-U:clear ",
        KeyMode::Signal => " ←→:signal  Enter/y:send  Esc:cancel ",
        KeyMode::ConfirmQuit => " y:stop them & quit  Esc:stay ",
        KeyMode::Confirm => " y:write  Esc:cancel ",
    }
}

fn message(app: &App) -> Option<(String, ratatui::style::Style)> {
    if let Some(s) = &app.status {
        let (prefix, style) = match s.kind {
            StatusKind::Ok => ("✓ ", theme::ok()),
            StatusKind::Error => ("✗ ", theme::error()),
            StatusKind::Info => ("", ratatui::style::Style::new()),
        };
        return Some((format!(" {prefix}{}", s.text), style));
    }
    app.read_only
        .as_ref()
        .map(|why| (format!(" read-only: {why}"), theme::dim()))
}

impl StatusLine<'_> {
    /// Rows needed at `width`: a long refusal wraps onto up to three lines.
    pub fn height(app: &App, width: u16, screen_height: u16) -> u16 {
        let most = if screen_height >= 30 { 4 } else { 3 };
        match message(app) {
            Some((m, _)) if width > 0 => {
                let n = m.chars().count() as u16;
                n.div_ceil(width).clamp(1, most)
            }
            _ => 1,
        }
    }
}

impl Widget for StatusLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let hint = hints(app);
        let hint_w = hint.chars().count() as u16;
        match message(app) {
            None => {
                Line::from(Span::styled(hint, theme::dim())).render(area, buf);
            }
            Some((m, style)) => {
                let mw = m.chars().count() as u16;
                if area.height == 1 && mw + hint_w <= area.width {
                    Line::from(Span::styled(m, style)).render(area, buf);
                    Line::from(Span::styled(hint, theme::dim()))
                        .right_aligned()
                        .render(area, buf);
                } else {
                    Paragraph::new(Span::styled(m, style))
                        .wrap(Wrap { trim: false })
                        .render(area, buf);
                }
            }
        }
    }
}
