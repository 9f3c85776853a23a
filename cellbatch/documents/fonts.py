"""Fonts for printed output: DejaVu TrueType fonts, which have ×, ⁶, µ, ≥, ° and a zero unlike O.

The standard PDF fonts lack several characters cellbatch prints (× 10⁶, ≥, −), so
documents embed DejaVu Sans (text) and DejaVu Sans Mono (identifiers, whose zero is
dotted and so never read as the letter O). The fonts are looked up in
``$CELLBATCH_FONT_DIR``, then ``labels/fonts/`` of the repository, then the usual system
folders (Debian/Ubuntu package ``fonts-dejavu-core``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, TYPE_CHECKING

from cellbatch.domain.errors import RuleViolation

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

__all__ = [
    "BOLD",
    "FONT_FILES",
    "MONO",
    "MONO_BOLD",
    "REGULAR",
    "embedded_canvas",
    "register_fonts",
]

REGULAR = "DejaVuSans"
"""Font name of running text."""
BOLD = "DejaVuSans-Bold"
"""Font name of headings and emphasis."""
MONO = "DejaVuSansMono"
"""Font name of identifiers (DIN, product code, lot numbers): a dotted zero."""
MONO_BOLD = "DejaVuSansMono-Bold"
"""Font name of identifiers in bold."""

FONT_FILES = {
    REGULAR: "DejaVuSans.ttf",
    BOLD: "DejaVuSans-Bold.ttf",
    MONO: "DejaVuSansMono.ttf",
    MONO_BOLD: "DejaVuSansMono-Bold.ttf",
}
"""Font name → TrueType file name."""

_SYSTEM_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
    "/Library/Fonts",
)
_registered = False


def _search_dirs() -> list[Path]:
    """Folders searched for the font files, first match wins."""
    dirs: list[Path] = []
    override = os.environ.get("CELLBATCH_FONT_DIR", "").strip()
    if override:
        dirs.append(Path(override).expanduser())
    dirs.append(Path(__file__).resolve().parent.parent.parent / "labels" / "fonts")
    dirs.extend(Path(d) for d in _SYSTEM_DIRS)
    return dirs


def _find(file_name: str) -> Path:
    """Path of one font file, or a refusal that says how to install it."""
    for folder in _search_dirs():
        candidate = folder / file_name
        if candidate.is_file():
            return candidate
    raise RuleViolation(
        f"font {file_name} not found (looked in {', '.join(str(d) for d in _search_dirs())}): "
        "install the DejaVu fonts (fonts-dejavu-core) or set CELLBATCH_FONT_DIR"
    )


def register_fonts() -> None:
    """Register the DejaVu fonts with reportlab once per process."""
    global _registered
    if _registered:
        return
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for name, file_name in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(_find(file_name))))
    addMapping(REGULAR, 0, 0, REGULAR)
    addMapping(REGULAR, 1, 0, BOLD)
    addMapping(REGULAR, 0, 1, REGULAR)
    addMapping(REGULAR, 1, 1, BOLD)
    addMapping(MONO, 0, 0, MONO)
    addMapping(MONO, 1, 0, MONO_BOLD)
    addMapping(MONO, 0, 1, MONO)
    addMapping(MONO, 1, 1, MONO_BOLD)
    _registered = True


def embedded_canvas(buffer: IO[bytes], pagesize: tuple[float, float]) -> Canvas:
    """A compressed reportlab canvas whose every font is embedded.

    Left to itself, reportlab starts every page in Helvetica, one of the standard PDF fonts
    that are never embedded: the file then declares a font a reader must supply, which an
    archival copy must not. Starting in DejaVu Sans leaves no font but the embedded ones.
    """
    from reportlab.pdfgen.canvas import Canvas

    register_fonts()
    return Canvas(buffer, pagesize=pagesize, pageCompression=1, initialFontName=REGULAR)
