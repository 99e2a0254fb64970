//! `?`: every key, generated from the keymap's table.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::{centered, theme};
use crate::app::keymap::HELP;

pub struct HelpOverlay;

impl Widget for HelpOverlay {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let h = (HELP.len() as u16 + 3).min(area.height);
        let w = 72.min(area.width);
        let r = centered(area, w, h);
        Clear.render(r, buf);
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(theme::key())
            .title(" Help: cgdash keys ")
            .title_bottom(
                Line::from(" Esc or ? closes · in forms: Tab/↑↓ field, Enter ok, Esc cancel ")
                    .centered(),
            );
        let lines: Vec<Line> = HELP
            .iter()
            .map(|(k, d)| {
                Line::from(vec![
                    Span::styled(format!(" {k:<14}"), theme::key()),
                    Span::raw(*d),
                ])
            })
            .collect();
        Paragraph::new(lines).block(block).render(r, buf);
    }
}
