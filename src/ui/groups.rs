//! The groups panel: the cgroup tree with CPU, quota, throttling, memory,
//! pids and OOM columns. Only the visible rows are built.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, Widget};

use super::{format as fmt, scroll_offset, theme};
use crate::app::groups::{leaf_name, GroupSort};
use crate::app::{App, Overlay, Panel};
use crate::model::GroupSnapshot;

pub struct GroupsPanel<'a>(pub &'a App);

/// Width of the usage-against-quota bar column (shown on wide screens).
const BAR: u16 = 10;

impl GroupsPanel<'_> {
    fn wide(area: Rect) -> bool {
        area.width >= 90
    }

    /// The rows' area of a panel drawn in `area`: inside the border, below
    /// the header line (mouse clicks map to rows with it, for both panels).
    pub fn body(area: Rect) -> Rect {
        let inner = Block::new().borders(Borders::ALL).inner(area);
        Rect {
            y: inner.y + 1,
            height: inner.height.saturating_sub(1),
            ..inner
        }
    }
}

impl Widget for GroupsPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let v = &app.groups;
        let focused = app.focus == Panel::Groups;
        let mut title = vec![Span::raw(format!(
            " Groups ({}) · sort {}{} ",
            v.rows.len(),
            v.sort.title(),
            if v.descending { "▼" } else { "▲" }
        ))];
        let typing = focused && app.overlay == Overlay::Filter;
        if typing || !v.filter.is_empty() {
            title.push(Span::styled(
                format!("/{}{} ", v.filter, if typing { "▏" } else { "" }),
                theme::key(),
            ));
        }
        let mut block = Block::new()
            .borders(Borders::ALL)
            .border_style(theme::border(focused))
            .title(Line::from(title));
        // The kernel adds up throttled time over CPUs: say so when it shows.
        let snap = &app.snapshot;
        let over_100 = v.rows.iter().any(|r| {
            snap.groups[r.index]
                .cpu
                .throttled_percent
                .is_some_and(|t| t > 100.0)
        });
        if over_100 {
            block = block.title_bottom(Line::from(Span::styled(
                " THR% over 100: throttled time is summed over CPUs (100 = one CPU's worth) ",
                Style::new().fg(theme::THROTTLED),
            )));
        }
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height < 2 {
            return;
        }
        let wide = GroupsPanel::wide(area);
        let mut cols: Vec<(GroupSort, &str, Constraint)> = vec![
            (GroupSort::Name, "GROUP", Constraint::Fill(1)),
            (GroupSort::Cpu, "CPU%", Constraint::Length(6)),
        ];
        if wide {
            cols.push((GroupSort::Cpu, "USE/LIMIT", Constraint::Length(BAR)));
        }
        cols.extend([
            (GroupSort::CpuLimit, "LIMIT", Constraint::Length(6)),
            (GroupSort::Throttled, "THR%", Constraint::Length(5)),
            (GroupSort::Memory, "MEM", Constraint::Length(7)),
            (GroupSort::MemoryLimit, "MEMMAX", Constraint::Length(7)),
            (GroupSort::Pids, "PIDS", Constraint::Length(7)),
            (GroupSort::Oom, "OOM", Constraint::Length(4)),
        ]);
        let header = Row::new(cols.iter().map(|(s, name, _)| {
            let style = if *s == v.sort && *name != "USE/LIMIT" {
                theme::sorted_column()
            } else {
                theme::column_header()
            };
            Cell::from(Span::styled(*name, style))
        }));
        let visible = inner.height.saturating_sub(1) as usize;
        let offset = scroll_offset(v.selected, visible, v.rows.len());
        let rows = v
            .rows
            .iter()
            .enumerate()
            .skip(offset)
            .take(visible)
            .map(|(i, r)| {
                let g = &snap.groups[r.index];
                let mut cells = Vec::with_capacity(cols.len());
                cells.push(name_cell(app, g, r.depth, r.has_children, r.expanded));
                cells.push(cpu_cell(g));
                if wide {
                    cells.push(bar_cell(g, snap.cpus));
                }
                cells.extend([
                    Cell::from(fmt::cpu_limit(g.cpu.limit_percent)),
                    throttled_cell(g),
                    Cell::from(fmt::bytes(g.memory.current_bytes)),
                    Cell::from(fmt::bytes_limit(g.memory.max_bytes)),
                    pids_cell(g),
                    oom_cell(g),
                ]);
                let row = Row::new(cells);
                if i == v.selected {
                    row.style(theme::selected(focused))
                } else {
                    row
                }
            });
        let widths: Vec<Constraint> = cols.iter().map(|c| c.2).collect();
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .render(inner, buf);
    }
}

fn name_cell<'a>(app: &App, g: &'a GroupSnapshot, depth: u16, kids: bool, open: bool) -> Cell<'a> {
    let mut spans = Vec::with_capacity(4);
    spans.push(Span::raw("  ".repeat(depth.min(12) as usize)));
    spans.push(Span::raw(match (kids, open) {
        (true, true) => "▾ ",
        (true, false) => "▸ ",
        _ => "  ",
    }));
    let owned = app.is_owned(&g.path);
    let ours = owned || g.path == "cgdash" || g.path.starts_with("cgdash/");
    if ours {
        spans.push(Span::styled(
            if owned { "● " } else { "○ " },
            Style::new().fg(theme::OWNED),
        ));
    }
    let mut name = Span::raw(leaf_name(&g.path));
    if g.frozen == Some(true) {
        name = name.style(Style::new().add_modifier(Modifier::ITALIC));
        spans.push(name);
        spans.push(Span::styled(" ❄", Style::new().fg(theme::MEMORY)));
    } else {
        spans.push(name);
    }
    Cell::from(Line::from(spans))
}

fn cpu_cell(g: &GroupSnapshot) -> Cell<'static> {
    let text = fmt::percent(g.cpu.usage_percent);
    let near = match (g.cpu.usage_percent, g.cpu.limit_percent) {
        (Some(u), Some(l)) if l > 0.0 => u / l >= 0.9,
        _ => false,
    };
    if near {
        Cell::from(Span::styled(text, Style::new().fg(theme::THROTTLED)))
    } else {
        Cell::from(text)
    }
}

/// Usage against the quota (or against all CPUs when unlimited, dimmed).
fn bar_cell(g: &GroupSnapshot, cpus: u32) -> Cell<'static> {
    let Some(u) = g.cpu.usage_percent else {
        return Cell::from("");
    };
    match g.cpu.limit_percent {
        Some(l) if l > 0.0 => Cell::from(Span::styled(
            fmt::bar(u / l, BAR as usize),
            Style::new()
                .fg(theme::CPU)
                .bg(ratatui::style::Color::DarkGray),
        )),
        _ => Cell::from(Span::styled(
            fmt::bar(u / (f64::from(cpus.max(1)) * 100.0), BAR as usize),
            theme::dim(),
        )),
    }
}

fn throttled_cell(g: &GroupSnapshot) -> Cell<'static> {
    let t = g.cpu.throttled_percent;
    let text = fmt::percent(t);
    if t.is_some_and(|t| t >= 1.0) {
        Cell::from(Span::styled(text, Style::new().fg(theme::THROTTLED)))
    } else {
        Cell::from(text)
    }
}

/// `12`, or `64/64` against `pids.max` (highlighted when at the limit);
/// `–` without the pids controller. (Not `nprocs` instead: that counts only
/// the group's own processes, `0` for a parent whose children hold them all.)
fn pids_cell(g: &GroupSnapshot) -> Cell<'static> {
    match (g.pids.current, g.pids.max) {
        (Some(c), Some(m)) => {
            let text = format!("{c}/{m}");
            if c >= m {
                Cell::from(Span::styled(text, Style::new().fg(theme::THROTTLED)))
            } else {
                Cell::from(text)
            }
        }
        (Some(c), None) => Cell::from(c.to_string()),
        _ => Cell::from("–"),
    }
}

fn oom_cell(g: &GroupSnapshot) -> Cell<'static> {
    match g.memory.oom_kills {
        Some(n) if n > 0 => Cell::from(Span::styled(n.to_string(), theme::error())),
        other => Cell::from(fmt::count(other)),
    }
}
