//! Small confirmation dialogs: sending a signal, quitting with workloads running.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

use super::{centered, theme};
use crate::app::{OutputView, SignalDialog, SignalKind, WriteConfirm};

pub struct SignalPopup<'a>(pub &'a SignalDialog);

impl Widget for SignalPopup<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let d = self.0;
        let r = centered(area, 64.min(area.width), 6.min(area.height));
        Clear.render(r, buf);
        let mut choices = vec![Span::raw(" signal: ")];
        for s in SignalKind::ALL {
            let style = if s == d.signal {
                theme::selected(true)
            } else {
                theme::dim()
            };
            choices.push(Span::styled(format!(" {} ", s.name()), style));
            choices.push(Span::raw(" "));
        }
        let lines = vec![
            Line::from(format!(" PID {}: {}", d.pid, d.command)),
            Line::from(choices),
            Line::from(Span::styled(
                " Enter/y: send · ←→: choose · Esc: cancel",
                theme::dim(),
            )),
        ];
        Paragraph::new(lines)
            .block(
                Block::new()
                    .borders(Borders::ALL)
                    .border_style(theme::error())
                    .title(format!(" Send SIG{}? ", d.signal.name())),
            )
            .render(r, buf);
    }
}

pub struct ConfirmQuitPopup(pub usize);

impl Widget for ConfirmQuitPopup {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let text = vec![
            Line::from(format!(
                " {} workload(s) started by cgdash still running.",
                self.0
            )),
            key_line(
                " y/q",
                ": stop them and quit (groups removed unless --keep)",
            ),
            key_line(" Esc", ": stay"),
        ];
        question(area, buf, " Quit? ", text);
    }
}

/// The first write to a group cgdash did not launch.
pub struct ConfirmWritePopup<'a>(pub &'a WriteConfirm);

impl Widget for ConfirmWritePopup<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let c = self.0;
        let mut text = vec![
            Line::from(format!(" {} was not launched by cgdash.", c.group)),
            Line::from(format!(" Write {} to it?", c.what())),
        ];
        if let Some(owner) = &c.owner {
            text.push(Line::from(Span::styled(
                format!(" {owner}"),
                ratatui::style::Style::new().fg(theme::THROTTLED),
            )));
        }
        text.extend([
            key_line(" y", ": write (no more questions for this group)"),
            key_line(" Esc/n", ": write nothing"),
        ]);
        question(area, buf, " Change a group cgdash did not launch? ", text);
    }
}

/// A line of a question: the key, then what it does.
fn key_line(key: &'static str, what: &'static str) -> Line<'static> {
    Line::from(vec![Span::styled(key, theme::key()), Span::raw(what)])
}

/// A yes/no question drawn over the screen, framed in the error colour: at
/// most 64 columns, as tall as its lines once wrapped (a long group name).
fn question(area: Rect, buf: &mut Buffer, title: &str, text: Vec<Line>) {
    let width = 64.min(area.width);
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let rows: usize = text.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let height = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let r = centered(area, width, height.min(area.height));
    Clear.render(r, buf);
    Paragraph::new(text)
        .wrap(Wrap { trim: false })
        .block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(theme::error())
                .title(title),
        )
        .render(r, buf);
}

/// The last output lines of a workload launched with `n`.
pub struct OutputPopup<'a>(pub &'a OutputView);

impl Widget for OutputPopup<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let o = self.0;
        let r = centered(
            area,
            area.width.saturating_sub(4).max(20),
            area.height.saturating_sub(4).max(6),
        );
        Clear.render(r, buf);
        let room = usize::from(r.height.saturating_sub(2));
        let mut lines: Vec<Line> = if o.lines.is_empty() {
            vec![Line::from(Span::styled(" (no output yet)", theme::dim()))]
        } else {
            let skip = o.lines.len().saturating_sub(room.saturating_sub(1));
            o.lines[skip..]
                .iter()
                .map(|l| Line::from(format!(" {l}")))
                .collect()
        };
        lines.push(Line::from(Span::styled(" Esc/q: close", theme::dim())));
        Paragraph::new(lines)
            .block(
                Block::new()
                    .borders(Borders::ALL)
                    .title(format!(" Output of {} (last lines) ", o.group)),
            )
            .render(r, buf);
    }
}
