//! The top line: host, cgroup mode, refresh interval, counts, how processes
//! are read, privileges.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::theme;
use crate::app::App;
use crate::cgroup::knob::format_size;

pub struct Header<'a>(pub &'a App);

impl Widget for Header<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let s = &app.snapshot;
        let mode = s.mode.map(|m| m.to_string()).unwrap_or_else(|| "?".into());
        let (right, style) = match &app.read_only {
            Some(why) => {
                let full = format!(" READ-ONLY: {why} ");
                if full.chars().count() as u16 <= area.width / 2 {
                    (full, theme::read_only())
                } else {
                    (" READ-ONLY: edit keys off ".to_string(), theme::read_only())
                }
            }
            None => (" root: editing on ".to_string(), theme::header()),
        };
        // Pieces in order of importance; each is shown only if it fits whole.
        let mut pieces = vec![
            " cgdash".to_string(),
            if s.host.is_empty() {
                "?".into()
            } else {
                s.host.clone()
            },
            format!("cgroup {mode}"),
            format!("every {}", interval(s.interval_ms)),
            format!("{} CPU{}", s.cpus, if s.cpus == 1 { "" } else { "s" }),
        ];
        if let Some(m) = s.memory_total_bytes {
            pieces.push(format!("{} RAM", format_size(m)));
        }
        pieces.push(format!(
            "{} groups · {} procs",
            s.groups.len(),
            s.processes.len()
        ));
        // How the processes were read (issue 18): `ebpf`, `proc-skip`, `proc`;
        // least important, so the first piece a narrow terminal drops.
        if !s.sampler.is_empty() && s.sampler != "none" {
            pieces.push(format!("read: {}", s.sampler));
        }
        let room = area.width.saturating_sub(right.chars().count() as u16) as usize;
        let mut info = String::new();
        for p in pieces {
            let sep = if info.is_empty() { "" } else { " │ " };
            if info.chars().count() + sep.chars().count() + p.chars().count() + 1 > room {
                break;
            }
            info.push_str(sep);
            info.push_str(&p);
        }
        let text = right;
        buf.set_style(area, theme::header());
        let right_w = text.chars().count() as u16;
        let right_w = right_w.min(area.width);
        let left_w = area.width - right_w;
        Line::from(Span::raw(info)).render(
            Rect {
                width: left_w,
                ..area
            },
            buf,
        );
        Line::from(Span::styled(text, style)).render(
            Rect {
                x: area.x + left_w,
                width: right_w,
                ..area
            },
            buf,
        );
    }
}

/// `1s`, `500ms`, `2.5s` from a measured interval in ms.
fn interval(ms: u64) -> String {
    if ms == 0 {
        "–".into()
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!(
            "{}s",
            crate::cgroup::knob::format_decimal(ms as f64 / 1000.0)
        )
    }
}

/// The demo's title line.
pub struct TitleBar<'a>(pub &'a str);

impl Widget for TitleBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        buf.set_style(area, theme::title_bar());
        Line::from(format!(" {}", self.0)).render(area, buf);
    }
}
