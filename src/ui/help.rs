//! `?`: every key, generated from the keymap's tables (one line per binding,
//! a section per mode), then how to read the screen. One column that scrolls
//! (↑↓ PgUp PgDn); two columns when the screen is wide and tall enough to
//! show everything at once.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::{centered, theme};
use crate::app::keymap;

/// The help, scrolled down by `scroll` lines (clamped here to what fits).
pub struct HelpOverlay {
    pub scroll: usize,
}

/// One line of the help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelpLine {
    Heading(&'static str),
    /// Keys (`↑ k`), what they do.
    Keys(String, &'static str),
    Text(&'static str),
    Blank,
}

/// How to read the screen (the part of the help that is not keys).
const READING: &[&str] = &[
    "CPU%    CPU used, in % of one CPU (150 = one and a half CPUs)",
    "LIMIT   the CPU quota, in % of one CPU (max: no quota);",
    "        USE/LIMIT: usage against it as a bar",
    "THR%    time the group's threads were held back by the quota,",
    "        per second, summed over CPUs (the kernel counts each",
    "        CPU): 100 = one CPU's worth, more when 2+ CPUs wait",
    "MEM     memory used · MEMMAX its limit · OOM kills by the kernel",
    "PIDS    processes (n/max under a pids limit; – unknown)",
    "●       launched by this cgdash · ○ cgdash's · ❄ frozen",
    "Charts  one time axis for all, now at the right edge:",
    "        green CPU used · red ╌ quota / memory max (drawn on top),",
    "        ━ where the usage reaches the limit and runs along it",
    "        yellow throttled time · magenta % of periods throttled",
    "        white │ a limit change; ▲ in the title names the last",
    "Mouse   click selects a row, the wheel scrolls",
];

/// Every line of the help, in order.
pub fn lines() -> Vec<HelpLine> {
    let mut out = Vec::new();
    for (title, table) in keymap::sections() {
        out.push(HelpLine::Heading(title));
        for b in table {
            let keys: Vec<String> = b.keys.iter().map(|k| k.label()).collect();
            out.push(HelpLine::Keys(keys.join(" "), b.help));
        }
        out.push(HelpLine::Blank);
    }
    out.push(HelpLine::Heading("How to read the screen"));
    out.extend(READING.iter().map(|t| HelpLine::Text(t)));
    out
}

/// How many lines the help has (the app bounds its scrolling with it).
pub fn line_count() -> usize {
    lines().len()
}

/// Width of the key column.
const KEYS_W: usize = 16;

fn render_line(l: &HelpLine) -> Line<'static> {
    match l {
        HelpLine::Heading(t) => Line::from(Span::styled(
            format!(" {t}"),
            theme::column_header().fg(theme::MARKER),
        )),
        HelpLine::Keys(k, d) => Line::from(vec![
            Span::styled(format!(" {k:<KEYS_W$} "), theme::key()),
            Span::raw(*d),
        ]),
        HelpLine::Text(t) => Line::from(Span::raw(format!(" {t}"))),
        HelpLine::Blank => Line::default(),
    }
}

impl Widget for HelpOverlay {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let all = lines();
        let col_w = 72u16;
        // Two columns: split at the heading nearest the middle.
        let split = all
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l, HelpLine::Heading(_)))
            .map(|(i, _)| i)
            .min_by_key(|i| i.abs_diff(all.len() / 2))
            .unwrap_or(0);
        let two_h = split.max(all.len() - split) as u16 + 2;
        let two = area.width >= 2 * col_w + 3 && area.height >= two_h;
        let (w, h) = if two {
            (2 * col_w + 3, two_h)
        } else {
            (col_w + 2, (all.len() as u16 + 2).min(area.height))
        };
        let r = centered(area, w.min(area.width), h);
        Clear.render(r, buf);
        let visible = r.height.saturating_sub(2) as usize;
        let max_scroll = if two {
            0
        } else {
            all.len().saturating_sub(visible)
        };
        let scroll = self.scroll.min(max_scroll);
        let bottom = if max_scroll > 0 {
            format!(
                " ↑↓ PgUp PgDn scroll · {}–{} of {} · Esc closes ",
                scroll + 1,
                (scroll + visible).min(all.len()),
                all.len()
            )
        } else {
            " Esc or ? closes ".to_string()
        };
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(theme::key())
            .title(" Help: cgdash keys ")
            .title_bottom(Line::from(Span::styled(bottom, Style::new())).centered());
        let inner = block.inner(r);
        block.render(r, buf);
        if two {
            let left = Rect {
                width: col_w,
                ..inner
            };
            let right = Rect {
                x: inner.x + col_w + 1,
                width: inner.width.saturating_sub(col_w + 1),
                ..inner
            };
            Paragraph::new(all[..split].iter().map(render_line).collect::<Vec<_>>())
                .render(left, buf);
            Paragraph::new(all[split..].iter().map(render_line).collect::<Vec<_>>())
                .render(right, buf);
        } else {
            let shown: Vec<Line> = all
                .iter()
                .skip(scroll)
                .take(visible)
                .map(render_line)
                .collect();
            Paragraph::new(shown).render(inner, buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::keymap::{sections, Key};

    fn text(buf: &Buffer) -> String {
        let mut s = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                s.push_str(buf[(x, y)].symbol());
            }
            s.push('\n');
        }
        s
    }

    /// Renders the whole help, scrolling through it on a small screen.
    fn rendered(w: u16, h: u16) -> String {
        let mut all = String::new();
        for scroll in 0..line_count() {
            let mut buf = Buffer::empty(Rect::new(0, 0, w, h));
            HelpOverlay { scroll }.render(buf.area, &mut buf);
            all.push_str(&text(&buf));
        }
        all
    }

    /// Every binding of every table shows in the help with its keys and
    /// its description, on one line, on a small and on a large screen.
    #[test]
    fn hu_help_shows_every_binding() {
        for (w, h) in [(80, 24), (160, 48)] {
            let screen = rendered(w, h);
            let screen_lines: Vec<&str> = screen.lines().collect();
            for (title, table) in sections() {
                assert!(screen.contains(title), "{w}x{h}: heading {title}");
                for b in table {
                    assert!(
                        !b.help.trim().is_empty(),
                        "{title}: {:?} has no description",
                        b.keys
                    );
                    assert!(!b.keys.is_empty(), "{title}: `{}` has no key", b.help);
                    let keys: Vec<String> = b.keys.iter().map(|k| k.label()).collect();
                    let want = format!("{:<KEYS_W$} {}", keys.join(" "), b.help);
                    assert!(
                        screen_lines.iter().any(|l| l.contains(&want)),
                        "{w}x{h}: `{want}` is not in the help:\n{screen}"
                    );
                }
            }
            assert!(screen.contains("How to read the screen"));
            assert!(screen.contains("summed over CPUs"));
        }
    }

    /// The keys the old hand-written list forgot are there now.
    #[test]
    fn hu_help_names_the_forgotten_keys() {
        let all = lines();
        let has = |k: &str| {
            all.iter().any(|l| match l {
                HelpLine::Keys(keys, _) => keys.split(' ').any(|x| x == k),
                _ => false,
            })
        };
        for k in [
            "F1",
            "F9",
            "Ctrl-b",
            "Ctrl-f",
            "<",
            ">",
            "Ctrl-c",
            "Shift-Tab",
        ] {
            assert!(has(k), "{k} is missing from the help");
        }
        assert_eq!(Key::Ctrl('u').label(), "Ctrl-u");
    }

    /// Scrolling stops at the last line; the top line moves with it.
    #[test]
    fn hu_help_scrolls_and_clamps() {
        let draw = |scroll| {
            let mut buf = Buffer::empty(Rect::new(0, 0, 80, 24));
            HelpOverlay { scroll }.render(buf.area, &mut buf);
            text(&buf)
        };
        assert_ne!(draw(0), draw(1));
        assert_eq!(draw(1000), draw(line_count()));
        assert!(draw(1000).contains("Mouse"));
        assert!(draw(0).contains("Anywhere"));
    }
}
