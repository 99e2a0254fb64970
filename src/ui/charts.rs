//! Charts of the selected group: CPU % with the quota, throttling on its own
//! scale (time and periods), memory with its `max`/`high` lines, disk I/O
//! with the write limit (on tall screens, for groups with I/O readings) or,
//! in its place, the network of a group in a namespace of its own with the
//! bandwidth limits, and a
//! vertical marker wherever a limit was changed (the latest one named in the
//! title). Every chart shows the same time window, so markers line up; limit
//! lines are drawn last, with their own character, so usage sitting on a
//! limit cannot hide it. Each chart's bottom border is its legend.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker as Dot;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Widget};

use super::{format as fmt, theme};
use crate::app::{App, Marker};
use crate::cgroup::knob::format_size;
use crate::model::GroupSnapshot;
use crate::sampler::{GroupHistory, Series};

pub struct ChartsPanel<'a>(pub &'a App);

type Points = Vec<(f64, f64)>;

/// Time window shown, seconds: up to 60 s (narrow) or 120 s (wide), and no
/// more than the history there is (rounded up to 15 s), so a fresh chart
/// fills its width. One window for all the charts (from the narrowest), so
/// a moment sits at the same column in each.
fn window_s(width: u16, ts: &[u64], now_ms: u64) -> f64 {
    let most = if width >= 70 { 120.0 } else { 60.0 };
    let span = ts
        .first()
        .map(|first| now_ms.saturating_sub(*first) as f64 / 1000.0)
        .unwrap_or(0.0);
    ((span / 15.0).ceil() * 15.0).clamp(15.0, most)
}

impl Widget for ChartsPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let Some(g) = app.selected_group() else {
            let b = Block::new()
                .borders(Borders::ALL)
                .border_style(theme::dim())
                .title(" Charts ");
            let inner = b.inner(area);
            b.render(area, buf);
            Paragraph::new("select a group")
                .centered()
                .render(inner, buf);
            return;
        };
        // Disk I/O gets a chart when the group has readings of it (the
        // io/blkio controller serves it).
        let io = g.io.write_bytes_per_s.is_some() || g.io.read_bytes_per_s.is_some();
        // The network's chart takes that place for a group in a namespace
        // of its own with an interface besides `lo` or a bandwidth limit
        // (a `cgdash run` workload has only `lo`: its I/O chart stays).
        let net = g.net.as_ref().is_some_and(|n| {
            n.shared_with.is_none()
                && (n.rate_in.is_some()
                    || n.rate_out.is_some()
                    || n.interfaces.iter().any(|i| i.name != "lo"))
        });
        let last = if net { Part::Net } else { Part::Io };
        let parts: Vec<(Part, Rect)> = if (io || net) && area.height >= 28 {
            let [a, b, c, d] = Layout::vertical([
                Constraint::Ratio(1, 3),
                Constraint::Ratio(1, 6),
                Constraint::Fill(1),
                Constraint::Ratio(1, 4),
            ])
            .areas(area);
            vec![
                (Part::Cpu, a),
                (Part::Throttling, b),
                (Part::Memory, c),
                (last, d),
            ]
        } else if area.height >= 21 {
            let [a, b, c] = Layout::vertical([
                Constraint::Ratio(2, 5),
                Constraint::Ratio(1, 4),
                Constraint::Fill(1),
            ])
            .areas(area);
            vec![(Part::Cpu, a), (Part::Throttling, b), (Part::Memory, c)]
        } else if area.width >= 60 {
            let [a, b, c] = Layout::horizontal([
                Constraint::Percentage(42),
                Constraint::Percentage(28),
                Constraint::Fill(1),
            ])
            .areas(area);
            vec![(Part::Cpu, a), (Part::Throttling, b), (Part::Memory, c)]
        } else {
            vec![(Part::Cpu, area)]
        };
        draw_parts(app, g, &parts, buf);
    }
}

/// Draws `parts` of group `g`'s charts in one time window, with the
/// markers of its limit changes (this panel, and the I/O microscope).
pub(super) fn draw_parts(app: &App, g: &GroupSnapshot, parts: &[(Part, Rect)], buf: &mut Buffer) {
    let h = app.history.get(&g.path);
    // The points' times (one list for every series of the group).
    let ts: Vec<u64> = h
        .map(|h| app.history.timestamps(h).collect())
        .unwrap_or_default();
    let last_marker = app.markers.iter().rev().find(|m| m.group == g.path);
    let markers: Vec<&Marker> = app.markers.iter().filter(|m| m.group == g.path).collect();
    let narrowest = parts.iter().map(|p| p.1.width).min().unwrap_or(0);
    let ctx = Ctx {
        g,
        h,
        ts: &ts,
        markers: &markers,
        last_marker,
        now_ms: app.snapshot.timestamp_ms,
        cpus: app.snapshot.cpus,
        window: window_s(narrowest, &ts, app.snapshot.timestamp_ms),
    };
    let alone = parts.len() == 1;
    for &(part, r) in parts {
        let compact = r.width < 60;
        match part {
            Part::Cpu => ctx.cpu(r, buf, compact, alone),
            Part::Throttling => ctx.throttling(r, buf, compact),
            Part::Memory => ctx.memory(r, buf, compact),
            Part::Io => ctx.io(r, buf),
            Part::IoWrite => ctx.io_one(r, buf, true),
            Part::IoRead => ctx.io_one(r, buf, false),
            Part::Dirty => ctx.dirty(r, buf),
            Part::Net => ctx.net(r, buf),
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Part {
    Cpu,
    Throttling,
    Memory,
    Io,
    /// One direction against its own limit (the I/O microscope).
    IoWrite,
    IoRead,
    /// Dirty and writeback page cache (the I/O microscope).
    Dirty,
    Net,
}

struct Ctx<'a> {
    g: &'a GroupSnapshot,
    h: Option<&'a GroupHistory>,
    ts: &'a [u64],
    markers: &'a [&'a Marker],
    last_marker: Option<&'a Marker>,
    now_ms: u64,
    cpus: u32,
    /// Seconds shown, the same in every chart.
    window: f64,
}

fn series(ts: &[u64], vals: &Series, now: u64, window: f64) -> Points {
    ts.iter()
        .zip(vals.iter())
        .filter_map(|(&t, v)| {
            let x = (t as f64 - now as f64) / 1000.0;
            match v {
                Some(v) if x >= -window => Some((x, v)),
                _ => None,
            }
        })
        .collect()
}

fn max_y(sets: &[&Points]) -> f64 {
    sets.iter()
        .flat_map(|s| s.iter().map(|p| p.1))
        .fold(0.0, f64::max)
}

/// A round upper bound for percent axes.
fn nice_percent(x: f64) -> f64 {
    let step = if x <= 20.0 {
        5.0
    } else if x <= 100.0 {
        25.0
    } else {
        50.0
    };
    ((x / step).ceil() * step).max(step)
}

/// A round upper bound for byte axes (a multiple of a power of two).
fn nice_bytes(x: f64) -> f64 {
    let x = x.max(1024.0 * 1024.0);
    let mut step = 1024.0 * 1024.0;
    while x / step > 4.0 {
        step *= 2.0;
    }
    (x / step).ceil() * step
}

/// The character of limit lines (quota, memory max/high): not a Braille
/// dot like the usage, and drawn after it.
const LIMIT_MARK: char = '╌';

/// A limit cell the usage also passes through: the usage is at the limit.
const AT_LIMIT: &str = "━";

/// Width of the y axis labels (`100%`, `1.5G`, `0`).
const Y_LABEL_W: usize = 4;

fn key(sym: &str, color: ratatui::style::Color) -> Span<'static> {
    Span::styled(sym.to_string(), Style::new().fg(color))
}

impl Ctx<'_> {
    /// A chart's frame: the title on top, the legend in the bottom border.
    fn block<'b>(&self, title: Vec<Span<'b>>, legend: Vec<Span<'b>>) -> Block<'b> {
        let mut b = Block::new()
            .borders(Borders::ALL)
            .border_style(theme::dim())
            .title(Line::from(title));
        if !legend.is_empty() {
            let mut l = vec![Span::raw(" ")];
            l.extend(legend);
            l.push(Span::raw(" "));
            b = b.title_bottom(Line::from(l));
        }
        b
    }

    fn marker_sets(&self, top: f64) -> Vec<Points> {
        self.markers
            .iter()
            .map(|m| (m.timestamp_ms as f64 - self.now_ms as f64) / 1000.0)
            .filter(|x| *x >= -self.window)
            .map(|x| vec![(x, 0.0), (x, top)])
            .collect()
    }

    /// The latest change: `▲ cpu=50% 12s ago` (compact: `▲cpu=50%`).
    fn marker_span(&self, compact: bool) -> Option<Span<'static>> {
        self.last_marker.map(|m| {
            Span::styled(
                if compact {
                    format!("▲{} ", m.label)
                } else {
                    format!(
                        " ▲ {} {} ago ",
                        m.label,
                        fmt::ago(self.now_ms.saturating_sub(m.timestamp_ms))
                    )
                },
                Style::new().fg(theme::MARKER).bold(),
            )
        })
    }

    fn series(&self, vals: &Series) -> Points {
        series(self.ts, vals, self.now_ms, self.window)
    }

    fn chart<'b>(
        &self,
        block: Block<'b>,
        sets: Vec<Dataset<'b>>,
        (top, ylabels): (f64, [String; 2]),
        area: Rect,
        buf: &mut Buffer,
    ) {
        let window = self.window;
        let inner_h = area.height.saturating_sub(2);
        let mut x = Axis::default().bounds([-window, 0.0]).style(theme::dim());
        if inner_h >= 8 {
            x = x.labels([format!("-{window:.0}s"), "now".to_string()]);
        }
        // Labels of one width in every chart: the plots then start at the
        // same column, and stacked charts' markers line up.
        let y = Axis::default()
            .bounds([0.0, top])
            .style(theme::dim())
            .labels(ylabels.map(|l| Line::from(format!("{l:>Y_LABEL_W$}"))));
        Chart::new(sets)
            .block(block)
            .x_axis(x)
            .y_axis(y)
            .legend_position(None)
            .render(area, buf);
    }

    /// CPU % against the quota (the quota line on top of the usage).
    /// `alone`: no throttling chart beside it (too narrow), so its title
    /// carries the throttled % (as a number only: not on this scale).
    fn cpu(&self, area: Rect, buf: &mut Buffer, compact: bool, alone: bool) {
        let g = self.g;
        let mut title = vec![
            Span::raw(" "),
            Span::styled(
                format!("CPU {}%", fmt::percent(g.cpu.usage_percent)),
                Style::new().fg(theme::CPU).bold(),
            ),
            Span::raw(" · "),
            Span::styled(
                format!("quota {}", fmt::cpu_limit(g.cpu.limit_percent)),
                Style::new().fg(theme::LIMIT),
            ),
            Span::raw(" "),
        ];
        if alone && !g.cpu_unread_without_quota {
            title.push(Span::styled(
                format!("· thr {}% ", fmt::percent(g.cpu.throttled_percent)),
                Style::new().fg(theme::THROTTLED),
            ));
        }
        title.extend(self.marker_span(compact));
        let mut legend = Vec::new();
        if area.height < 10 {
            // Too short for the time axis' labels: say the window here.
            legend.push(Span::styled(format!("{:.0}s: ", self.window), theme::dim()));
        }
        // The limit's keys first: a narrow chart cuts the legend's end.
        legend.extend([
            key(&format!("{LIMIT_MARK} quota "), theme::LIMIT),
            key(&format!("{AT_LIMIT} at quota "), theme::LIMIT),
            key("⣀ used ", theme::CPU),
            key("│ change", theme::MARKER),
        ]);
        let block = self.block(title, legend);
        let Some(h) = self.h else {
            return block.render(area, buf);
        };
        let cpu = self.series(&h.cpu_percent);
        let limit = self.series(&h.cpu_limit_percent);
        let cap = f64::from(self.cpus.max(1)) * 100.0;
        let top = nice_percent((max_y(&[&cpu, &limit]) * 1.15).clamp(10.0, cap.max(10.0)));
        let marks = self.marker_sets(top);
        let mut sets: Vec<Dataset> = marks.iter().map(|m| line(m, theme::MARKER)).collect();
        sets.push(line(&cpu, theme::CPU));
        // Last: usage pinned at the quota must not hide it.
        sets.push(limit_line(&limit, theme::LIMIT));
        let labels = ["0".to_string(), format!("{top:.0}%")];
        self.chart(block, sets, (top, labels.clone()), area, buf);
        self.mark_reached(&cpu, &limit, (top, labels), area, buf);
    }

    /// Throttling on its own scale: the kernel adds up the time each CPU's
    /// share of the group waited, so with 2+ CPUs it passes 100 % (of one CPU).
    fn throttling(&self, area: Rect, buf: &mut Buffer, compact: bool) {
        let g = self.g;
        let t = fmt::percent(g.cpu.throttled_percent);
        let p = fmt::percent(g.cpu.throttled_periods_percent);
        let title = if g.cpu_unread_without_quota {
            // Its counters are its own quota's: none, nothing to count
            // (`cgroup::reader::quota_only`; an ancestor's quota is counted
            // on the ancestor).
            vec![
                Span::raw(" "),
                Span::styled(
                    if compact {
                        "throttled: no quota"
                    } else {
                        "throttled: no quota of its own"
                    },
                    Style::new().fg(theme::THROTTLED).bold(),
                ),
                Span::raw(" "),
            ]
        } else if compact {
            vec![
                Span::raw(" "),
                Span::styled(
                    format!("throttled {t}%"),
                    Style::new().fg(theme::THROTTLED).bold(),
                ),
                Span::raw(" "),
            ]
        } else {
            vec![
                Span::raw(" "),
                Span::styled(
                    format!("throttled {t}% of a CPU"),
                    Style::new().fg(theme::THROTTLED).bold(),
                ),
                Span::raw(" · "),
                Span::styled(format!("{p}% of periods"), Style::new().fg(theme::PERIODS)),
                Span::raw(format!(" · {} throttled ", fmt::count(g.cpu.nr_throttled))),
            ]
        };
        let legend = if compact {
            vec![
                key("⣀ time Σ CPUs ", theme::THROTTLED),
                key("⣀ periods", theme::PERIODS),
            ]
        } else {
            vec![
                key(
                    "⣀ time waited, % of one CPU (summed over CPUs: can pass 100) ",
                    theme::THROTTLED,
                ),
                key("⣀ % of periods", theme::PERIODS),
            ]
        };
        let block = self.block(title, legend);
        let Some(h) = self.h else {
            return block.render(area, buf);
        };
        let t = self.series(&h.throttled_percent);
        let p = self.series(&h.throttled_periods_percent);
        let top = nice_percent(max_y(&[&t, &p]).max(100.0));
        let marks = self.marker_sets(top);
        let mut sets: Vec<Dataset> = marks.iter().map(|m| line(m, theme::MARKER)).collect();
        sets.push(line(&p, theme::PERIODS));
        sets.push(line(&t, theme::THROTTLED));
        self.chart(
            block,
            sets,
            (top, ["0".into(), format!("{top:.0}%")]),
            area,
            buf,
        );
    }

    fn memory(&self, area: Rect, buf: &mut Buffer, compact: bool) {
        let g = self.g;
        let mut title = vec![
            Span::raw(" "),
            Span::styled(
                format!(
                    "{} {}",
                    if compact { "mem" } else { "memory" },
                    fmt::bytes(g.memory.current_bytes)
                ),
                Style::new().fg(theme::MEMORY).bold(),
            ),
            Span::raw(" · "),
            Span::styled(
                match g.memory.max_bytes {
                    Some(m) => format!("max {}", format_size(m)),
                    None => "no limit".into(),
                },
                Style::new().fg(theme::LIMIT),
            ),
        ];
        if let Some(hi) = g.memory.high_bytes {
            title.push(Span::raw(" · "));
            title.push(Span::styled(
                format!("high {}", format_size(hi)),
                Style::new().fg(theme::HIGH),
            ));
        }
        if let (Some(c), Some(m)) = (g.pids.current, g.pids.max) {
            title.push(Span::raw(format!(" · pids {c}/{m}")));
            if let Some(r) = g.pids.max_events.filter(|r| *r > 0) {
                title.push(Span::styled(
                    format!(" · {r} forks refused"),
                    Style::new().fg(theme::THROTTLED),
                ));
            }
        }
        if let Some(k) = g.memory.oom_kills.filter(|k| *k > 0) {
            title.push(Span::styled(format!(" · {k} OOM kills"), theme::error()));
        }
        title.push(Span::raw(" "));
        let mut legend = vec![key("⣀ used", theme::MEMORY)];
        if g.memory.max_bytes.is_some() {
            legend.push(key(
                &format!(" {LIMIT_MARK} max {AT_LIMIT} at max"),
                theme::LIMIT,
            ));
        }
        if g.memory.high_bytes.is_some() {
            legend.push(key(&format!(" {LIMIT_MARK} high"), theme::HIGH));
        }
        let block = self.block(title, legend);
        let Some(h) = self.h else {
            return block.render(area, buf);
        };
        let cur = self.series(&h.memory_bytes);
        let max = self.series(&h.memory_max_bytes);
        let high = self.series(&h.memory_high_bytes);
        let top = nice_bytes(max_y(&[&cur, &max, &high]) * 1.1);
        let marks = self.marker_sets(top);
        let mut sets: Vec<Dataset> = marks.iter().map(|m| line(m, theme::MARKER)).collect();
        sets.push(line(&cur, theme::MEMORY));
        sets.push(limit_line(&high, theme::HIGH));
        sets.push(limit_line(&max, theme::LIMIT));
        let labels = ["0".to_string(), format_size(top as u64)];
        self.chart(block, sets, (top, labels.clone()), area, buf);
        self.mark_reached(&cur, &max, (top, labels), area, buf);
    }

    /// Disk I/O, bytes/s, written and read, against the write limit.
    fn io(&self, area: Rect, buf: &mut Buffer) {
        let g = self.g;
        let rate = |r: Option<f64>| fmt::bytes(r.map(|r| r.round() as u64));
        let limit = crate::sampler::write_limit(g);
        let title = vec![
            Span::raw(" "),
            Span::styled(
                format!("io write {}/s", rate(g.io.write_bytes_per_s)),
                Style::new().fg(theme::MEMORY).bold(),
            ),
            Span::raw(format!(" · read {}/s · ", rate(g.io.read_bytes_per_s))),
            Span::styled(
                match limit {
                    Some(l) => format!("write limit {}/s", format_size(l as u64)),
                    None => "no write limit".into(),
                },
                Style::new().fg(theme::LIMIT),
            ),
            Span::raw(" "),
        ];
        let mut legend = vec![key("⣀ write", theme::MEMORY), key(" ⣀ read", theme::CPU)];
        if limit.is_some() {
            legend.push(key(
                &format!(" {LIMIT_MARK} limit {AT_LIMIT} at limit"),
                theme::LIMIT,
            ));
        }
        let block = self.block(title, legend);
        let Some(h) = self.h else {
            return block.render(area, buf);
        };
        let write = self.series(&h.io_write_bps);
        let read = self.series(&h.io_read_bps);
        let max = self.series(&h.io_write_limit_bps);
        let top = nice_bytes(max_y(&[&write, &read, &max]).max(1024.0) * 1.1);
        let marks = self.marker_sets(top);
        let mut sets: Vec<Dataset> = marks.iter().map(|m| line(m, theme::MARKER)).collect();
        sets.push(line(&read, theme::CPU));
        sets.push(line(&write, theme::MEMORY));
        sets.push(limit_line(&max, theme::LIMIT));
        let labels = ["0".to_string(), format_size(top as u64)];
        self.chart(block, sets, (top, labels.clone()), area, buf);
        self.mark_reached(&write, &max, (top, labels), area, buf);
    }

    /// Network bytes/s, sent and received (all interfaces but `lo`),
    /// against the bandwidth limits.
    fn net(&self, area: Rect, buf: &mut Buffer) {
        let Some(n) = self.g.net.as_ref() else {
            return;
        };
        let rate = |r: Option<f64>| fmt::bytes(r.map(|r| r.round() as u64));
        let limit = |l: Option<u64>, what: &str| match l {
            Some(l) => format!("{what} {}/s", format_size(l)),
            None => format!("no {what}"),
        };
        let title = vec![
            Span::raw(" "),
            Span::styled(
                format!("net tx {}/s", rate(n.tx_bytes_per_s)),
                Style::new().fg(theme::MEMORY).bold(),
            ),
            Span::raw(format!(" · rx {}/s · ", rate(n.rx_bytes_per_s))),
            Span::styled(limit(n.rate_out, "rate_out"), Style::new().fg(theme::LIMIT)),
            Span::raw(" · "),
            Span::styled(limit(n.rate_in, "rate_in"), Style::new().fg(theme::HIGH)),
            Span::raw(" "),
        ];
        let mut legend = vec![key("⣀ tx", theme::MEMORY), key(" ⣀ rx", theme::CPU)];
        if n.rate_out.is_some() {
            legend.push(key(
                &format!(" {LIMIT_MARK} rate_out {AT_LIMIT} at limit"),
                theme::LIMIT,
            ));
        }
        if n.rate_in.is_some() {
            legend.push(key(&format!(" {LIMIT_MARK} rate_in"), theme::HIGH));
        }
        let block = self.block(title, legend);
        let Some(h) = self.h else {
            return block.render(area, buf);
        };
        let tx = self.series(&h.net_tx_bps);
        let rx = self.series(&h.net_rx_bps);
        let out = self.series(&h.net_rate_out);
        let inn = self.series(&h.net_rate_in);
        let top = nice_bytes(max_y(&[&tx, &rx, &out, &inn]).max(1024.0) * 1.1);
        let marks = self.marker_sets(top);
        let mut sets: Vec<Dataset> = marks.iter().map(|m| line(m, theme::MARKER)).collect();
        sets.push(line(&rx, theme::CPU));
        sets.push(line(&tx, theme::MEMORY));
        sets.push(limit_line(&inn, theme::HIGH));
        sets.push(limit_line(&out, theme::LIMIT));
        let labels = ["0".to_string(), format_size(top as u64)];
        self.chart(block, sets, (top, labels.clone()), area, buf);
        self.mark_reached(&tx, &out, (top, labels), area, buf);
    }

    /// One direction of disk I/O, bytes/s, against its limit (all disks'
    /// `write_bps` or `read_bps` added up).
    fn io_one(&self, area: Rect, buf: &mut Buffer, write: bool) {
        let g = self.g;
        let rate = |r: Option<f64>| fmt::bytes(r.map(|r| r.round() as u64));
        let (name, now, limit, color) = if write {
            let l = crate::sampler::write_limit(g);
            ("write", g.io.write_bytes_per_s, l, theme::MEMORY)
        } else {
            let l = crate::sampler::read_limit(g);
            ("read", g.io.read_bytes_per_s, l, theme::CPU)
        };
        let title = vec![
            Span::raw(" "),
            Span::styled(
                format!("{name} {}/s", rate(now)),
                Style::new().fg(color).bold(),
            ),
            Span::raw(" · "),
            Span::styled(
                match limit {
                    Some(l) => format!("limit {}/s", format_size(l as u64)),
                    None => "no limit".into(),
                },
                Style::new().fg(theme::LIMIT),
            ),
            Span::raw(" "),
        ];
        let mut legend = vec![key(&format!("⣀ {name}"), color)];
        if limit.is_some() {
            legend.push(key(
                &format!(" {LIMIT_MARK} limit {AT_LIMIT} at limit"),
                theme::LIMIT,
            ));
        }
        // The last change of the group's limits (the write limit's keys).
        if write {
            legend.push(Span::raw(" "));
            legend.extend(self.marker_span(true));
        }
        let block = self.block(title, legend);
        let Some(h) = self.h else {
            return block.render(area, buf);
        };
        let (vals, lim) = if write {
            (&h.io_write_bps, &h.io_write_limit_bps)
        } else {
            (&h.io_read_bps, &h.io_read_limit_bps)
        };
        let cur = self.series(vals);
        let max = self.series(lim);
        let top = nice_bytes(max_y(&[&cur, &max]).max(1024.0) * 1.1);
        let marks = self.marker_sets(top);
        let mut sets: Vec<Dataset> = marks.iter().map(|m| line(m, theme::MARKER)).collect();
        sets.push(line(&cur, color));
        sets.push(limit_line(&max, theme::LIMIT));
        let labels = ["0".to_string(), format_size(top as u64)];
        self.chart(block, sets, (top, labels.clone()), area, buf);
        self.mark_reached(&cur, &max, (top, labels), area, buf);
    }

    /// Dirty page cache (written to, not yet on its way to disk) and page
    /// cache under writeback, bytes.
    fn dirty(&self, area: Rect, buf: &mut Buffer) {
        let g = self.g;
        let title = vec![
            Span::raw(" "),
            Span::styled(
                format!("dirty {}", fmt::bytes(g.memory.dirty_bytes)),
                Style::new().fg(theme::THROTTLED).bold(),
            ),
            Span::raw(" · "),
            Span::styled(
                format!("writeback {}", fmt::bytes(g.memory.writeback_bytes)),
                Style::new().fg(theme::PERIODS),
            ),
            Span::raw(" "),
        ];
        let legend = vec![
            key("⣀ dirty", theme::THROTTLED),
            key(" ⣀ writeback", theme::PERIODS),
        ];
        let block = self.block(title, legend);
        let Some(h) = self.h else {
            return block.render(area, buf);
        };
        let dirty = self.series(&h.memory_dirty_bytes);
        let wb = self.series(&h.memory_writeback_bytes);
        let top = nice_bytes(max_y(&[&dirty, &wb]) * 1.1);
        let marks = self.marker_sets(top);
        let mut sets: Vec<Dataset> = marks.iter().map(|m| line(m, theme::MARKER)).collect();
        sets.push(line(&wb, theme::PERIODS));
        sets.push(line(&dirty, theme::THROTTLED));
        let labels = ["0".to_string(), format_size(top as u64)];
        self.chart(block, sets, (top, labels), area, buf);
    }

    /// Where the usage runs along a limit line (both in one cell), the
    /// limit's `╌` becomes `━`: pinned at the limit, which the limit line
    /// drawn on top would otherwise hide. The usage alone is drawn in a
    /// scratch buffer, same layout, to know its cells. `limit` is the line
    /// drawn in the limit's colour: with no point of it in the window (no
    /// limit: the usual case) there is nothing to mark, and the scratch
    /// drawing, a whole chart per chart per frame, is skipped (issue 18:
    /// at 200 processes it was ~6 % of the dashboard's CPU per refresh).
    fn mark_reached(
        &self,
        usage: &Points,
        limit: &Points,
        scale: (f64, [String; 2]),
        area: Rect,
        buf: &mut Buffer,
    ) {
        if limit.is_empty() {
            return;
        }
        let mut scratch = Buffer::empty(area);
        let sets = vec![line(usage, theme::CPU)];
        self.chart(
            Block::new().borders(Borders::ALL),
            sets,
            scale,
            area,
            &mut scratch,
        );
        let inner = Block::new().borders(Borders::ALL).inner(area);
        let mark = LIMIT_MARK.to_string();
        for y in inner.top()..inner.bottom() {
            for x in inner.left()..inner.right() {
                let used = scratch[(x, y)]
                    .symbol()
                    .chars()
                    .any(|c| ('⠁'..='⣿').contains(&c));
                let cell = &mut buf[(x, y)];
                if used && cell.fg == theme::LIMIT && cell.symbol() == mark {
                    cell.set_symbol(AT_LIMIT);
                }
            }
        }
    }
}

/// A limit's line: its own character, one per cell (drawn as a layer of
/// its own, it replaces what is under it).
fn limit_line(data: &Points, color: ratatui::style::Color) -> Dataset<'_> {
    line(data, color).marker(Dot::Custom(LIMIT_MARK))
}

fn line(data: &Points, color: ratatui::style::Color) -> Dataset<'_> {
    Dataset::default()
        .marker(Dot::Braille)
        .graph_type(GraphType::Line)
        .style(Style::new().fg(color))
        .data(data)
}
