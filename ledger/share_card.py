"""Share cards: the PNG image a link to a claim or source page shows on social platforms (docs/site.md, "Share cards").

Platforms read ``og:image`` as PNG or JPEG, never SVG, so the card is a
1200 x 630 PNG drawn with Pillow: the site's name, the claim (or the
source's title), the verdict badge in the reader pages' colours, and
"Verified against the public log". Arabic, Hebrew and other scripts that
need shaping are drawn through Pillow's Raqm layout (HarfBuzz shaping, FriBiDi
ordering), right-aligned for right-to-left text. Where Raqm or a font with the
text's letters is missing, the card does not draw letters it cannot draw
correctly: it says the text is on the page instead (``CardText.shown``).

The card is a pure function of its inputs: the site serves it under the
entry hash that fixes them, so it is made once and cached as immutable.
"""

from __future__ import annotations

import io
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, Optional

WIDTH, HEIGHT = 1200, 630
MARGIN = 64
MAX_LINES = 5
# The reader pages' verdict colours (publish/static/ledger.css).
VERDICT_COLOURS = {
    "true": "#1e7b3a", "mostly-true": "#4c7a1f", "mixed": "#8a6100", "mostly-false": "#b04a1a", "false": "#b3261e",
    "misleading": "#8e3a8a", "unproven": "#2f5d8a", "unrated": "#6d5a2e", "not-yet-rated": "#6b7280",
}
# DejaVu Sans (Debian's fonts-dejavu-core) has Latin with Romanian's ș ț, Greek, Cyrillic, Hebrew and Arabic.
FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf",
              "/usr/local/share/fonts/DejaVuSans.ttf")
BOLD_FONT_PATHS = tuple(p.replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf") for p in FONT_PATHS)
RTL_LANGUAGES = {"ar", "he", "fa", "ur", "yi", "ps", "sd", "ug", "dv", "ckb"}
NOT_DRAWN = "The text is on the page: this server cannot draw its script"


class CardText(NamedTuple):
    """The card's main text as drawn: ``shown`` is False when the server could not draw it correctly."""

    lines: list
    rtl: bool
    shown: bool


def _font_file(paths) -> Optional[str]:
    return next((p for p in paths if Path(p).is_file()), None)


@lru_cache(maxsize=16)
def _font(size: int, bold: bool = False):
    from PIL import ImageFont, features

    path = _font_file(BOLD_FONT_PATHS if bold else FONT_PATHS) or _font_file(FONT_PATHS)
    if path is None:
        return ImageFont.load_default(size)
    engine = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    return ImageFont.truetype(path, size, layout_engine=engine)


def can_draw(text: str) -> bool:
    """Whether the card can draw ``text`` correctly: every letter in the font, and shaping where the script needs it."""
    from PIL import features

    if _font_file(FONT_PATHS) is None:
        return all(ord(c) < 0x250 for c in text)  # Pillow's built-in font: Latin only
    complex_script = any(unicodedata.bidirectional(c) in ("R", "AL") or 0x0900 <= ord(c) < 0x1000 for c in text)
    return features.check("raqm") or not complex_script


def is_rtl(text: str, language: Optional[str]) -> bool:
    """Right-to-left: the record's language says so, else its first strong character (UAX #9, rules P2-P3)."""
    if language and language.split("-")[0].lower() in RTL_LANGUAGES:
        return True
    for c in text:
        kind = unicodedata.bidirectional(c)
        if kind in ("L", "R", "AL"):
            return kind != "L"
    return False


def _wrapped(text: str, font, width: int, rtl: bool) -> list[str]:
    """Words in logical order, greedily into lines no wider than ``width``; at most MAX_LINES, the last with an ellipsis."""
    direction = "rtl" if rtl else "ltr"
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if line and font.getlength(candidate, direction=direction) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1].rstrip(" .,;:") + " …"
    return lines


def card_text(text: str, language: Optional[str], font, width: int) -> CardText:
    if not can_draw(text):
        return CardText([NOT_DRAWN], False, False)
    rtl = is_rtl(text, language)
    return CardText(_wrapped(" ".join(text.split()), font, width, rtl), rtl, True)


def _draw_lines(draw, text: CardText, font, top: int, language: Optional[str]) -> int:
    kw = {"direction": "rtl", "language": language} if text.rtl and language else {"direction": "rtl"} if text.rtl else {}
    line_height = int(font.size * 1.3)
    for line in text.lines:
        left = WIDTH - MARGIN - font.getlength(line, **kw) if text.rtl else MARGIN
        draw.text((left, top), line, font=font, fill="#111827" if text.shown else "#6b7280", **kw)
        top += line_height
    return top


def render_card(*, site_name: str, text: str, language: Optional[str], verdict_key: str, verdict_name: str,
                kind: str = "Claim") -> bytes:
    """The PNG card of a claim (``kind`` "Claim", with its verdict) or a source (its title; ``verdict_key`` "")."""
    from PIL import Image, ImageDraw

    colour = VERDICT_COLOURS.get(verdict_key, VERDICT_COLOURS["not-yet-rated"])
    image = Image.new("RGB", (WIDTH, HEIGHT), "#ffffff")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 16, HEIGHT), fill=colour if verdict_key else "#374151")
    small, body, badge = _font(30), _font(46), _font(40, bold=True)
    header = card_text(f"{site_name} · {kind}", None, small, WIDTH - 2 * MARGIN)
    _draw_lines(draw, header._replace(lines=header.lines[:1]), small, 48, None)
    _draw_lines(draw, card_text(text, language, body, WIDTH - 2 * MARGIN), body, 120, language)
    if verdict_key:
        label = verdict_name if can_draw(verdict_name) else verdict_key
        box_width = int(badge.getlength(label)) + 48
        draw.rounded_rectangle((MARGIN, HEIGHT - 190, MARGIN + box_width, HEIGHT - 120), radius=10, fill=colour)
        draw.text((MARGIN + 24, HEIGHT - 180), label, font=badge, fill="#ffffff")
    draw.text((MARGIN, HEIGHT - 90), "✓ Verified against the public log", font=small, fill="#1e7b3a")
    out = io.BytesIO()
    # No timestamps or other metadata: the same inputs give the same bytes.
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
