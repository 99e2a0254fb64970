//! The table both list panels (groups, processes) are drawn with: a
//! bordered block titled with the count, the sort key and the filter; a
//! header line marking the sort column; only the visible rows built, the
//! selection kept in view and highlighted. The mouse maps a screen row
//! back to a list row with the same scrolling ([`row_at`]).
//!
//! The header and rows are drawn here, where the columns fit (always, but
//! on the narrowest terminals), as ratatui's `Table` draws them — the same
//! cells, a test says — without its layout solver: `Table` solves four
//! constraint systems per draw (its rows, its columns), and a frame whose
//! layouts are not in ratatui's cache yet (the first, or the first after a
//! resize or a column width change) spent ~0.9 ms of its ~1.7 ms in the
//! solver at 200×50 (issue 18: startup CPU). Columns that don't fit are
//! left to `Table`, whose solver decides which shrink.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Widget};

use super::{scroll_offset, theme};
use crate::app::{App, GroupsView, Overlay, Panel, ProcsView};

/// A cell of a list row: its text (the first line shows).
pub struct Cell<'a>(Text<'a>);

impl<'a, T: Into<Text<'a>>> From<T> for Cell<'a> {
    fn from(text: T) -> Cell<'a> {
        Cell(text.into())
    }
}

/// The x offset (from the table's left) and width of each column, where
/// one column is `Fill` and the others `Length`, one space apart, and they
/// fit in `width`: the `Fill` column gets what the others leave. `None`
/// otherwise (then `Table` lays them out).
fn fitted(widths: &[Constraint], width: u16) -> Option<Vec<(u16, u16)>> {
    let mut fixed: u32 = 0;
    let mut fills = 0;
    for w in widths {
        match w {
            Constraint::Length(n) => fixed += u32::from(*n),
            Constraint::Fill(_) => fills += 1,
            _ => return None,
        }
    }
    let spaces = widths.len().saturating_sub(1) as u32;
    let fill = u32::from(width).checked_sub(fixed + spaces)?;
    if fills != 1 {
        return None;
    }
    let mut x = 0u16;
    let out = widths
        .iter()
        .map(|w| {
            let n = match w {
                Constraint::Length(n) => *n,
                _ => fill as u16,
            };
            let at = (x, n);
            x += n + 1;
            at
        })
        .collect();
    Some(out)
}

/// Draws one line of cells at `y`, in the columns `at` of a table whose
/// left edge is `x0`, as `Table` draws a row: its style over the line
/// first, then each cell's text.
fn draw_line(
    buf: &mut Buffer,
    x0: u16,
    y: u16,
    width: u16,
    style: Style,
    cells: &[Cell<'_>],
    at: &[(u16, u16)],
) {
    buf.set_style(Rect::new(x0, y, width, 1), style);
    for (cell, &(x, w)) in cells.iter().zip(at) {
        (&cell.0).render(Rect::new(x0 + x, y, w, 1), buf);
    }
}

/// One column: its header, its width, whether the list is sorted by it.
pub struct Column {
    pub title: &'static str,
    pub width: Constraint,
    pub sorted: bool,
}

/// The title of a list panel: ` Groups (12) · sort CPU%▼ ` and, while
/// typed or set, the filter (`/demo▏`).
pub struct Title<'a> {
    /// `Groups`, `Processes: cgdash/demo`.
    pub name: &'a str,
    pub count: usize,
    pub sort: &'static str,
    pub descending: bool,
    /// After the sort key (` · tree`).
    pub extra: &'a str,
    pub filter: &'a str,
    /// The filter is being typed (a cursor shows).
    pub typing: bool,
}

impl Title<'_> {
    fn line(self) -> Line<'static> {
        let mut spans = vec![Span::raw(format!(
            " {} ({}) · sort {}{}{} ",
            self.name,
            self.count,
            self.sort,
            if self.descending { "▼" } else { "▲" },
            self.extra,
        ))];
        if self.typing || !self.filter.is_empty() {
            spans.push(Span::styled(
                format!("/{}{} ", self.filter, if self.typing { "▏" } else { "" }),
                theme::key(),
            ));
        }
        Line::from(spans)
    }
}

/// A list panel: what to draw around the rows and which rows there are.
pub struct ListTable<'a> {
    pub title: Title<'a>,
    /// A note on the bottom border.
    pub bottom: Option<Line<'a>>,
    pub focused: bool,
    pub columns: Vec<Column>,
    /// Rows in the list (all of them, not only the visible ones).
    pub len: usize,
    pub selected: usize,
    /// What to say, centered, when the list is empty (None: nothing).
    pub empty: Option<String>,
}

/// What the table needs of a panel's view.
pub trait ListView {
    fn row_count(&self) -> usize;
    fn selected_row(&self) -> usize;
    /// The sort key's column title.
    fn sort_title(&self) -> &'static str;
    fn descending(&self) -> bool;
    fn filter(&self) -> &str;
}

macro_rules! list_view {
    ($($view:ty),*) => {$(
        impl ListView for $view {
            fn row_count(&self) -> usize {
                self.rows.len()
            }
            fn selected_row(&self) -> usize {
                self.selected
            }
            fn sort_title(&self) -> &'static str {
                self.sort.title()
            }
            fn descending(&self) -> bool {
                self.descending
            }
            fn filter(&self) -> &str {
                &self.filter
            }
        }
    )*};
}

list_view!(GroupsView, ProcsView);

/// Columns from a panel's table of (sort key, width; 0: what the others
/// leave), headed by the sort key's title, the one sorted by marked.
pub fn columns<S: Copy + PartialEq>(
    table: &[(S, u16)],
    sort: S,
    title: impl Fn(S) -> &'static str,
) -> Vec<Column> {
    table
        .iter()
        .map(|&(s, w)| Column {
            title: title(s),
            width: if w == 0 {
                Constraint::Fill(1)
            } else {
                Constraint::Length(w)
            },
            sorted: s == sort,
        })
        .collect()
}

/// Whether a list panel drawn in `area` has room for its optional columns
/// (the groups' USE/LIMIT bar, the processes' CGROUP).
pub fn wide(area: Rect) -> bool {
    area.width >= 90
}

/// The rows' area of a list panel drawn in `area`: inside the border,
/// below the header line.
pub fn body(area: Rect) -> Rect {
    let inner = Block::new().borders(Borders::ALL).inner(area);
    Rect {
        y: inner.y + 1,
        height: inner.height.saturating_sub(1),
        ..inner
    }
}

/// The list row drawn at screen row `y` of a panel in `area` (scrolled to
/// keep `selected` in view, as drawn); None past the last row or outside
/// the rows' area.
pub fn row_at(area: Rect, y: u16, selected: usize, len: usize) -> Option<usize> {
    let body = body(area);
    if y < body.y || y >= body.y + body.height {
        return None;
    }
    let row = scroll_offset(selected, body.height as usize, len) + (y - body.y) as usize;
    (row < len).then_some(row)
}

impl<'a> ListTable<'a> {
    /// The table of `panel`, showing `view` under `name`.
    pub fn of(
        app: &App,
        panel: Panel,
        name: &'a str,
        view: &'a impl ListView,
        columns: Vec<Column>,
    ) -> ListTable<'a> {
        let focused = app.focus == panel;
        ListTable {
            title: Title {
                name,
                count: view.row_count(),
                sort: view.sort_title(),
                descending: view.descending(),
                extra: "",
                filter: view.filter(),
                typing: focused && app.overlay == Overlay::Filter,
            },
            bottom: None,
            focused,
            columns,
            len: view.row_count(),
            selected: view.selected_row(),
            empty: None,
        }
    }

    /// Draws the panel; `row(i, fill)` builds the cells of list row `i`,
    /// `fill` being the width the `Fill` column gets (one space between
    /// columns), for cells that shorten themselves to fit.
    pub fn render<'r>(
        self,
        area: Rect,
        buf: &mut Buffer,
        row: impl FnMut(usize, usize) -> Vec<Cell<'r>>,
    ) {
        self.render_by(area, buf, row, true)
    }

    /// [`ListTable::render`]; `own`: the header and rows drawn here where
    /// the columns fit, else always by ratatui's `Table` (tests compare).
    fn render_by<'r>(
        self,
        area: Rect,
        buf: &mut Buffer,
        mut row: impl FnMut(usize, usize) -> Vec<Cell<'r>>,
        own: bool,
    ) {
        let mut block = Block::new()
            .borders(Borders::ALL)
            .border_style(theme::border(self.focused))
            .title(self.title.line());
        if let Some(bottom) = self.bottom {
            block = block.title_bottom(bottom);
        }
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height < 2 {
            return;
        }
        let header: Vec<Cell> = self
            .columns
            .iter()
            .map(|c| {
                let style = if c.sorted {
                    theme::sorted_column()
                } else {
                    theme::column_header()
                };
                Cell::from(Span::styled(c.title, style))
            })
            .collect();
        let widths: Vec<Constraint> = self.columns.iter().map(|c| c.width).collect();
        let at = fitted(&widths, inner.width).filter(|_| own);
        if let Some(at) = &at {
            draw_line(
                buf,
                inner.x,
                inner.y,
                inner.width,
                Style::new(),
                &header,
                at,
            );
        }
        if self.len == 0 {
            if at.is_none() {
                Table::new(Vec::<Row>::new(), widths)
                    .header(Row::new(header.into_iter().map(ratatui_cell)))
                    .column_spacing(1)
                    .render(inner, buf);
            }
            if let Some(msg) = self.empty {
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
            }
            return;
        }
        let fixed: u16 = widths
            .iter()
            .map(|c| match c {
                Constraint::Length(n) => n + 1,
                _ => 0,
            })
            .sum();
        let fill = inner.width.saturating_sub(fixed) as usize;
        let visible = inner.height.saturating_sub(1) as usize;
        let offset = scroll_offset(self.selected, visible, self.len);
        let selected_style = theme::selected(self.focused);
        let shown = offset..self.len.min(offset + visible);
        if let Some(at) = &at {
            for (y, i) in (inner.y + 1..).zip(shown) {
                let style = if i == self.selected {
                    selected_style
                } else {
                    Style::new()
                };
                draw_line(buf, inner.x, y, inner.width, style, &row(i, fill), at);
            }
            return;
        }
        let rows = shown.map(|i| {
            let r = Row::new(row(i, fill).into_iter().map(ratatui_cell));
            if i == self.selected {
                r.style(selected_style)
            } else {
                r
            }
        });
        Table::new(rows, widths)
            .header(Row::new(header.into_iter().map(ratatui_cell)))
            .column_spacing(1)
            .render(inner, buf);
    }
}

fn ratatui_cell(c: Cell<'_>) -> ratatui::widgets::Cell<'_> {
    ratatui::widgets::Cell::from(c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(len: usize, selected: usize) -> ListTable<'static> {
        ListTable {
            title: Title {
                name: "T",
                count: len,
                sort: "A",
                descending: false,
                extra: "",
                filter: "",
                typing: false,
            },
            bottom: None,
            focused: true,
            columns: vec![
                Column {
                    title: "A",
                    width: Constraint::Length(3),
                    sorted: true,
                },
                Column {
                    title: "B",
                    width: Constraint::Length(5),
                    sorted: false,
                },
                Column {
                    title: "REST",
                    width: Constraint::Fill(1),
                    sorted: false,
                },
            ],
            len,
            selected,
            empty: None,
        }
    }

    /// The `Fill` column's width is what the others and the spaces between
    /// columns leave inside the border (cells that shorten themselves to
    /// fit rely on it), and only the visible rows are built.
    #[test]
    fn hp_fill_width_and_visible_rows() {
        // 30 wide: 28 inside, minus 3 + 5 and two spaces → 18.
        let area = Rect::new(0, 0, 30, 6);
        let mut buf = Buffer::empty(area);
        let mut built = Vec::new();
        table(10, 7).render(area, &mut buf, |i, fill| {
            built.push((i, fill));
            vec![
                Cell::from("x"),
                Cell::from("y"),
                Cell::from("z".repeat(fill)),
            ]
        });
        // 4 lines inside the border, one of them the header: 3 rows, the
        // selection kept in view at the bottom.
        assert_eq!(built, vec![(5, 18), (6, 18), (7, 18)]);
        let last: String = (1..29).map(|x| buf[(x, 4)].symbol()).collect();
        assert_eq!(last, format!("x   y     {}", "z".repeat(18)));
    }

    /// Drawn here, the header and rows are cell for cell what ratatui's
    /// `Table` draws — styles, a selected row, wide characters, text cut at
    /// the column's edge, fewer cells than columns, an empty list — at
    /// every width, the ones where the columns don't fit included (there
    /// `Table` draws them).
    #[test]
    fn rows_drawn_here_are_the_tables() {
        use ratatui::style::{Color, Modifier};
        let cells = |i: usize, fill: usize| -> Vec<Cell<'static>> {
            let mut v = vec![
                Cell::from(Span::styled(format!("{i}"), Style::new().fg(Color::Red))),
                Cell::from(Line::from(vec![
                    Span::raw("日本"),
                    Span::styled("wide", Style::new().add_modifier(Modifier::BOLD)),
                ])),
                Cell::from("z".repeat(fill + i % 3)),
            ];
            if i % 4 == 1 {
                v.pop();
            }
            v
        };
        for len in [0, 1, 10] {
            for width in 2..40 {
                for height in [2, 3, 6] {
                    let area = Rect::new(1, 2, width, height);
                    let (mut own, mut theirs) = (Buffer::empty(area), Buffer::empty(area));
                    table_like(len).render_by(area, &mut own, cells, true);
                    table_like(len).render_by(area, &mut theirs, cells, false);
                    assert_eq!(own, theirs, "{len} rows in {width}×{height}");
                }
            }
        }
    }

    fn table_like(len: usize) -> ListTable<'static> {
        let mut t = table(len, len.saturating_sub(2));
        t.columns[1].width = Constraint::Length(5);
        t.empty = Some("nothing".into());
        t
    }

    #[test]
    fn hp_row_at_follows_the_scrolling() {
        let area = Rect::new(0, 10, 30, 6);
        // Rows at screen lines 12..15 (border, header above).
        assert_eq!(row_at(area, 11, 7, 10), None);
        assert_eq!(row_at(area, 12, 7, 10), Some(5));
        assert_eq!(row_at(area, 14, 7, 10), Some(7));
        assert_eq!(row_at(area, 15, 7, 10), None);
        assert_eq!(row_at(area, 12, 0, 2), Some(0));
        assert_eq!(row_at(area, 14, 0, 2), None);
    }
}
