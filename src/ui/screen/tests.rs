//! `Screen` against a model terminal: after every frame, what the terminal
//! shows must be the frame — and the same as what `ratatui::Terminal` leaves.

use std::convert::Infallible;

use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::{Buffer, Cell, CellWidth};
use ratatui::layout::{Position, Rect, Size};
use ratatui::style::{Color, Modifier, Style};
use ratatui::Terminal;

use super::Screen;

/// What a terminal shows at a column: a glyph with its style, the right
/// part of the wide glyph to its left, or what is left of a wide glyph that
/// was partly overwritten.
#[derive(Clone, Debug, PartialEq)]
enum Shown {
    Glyph(String, Style),
    Covered,
    /// Terminals differ here (blank, blank in the current background, the
    /// glyph's other half): a frame must never leave one of these visible.
    Erased,
}

/// A strict terminal: a wide glyph covers the columns to its right, and
/// writing into any part of a wide glyph leaves the rest of it undefined.
struct Model {
    size: Size,
    grid: Vec<Shown>,
    /// Cells sent by the last frames (reset by `take_sent`).
    sent: usize,
}

impl Model {
    fn new(width: u16, height: u16) -> Model {
        let mut m = Model {
            size: Size::new(width, height),
            grid: Vec::new(),
            sent: 0,
        };
        m.blank();
        m
    }

    fn blank(&mut self) {
        let n = usize::from(self.size.width) * usize::from(self.size.height);
        self.grid = vec![Shown::Glyph(" ".into(), Cell::EMPTY.style()); n];
    }

    fn take_sent(&mut self) -> usize {
        std::mem::take(&mut self.sent)
    }

    /// Erases the wide glyph that covers or starts at `i`.
    fn erase_glyph_at(&mut self, i: usize, row_start: usize) {
        let mut start = i;
        while start > row_start && self.grid[start] == Shown::Covered {
            start -= 1;
        }
        let wide = matches!(&self.grid[start], Shown::Glyph(s, _) if s.as_str().cell_width() > 1);
        if wide || self.grid[i] == Shown::Covered {
            self.grid[start] = Shown::Erased;
            let mut j = start + 1;
            while j < row_start + usize::from(self.size.width) && self.grid[j] == Shown::Covered {
                self.grid[j] = Shown::Erased;
                j += 1;
            }
        }
    }

    fn put(&mut self, x: u16, y: u16, cell: &Cell) {
        let w = usize::from(self.size.width);
        let row_start = usize::from(y) * w;
        let i = row_start + usize::from(x);
        let width = usize::from(cell.cell_width().max(1)).min(w - usize::from(x));
        for k in 0..width {
            self.erase_glyph_at(i + k, row_start);
        }
        self.grid[i] = Shown::Glyph(cell.symbol().to_string(), cell.style());
        for k in 1..width {
            self.grid[i + k] = Shown::Covered;
        }
        self.sent += 1;
    }
}

/// What a frame should look like on a terminal.
fn expected(frame: &Buffer) -> Vec<Shown> {
    let mut m = Model::new(frame.area.width, frame.area.height);
    for y in 0..frame.area.height {
        let mut x = 0;
        while x < frame.area.width {
            let cell = &frame[(x, y)];
            m.put(x, y, cell);
            x += cell.cell_width().max(1);
        }
    }
    m.grid
}

impl Backend for Model {
    type Error = Infallible;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Infallible>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        for (x, y, cell) in content {
            self.put(x, y, cell);
        }
        Ok(())
    }
    fn hide_cursor(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    fn show_cursor(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    fn get_cursor_position(&mut self) -> Result<Position, Infallible> {
        Ok(Position::ORIGIN)
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, _: P) -> Result<(), Infallible> {
        Ok(())
    }
    fn clear(&mut self) -> Result<(), Infallible> {
        self.blank();
        Ok(())
    }
    fn clear_region(&mut self, _: ClearType) -> Result<(), Infallible> {
        unimplemented!("the dashboard only clears all")
    }
    fn size(&self) -> Result<Size, Infallible> {
        Ok(self.size)
    }
    fn window_size(&mut self) -> Result<WindowSize, Infallible> {
        Ok(WindowSize {
            columns_rows: self.size,
            pixels: Size::ZERO,
        })
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// A small deterministic generator (no dependency for a test).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SYMBOLS: &[&str] = &["a", "b", " ", "█", "⣿", "│", "コ", "日", "✓", "x"];
const COLORS: &[Color] = &[Color::Reset, Color::Red, Color::Green, Color::Indexed(8)];

/// A random frame: mostly the previous one, some cells changed, sometimes a
/// wide glyph written over narrow ones or the reverse (as widgets do, with
/// `set_string`, which blanks the columns a wide glyph covers).
fn mutate(rng: &mut Rng, symbols: &[&str], frame: &mut Buffer, changes: u64) {
    let area = frame.area;
    for _ in 0..changes {
        let x = rng.below(u64::from(area.width)) as u16;
        let y = rng.below(u64::from(area.height)) as u16;
        let sym = symbols[rng.below(symbols.len() as u64) as usize];
        let mut style = Style::default()
            .fg(COLORS[rng.below(4) as usize])
            .bg(COLORS[rng.below(4) as usize]);
        if rng.below(4) == 0 {
            style = style.add_modifier(Modifier::REVERSED);
        }
        frame.set_stringn(x, y, sym, usize::from(area.width - x), style);
    }
}

fn shown(model: &Model) -> &[Shown] {
    &model.grid
}

/// Runs 40 random sequences of 60 frames through `Screen` (and through
/// ratatui's `Terminal` when `like_ratatui`), checking the terminal after each.
fn random_frames(symbols: &[&str], like_ratatui: bool) {
    for seed in 1..=40u64 {
        let (w, h) = (13, 5);
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut screen = Screen::new(Model::new(w, h)).unwrap();
        let mut reference = Terminal::new(Model::new(w, h)).unwrap();
        let mut frame = Buffer::empty(Rect::new(0, 0, w, h));
        for step in 0..60 {
            let n = rng.below(8);
            mutate(&mut rng, symbols, &mut frame, n);
            screen
                .draw(|_, buf| buf.content.clone_from(&frame.content))
                .unwrap();
            let want = expected(&frame);
            assert_eq!(
                shown(&screen.backend),
                want.as_slice(),
                "seed {seed} step {step}: the terminal does not show the frame"
            );
            if like_ratatui {
                reference
                    .draw(|f| f.buffer_mut().content.clone_from(&frame.content))
                    .unwrap();
                assert_eq!(
                    shown(&screen.backend),
                    shown(reference.backend()),
                    "seed {seed} step {step}: ratatui's Terminal shows something else"
                );
            }
        }
    }
}

#[test]
fn every_frame_shows_exactly_what_was_drawn() {
    random_frames(SYMBOLS, false);
}

/// Where ratatui's own diff has no wide characters to second-guess, the two
/// leave the terminal in the same state. (With wide ones, ratatui's diff
/// assumes a terminal blanks a wide glyph's other half when a narrow one is
/// written over one of its columns; the model above assumes nothing.)
#[test]
fn narrow_frames_end_up_as_ratatui_draws_them() {
    let narrow: Vec<&str> = SYMBOLS
        .iter()
        .copied()
        .filter(|s| s.cell_width() == 1)
        .collect();
    random_frames(&narrow, true);
}

#[test]
fn only_changed_cells_are_sent() {
    let mut screen = Screen::new(Model::new(20, 4)).unwrap();
    let text = |buf: &mut Buffer, s: &str| {
        buf.set_string(0, 1, s, Style::default().fg(Color::Green));
    };
    screen.draw(|_, b| text(b, "cpu 20.1%")).unwrap();
    // First frame after a clear: the cells that are not blank (a green space is not).
    assert_eq!(screen.backend.take_sent(), "cpu 20.1%".len());
    screen.draw(|_, b| text(b, "cpu 20.1%")).unwrap();
    assert_eq!(
        screen.backend.take_sent(),
        0,
        "nothing changed, nothing sent"
    );
    screen.draw(|_, b| text(b, "cpu 20.7%")).unwrap();
    assert_eq!(screen.backend.take_sent(), 1, "one digit changed");
    screen
        .draw(|_, b| {
            text(b, "cpu 20.7%");
            b[(0, 1)].set_fg(Color::Red);
        })
        .unwrap();
    assert_eq!(screen.backend.take_sent(), 1, "one colour changed");
}

#[test]
fn a_resize_starts_from_a_cleared_screen() {
    let mut screen = Screen::new(Model::new(10, 3)).unwrap();
    screen
        .draw(|_, b| b.set_string(0, 0, "0123456789", Style::default()))
        .unwrap();
    screen.backend.size = Size::new(6, 2);
    screen.backend.blank(); // what the terminal did on its own
    screen
        .draw(|_, b| b.set_string(0, 0, "abc", Style::default()))
        .unwrap();
    assert_eq!(screen.size(), Size::new(6, 2));
    let mut want = Buffer::empty(Rect::new(0, 0, 6, 2));
    want.set_string(0, 0, "abc", Style::default());
    assert_eq!(shown(&screen.backend), expected(&want).as_slice());
}

/// Cells that differ in one thing — the symbol (of the same length too,
/// past 8 bytes too), a colour (every named one, indexed, RGB), the
/// underline colour, a modifier, the diff option — fingerprint apart; equal
/// cells (no symbol is `" "`) alike.
#[test]
fn cells_that_differ_fingerprint_apart() {
    use ratatui::buffer::CellDiffOption;
    use std::num::NonZeroU16;
    let mut colours = vec![
        Color::Reset,
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    colours.extend([0, 1, 16, 255].map(Color::Indexed));
    colours.extend(
        [(0, 0, 0), (0, 0, 1), (1, 0, 0), (0, 1, 0), (255, 255, 255)]
            .map(|(r, g, b)| Color::Rgb(r, g, b)),
    );
    let mut cells = vec![Cell::EMPTY, Cell::default()];
    for s in [
        "a",
        "b",
        "ab",
        "ba",
        "│",
        "⣀",
        "⣁",
        "日",
        "コ",
        "abcdefgh",
        "abcdefghi",
        "abcdefghj",
    ] {
        cells.push(Cell::new(s));
    }
    for &c in &colours {
        let mut fg = Cell::EMPTY;
        fg.fg = c;
        let mut bg = Cell::EMPTY;
        bg.bg = c;
        let mut under = Cell::EMPTY;
        under.underline_color = c;
        cells.extend([fg, bg, under]);
    }
    for m in Modifier::all().iter() {
        let mut cell = Cell::EMPTY;
        cell.modifier = m;
        cells.push(cell);
    }
    for d in [
        CellDiffOption::Skip,
        CellDiffOption::AlwaysUpdate,
        CellDiffOption::ForcedWidth(NonZeroU16::new(1).unwrap()),
        CellDiffOption::ForcedWidth(NonZeroU16::new(2).unwrap()),
    ] {
        let mut cell = Cell::EMPTY;
        cell.diff_option = d;
        cells.push(cell);
    }
    for a in &cells {
        for b in &cells {
            let (fa, fb) = (super::fingerprint(a, 1), super::fingerprint(b, 1));
            assert_eq!(a == b, fa == fb, "{a:?} and {b:?}");
        }
    }
}
