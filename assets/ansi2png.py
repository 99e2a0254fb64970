#!/usr/bin/env python3
"""Draws a terminal screen captured with colours (`tmux capture-pane -e -p`)
as a PNG: one cell per character in DejaVu Sans Mono, SGR colours in a
Dracula-like palette (the one demo.tape records with).

    python3 assets/ansi2png.py SCREEN.ansi OUT.png [COLS ROWS]

Needs Pillow (pip install pillow) and the DejaVu fonts (Debian:
fonts-dejavu-core). Braille (the charts' dots) is drawn as dots here, since
DejaVu Sans Mono has no braille glyphs.
"""

import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
SIZE = 16
CELL_W, CELL_H = 10, 20
PAD = 10

DEFAULT_FG = (248, 248, 242)
DEFAULT_BG = (40, 42, 54)
# 0–7 normal, 8–15 bright (Dracula).
BASE16 = [
    (33, 34, 44), (255, 85, 85), (80, 250, 123), (241, 250, 140),
    (98, 114, 164), (255, 121, 198), (139, 233, 253), (248, 248, 242),
    (98, 114, 164), (255, 110, 110), (105, 255, 148), (255, 255, 165),
    (150, 160, 255), (255, 146, 223), (164, 255, 255), (255, 255, 255),
]


def color256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


class Style:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = self.italic = self.underline = self.reverse = self.dim = False

    def copy(self):
        s = Style()
        s.__dict__.update(self.__dict__)
        return s

    def apply(self, params):
        p = [int(x) if x else 0 for x in params.split(";")] if params else [0]
        i = 0
        while i < len(p):
            c = p[i]
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 2:
                self.dim = True
            elif c == 3:
                self.italic = True
            elif c == 4:
                self.underline = True
            elif c == 7:
                self.reverse = True
            elif c == 22:
                self.bold = self.dim = False
            elif c == 23:
                self.italic = False
            elif c == 24:
                self.underline = False
            elif c == 27:
                self.reverse = False
            elif 30 <= c <= 37:
                self.fg = BASE16[c - 30]
            elif 90 <= c <= 97:
                self.fg = BASE16[c - 90 + 8]
            elif 40 <= c <= 47:
                self.bg = BASE16[c - 40]
            elif 100 <= c <= 107:
                self.bg = BASE16[c - 100 + 8]
            elif c == 39:
                self.fg = None
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(p):
                if p[i + 1] == 5 and i + 2 < len(p):
                    col = color256(p[i + 2])
                    i += 2
                elif p[i + 1] == 2 and i + 4 < len(p):
                    col = tuple(p[i + 2:i + 5])
                    i += 4
                else:
                    col = None
                if c == 38:
                    self.fg = col
                else:
                    self.bg = col
            i += 1


SGR = re.compile(r"\x1b\[([0-9;]*)m")
OTHER_ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b[()][0-9A-B]")


def parse(text):
    """Rows of (char, Style)."""
    rows = []
    style = Style()
    for line in text.split("\n"):
        row = []
        pos = 0
        line = OTHER_ESC.sub("", line)
        for m in SGR.finditer(line):
            for ch in line[pos:m.start()]:
                row.append((ch, style.copy()))
            style.apply(m.group(1))
            pos = m.end()
        for ch in line[pos:]:
            row.append((ch, style.copy()))
        rows.append(row)
    return rows


def braille(draw, x, y, ch, fg):
    bits = ord(ch) - 0x2800
    # dot n -> (column, row) in the 2x4 grid
    dots = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)]
    for n, (cx, cy) in enumerate(dots):
        if bits & (1 << n):
            px = x + 2 + cx * 5
            py = y + 2 + cy * 4.5
            draw.rectangle([px, py, px + 2, py + 2], fill=fg)


# Box drawing (light lines): which arms of the cell each character has.
# Drawn as lines, not glyphs, so borders join from cell to cell.
BOX = {
    "─": "lr", "│": "ud", "┌": "rd", "┐": "ld", "└": "ru", "┘": "lu",
    "├": "udr", "┤": "udl", "┬": "lrd", "┴": "lru", "┼": "lrud",
    "╭": "rd", "╮": "ld", "╰": "ru", "╯": "lu",
}


def box(draw, x, y, arms, fg):
    cx, cy = x + CELL_W // 2, y + CELL_H // 2
    if "l" in arms:
        draw.line([x, cy, cx, cy], fill=fg)
    if "r" in arms:
        draw.line([cx, cy, x + CELL_W - 1, cy], fill=fg)
    if "u" in arms:
        draw.line([cx, y, cx, cy], fill=fg)
    if "d" in arms:
        draw.line([cx, cy, cx, y + CELL_H - 1], fill=fg)


def block(draw, x, y, ch, fg):
    """Block elements: full, left eighths (the CPU bar), halves."""
    o = ord(ch)
    if 0x2588 <= o <= 0x258F:  # █ ▉ ▊ ▋ ▌ ▍ ▎ ▏: 8/8 .. 1/8 from the left
        w = round(CELL_W * (8 - (o - 0x2588)) / 8)
        draw.rectangle([x, y, x + w - 1, y + CELL_H - 1], fill=fg)
    elif ch == "▀":
        draw.rectangle([x, y, x + CELL_W - 1, y + CELL_H // 2 - 1], fill=fg)
    elif ch == "▄":
        draw.rectangle([x, y + CELL_H // 2, x + CELL_W - 1, y + CELL_H - 1], fill=fg)
    else:
        return False
    return True


def render(rows, cols, nrows, out):
    fonts = {
        (False, False): ImageFont.truetype(FONT_DIR + "DejaVuSansMono.ttf", SIZE),
        (True, False): ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Bold.ttf", SIZE),
        (False, True): ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Oblique.ttf", SIZE),
        (True, True): ImageFont.truetype(FONT_DIR + "DejaVuSansMono-BoldOblique.ttf", SIZE),
    }
    img = Image.new("RGB", (cols * CELL_W + 2 * PAD, nrows * CELL_H + 2 * PAD), DEFAULT_BG)
    draw = ImageDraw.Draw(img)
    for r, row in enumerate(rows[:nrows]):
        for c, (ch, s) in enumerate(row[:cols]):
            fg = s.fg or DEFAULT_FG
            bg = s.bg or DEFAULT_BG
            if s.reverse:
                fg, bg = bg, fg
            if s.dim:
                fg = tuple((a + b) // 2 for a, b in zip(fg, bg))
            x = PAD + c * CELL_W
            y = PAD + r * CELL_H
            if bg != DEFAULT_BG:
                draw.rectangle([x, y, x + CELL_W - 1, y + CELL_H - 1], fill=bg)
            if 0x2800 <= ord(ch) <= 0x28FF:
                braille(draw, x, y, ch, fg)
            elif ch in BOX:
                box(draw, x, y, BOX[ch], fg)
            elif 0x2580 <= ord(ch) <= 0x259F and block(draw, x, y, ch, fg):
                pass
            elif ch.strip():
                draw.text((x, y + 1), ch, font=fonts[(s.bold, s.italic)], fill=fg)
            if s.underline:
                draw.line([x, y + CELL_H - 2, x + CELL_W - 1, y + CELL_H - 2], fill=fg)
    img.save(out, optimize=True)


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        rows = parse(f.read().rstrip("\n"))
    cols = int(sys.argv[3]) if len(sys.argv) > 3 else max(len(r) for r in rows)
    nrows = int(sys.argv[4]) if len(sys.argv) > 4 else len(rows)
    render(rows, cols, nrows, out)


if __name__ == "__main__":
    main()
