"""Barcodes drawn on a reportlab canvas: Code 128 (reportlab) and square Data Matrix (zint).

reportlab's own Data Matrix encoder does not produce decodable symbols for ISBT 128
content, so the Data Matrix comes from zint (ECC 200, square symbol, drawn as vector
rectangles, sharp at any resolution). Every symbol a label carries is decoded back by
the tests from the rendered page.
"""

from __future__ import annotations

from dataclasses import dataclass

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

__all__ = ["LinearSpec", "code128_width", "draw_code128", "draw_datamatrix", "datamatrix_size"]


@dataclass(frozen=True)
class LinearSpec:
    """Dimensions of a Code 128 symbol (ISBT 128: narrow bar ≥ 0.17 mm, quiet zone ≥ 10 bars)."""

    narrow_bar_mm: float = 0.25
    """Width of the narrowest bar (the X dimension)."""
    height_mm: float = 8.0
    """Bar height (ISBT 128: at least 5 mm)."""
    quiet_zone_modules: int = 10
    """Blank margin either side, in narrow bars."""


def _code128(value: str, spec: LinearSpec) -> Code128:
    """The reportlab Code 128 flowable for ``value`` (no human-readable text: we print our own)."""
    bar = spec.narrow_bar_mm * mm
    quiet = spec.quiet_zone_modules * bar
    return Code128(
        value,
        barWidth=bar,
        barHeight=spec.height_mm * mm,
        quiet=True,
        lquiet=quiet,
        rquiet=quiet,
        humanReadable=False,
    )


def code128_width(value: str, spec: LinearSpec) -> float:
    """Width in points of the symbol for ``value``, quiet zones included."""
    return _code128(value, spec).width


def draw_code128(canvas: Canvas, value: str, x: float, y: float, spec: LinearSpec) -> float:
    """Draw ``value`` as Code 128 with its lower-left corner (quiet zone included) at x, y.

    Returns the width drawn, in points.
    """
    symbol = _code128(value, spec)
    symbol.drawOn(canvas, x, y)
    return symbol.width


def _datamatrix(value: str):
    """Encode ``value`` as a square ECC 200 Data Matrix with zint; return the symbol."""
    import zint

    symbol = zint.Symbol()
    symbol.symbology = zint.Symbology.DATAMATRIX
    symbol.option_3 = zint.DataMatrixOptions.SQUARE
    symbol.encode(value)
    symbol.buffer_vector()
    return symbol


def datamatrix_size(value: str, module_mm: float) -> tuple[int, float]:
    """Return (modules per side, side length in points) of the Data Matrix for ``value``."""
    symbol = _datamatrix(value)
    return symbol.width, symbol.width * module_mm * mm


def draw_datamatrix(canvas: Canvas, value: str, x: float, y: float, module_mm: float) -> float:
    """Draw ``value`` as a square Data Matrix with its lower-left corner at x, y.

    Returns the side length in points (the quiet zone of one module or more is the caller's
    to leave free).
    """
    symbol = _datamatrix(value)
    vector = symbol.vector
    scale = module_mm * mm / (vector.width / symbol.width)
    side = vector.height * scale
    canvas.saveState()
    canvas.setFillColorRGB(0, 0, 0)
    for rect in vector.rectangles:
        canvas.rect(
            x + rect.x * scale,
            y + side - (rect.y + rect.height) * scale,
            rect.width * scale,
            rect.height * scale,
            stroke=0,
            fill=1,
        )
    canvas.restoreState()
    return side
