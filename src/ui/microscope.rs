//! The throttling microscope (`p`): the selected group's last CFS periods as
//! a strip (one column a period: CPU used against the quota line, throttled
//! periods red and marked `T`, burst above the quota magenta and marked
//! `B`), the distribution of per-period usage, and in words what the
//! periods say: average against the quota, share throttled, throttled time
//! per second, runnable threads against the quota, which quota on the path
//! binds, the burst, and a note on kernels before 5.4.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

use super::theme;
use crate::app::micro::{summarize, Summary};
use crate::app::App;
use crate::cgroup::knob::format_decimal;
use crate::model::GroupSnapshot;
use crate::sampler::periods::{Period, Report, INTERVAL};

pub struct MicroscopePanel<'a>(pub &'a App);

fn ms(ns: u64) -> String {
    format_decimal(ns as f64 / 1e6)
}

fn us_ms(us: u64) -> String {
    format!("{}ms", format_decimal(us as f64 / 1000.0))
}

/// "0.5" CPUs from a percent of one CPU.
fn cpus(percent: f64) -> String {
    format_decimal(percent / 100.0)
}

/// The sentences of the panel, one per line (wrapped when drawn).
pub fn words(app: &App, g: &GroupSnapshot, r: &Report, s: &Summary) -> Vec<Line<'static>> {
    let mut out: Vec<Line> = Vec::new();
    let c = &g.cpu;
    let own_quota = c.limit_percent;
    // Average vs quota, and the share of periods throttled.
    match (own_quota, s.average_percent) {
        (Some(q), Some(avg)) if s.periods > 1 => {
            let share = s.throttled as f64 * 100.0 / s.periods as f64;
            let verdict = if avg < q && share > 50.0 {
                "average below quota, throttled in most periods"
            } else if avg < q && s.throttled > 0 {
                "average below quota, yet throttled"
            } else if s.throttled > 0 {
                "throttled: the quota is too small for the load"
            } else {
                "not throttled"
            };
            let style = if s.throttled > 0 {
                theme::error()
            } else {
                theme::ok()
            };
            out.push(Line::from(vec![
                Span::styled(verdict, style),
                Span::raw(format!(
                    ": average {:.0}% of a CPU vs {}% quota · throttled in {} of {} periods ({share:.0}%)",
                    avg,
                    format_decimal(q),
                    s.throttled,
                    s.periods
                )),
            ]));
            if let Some(t) = s.throttled_per_s {
                out.push(Line::from(format!(
                    "throttled {} ms per second (runqueue time, summed over CPUs)",
                    format_decimal((t * 1000.0).round())
                )));
            }
        }
        (Some(_), _) => out.push(Line::from(format!(
            "reading every {} ms: waiting for periods (the kernel counts them only while the group runs)",
            INTERVAL.as_millis()
        ))),
        (None, _) => out.push(Line::from(
            "no CPU quota on this group: its own periods are not enforced (- sets a quota)",
        )),
    }
    if let Some(last) = r.last {
        out.push(
            Line::from(format!(
                "kernel cpu.stat: nr_periods {} · nr_throttled {} · nr_bursts {} · since opened: {} periods, {} throttled · read {}",
                last.nr_periods,
                last.nr_throttled,
                last.nr_bursts,
                r.sums.periods,
                r.sums.throttled,
                if r.timed { "around each period end" } else { "every 5 ms" }
            ))
            .style(theme::dim()),
        );
    }
    // Runnable threads against the quota in CPUs.
    if let (Some(q), Some(quota_us)) = (own_quota, c.quota_us) {
        if s.runnable > 0 {
            let on = s.runnable.min(app.snapshot.cpus.max(1));
            let gone_ms = quota_us as f64 / 1000.0 / f64::from(on);
            out.push(Line::from(format!(
                "{} runnable thread{} share a {}-CPU quota: a period's quota is gone in ~{} ms of wall time",
                s.runnable,
                if s.runnable == 1 { "" } else { "s" },
                cpus(q),
                format_decimal(gone_ms.round()),
            )));
        }
    }
    // Which quota on the path binds.
    match (c.effective_limit_percent, c.limiting_group.as_deref()) {
        (Some(l), Some(p)) if p == g.path => out.push(Line::from(format!(
            "binding quota: this group's own ({}%); none tighter above it",
            format_decimal(l)
        ))),
        (Some(l), Some(p)) => {
            let thr = app
                .snapshot
                .group(p)
                .and_then(|a| a.cpu.throttled_periods_percent);
            let state = match thr {
                Some(t) if t > 0.0 => format!("and it is throttling ({t:.0}% of its periods)"),
                Some(_) => "and it is not throttling".to_string(),
                None => "its throttling unknown".to_string(),
            };
            out.push(Line::from(format!(
                "binding quota: ancestor {p}'s {}% (tighter than this group's {}), {state}",
                format_decimal(l),
                own_quota.map_or("none".into(), |q| format!("{}%", format_decimal(q)))
            )));
        }
        _ => {}
    }
    // Burst configured and used.
    out.push(Line::from(match c.burst_us {
        None if g.cpu_unread_without_quota => "burst: applies only with a quota".into(),
        None => "burst: not in this kernel (cpu.cfs_burst_us / cpu.max.burst: Linux 5.14)".into(),
        Some(0) => match c.quota_us {
            Some(q) => format!(
                "burst: none · b allows {} (unused quota carried over)",
                us_ms(q)
            ),
            None => "burst: none".into(),
        },
        Some(b) => format!(
            "burst: {} allowed, used in {} of {} periods ({} ms) · b removes it",
            us_ms(b),
            s.burst_periods,
            s.periods,
            ms(s.burst_ns)
        ),
    }));
    if let Some((maj, min)) = r.kernel.filter(|&k| k < (5, 4)) {
        out.push(
            Line::from(format!(
                "kernel {maj}.{min}: before 5.4 groups with many threads were throttled even at low usage (per-CPU quota slices expired unused; fixed in 5.4)"
            ))
            .style(theme::error()),
        );
    }
    out
}

/// The periods as columns (newest on the right), `rows` high, and the row
/// of marks under them.
fn strip(area: Rect, buf: &mut Buffer, periods: &[Period], quota_ns: Option<u64>, burst_ns: u64) {
    if area.height < 2 || area.width == 0 {
        return;
    }
    let rows = area.height - 1;
    let n = periods.len().min(area.width as usize);
    let w = &periods[periods.len() - n..];
    let top = w
        .iter()
        .map(|p| p.used_ns)
        .max()
        .unwrap_or(0)
        .max(quota_ns.unwrap_or(0) + burst_ns)
        .max(1) as f64;
    let eighths = f64::from(rows) * 8.0;
    let level = |ns: u64| ((ns as f64 / top) * eighths).round() as u32;
    let quota_row = quota_ns.map(|q| (level(q) / 8).min(u32::from(rows) - 1));
    const BLOCKS: [&str; 9] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
    let x0 = area.x + area.width - n as u16;
    for (i, p) in w.iter().enumerate() {
        let x = x0 + i as u16;
        let h = level(p.used_ns);
        let q = quota_ns.map(level).unwrap_or(u32::MAX);
        for r in 0..rows {
            let y = area.y + rows - 1 - r;
            let base = u32::from(r) * 8;
            let fill = h.saturating_sub(base).min(8);
            let above_quota = base >= q && p.burst_ns > 0;
            let style = if p.throttled {
                Style::new().fg(theme::LIMIT)
            } else if above_quota {
                Style::new().fg(theme::PERIODS)
            } else {
                Style::new().fg(theme::CPU)
            };
            if fill > 0 {
                buf[(x, y)]
                    .set_symbol(BLOCKS[fill as usize])
                    .set_style(style);
            } else if quota_row == Some(u32::from(r)) {
                buf[(x, y)]
                    .set_symbol("╌")
                    .set_style(Style::new().fg(theme::LIMIT));
            }
        }
        let mark = match (p.throttled, p.burst_ns > 0) {
            (true, _) => ("T", Style::new().fg(theme::LIMIT).bold()),
            (false, true) => ("B", Style::new().fg(theme::PERIODS).bold()),
            _ => ("·", theme::dim()),
        };
        buf[(x, area.y + rows)].set_symbol(mark.0).set_style(mark.1);
    }
}

/// Rows of the strip at most (the marks included).
const MAX_STRIP: u16 = 13;

const BUCKETS: [&str; 5] = ["<25%", "25–50%", "50–75%", "75–100%", "≥100%"];

fn histogram_lines(s: &Summary, width: u16, tall: bool) -> Vec<Line<'static>> {
    if !tall {
        let parts: Vec<String> = BUCKETS
            .iter()
            .zip(s.histogram)
            .map(|(b, n)| format!("{b} {n}"))
            .collect();
        return vec![Line::from(format!(
            "periods by CPU used, % of quota: {}",
            parts.join(" · ")
        ))];
    }
    let most = s.histogram.iter().copied().max().unwrap_or(0).max(1);
    let bar_w = width.saturating_sub(16) as usize;
    let mut out = vec![Line::from("periods by CPU used (% of the quota):").style(theme::dim())];
    for (b, n) in BUCKETS.iter().zip(s.histogram) {
        let len = n * bar_w / most;
        out.push(Line::from(vec![
            Span::raw(format!("{b:>8} ")),
            Span::styled("█".repeat(len), Style::new().fg(theme::CPU)),
            Span::raw(format!(" {n}")),
        ]));
    }
    out
}

/// Lines a text of `chars` characters takes wrapped at `width`, about.
fn wrapped(line: &Line, width: u16) -> u16 {
    let w = line.width().max(1);
    w.div_ceil(usize::from(width.max(1)))
        .min(usize::from(u16::MAX)) as u16
}

impl Widget for MicroscopePanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let g = app.selected_group();
        let title = match g {
            Some(g) => {
                let quota = match (g.cpu.quota_us, g.cpu.period_us) {
                    (Some(q), Some(p)) => format!("quota {} per {} period", us_ms(q), us_ms(p)),
                    (None, Some(p)) => format!("no quota · period {}", us_ms(p)),
                    // Not read without a quota (`cgroup::reader::quota_only`).
                    (None, None) if g.cpu_unread_without_quota => "no quota".into(),
                    _ => "no cpu controller".into(),
                };
                format!(" CPU microscope · {} · {quota} ", g.path)
            }
            None => " CPU microscope ".into(),
        };
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(theme::PERIODS))
            .title(title)
            .title_bottom(
                Line::from(" █ used · ╌ quota · T throttled · B burst · p close ")
                    .style(theme::dim()),
            );
        let inner = block.inner(area);
        block.render(area, buf);
        let Some(g) = g else {
            Paragraph::new("select a group").render(inner, buf);
            return;
        };
        let internal = crate::cgroup::normalize_path(&g.path);
        let report = app
            .microscope
            .as_ref()
            .and_then(|m| m.report.as_deref())
            .filter(|r| r.group == internal);
        let Some(r) = report else {
            Paragraph::new(format!(
                "reading {} every {} ms…",
                g.path,
                INTERVAL.as_millis()
            ))
            .render(inner, buf);
            return;
        };
        if let Some(p) = &r.problem {
            Paragraph::new(format!("cannot read the periods: {p}"))
                .style(theme::error())
                .wrap(Wrap { trim: false })
                .render(inner, buf);
            return;
        }
        let s = summarize(&r.periods, g.cpu.quota_us);
        let text = words(app, g, r, &s);
        let words_h: u16 = text.iter().map(|l| wrapped(l, inner.width)).sum();
        let left = inner.height.saturating_sub(words_h);
        let tall = left >= 10;
        let hist = histogram_lines(&s, inner.width, tall);
        let hist_h = hist.len() as u16;
        let words_h = words_h.min(inner.height);
        Paragraph::new(text).wrap(Wrap { trim: false }).render(
            Rect {
                height: words_h,
                ..inner
            },
            buf,
        );
        let strip_h = inner.height.saturating_sub(words_h + hist_h).min(MAX_STRIP);
        let strip_area = Rect {
            y: inner.y + words_h,
            height: strip_h,
            ..inner
        };
        let quota_ns = g.cpu.quota_us.map(|q| q * 1000);
        let burst_ns = g.cpu.burst_us.unwrap_or(0) * 1000;
        strip(strip_area, buf, &r.periods, quota_ns, burst_ns);
        let hist_area = Rect {
            y: strip_area.y + strip_h,
            height: inner.height.saturating_sub(words_h + strip_h),
            ..inner
        };
        Paragraph::new(hist).render(hist_area, buf);
    }
}
