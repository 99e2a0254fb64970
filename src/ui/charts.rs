//! Charts of the selected group: CPU % with the quota as a line, throttling
//! (time and periods), memory with its `max`/`high` lines, and a vertical
//! marker wherever a limit was changed (the latest one named in the title).

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
/// fills its width.
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
        let h = app.history.get(&g.path);
        // The points' times (one list for every series of the group).
        let ts: Vec<u64> = h
            .map(|h| app.history.timestamps(h).collect())
            .unwrap_or_default();
        let last_marker = app.markers.iter().rev().find(|m| m.group == g.path);
        let markers: Vec<&Marker> = app.markers.iter().filter(|m| m.group == g.path).collect();
        let ctx = Ctx {
            g,
            h,
            ts: &ts,
            markers: &markers,
            last_marker,
            now_ms: app.snapshot.timestamp_ms,
            cpus: app.snapshot.cpus,
        };
        if area.height >= 21 {
            let [a, b, c] = Layout::vertical([
                Constraint::Ratio(2, 5),
                Constraint::Ratio(1, 4),
                Constraint::Fill(1),
            ])
            .areas(area);
            ctx.cpu(a, buf, false);
            ctx.throttling(b, buf);
            ctx.memory(c, buf);
        } else if area.width >= 60 {
            let [a, b] =
                Layout::horizontal([Constraint::Percentage(60), Constraint::Fill(1)]).areas(area);
            ctx.cpu(a, buf, true);
            ctx.memory(b, buf);
        } else {
            ctx.cpu(area, buf, true);
        }
    }
}

struct Ctx<'a> {
    g: &'a GroupSnapshot,
    h: Option<&'a GroupHistory>,
    ts: &'a [u64],
    markers: &'a [&'a Marker],
    last_marker: Option<&'a Marker>,
    now_ms: u64,
    cpus: u32,
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

impl Ctx<'_> {
    fn block<'b>(&self, title: Vec<Span<'b>>) -> Block<'b> {
        Block::new()
            .borders(Borders::ALL)
            .border_style(theme::dim())
            .title(Line::from(title))
    }

    fn marker_sets(&self, window: f64, top: f64) -> Vec<Points> {
        self.markers
            .iter()
            .map(|m| (m.timestamp_ms as f64 - self.now_ms as f64) / 1000.0)
            .filter(|x| *x >= -window)
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

    fn chart<'b>(
        &self,
        block: Block<'b>,
        sets: Vec<Dataset<'b>>,
        (window, top, ylabels): (f64, f64, [String; 2]),
        area: Rect,
        buf: &mut Buffer,
    ) {
        let inner_h = area.height.saturating_sub(2);
        let mut x = Axis::default().bounds([-window, 0.0]).style(theme::dim());
        if inner_h >= 8 {
            x = x.labels([format!("-{window:.0}s"), "now".to_string()]);
        }
        let y = Axis::default()
            .bounds([0.0, top])
            .style(theme::dim())
            .labels(ylabels.map(Line::from));
        Chart::new(sets)
            .block(block)
            .x_axis(x)
            .y_axis(y)
            .legend_position(None)
            .render(area, buf);
    }

    /// CPU % with the quota; `with_throttle` adds throttled time (compact layout).
    fn cpu(&self, area: Rect, buf: &mut Buffer, with_throttle: bool) {
        let window = window_s(area.width, self.ts, self.now_ms);
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
        ];
        if with_throttle {
            title.push(Span::raw(" · "));
            title.push(Span::styled(
                format!("thr {}%", fmt::percent(g.cpu.throttled_percent)),
                Style::new().fg(theme::THROTTLED),
            ));
        }
        title.push(Span::raw(" "));
        title.extend(self.marker_span(with_throttle));
        let Some(h) = self.h else {
            return self.block(title).render(area, buf);
        };
        let now = self.now_ms;
        let cpu = series(self.ts, &h.cpu_percent, now, window);
        let limit = series(self.ts, &h.cpu_limit_percent, now, window);
        let thr = if with_throttle {
            series(self.ts, &h.throttled_percent, now, window)
        } else {
            Vec::new()
        };
        let cap = f64::from(self.cpus.max(1)) * 100.0;
        let top = nice_percent((max_y(&[&cpu, &limit, &thr]) * 1.15).clamp(10.0, cap.max(10.0)));
        let marks = self.marker_sets(window, top);
        let mut sets = Vec::new();
        for m in &marks {
            sets.push(line(m, theme::MARKER));
        }
        if with_throttle {
            sets.push(line(&thr, theme::THROTTLED));
        }
        sets.push(line(&limit, theme::LIMIT));
        // Usage on top: pinned at the quota it hides the red line, below it
        // the quota shows above.
        sets.push(line(&cpu, theme::CPU));
        self.chart(
            self.block(title),
            sets,
            (window, top, ["0".into(), format!("{top:.0}%")]),
            area,
            buf,
        );
    }

    fn throttling(&self, area: Rect, buf: &mut Buffer) {
        let window = window_s(area.width, self.ts, self.now_ms);
        let g = self.g;
        let title = vec![
            Span::raw(" "),
            Span::styled(
                format!(
                    "throttled {}% of time",
                    fmt::percent(g.cpu.throttled_percent)
                ),
                Style::new().fg(theme::THROTTLED).bold(),
            ),
            Span::raw(" · "),
            Span::styled(
                format!(
                    "{}% of periods",
                    fmt::percent(g.cpu.throttled_periods_percent)
                ),
                Style::new().fg(theme::PERIODS),
            ),
            Span::raw(format!(" · {} throttled ", fmt::count(g.cpu.nr_throttled))),
        ];
        let Some(h) = self.h else {
            return self.block(title).render(area, buf);
        };
        let now = self.now_ms;
        let t = series(self.ts, &h.throttled_percent, now, window);
        let p = series(self.ts, &h.throttled_periods_percent, now, window);
        // v1 sums throttled time over every CPU's run queue: it can pass 100 %.
        let top = nice_percent(max_y(&[&t, &p]).max(100.0));
        let marks = self.marker_sets(window, top);
        let mut sets: Vec<Dataset> = marks.iter().map(|m| line(m, theme::MARKER)).collect();
        sets.push(line(&p, theme::PERIODS));
        sets.push(line(&t, theme::THROTTLED));
        self.chart(
            self.block(title),
            sets,
            (window, top, ["0".into(), format!("{top:.0}%")]),
            area,
            buf,
        );
    }

    fn memory(&self, area: Rect, buf: &mut Buffer) {
        let window = window_s(area.width, self.ts, self.now_ms);
        let g = self.g;
        let mut title = vec![
            Span::raw(" "),
            Span::styled(
                format!("memory {}", fmt::bytes(g.memory.current_bytes)),
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
        let Some(h) = self.h else {
            return self.block(title).render(area, buf);
        };
        let now = self.now_ms;
        let cur = series(self.ts, &h.memory_bytes, now, window);
        let max = series(self.ts, &h.memory_max_bytes, now, window);
        let high = series(self.ts, &h.memory_high_bytes, now, window);
        let top = nice_bytes(max_y(&[&cur, &max, &high]) * 1.1);
        let marks = self.marker_sets(window, top);
        let mut sets: Vec<Dataset> = marks.iter().map(|m| line(m, theme::MARKER)).collect();
        sets.push(line(&high, theme::HIGH));
        sets.push(line(&max, theme::LIMIT));
        sets.push(line(&cur, theme::MEMORY));
        self.chart(
            self.block(title),
            sets,
            (window, top, ["0".into(), format_size(top as u64)]),
            area,
            buf,
        );
    }
}

fn line(data: &Points, color: ratatui::style::Color) -> Dataset<'_> {
    Dataset::default()
        .marker(Dot::Braille)
        .graph_type(GraphType::Line)
        .style(Style::new().fg(color))
        .data(data)
}
