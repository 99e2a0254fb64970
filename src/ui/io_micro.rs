//! The I/O microscope (`i`): the selected group's disk I/O, each direction
//! charted against its own limit line, its disks with their rates and
//! limits, and the group's dirty and writeback page cache — where buffered
//! writes wait for the disk. On cgroup v1 that is the whole story of a
//! write limit: `blkio` throttles direct I/O only, so a buffered writer
//! is not held at the limit; its writes pile up as dirty memory and the
//! kernel's flusher writes them back, charged to no group.
//!
//! It takes the CPU microscope's place (one of the two at a time) rather
//! than a chart in the charts panel: that panel has room for an I/O chart
//! only on screens tall enough for four charts, and the CPU microscope's
//! place exists at every size (beside the lists when wide, under the groups
//! when narrow).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

use super::charts::{draw_parts, Part};
use super::{format as fmt, theme};
use crate::app::App;
use crate::cgroup::knob::format_size;
use crate::cgroup::Mode;
use crate::model::GroupSnapshot;

pub struct IoMicroscopePanel<'a>(pub &'a App);

/// Disks listed at most (the busiest first).
const DISKS: usize = 3;

fn rate(r: Option<f64>) -> String {
    fmt::bytes(r.map(|r| r.round() as u64))
}

fn limit(l: Option<u64>) -> String {
    l.map_or_else(|| "max".into(), format_size)
}

/// The sentences above the charts: how the writes stand against the limit,
/// the dirty memory, and what the cgroup version throttles.
pub fn words(app: &App, g: &GroupSnapshot) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let io = &g.io;
    if io.write_bytes_per_s.is_none() && io.read_bytes_per_s.is_none() && io.limits.is_empty() {
        out.push(Line::from(Span::styled(
            "no I/O readings for this group yet (no disk used in the last interval, or no io/blkio controller serves it)",
            theme::dim(),
        )));
        return out;
    }
    let wlim = crate::sampler::write_limit(g);
    match (io.write_bytes_per_s, wlim) {
        (Some(w), Some(l)) if l > 0.0 => {
            let share = w * 100.0 / l;
            let (verdict, style) = if share >= 90.0 {
                ("writing at the limit: held back", theme::error())
            } else {
                ("writing below the limit", theme::ok())
            };
            out.push(Line::from(vec![
                Span::styled(verdict, style),
                Span::raw(format!(
                    ": {}/s of {}/s ({share:.0}%)",
                    rate(Some(w)),
                    format_size(l as u64)
                )),
            ]));
        }
        (w, _) => out.push(Line::from(format!(
            "writing {}/s · no write limit (e sets one: io.write_bps=/dev/vda:5M)",
            rate(w)
        ))),
    }
    let dirty = g.memory.dirty_bytes;
    let wb = g.memory.writeback_bytes;
    out.push(Line::from(vec![
        Span::styled(
            format!("dirty {}", fmt::bytes(dirty)),
            Style::new().fg(theme::THROTTLED).bold(),
        ),
        Span::raw(format!(
            " · writeback {}: page cache written and not yet on disk",
            fmt::bytes(wb)
        )),
    ]));
    let limited = io.limits.iter().any(|l| {
        l.write_bps
            .or(l.read_bps)
            .or(l.write_iops)
            .or(l.read_iops)
            .is_some()
    });
    let v2 = app.snapshot.mode == Some(Mode::V2);
    if v2 {
        out.push(Line::from(Span::styled(
            "cgroup v2 charges writeback to the group: buffered writes are held at the limit too",
            theme::dim(),
        )));
    } else if limited {
        out.push(Line::from(Span::styled(
            "cgroup v1 throttles direct I/O only: buffered writes escape the limit, piling up as dirty memory that the kernel writes back for no group",
            Style::new().fg(theme::THROTTLED),
        )));
    }
    out
}

/// The disks table: one line each, the busiest first.
fn disks(g: &GroupSnapshot) -> Vec<Line<'static>> {
    let mut devs: Vec<_> = g.io.devices.iter().collect();
    let busy = |d: &&crate::model::IoDeviceView| {
        d.read_bytes_per_s.unwrap_or(0.0) + d.write_bytes_per_s.unwrap_or(0.0)
    };
    devs.sort_by(|a, b| busy(b).total_cmp(&busy(a)));
    let mut names: Vec<(String, String)> = devs
        .iter()
        .map(|d| (d.device.clone(), d.name.clone().unwrap_or_default()))
        .collect();
    // Disks with a limit and no I/O yet are listed too.
    for l in &g.io.limits {
        if !names.iter().any(|(d, _)| *d == l.device) {
            names.push((l.device.clone(), l.name.clone().unwrap_or_default()));
        }
    }
    if names.is_empty() {
        return Vec::new();
    }
    let mut out = vec![Line::from(Span::styled(
        format!(
            "{:<12} {:>7} {:>7} {:>8} {:>8}",
            "DISK", "R/s", "W/s", "R LIMIT", "W LIMIT"
        ),
        theme::column_header(),
    ))];
    for (dev, name) in names.iter().take(DISKS) {
        let d = g.io.devices.iter().find(|d| d.device == *dev);
        let l = g.io.limits.iter().find(|l| l.device == *dev);
        let label = if name.is_empty() {
            dev.clone()
        } else {
            format!("{name} {dev}")
        };
        out.push(Line::from(format!(
            "{:<12} {:>7} {:>7} {:>8} {:>8}",
            label.chars().take(12).collect::<String>(),
            rate(d.and_then(|d| d.read_bytes_per_s)),
            rate(d.and_then(|d| d.write_bytes_per_s)),
            limit(l.and_then(|l| l.read_bps)),
            limit(l.and_then(|l| l.write_bps)),
        )));
    }
    if names.len() > DISKS {
        out.push(Line::from(Span::styled(
            format!(
                "… {} more disks (snapshot --json lists all)",
                names.len() - DISKS
            ),
            theme::dim(),
        )));
    }
    out
}

/// Processes listed at most (the busiest first).
const PROCS: usize = 3;

/// The group's processes doing I/O (`/proc/PID/io`; the group and below),
/// the busiest first: which process it is.
fn processes(app: &App, g: &GroupSnapshot) -> Vec<Line<'static>> {
    let busy = |p: &&crate::model::ProcessSnapshot| {
        p.io.map_or(0.0, |i| {
            i.read_bytes_per_s.unwrap_or(0.0) + i.write_bytes_per_s.unwrap_or(0.0)
        })
    };
    let mut ps: Vec<_> = app
        .snapshot
        .processes
        .iter()
        .filter(|p| crate::app::groups::is_within(&p.cgroup, &g.path))
        .filter(|p| busy(p) > 0.0)
        .collect();
    if ps.is_empty() {
        return Vec::new();
    }
    ps.sort_by(|a, b| busy(b).total_cmp(&busy(a)).then(a.pid.cmp(&b.pid)));
    let mut out = vec![Line::from(Span::styled(
        format!("{:<12} {:>7} {:>7} COMMAND", "PID", "R/s", "W/s"),
        theme::column_header(),
    ))];
    for p in ps.iter().take(PROCS) {
        let io = p.io.unwrap_or_default();
        out.push(Line::from(format!(
            "{:<12} {:>7} {:>7} {}",
            p.pid,
            rate(io.read_bytes_per_s),
            rate(io.write_bytes_per_s),
            super::processes::short_command(&app.command(p))
        )));
    }
    out
}

/// Where the charts go in `area`: write and read side by side when there is
/// width, the dirty memory below; on a short panel write and dirty memory
/// side by side (the read rate is in the words and the table).
fn chart_parts(area: Rect) -> Vec<(Part, Rect)> {
    if area.height >= 14 {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Fill(1)]).areas(area);
        if top.width >= 90 {
            let [w, r] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Fill(1)]).areas(top);
            vec![(Part::IoWrite, w), (Part::IoRead, r), (Part::Dirty, bottom)]
        } else {
            let [w, r] =
                Layout::vertical([Constraint::Percentage(60), Constraint::Fill(1)]).areas(top);
            vec![(Part::IoWrite, w), (Part::IoRead, r), (Part::Dirty, bottom)]
        }
    } else if area.height >= 5 && area.width >= 70 {
        let [w, d] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Fill(1)]).areas(area);
        vec![(Part::IoWrite, w), (Part::Dirty, d)]
    } else if area.height >= 5 {
        vec![(Part::IoWrite, area)]
    } else {
        Vec::new()
    }
}

/// Rows `lines` take wrapped at `width` (word wrapping leaves up to a
/// word's width unused on a row: counted as 8 columns less).
fn wrapped_height(lines: &[Line], width: u16) -> usize {
    let w = usize::from(width.max(1));
    lines
        .iter()
        .map(|l| {
            let n = l.width();
            if n <= w {
                1
            } else {
                n.div_ceil(w.saturating_sub(8).max(1))
            }
        })
        .sum()
}

impl Widget for IoMicroscopePanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let g = app.selected_group();
        let title = match g {
            Some(g) => format!(" I/O microscope · {} ", g.path),
            None => " I/O microscope ".into(),
        };
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(theme::MEMORY))
            .title(title)
            .title_bottom(
                Line::from(" w/W halve/double the write limit · e edit · u undo · i close ")
                    .style(theme::dim()),
            );
        let inner = block.inner(area);
        block.render(area, buf);
        let Some(g) = g else {
            Paragraph::new("select a group").render(inner, buf);
            return;
        };
        let mut lines = words(app, g);
        // The tables only where the charts keep room.
        for table in [disks(g), processes(app, g)] {
            if inner.height as usize >= lines.len() + table.len() + 12 {
                lines.extend(table);
            }
        }
        let text_h = (wrapped_height(&lines, inner.width) as u16).min(inner.height);
        let text = Paragraph::new(lines).wrap(Wrap { trim: true });
        let [t, c] =
            Layout::vertical([Constraint::Length(text_h), Constraint::Fill(1)]).areas(inner);
        text.render(t, buf);
        let parts = chart_parts(c);
        if !parts.is_empty() {
            draw_parts(app, g, &parts, buf);
        }
    }
}
