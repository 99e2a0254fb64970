//! The limit editor (`e`) and the launch dialog (`n`): fields with their
//! current value; an invalid one is marked in place with the reason.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::{centered, theme};
use crate::app::form::Fields;

pub struct FormPopup<'a> {
    pub title: String,
    pub fields: &'a Fields,
    pub footer: &'static str,
    /// Show the value a changed field had (the editor; not the launch dialog).
    pub show_was: bool,
}

const LABEL: usize = 12;
const INPUT: usize = 18;

impl Widget for FormPopup<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let f = self.fields;
        let w = 96.min(area.width);
        // The selected field's syntax on its own line(s) under the fields.
        let hint = f
            .fields
            .get(f.selected)
            .map(|x| x.hint.as_str())
            .unwrap_or("");
        let hint_h = (hint.chars().count() as u16 + 2).div_ceil(w.saturating_sub(2).max(1));
        let h = (f.fields.len() as u16 + 3 + hint_h).min(area.height);
        let r = centered(area, w, h);
        Clear.render(r, buf);
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(theme::key())
            .title(Line::from(format!(" {} ", self.title)))
            .title_bottom(Line::from(self.footer).centered());
        // At least LABEL wide, wider for a longer name (`io.write_iops`).
        let label = f
            .fields
            .iter()
            .map(|x| x.label.chars().count() + 1)
            .max()
            .unwrap_or(0)
            .max(LABEL);
        let mut lines = Vec::with_capacity(f.fields.len() + 1);
        for (i, field) in f.fields.iter().enumerate() {
            let sel = i == f.selected;
            let mut input = field.input.clone();
            if sel {
                input.push('▏');
            }
            let input_style = match (&field.error, sel) {
                (Some(_), _) => Style::new()
                    .fg(ratatui::style::Color::LightRed)
                    .add_modifier(Modifier::UNDERLINED | Modifier::BOLD),
                (None, true) => Style::new().add_modifier(Modifier::REVERSED),
                (None, false) if field.changed() => Style::new().fg(theme::THROTTLED),
                _ => Style::new(),
            };
            let pad = INPUT.saturating_sub(input.chars().count());
            let mut spans = vec![
                Span::styled(
                    format!("{}{:<label$}", if sel { "▶" } else { " " }, field.label),
                    if sel { theme::key() } else { Style::new() },
                ),
                Span::styled(input, input_style),
                Span::raw(" ".repeat(pad + 1)),
            ];
            if let Some(e) = &field.error {
                spans.push(Span::styled(format!("✗ {e}"), theme::error()));
            } else if self.show_was && field.changed() {
                spans.push(Span::styled(
                    format!("was {}", display_or_unknown(&field.original)),
                    theme::dim(),
                ));
            }
            lines.push(Line::from(spans));
        }
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(format!(" {hint}"), theme::dim())));
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(block)
            .render(r, buf);
    }
}

fn display_or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}
