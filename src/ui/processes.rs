//! The process panel: top-like columns, scoped to the selected group or all,
//! sorted, filtered, optionally a tree. Only the visible rows are built.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget};

use super::{format as fmt, scroll_offset, theme};
use crate::app::procs::ProcSort;
use crate::app::{App, Overlay, Panel};

pub struct ProcessesPanel<'a>(pub &'a App);

impl ProcessesPanel<'_> {
    fn show_cgroup(area: Rect) -> bool {
        area.width >= 90
    }
}

impl Widget for ProcessesPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let v = &app.procs;
        let focused = app.focus == Panel::Processes;
        let scope = match &v.scope {
            Some(s) => s.as_str(),
            None => "all",
        };
        let mut title = vec![Span::raw(format!(
            " Processes: {scope} ({}) · sort {}{}{} ",
            v.rows.len(),
            v.sort.title(),
            if v.descending { "▼" } else { "▲" },
            if v.tree { " · tree" } else { "" },
        ))];
        let typing = focused && app.overlay == Overlay::Filter;
        if typing || !v.filter.is_empty() {
            title.push(Span::styled(
                format!("/{}{} ", v.filter, if typing { "▏" } else { "" }),
                theme::key(),
            ));
        }
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(theme::border(focused))
            .title(Line::from(title));
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height < 2 {
            return;
        }
        let with_cgroup = ProcessesPanel::show_cgroup(area);
        let mut cols: Vec<(ProcSort, Constraint)> = vec![
            (ProcSort::Pid, Constraint::Length(7)),
            (ProcSort::User, Constraint::Length(8)),
            (ProcSort::State, Constraint::Length(1)),
            (ProcSort::Cpu, Constraint::Length(5)),
            (ProcSort::Mem, Constraint::Length(5)),
            (ProcSort::Rss, Constraint::Length(6)),
            (ProcSort::Time, Constraint::Length(9)),
        ];
        if with_cgroup {
            cols.push((ProcSort::Cgroup, Constraint::Length(24)));
        }
        cols.push((ProcSort::Command, Constraint::Fill(1)));
        let header = Row::new(cols.iter().map(|(s, _)| {
            let style = if *s == v.sort {
                theme::sorted_column()
            } else {
                theme::column_header()
            };
            Cell::from(Span::styled(s.title(), style))
        }));
        let widths: Vec<Constraint> = cols.iter().map(|c| c.1).collect();
        if v.rows.is_empty() {
            Table::new(Vec::<Row>::new(), widths.clone())
                .header(header)
                .render(inner, buf);
            let msg = if app.snapshot.processes.is_empty() {
                "no processes (waiting for the first sample)".to_string()
            } else if !v.filter.is_empty() {
                format!("no process matches /{} (Esc clears)", v.filter)
            } else if v.scope.as_ref().is_some_and(|s| {
                app.snapshot
                    .groups
                    .iter()
                    .any(|g| &g.path == s && g.nprocs.is_none())
            }) {
                // v1: a group only in other hierarchies than the one that
                // places processes (nprocs null): say so, not "no processes".
                format!("{scope} is not in the cpu hierarchy: processes are listed by their cpu group (a: all)")
            } else {
                format!("no processes in {scope} (a: show all)")
            };
            let y = inner.y + 1 + (inner.height - 1) / 2;
            Paragraph::new(Span::styled(msg, theme::dim()))
                .centered()
                .render(
                    Rect {
                        y,
                        height: 1,
                        ..inner
                    },
                    buf,
                );
            return;
        }
        // The COMMAND column gets what the others leave (one space between
        // columns): the full command line when it fits, else the program's
        // name without its directory, so the arguments stay in view.
        let fixed: u16 = cols
            .iter()
            .map(|(_, c)| match c {
                Constraint::Length(n) => n + 1,
                _ => 0,
            })
            .sum();
        let command_w = inner.width.saturating_sub(fixed) as usize;
        let visible = inner.height.saturating_sub(1) as usize;
        let offset = scroll_offset(v.selected, visible, v.rows.len());
        let snap = &app.snapshot;
        let rows = v
            .rows
            .iter()
            .enumerate()
            .skip(offset)
            .take(visible)
            .map(|(i, r)| {
                let p = &snap.processes[r.index];
                let mut cells = vec![
                    Cell::from(p.pid.to_string()),
                    Cell::from(&*p.user),
                    state_cell(p.state),
                    Cell::from(fmt::percent(p.cpu_percent)),
                    Cell::from(fmt::percent(p.mem_percent)),
                    Cell::from(fmt::bytes(Some(p.rss_bytes))),
                    Cell::from(fmt::cpu_time(p.cpu_time_ns)),
                ];
                if with_cgroup {
                    cells.push(Cell::from(tail(crate::cgroup::display_path(
                        p.cgroup.trim_matches('/'),
                    ))));
                }
                let branch = v.branches.get(i).map_or("", String::as_str);
                let full = branch.chars().count() + p.command.chars().count() <= command_w;
                let cmd = if full {
                    &*p.command
                } else {
                    short_command(&p.command)
                };
                cells.push(if branch.is_empty() {
                    Cell::from(cmd)
                } else {
                    Cell::from(Line::from(vec![
                        Span::styled(branch, theme::dim()),
                        Span::raw(cmd),
                    ]))
                });
                let row = Row::new(cells);
                if i == v.selected {
                    row.style(theme::selected(focused))
                } else {
                    row
                }
            });
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .render(inner, buf);
    }
}

fn state_cell(s: char) -> Cell<'static> {
    let style = match s {
        'R' => Style::new().fg(theme::CPU),
        'D' | 'Z' => theme::error(),
        'T' | 't' => Style::new().fg(theme::THROTTLED),
        _ => Style::new(),
    };
    Cell::from(Span::styled(s.to_string(), style))
}

/// The end of a long cgroup path, which is the telling part.
fn tail(path: &str) -> String {
    let n = path.chars().count();
    if n <= 24 {
        path.to_string()
    } else {
        let skip = n - 23;
        format!("…{}", path.chars().skip(skip).collect::<String>())
    }
}

/// A command line with the directory of its program left out
/// (`/usr/bin/python3 x.py` → `python3 x.py`), so the arguments show in a
/// narrow column. Kernel threads (`[kworker/0:1]`) and names without a
/// path stay as they are.
pub fn short_command(cmd: &str) -> &str {
    let prog_end = cmd.find(' ').unwrap_or(cmd.len());
    let prog = &cmd[..prog_end];
    if prog.starts_with('[') {
        return cmd;
    }
    match prog.rfind('/') {
        Some(i) if i + 1 < prog.len() => &cmd[i + 1..],
        _ => cmd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hu_short_command() {
        let long = "/work/wt/ui/target/x86_64-unknown-linux-gnu/debug/cgdash stress cpu";
        assert_eq!(short_command(long), "cgdash stress cpu");
        assert_eq!(short_command("/sbin/init"), "init");
        assert_eq!(
            short_command("sshd: /usr/sbin/sshd -D"),
            "sshd: /usr/sbin/sshd -D"
        );
        assert_eq!(
            short_command("[kworker/0:1-events]"),
            "[kworker/0:1-events]"
        );
        assert_eq!(short_command("python3 a/b.py"), "python3 a/b.py");
        assert_eq!(short_command("/odd/"), "/odd/");
        assert_eq!(short_command(""), "");
    }
}
