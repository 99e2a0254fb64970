//! The dashboard's terminal: widgets draw into one ratatui `Buffer`, and only
//! the cells that differ from what the terminal already shows are sent.
//!
//! Why not `ratatui::Terminal`: it keeps two full buffers — this frame and the
//! last — to diff them, at 48 bytes a cell: 960 KB at 200×50, the largest
//! single item in the dashboard's memory (issue 6). What the terminal shows is
//! remembered here as a 64-bit fingerprint per cell instead (80 KB at
//! 200×50). A changed cell is missed only if its old and new contents hash
//! alike; FNV-1a can't do that for two contents of equal length that differ
//! in one byte (a symbol or one colour changed), and for anything else the odds
//! are 2⁻⁶⁴.
//!
//! Wide characters: a row where a cell is, or was, wider than one column is
//! sent whole (skipping the columns a wide character covers), which is always
//! right whatever the terminal does with half-overwritten wide characters.
//! Other rows are sent cell by cell, as ratatui would.

use std::hash::{Hash, Hasher};

use ratatui::backend::Backend;
use ratatui::buffer::{Buffer, Cell, CellDiffOption, CellWidth};
use ratatui::layout::{Rect, Size};

use crate::fnv::Fnv;

/// Low bit of a fingerprint: the cell is wider than one column.
const WIDE: u64 = 1;

pub struct Screen<B: Backend> {
    backend: B,
    /// The frame being drawn (reset before each draw).
    frame: Buffer,
    /// Fingerprint of what the terminal shows, cell by cell.
    shown: Vec<u64>,
    /// Frames drawn so far.
    draws: u64,
    /// The widths of the cells of the row being sent (scratch, kept).
    widths: Vec<u16>,
}

impl<B: Backend> Screen<B> {
    /// Takes over a terminal whose contents are unknown: it is cleared.
    pub fn new(backend: B) -> Result<Screen<B>, B::Error> {
        let mut s = Screen {
            backend,
            frame: Buffer::empty(Rect::default()),
            shown: Vec::new(),
            draws: 0,
            widths: Vec::new(),
        };
        s.resize_to(s.backend.size()?)?;
        Ok(s)
    }

    /// The last frame drawn (what the terminal shows).
    pub fn frame(&self) -> &Buffer {
        &self.frame
    }

    /// How many frames were drawn.
    pub fn draws(&self) -> u64 {
        self.draws
    }

    pub fn size(&self) -> Size {
        self.frame.area.as_size()
    }

    /// Follows the terminal's size; a new size starts from a cleared screen.
    pub fn autoresize(&mut self) -> Result<(), B::Error> {
        let size = self.backend.size()?;
        if size != self.size() {
            self.resize_to(size)?;
        }
        Ok(())
    }

    fn resize_to(&mut self, size: Size) -> Result<(), B::Error> {
        self.frame.resize(Rect::new(0, 0, size.width, size.height));
        self.backend.clear()?;
        let blank = fingerprint(&Cell::EMPTY, 1);
        self.shown.clear();
        self.shown.resize(self.frame.content.len(), blank);
        // The Vec keeps its largest capacity; give back what a shrink freed.
        self.shown.shrink_to_fit();
        self.frame.content.shrink_to_fit();
        Ok(())
    }

    /// Draws one frame: `render` fills the whole area, then the changes go out.
    pub fn draw(&mut self, render: impl FnOnce(Rect, &mut Buffer)) -> Result<(), B::Error> {
        self.autoresize()?;
        self.frame.reset();
        self.draws += 1;
        let area = self.frame.area;
        render(area, &mut self.frame);
        let changes = Changes {
            cells: &self.frame.content,
            shown: &mut self.shown,
            width: usize::from(area.width),
            i: 0,
            row_end: 0,
            whole_row: false,
            covered: 0,
            widths: &mut self.widths,
        };
        self.backend.draw(changes)?;
        self.backend.hide_cursor()?;
        self.backend.flush()
    }
}

/// The cells to send, left to right, top to bottom; updates `shown` as it goes.
struct Changes<'a> {
    cells: &'a [Cell],
    shown: &'a mut [u64],
    width: usize,
    i: usize,
    row_end: usize,
    /// This row has (or had) a wide character: send all of it.
    whole_row: bool,
    /// Columns still covered by the wide character just sent.
    covered: usize,
    /// This row's cells' widths: each measured once (a symbol's width is a
    /// Unicode table lookup for all but ASCII: box drawing, braille).
    widths: &'a mut Vec<u16>,
}

impl<'a> Iterator for Changes<'a> {
    type Item = (u16, u16, &'a Cell);

    fn next(&mut self) -> Option<Self::Item> {
        while self.i < self.cells.len() {
            let i = self.i;
            if i == self.row_end {
                self.row_end = i + self.width;
                let row = i..self.row_end;
                self.widths.clear();
                self.widths
                    .extend(self.cells[row.clone()].iter().map(|c| c.cell_width()));
                self.whole_row = self.widths.iter().any(|&w| w > 1)
                    || self.shown[row].iter().any(|f| f & WIDE != 0);
                self.covered = 0;
            }
            self.i += 1;
            let cell = &self.cells[i];
            let width = self.widths[i + self.width - self.row_end];
            let f = fingerprint(cell, width);
            let changed = f != self.shown[i];
            self.shown[i] = f;
            if self.covered > 0 {
                self.covered -= 1;
                continue;
            }
            if is_skip(cell) {
                continue;
            }
            self.covered = usize::from(width.max(1)) - 1;
            if changed || self.whole_row {
                let x = (i % self.width) as u16;
                let y = (i / self.width) as u16;
                return Some((x, y, cell));
            }
        }
        None
    }
}

/// Everything that makes two cells look different (what `Cell`'s `==`
/// compares: no symbol and `" "` are the same), plus the WIDE bit.
fn fingerprint(cell: &Cell, width: u16) -> u64 {
    let mut h = Fnv::default();
    cell.symbol().hash(&mut h);
    cell.style().hash(&mut h);
    cell.diff_option.hash(&mut h);
    #[allow(deprecated)]
    cell.skip.hash(&mut h);
    (h.finish() & !WIDE) | u64::from(width > 1)
}

/// Cells a widget asked not to be drawn (e.g. under an image).
fn is_skip(cell: &Cell) -> bool {
    #[allow(deprecated)]
    let skip = cell.skip;
    matches!(cell.diff_option, CellDiffOption::Skip)
        || (skip && matches!(cell.diff_option, CellDiffOption::None))
}

#[cfg(test)]
mod tests;
