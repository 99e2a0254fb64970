//! The process panel: top-like columns, scoped to the selected group or all,
//! sorted, filtered, optionally a tree. Only the visible rows are built.

use super::table::Cell;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::table::{self, ListTable};
use super::{format as fmt, theme};
use crate::app::procs::ProcSort;
use crate::app::{App, Panel};

pub struct ProcessesPanel<'a>(pub &'a App);

/// The columns (CGROUP only on wide screens, IO R/s and W/s on wider
/// ones): sort key, width (0: what the others leave).
#[rustfmt::skip]
const COLUMNS: [(ProcSort, u16); 11] = [
    (ProcSort::Pid, 7), (ProcSort::User, 8), (ProcSort::State, 1), (ProcSort::Cpu, 5),
    (ProcSort::Mem, 5), (ProcSort::Rss, 6), (ProcSort::Time, 9), (ProcSort::IoRead, 6),
    (ProcSort::IoWrite, 6), (ProcSort::Cgroup, 24), (ProcSort::Command, 0),
];

/// The panel width from which the I/O columns show: with CGROUP, 30
/// columns are left for the command. The sampler reads `/proc/PID/io` only
/// while they show (or the list is sorted by them): [`reads_io`].
pub const IO_WIDE: u16 = 110;

/// Whether a process panel in `area` shows the I/O columns.
pub fn shows_io(area: Rect) -> bool {
    area.width >= IO_WIDE
}

/// Whether the dashboard drawn on `screen` needs each process's
/// `/proc/PID/io` read: its process panel shows the I/O columns, or sorts
/// by them (hidden columns sort too, with `s`), or the I/O microscope
/// lists the group's busiest processes.
pub fn reads_io(screen: Rect, app: &App) -> bool {
    let shown = super::Areas::new(screen, app)
        .processes
        .is_some_and(shows_io);
    shown || app.procs.sort.needs_io() || app.io_microscope
}

impl Widget for ProcessesPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let v = &app.procs;
        let scope = match &v.scope {
            Some(s) => s.as_str(),
            None => "all",
        };
        let with_cgroup = table::wide(area);
        let with_io = shows_io(area);
        let shown: Vec<(ProcSort, u16)> = COLUMNS
            .into_iter()
            .filter(|(s, _)| with_cgroup || *s != ProcSort::Cgroup)
            .filter(|(s, _)| with_io || !s.needs_io())
            .collect();
        let columns = table::columns(&shown, v.sort, ProcSort::title);
        let empty = v.rows.is_empty().then(|| {
            if app.snapshot.processes.is_empty() {
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
            }
        });
        // Long ids cut to 12 as in the groups panel, and the group's name
        // where it has one (`docker/a0364af2cab5 · dkr web`).
        let named = v.scope.as_ref().and_then(|s| {
            let g = app.snapshot.groups.iter().find(|g| &g.path == s)?;
            let kind = g.identity.kind.as_deref().filter(|k| *k != "cgdash")?;
            let kind = crate::app::groups::kind_badge(kind);
            Some(format!(" · {kind} {}", g.identity.name.as_deref()?))
        });
        let name = format!(
            "Processes: {}{}",
            crate::app::groups::short_hashes(scope),
            named.unwrap_or_default()
        );
        let mut table = ListTable::of(app, Panel::Processes, &name, v, columns);
        table.title.extra = if v.tree { " · tree" } else { "" };
        table.empty = empty;
        let snap = &app.snapshot;
        // The COMMAND column gets what the others leave: the full command
        // line when it fits, else the program's name without its
        // directory, so the arguments stay in view.
        table.render(area, buf, |i, command_w| {
            let p = &snap.processes[v.rows[i].index()];
            let mut cells = vec![
                Cell::from(p.pid.to_string()),
                Cell::from(&*p.user),
                state_cell(p.state),
                Cell::from(fmt::percent(p.cpu_percent)),
                Cell::from(fmt::percent(p.mem_percent)),
                Cell::from(fmt::bytes(Some(p.rss_bytes))),
                Cell::from(fmt::cpu_time(p.cpu_time_ns)),
            ];
            if with_io {
                // `–` where `/proc/PID/io` can't be read (another user's
                // process, not root) or on its first reading: never 0.
                let rate = |r: Option<f64>| Cell::from(fmt::bytes(r.map(|r| r.round() as u64)));
                cells.push(rate(p.io.and_then(|i| i.read_bytes_per_s)));
                cells.push(rate(p.io.and_then(|i| i.write_bytes_per_s)));
            }
            if with_cgroup {
                cells.push(Cell::from(tail(&crate::app::groups::short_hashes(
                    crate::cgroup::display_path(p.cgroup.trim_matches('/')),
                ))));
            }
            let branch = v.branches.get(i).map_or("", String::as_str);
            // Read here if the sampler left it pending: only drawn rows.
            let command = app.command(p);
            let full = branch.chars().count() + command.chars().count() <= command_w;
            let cmd = if full {
                command.to_string()
            } else {
                short_command(&command).to_string()
            };
            cells.push(if branch.is_empty() {
                Cell::from(cmd)
            } else {
                Cell::from(Line::from(vec![
                    Span::styled(branch, theme::dim()),
                    Span::raw(cmd),
                ]))
            });
            cells
        });
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
