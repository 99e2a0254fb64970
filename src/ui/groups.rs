//! The groups panel: the cgroup tree with CPU, quota, throttling, memory,
//! pids and OOM columns (and disk I/O when the panel is wide). Only the visible rows are built.

use std::borrow::Cow;

use super::table::Cell;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::table::{self, Column, ListTable};
use super::{format as fmt, theme};
use crate::app::groups::{display_identity, leaf_name, short_hashes, GroupRow, GroupSort};
use crate::app::{App, Panel};
use crate::model::GroupSnapshot;

pub struct GroupsPanel<'a>(pub &'a App);

/// The columns (after CPU% comes the USE/LIMIT bar on wide screens):
/// sort key, width (0: what the others leave).
#[rustfmt::skip]
const COLUMNS: [(GroupSort, u16); 8] = [
    (GroupSort::Name, 0), (GroupSort::Cpu, 6), (GroupSort::CpuLimit, 6), (GroupSort::Throttled, 5),
    (GroupSort::Memory, 7), (GroupSort::MemoryLimit, 7), (GroupSort::Pids, 7), (GroupSort::Oom, 4),
];

/// Disk I/O per second, read and written: shown when the panel is at
/// least `IO_WIDE` wide, so names keep their room (a 160-column dashboard's
/// groups panel, ~92, has none; a 200-column one's, ~116, has them).
#[rustfmt::skip]
const IO_COLUMNS: [(GroupSort, u16); 2] = [(GroupSort::IoRead, 7), (GroupSort::IoWrite, 7)];
const IO_WIDE: u16 = 110;

/// Network bytes per second received and sent, of groups in a network
/// namespace of their own: shown when some group has one and the panel is
/// at least `NET_WIDE` wide (plus the I/O columns' room when they show).
#[rustfmt::skip]
const NET_COLUMNS: [(GroupSort, u16); 2] = [(GroupSort::NetRx, 8), (GroupSort::NetTx, 8)];
const NET_WIDE: u16 = 96;

/// Width of the usage-against-quota bar column (shown on wide screens).
const BAR: u16 = 10;

/// Width of the NAME column (kind badge, name, image), shown on wide
/// screens when some group has a name (issue 13): as wide as its longest
/// entry within these bounds when the tree's widest row still fits beside
/// it, else what the tree leaves but never less than half of what the
/// fixed columns leave. Narrower screens show the badge and name in the
/// tree in place of the directory (`▸ dkr web`): a column of its own left
/// GROUP 12 characters at 80 wide.
const NAME_MIN: u16 = 18;
const NAME_MAX: u16 = 40;

impl Widget for GroupsPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let v = &app.groups;
        let snap = &app.snapshot;
        // The kernel adds up throttled time over CPUs: say so when it shows.
        let over_100 = v.rows.iter().any(|r| {
            snap.groups[r.index]
                .cpu
                .throttled_percent
                .is_some_and(|t| t > 100.0)
        });
        let bottom = over_100.then(|| {
            Line::from(Span::styled(
                " THR% over 100: throttled time is summed over CPUs (100 = one CPU's worth) ",
                Style::new().fg(theme::THROTTLED),
            ))
        });
        let wide = table::wide(area);
        let mut columns = table::columns(&COLUMNS, v.sort, GroupSort::title);
        if wide {
            let bar = Column {
                title: "USE/LIMIT",
                width: Constraint::Length(BAR),
                sorted: false,
            };
            columns.insert(2, bar);
        }
        // Only on hosts with named groups: elsewhere the column would be
        // empty space taken from GROUP. Decided over all groups, not the
        // filtered rows, so it does not come and go while typing a filter.
        let named = snap
            .groups
            .iter()
            .any(|g| g.identity.name.is_some() && g.identity.kind.as_deref() != Some("cgdash"))
            || v.rows.iter().any(|r| r.pod_of.is_some());
        let name_column = named && wide;
        // Before the NAME column: its width is what the fixed columns leave.
        // With names on screen the I/O columns wait for NAME_MAX more
        // columns, so they don't take the names' room — unless a group has
        // an I/O limit (`demo io`, a limited writer): then they are what the
        // user is looking at.
        let io_limited = || snap.groups.iter().any(|g| !g.io.limits.is_empty());
        let io = area.width >= IO_WIDE + if name_column { NAME_MAX } else { 0 }
            || (area.width >= IO_WIDE && io_limited());
        if io {
            columns.extend(table::columns(&IO_COLUMNS, v.sort, GroupSort::title));
        }
        // As the I/O columns: after the names' room, unless a group has a
        // bandwidth limit (then the rates are what the user looks at).
        let has_net = snap.groups.iter().any(|g| g.net.is_some());
        let net_limited = || {
            snap.groups.iter().any(|g| {
                g.net
                    .as_ref()
                    .is_some_and(|n| n.rate_in.is_some() || n.rate_out.is_some())
            })
        };
        let net_min = NET_WIDE + if io { 16 } else { 0 };
        let net = has_net
            && (area.width >= net_min + if name_column { NAME_MAX } else { 0 }
                || (area.width >= net_min && net_limited()));
        if net {
            columns.extend(table::columns(&NET_COLUMNS, v.sort, GroupSort::title));
        }
        if name_column {
            // What the fixed columns (and one space after each) leave
            // inside the border.
            let fixed: u16 = columns
                .iter()
                .map(|c| match c.width {
                    Constraint::Length(n) => n + 1,
                    _ => 0,
                })
                .sum();
            let free = area.width.saturating_sub(2 + fixed + 1);
            let longest = v
                .rows
                .iter()
                .filter_map(|r| display_identity(&snap.groups, r))
                .map(|(badge, name, image)| {
                    badge.chars().count()
                        + 1
                        + name.chars().count()
                        + image.map_or(0, |i| 1 + i.chars().count())
                })
                .max()
                .unwrap_or(0);
            let tree = v
                .rows
                .iter()
                .map(|r| {
                    // Indent, fold marker, the ownership dot, the directory.
                    2 * usize::from(r.depth.min(12))
                        + 4
                        + short_hashes(leaf_name(&snap.groups[r.index].path))
                            .chars()
                            .count()
                })
                .max()
                .unwrap_or(0);
            let want = u16::try_from(longest)
                .unwrap_or(u16::MAX)
                .clamp(NAME_MIN, NAME_MAX);
            let tree = u16::try_from(tree).unwrap_or(u16::MAX);
            let width = want
                .min(free.saturating_sub(tree).max(free / 2))
                .max(NAME_MIN);
            let name = Column {
                title: "NAME",
                width: Constraint::Length(width),
                sorted: false,
            };
            columns.insert(1, name);
        }
        let mut table = ListTable::of(app, Panel::Groups, "Groups", v, columns);
        table.bottom = bottom;
        // Said as the process panel says it (the root group is always
        // there: empty is before the first sample, or the filter).
        table.empty = v.rows.is_empty().then(|| {
            if snap.groups.is_empty() {
                "no groups (waiting for the first sample)".to_string()
            } else {
                format!("no group matches /{} (Esc clears)", v.filter)
            }
        });
        table.render(area, buf, |i, _| {
            let r = &v.rows[i];
            let g = &snap.groups[r.index];
            let mut cells = Vec::with_capacity(10);
            let in_tree = (!name_column)
                .then(|| display_identity(&snap.groups, r))
                .flatten();
            cells.push(name_cell(app, g, r, in_tree));
            if name_column {
                cells.push(identity_cell(&snap.groups, r));
            }
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
            if io {
                cells.extend([
                    io_cell(g.io.read_bytes_per_s),
                    io_cell(g.io.write_bytes_per_s),
                ]);
            }
            if net {
                cells.extend(net_cells(g));
            }
            cells
        });
    }
}

/// The tree cell: indent, fold marker, ownership, then the directory (long
/// ids cut to 12) — or, given `named` (narrow screens), the badge and name.
fn name_cell<'a>(
    app: &App,
    g: &'a GroupSnapshot,
    r: &GroupRow,
    named: Option<(&'a str, Cow<'a, str>, Option<&'a str>)>,
) -> Cell<'a> {
    let mut spans = Vec::with_capacity(5);
    spans.push(Span::raw("  ".repeat(r.depth.min(12) as usize)));
    spans.push(Span::raw(match (r.has_children, r.expanded) {
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
    let mut name = match named {
        Some((badge, name, _)) => {
            spans.push(Span::styled(badge, Style::new().fg(theme::BADGE)));
            spans.push(Span::raw(" "));
            Span::raw(name)
        }
        None => Span::raw(short_hashes(leaf_name(&g.path))),
    };
    if g.frozen == Some(true) {
        name = name.style(Style::new().add_modifier(Modifier::ITALIC));
        spans.push(name);
        spans.push(Span::styled(" ❄", Style::new().fg(theme::MEMORY)));
    } else {
        spans.push(name);
    }
    Cell::from(Line::from(spans))
}

/// `dkr web` (badge, name) and the image dimmed after it.
fn identity_cell<'a>(groups: &'a [GroupSnapshot], r: &GroupRow) -> Cell<'a> {
    let Some((badge, name, image)) = display_identity(groups, r) else {
        return Cell::from("");
    };
    let mut spans = vec![
        Span::styled(badge, Style::new().fg(theme::BADGE)),
        Span::raw(" "),
        Span::raw(name),
    ];
    if let Some(image) = image {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(image, theme::dim()));
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

/// NET RX/s and TX/s: `–` for a group in the host's namespace (or before
/// its second reading); `shared` dimmed where another group in the same
/// namespace carries the numbers (a pod's containers).
fn net_cells(g: &GroupSnapshot) -> [Cell<'static>; 2] {
    match &g.net {
        Some(n) if n.shared_with.is_some() => {
            let c = || Cell::from(Span::styled("shared", theme::dim()));
            [c(), c()]
        }
        Some(n) => [io_cell(n.rx_bytes_per_s), io_cell(n.tx_bytes_per_s)],
        None => [Cell::from("–"), Cell::from("–")],
    }
}

/// Bytes per second as a size (`5M`), `–` when unknown.
fn io_cell(rate: Option<f64>) -> Cell<'static> {
    Cell::from(fmt::bytes(rate.map(|r| r.round() as u64)))
}
