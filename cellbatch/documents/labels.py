"""ISBT 128 bag labels: one 100 × 100 mm page per bag, laid out by ``labels/bag_label.toml``.

Data in, PDF out: each page is drawn from a :class:`~cellbatch.services.commands.labels.BagLabel`.
The template fixes where each part goes; text shrinks to fit its box and is refused,
never cut off, if it cannot fit.
"""

from __future__ import annotations

import io
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from cellbatch import isbt128
from cellbatch.documents.barcodes import LinearSpec, datamatrix_size, draw_code128, draw_datamatrix
from cellbatch.documents.fonts import BOLD, MONO, MONO_BOLD, REGULAR, embedded_canvas
from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.services.queries.label_content import BagLabel

__all__ = ["BOXES", "Box", "LabelTemplate", "default_template_path", "load_template", "render"]

BOXES = (
    "header",
    "din",
    "blood_group",
    "status",
    "product",
    "expiry",
    "content",
    "statements",
    "footer",
)
"""The parts of a label; the template gives each one a box."""

_BOX_KEYS = ("x_mm", "y_mm", "width_mm", "height_mm", "font_pt", "min_font_pt")
_LEADING = 1.18
_CAPTION_PT = 6.0
"""Captions of the quadrants ("Product code", "Expiry date and time")."""
_NOTE_PT = 6.0
"""The note beside the blood group."""
_COI_PT = 7.0
"""Largest size of the eye-readable chain-of-identity identifier (DejaVu Sans Mono Bold)."""
_COI_GROUP_PT = 10.0
"""The blood group's largest size on a label that also carries the chain-of-identity
identifier in its quadrant (N/A for MSCs: it gives up height to the identifier)."""
_FLAGS_PT = 6.0
"""The DIN's flag characters, printed turned beside it."""
_DATA_TEXT_PT = 7.0
"""Eye-readable data content under a linear bar code (the product code): at most 2 mm tall
(ST-001 §7.4.2.1); DejaVu Sans Mono Bold's capitals and digits are 0.73 em, 7 pt ≈ 1.8 mm."""
_PRODUCT_PT = 7.0
"""Largest size of the product name (shrinks to the box's min_font_pt)."""
_UTC_PT = 6.5
"""The expiry in UTC, beneath the local expiry."""
_STORAGE_PT = 6.5
"""Largest size of the storage instruction (shrinks to the box's min_font_pt)."""
_TRACE_SCALE = 5 / 6
"""Print-trace line of the footer, relative to the example-FIN notice (6 pt -> 5 pt)."""
_LEGEND_SCALE = 1.4
"""The biohazard legend, relative to the statements."""
_SYMBOL = "\u2623"
_SYMBOL_MM = 8.0
"""Height of the biohazard symbol."""
_SYMBOL_EM_LEFT, _SYMBOL_EM_WIDTH, _SYMBOL_EM_HEIGHT = 0.05, 0.79, 0.72
"""Where the DejaVu Sans glyph of the symbol lies in its em square (from a rendering)."""
_PAD = 2.0 * mm
"""Inner padding between the middle divider and the texts of the quadrants left of it."""
_GAP = 0.9 * mm
"""Between a barcode and the eye-readable text under it."""
_BAR_DROP = 2.8 * mm
"""From the top of a quadrant (its caption) to the top of its barcode."""


@dataclass(frozen=True)
class Box:
    """A rectangle of the label (points) and the font size its text starts and may shrink to."""

    name: str
    x: float
    y: float
    width: float
    height: float
    font_pt: float
    min_font_pt: float

    @property
    def top(self) -> float:
        """Upper edge, in points from the bottom of the page."""
        return self.y + self.height

    def overlaps(self, other: Box) -> bool:
        """True when the two boxes share any area."""
        return (
            self.x < other.x + other.width
            and other.x < self.x + self.width
            and self.y < other.y + other.height
            and other.y < self.y + self.height
        )


@dataclass(frozen=True)
class LabelTemplate:
    """Page size, barcode dimensions and the box of each part of the label."""

    width: float
    height: float
    code128: LinearSpec
    module_mm: float
    boxes: dict[str, Box]
    margin: float = 0.0
    """Blank border all round (points) that no box reaches into: label-printer tolerance."""


def default_template_path() -> Path:
    """The layout shipped with cellbatch: ``<repo>/labels/bag_label.toml``."""
    return Path(__file__).resolve().parent.parent.parent / "labels" / "bag_label.toml"


def _number(table: dict, key: str, where: str, path: Path) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInput(f"{path}: {where}.{key}", f"expected a positive number, got {value!r}")
    return float(value)


def load_template(path: Path | None = None) -> LabelTemplate:
    """Read and check a label layout: every box present, inside the page, none overlapping."""
    path = Path(path) if path is not None else default_template_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(str(path), "label template not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(str(path), f"not valid TOML: {exc}") from None
    page = data.get("page", {})
    width = _number(page, "width_mm", "page", path) * mm
    height = _number(page, "height_mm", "page", path) * mm
    margin = _number(page, "margin_mm", "page", path) * mm if "margin_mm" in page else 0.0
    bars = data.get("code128", {})
    spec = LinearSpec(
        narrow_bar_mm=_number(bars, "narrow_bar_mm", "code128", path),
        height_mm=_number(bars, "height_mm", "code128", path),
        quiet_zone_modules=int(_number(bars, "quiet_zone_modules", "code128", path)),
    )
    if spec.narrow_bar_mm < 0.17 or spec.height_mm < 5 or spec.quiet_zone_modules < 10:
        raise InvalidInput(
            f"{path}: code128",
            "ISBT 128 needs a narrow bar of at least 0.17 mm, bars at least 5 mm high and "
            "quiet zones of at least 10 narrow bars",
        )
    module = _number(data.get("datamatrix", {}), "module_mm", "datamatrix", path)
    table = data.get("box", {})
    boxes: dict[str, Box] = {}
    for name in BOXES:
        if name not in table:
            raise InvalidInput(f"{path}: box.{name}", "missing box")
        entry = table[name]
        extra = [k for k in entry if k not in _BOX_KEYS]
        if extra:
            raise InvalidInput(
                f"{path}: box.{name}.{extra[0]}", "unknown key; expected " + ", ".join(_BOX_KEYS)
            )
        nums = {k: _number(entry, k, f"box.{name}", path) for k in _BOX_KEYS}
        box = Box(
            name,
            nums["x_mm"] * mm,
            nums["y_mm"] * mm,
            nums["width_mm"] * mm,
            nums["height_mm"] * mm,
            nums["font_pt"],
            min(nums["min_font_pt"], nums["font_pt"]),
        )
        if box.x + box.width > width + 0.01 or box.top > height + 0.01:
            raise InvalidInput(f"{path}: box.{name}", "the box reaches beyond the page")
        inside = (
            min(box.x, box.y) >= margin - 0.01
            and box.x + box.width <= width - margin + 0.01
            and box.top <= height - margin + 0.01
        )
        if not inside:
            raise InvalidInput(
                f"{path}: box.{name}",
                f"the box reaches into the page margin of {margin / mm:g} mm",
            )
        boxes[name] = box
    unknown = [k for k in table if k not in BOXES]
    if unknown:
        raise InvalidInput(f"{path}: box.{unknown[0]}", "unknown box; expected " + ", ".join(BOXES))
    names = list(boxes)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if boxes[first].overlaps(boxes[second]):
                raise InvalidInput(f"{path}: box.{first}", f"overlaps box.{second}")
    return LabelTemplate(width, height, spec, module, boxes, margin)


# ------------------------------------------------------------------------------ text fitting

_NBSP = "\u00a0"
"""A space that never breaks a line: it keeps a phrase ("body weight 70 kg") together."""
_GLUE = "\x1f"
_NUMBER_UNIT = re.compile(
    "(?<=[0-9\u2070\u00b9\u00b2\u00b3\u2074-\u2079])[ \u00a0](?=[A-Za-z\u00b5\u00b0%\u00d7])"
)
"""The space between a number and its unit ("4 h", "15–25 °C", "40 ×10⁶ cells")."""


def _keep(text: str) -> str:
    """``text`` with its spaces made non-breaking, so that it is never split across lines."""
    return text.replace(" ", _NBSP)


def _width(text: str, font: str, size: float) -> float:
    """Printed width of ``text`` in points (a non-breaking space is as wide as a space)."""
    return stringWidth(text.replace(_NBSP, " ").replace(_GLUE, " "), font, size)


def _wrap(text: str, font: str, size: float, width: float) -> list[str] | None:
    """Break ``text`` into lines at most ``width`` wide; None when a word alone is wider.

    Lines break at ordinary spaces only. A number stays with its unit, and a phrase joined
    by non-breaking spaces stays on one line, unless the phrase is longer than a whole line:
    then it breaks at its non-breaking spaces after all (a number still keeps its unit).
    """
    lines: list[str] = []
    for paragraph in _NUMBER_UNIT.sub(_GLUE, text.replace(_GLUE, " ")).split("\n"):
        units: list[str] = []
        for word in paragraph.split(" "):
            if _width(word, font, size) > width and _NBSP in word:
                units.extend(word.split(_NBSP))
            else:
                units.append(word)
        line = ""
        for unit in (u for u in units if u):
            trial = f"{line} {unit}" if line else unit
            if line and _width(trial, font, size) > width:
                lines.append(line)
                line = unit
            else:
                line = trial
        if line:
            lines.append(line)
    if any(_width(line, font, size) > width + 0.01 for line in lines):
        return None
    return [line.replace(_NBSP, " ").replace(_GLUE, " ") for line in lines]


@dataclass(frozen=True)
class _Run:
    """A paragraph of a text block: its text, font and size relative to the block's size."""

    text: str
    font: str = REGULAR
    scale: float = 1.0


def _lines_at(runs: list[_Run], size: float, width: float) -> tuple[list, float] | None:
    """The runs wrapped at ``size`` (times each run's scale): (lines, height), or None."""
    lines = []
    total = 0.0
    for run in runs:
        run_size = size * run.scale
        wrapped = _wrap(run.text, run.font, run_size, width)
        if wrapped is None:
            return None
        for line in wrapped:
            lines.append((line, run.font, run_size))
            total += run_size * _LEADING
    return lines, total


def _sizes(box: Box, runs: list[_Run]):
    """Sizes to try, largest first: from box.font_pt down while no run is below min_font_pt."""
    smallest = min((run.scale for run in runs), default=1.0)
    size = box.font_pt
    while size * smallest >= box.min_font_pt - 1e-9:
        yield size
        size -= 0.25


def _not_fit(box: Box) -> RuleViolation:
    """The refusal of text that does not fit ``box`` even at its smallest size."""
    return RuleViolation(
        f"label text does not fit box {box.name!r} even at {box.min_font_pt:g} pt: "
        "shorten the text in the site settings or enlarge the box in labels/bag_label.toml"
    )


def _layout(runs: list[_Run], box: Box) -> tuple[float, list, float]:
    """Largest size (≤ box.font_pt) at which the runs fit the box: size, lines, height."""
    for size in _sizes(box, runs):
        laid = _lines_at(runs, size, box.width)
        if laid is not None and laid[1] <= box.height + 0.01:
            return size, *laid
    raise _not_fit(box)


def _draw_lines(canvas: Canvas, lines: list, x: float, top: float) -> float:
    """Draw wrapped lines downward from ``top``; return the bottom of the last line."""
    y = top
    for text, font, size in lines:
        y -= size * _LEADING
        canvas.setFont(font, size)
        canvas.drawString(x, y + size * (_LEADING - 1.0), text)
    return y


def _area(
    box: Box,
    x: float,
    right: float,
    top: float,
    bottom: float,
    font_pt: float | None = None,
    min_font_pt: float | None = None,
) -> Box:
    """Part of ``box`` for one block of text: its sizes, or the box's own."""
    if right - x <= 0 or top - bottom <= 0:
        raise _not_fit(box)
    low = box.min_font_pt if min_font_pt is None else min_font_pt
    size = box.font_pt if font_pt is None else max(font_pt, low)
    return Box(box.name, x, bottom, right - x, top - bottom, size, low)


def _text_block(canvas: Canvas, runs: list[_Run], box: Box) -> float:
    """Fit and draw runs in the box from its top-left corner; return the bottom."""
    _size, lines, _height = _layout(runs, box)
    return _draw_lines(canvas, lines, box.x, box.top)


def _single_line_size(text: str, font: str, box: Box, width: float | None = None) -> float:
    """Largest size ≤ box.font_pt at which ``text`` fits on one line of the given width."""
    room = box.width if width is None else width
    size = box.font_pt
    while size >= box.min_font_pt - 1e-9:
        if _width(text, font, size) <= room:
            return size
        size -= 0.25
    raise RuleViolation(
        f"label text {text!r} does not fit box {box.name!r} on one line even at "
        f"{box.min_font_pt:g} pt"
    )


def _caption(canvas: Canvas, text: str, box: Box, x: float, right: float) -> float:
    """A caption whose cap line is at the top of ``box``; returns its baseline."""
    if _width(text, REGULAR, _CAPTION_PT) > right - x + 0.01:
        raise RuleViolation(f"the caption {text!r} is wider than box {box.name!r}")
    canvas.setFont(REGULAR, _CAPTION_PT)
    baseline = box.top - _CAPTION_PT * 0.8
    canvas.drawString(x, baseline, text)
    return baseline


def _quiet(spec: LinearSpec) -> float:
    """Width of a Code 128 quiet zone, in points."""
    return spec.quiet_zone_modules * spec.narrow_bar_mm * mm


def _barcode(canvas: Canvas, value: str, box: Box, spec: LinearSpec) -> float:
    """Code 128 of ``value`` below the caption, quiet zone at the box's left edge; its bottom."""
    from cellbatch.documents.barcodes import code128_width

    if code128_width(value, spec) > box.width + 0.01:
        raise RuleViolation(
            f"the barcode {value!r} with its quiet zones is wider than box {box.name!r}"
        )
    bottom = box.top - _BAR_DROP - spec.height_mm * mm
    if bottom < box.y:
        raise RuleViolation(f"the barcode {value!r} is taller than box {box.name!r}")
    draw_code128(canvas, value, box.x, bottom, spec)
    return bottom


# ------------------------------------------------------------------------------ the parts
#
# A quadrant's texts share one left edge: the first bar of its barcode, just inside the quiet
# zone. ``right`` is where its texts must end: the box's right edge, or for the quadrants
# left of the middle divider, an inner padding short of it.


def _header(canvas: Canvas, label: BagLabel, box: Box) -> None:
    name_size = _single_line_size(label.facility_name, BOLD, box)
    address = _area(
        box, box.x, box.x + box.width, box.top - name_size * _LEADING, box.y, name_size * 0.86
    )
    _size, lines, _height = _layout([_Run(", ".join(label.facility_address))], address)
    canvas.setFont(BOLD, name_size)
    canvas.drawString(box.x, box.top - name_size * 0.95, label.facility_name)
    _draw_lines(canvas, lines, box.x, address.top)


def _din(canvas: Canvas, label: BagLabel, box: Box, spec: LinearSpec, right: float) -> None:
    x = box.x + _quiet(spec)
    _caption(canvas, "Donation Identification Number", box, x, right)
    bottom = _barcode(canvas, label.din_data, box, spec)
    text = label.din_eye_readable
    # ST-001 §7.4.1: type 1 and 2 flags are printed, turned 90° clockwise; type 3 (check)
    # flags never are: the boxed keyboard check character stands for them
    printed_flags = isbt128.flag_type(label.flags) in (1, 2)
    flags_gap, pad = 0.6 * mm, 0.5 * mm
    flags_width = 2.2 * mm if printed_flags else 0.0

    def width(size: float) -> float:
        check = stringWidth(label.check_character, MONO_BOLD, size) + 2 * pad
        return stringWidth(text, MONO_BOLD, size) + flags_gap + flags_width + check

    size = box.font_pt
    while width(size) > right - x:
        size -= 0.25
        if size < box.min_font_pt - 1e-9:
            raise RuleViolation(f"the DIN {text!r} does not fit box 'din'")
    baseline = bottom - _GAP - size * 0.75
    canvas.setFont(MONO_BOLD, size)
    canvas.drawString(x, baseline, text)
    flags_x = x + stringWidth(text, MONO_BOLD, size) + flags_gap
    if printed_flags:
        canvas.saveState()
        # turned clockwise: the text runs downward from the DIN's cap line, glyphs to the right
        canvas.translate(flags_x + 0.3 * mm, baseline + size * 0.73)
        canvas.rotate(-90)
        canvas.setFont(MONO, _FLAGS_PT)
        canvas.drawString(0, 0, label.flags)
        canvas.restoreState()
    check_x = flags_x + flags_width
    char_width = stringWidth(label.check_character, MONO_BOLD, size)
    canvas.setLineWidth(0.6)
    canvas.rect(check_x, baseline - pad - size * 0.1, char_width + 2 * pad, size * 0.85 + 2 * pad)
    canvas.drawString(check_x + pad, baseline, label.check_character)
    if label.reprint:
        mark_size = box.min_font_pt
        mark = baseline - size * 0.3 - 0.8 * mm - mark_size * 0.73
        if mark < box.y:
            raise RuleViolation("the REPRINT mark does not fit box 'din'")
        canvas.setFont(BOLD, mark_size)
        canvas.drawString(x, mark, "REPRINT")


def _blood_group(
    canvas: Canvas, label: BagLabel, box: Box, spec: LinearSpec, module_mm: float
) -> None:
    """Blood group text on the quadrant's left edge; the Data Matrix in its upper right corner.

    The Data Matrix stands level with the DIN barcode; one that carries the chain-of-identity
    identifier too (26 × 26 modules) is taller than that leaves room for, and stands at the
    top of the quadrant instead (its quiet zone inside the box). The identifier's eye-readable
    form and boxed check character go under the blood group, left of the symbol.
    """
    modules, side = datamatrix_size(label.datamatrix, module_mm)
    quiet = 2 * module_mm * mm
    matrix_x = box.x + box.width - quiet - side
    matrix_top = box.top - _BAR_DROP  # level with the DIN barcode
    if matrix_top - side - quiet < box.y:
        matrix_top = box.top - quiet
    x = box.x + _quiet(spec)
    right = matrix_x - quiet - 1.0 * mm
    if matrix_top - side - quiet < box.y - 0.01 or right - x < box.width / 3:
        raise RuleViolation(f"the Data Matrix ({modules} modules) does not fit box 'blood_group'")
    draw_datamatrix(canvas, label.datamatrix, matrix_x, matrix_top - side, module_mm)
    baseline = _caption(canvas, "Blood group", box, x, right)
    group_box = box if label.coi is None else _area(box, x, right, box.top, box.y, _COI_GROUP_PT)
    size = _single_line_size(label.blood_group, BOLD, group_box, right - x)
    baseline -= 1 * mm + size * 0.8
    canvas.setFont(BOLD, size)
    canvas.drawString(x, baseline, label.blood_group)
    note = _area(box, x, right, baseline - size * 0.25 - 0.6 * mm, box.y, _NOTE_PT, _NOTE_PT)
    if label.coi is None:
        _text_block(
            canvas,
            [
                _Run("not applicable"),
                _Run(f"Data Matrix: DIN, {_keep('product code')}, expiry"),
            ],
            note,
        )
        return
    bottom = _text_block(canvas, [_Run("not applicable"), _Run("Chain of identity (CoI)")], note)
    _coi(canvas, label, _area(box, x, right, bottom, box.y, _COI_PT, _NOTE_PT))


def _coi(canvas: Canvas, label: BagLabel, box: Box) -> None:
    """The chain-of-identity identifier, eye-readable, with its check character in a box."""
    text, check = label.coi_eye_readable or "", label.coi_check or ""
    pad = 0.4 * mm

    def width(size: float) -> float:
        return (
            stringWidth(text, MONO_BOLD, size) + 0.8 * mm
            + stringWidth(check, MONO_BOLD, size) + 2 * pad
        )  # fmt: skip

    size = box.font_pt
    while width(size) > box.width + 0.01:
        size -= 0.25
        if size < box.min_font_pt - 1e-9:
            raise RuleViolation(
                f"the chain-of-identity identifier {text!r} does not fit box 'blood_group'"
            )
    baseline = box.top - pad - size * 0.8
    if baseline - pad - size * 0.1 < box.y - 0.01:
        raise RuleViolation("the chain-of-identity identifier does not fit box 'blood_group'")
    canvas.setFont(MONO_BOLD, size)
    canvas.drawString(box.x, baseline, text)
    check_x = box.x + stringWidth(text, MONO_BOLD, size) + 0.8 * mm
    canvas.setLineWidth(0.6)
    canvas.rect(
        check_x, baseline - pad - size * 0.1,
        stringWidth(check, MONO_BOLD, size) + 2 * pad, size * 0.85 + 2 * pad,
    )  # fmt: skip
    canvas.drawString(check_x + pad, baseline, check)


def _status(canvas: Canvas, label: BagLabel, box: Box) -> None:
    canvas.saveState()
    if label.status_text:
        canvas.setFillColorRGB(0, 0, 0)
        canvas.rect(box.x, box.y, box.width, box.height, stroke=0, fill=1)
        canvas.setFillColorRGB(1, 1, 1)
        text = label.status_text
    else:
        canvas.setLineWidth(1.2)
        canvas.rect(box.x, box.y, box.width, box.height, stroke=1, fill=0)
        text = f"FOR RECIPIENT {label.recipient} ONLY"
    size = _single_line_size(text, BOLD, box, box.width - 3 * mm)
    canvas.setFont(BOLD, size)
    canvas.drawCentredString(box.x + box.width / 2, box.y + (box.height - size * 0.72) / 2, text)
    canvas.restoreState()


def _product(canvas: Canvas, label: BagLabel, box: Box, spec: LinearSpec, right: float) -> None:
    x = box.x + _quiet(spec)
    _caption(canvas, "Product code", box, x, right)
    bottom = _barcode(canvas, label.product_code_data, box, spec)
    text_box = _area(box, x, right, box.top, box.y, _DATA_TEXT_PT, box.min_font_pt)
    size = _single_line_size(label.product_code, MONO_BOLD, text_box)
    baseline = bottom - _GAP - size * 0.75
    canvas.setFont(MONO_BOLD, size)
    canvas.drawString(x, baseline, label.product_code)
    rest = _area(box, x, right, baseline - size * 0.25 - 0.8 * mm, box.y, _PRODUCT_PT)
    _text_block(canvas, [_Run(label.product_name, BOLD)], rest)


def _expiry(canvas: Canvas, label: BagLabel, box: Box, spec: LinearSpec, right: float) -> None:
    x = box.x + _quiet(spec)
    _caption(canvas, "Expiry date and time", box, x, right)
    bottom = _barcode(canvas, label.expiry_data, box, spec)
    text = f"EXP {label.expiry_local} {label.expiry_zone}"
    size = _single_line_size(text, BOLD, box, right - x)
    baseline = bottom - _GAP - size * 0.75
    canvas.setFont(BOLD, size)
    canvas.drawString(x, baseline, text)
    below = baseline - size * 0.25
    if label.expiry_zone != "UTC":
        # ST-001 §7.4.4.2: for cellular therapy the UTC time goes beneath, in parentheses
        utc = f"({label.expiry_utc} UTC)"
        utc_size = _single_line_size(utc, REGULAR, _area(box, x, right, box.top, box.y, _UTC_PT))
        baseline -= utc_size * _LEADING + size * 0.1
        canvas.setFont(REGULAR, utc_size)
        canvas.drawString(x, baseline, utc)
        below = baseline - utc_size * 0.25
    rest = _area(box, x, right, below - 0.8 * mm, box.y, _STORAGE_PT)
    _text_block(canvas, [_Run(label.storage)], rest)


def _content(canvas: Canvas, label: BagLabel, box: Box) -> None:
    recipient = _keep(f"Recipient ID: {label.recipient}")
    if label.infusion_number is not None:
        infusion = f"Infusion {label.infusion_number}"
        if label.infusion_day is not None:
            infusion += f", day {label.infusion_day}"
        recipient += f"{_NBSP}· {_keep(infusion)}"
    amounts = [
        _keep(f"Volume {label.volume}"),
        _keep(f"Viable cells {label.viable_cells}"),
        _keep(f"Dose {label.dose_per_kg} (body weight {label.body_weight})"),
    ]
    _text_block(
        canvas,
        [_Run(recipient, BOLD), _Run(f"{_NBSP}· ".join(amounts), scale=0.9)],
        box,
    )


def _biohazard_symbol(canvas: Canvas, x: float, top: float, height: float) -> float:
    """Draw the biohazard symbol ``height`` tall from ``top`` at ``x``; return its width."""
    size = height / _SYMBOL_EM_HEIGHT
    canvas.setFont(REGULAR, size)
    canvas.drawString(x - _SYMBOL_EM_LEFT * size, top - height, _SYMBOL)
    return _SYMBOL_EM_WIDTH * size


def _statements(canvas: Canvas, label: BagLabel, box: Box) -> None:
    """The required statements; below them the biohazard symbol, legend and warnings."""
    statements = [_Run(s) for s in label.statements]
    warnings = []
    if label.biohazard:
        warnings.append(_Run(label.biohazard_legend or "BIOHAZARD", BOLD, _LEGEND_SCALE))
        if label.communicable_disease_warning:
            warnings.append(_Run(label.communicable_disease_warning, BOLD))
    if label.reactive_warning:
        warnings.append(_Run(label.reactive_warning, BOLD))
    symbol = _SYMBOL_MM * mm if label.biohazard else 0.0
    indent = symbol * _SYMBOL_EM_WIDTH / _SYMBOL_EM_HEIGHT + 1.5 * mm if symbol else 0.0
    for size in _sizes(box, statements + warnings):
        upper = _lines_at(statements, size, box.width)
        lower = _lines_at(warnings, size, box.width - indent)
        if upper is None or lower is None:
            continue
        gap = 0.6 * mm if warnings else 0.0
        block = max(lower[1], symbol)
        if upper[1] + gap + block > box.height + 0.01:
            continue
        top = _draw_lines(canvas, upper[0], box.x, box.top) - gap
        if symbol:
            _biohazard_symbol(canvas, box.x, top - (block - symbol) / 2, symbol)
        _draw_lines(canvas, lower[0], box.x + indent, top - (block - lower[1]) / 2)
        return
    raise _not_fit(box)


_REASON_CHARS = 40
"""The most of a reprint's reason the footer prints: the label traces, the record holds it all."""


def _short_reason(reason: str) -> str:
    """A reprint's reason as the footer prints it, cut at a word past ``_REASON_CHARS``."""
    if len(reason) <= _REASON_CHARS:
        return reason
    cut = reason[:_REASON_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return f"{cut}… reason in full: batch record"


def _footer(canvas: Canvas, label: BagLabel, box: Box, page: int, pages: int) -> None:
    kind = "FINAL LABEL" if label.final else "QUARANTINE LABEL"
    if label.reprint:
        kind += f" – REPRINT ({_short_reason(label.reason or '')})"
    printed = label.printed_at.replace("T", " ").replace("Z", " UTC")
    runs = []
    if label.example_notice:
        runs.append(_Run(label.example_notice, BOLD))
    trace = [
        _keep(f"Batch {label.batch}"),
        _keep(f"bag {label.bag_number}"),
        kind,
        f"{_keep(f'printed {printed}')} by {label.printed_by}",
        _keep(label.site_settings),
        _keep(f"label {page} of {pages}"),
    ]
    runs.append(_Run(f"{_NBSP}· ".join(trace), scale=_TRACE_SCALE))
    _size, lines, height = _layout(runs, box)
    _draw_lines(canvas, lines, box.x, box.y + height)  # on the bottom edge: apart from the warnings


def _page(canvas: Canvas, label: BagLabel, template: LabelTemplate, page: int, pages: int) -> None:
    """Draw one label."""
    b = template.boxes
    mid = (b["din"].x + b["din"].width + b["blood_group"].x) / 2
    _header(canvas, label, b["header"])
    _din(canvas, label, b["din"], template.code128, mid - _PAD)
    _blood_group(canvas, label, b["blood_group"], template.code128, template.module_mm)
    _status(canvas, label, b["status"])
    _product(canvas, label, b["product"], template.code128, mid - _PAD)
    expiry = b["expiry"]
    _expiry(canvas, label, expiry, template.code128, expiry.x + expiry.width)
    _content(canvas, label, b["content"])
    _statements(canvas, label, b["statements"])
    _footer(canvas, label, b["footer"], page, pages)
    # quadrant rules, as on the ISBT 128 base label; none between the product code and the
    # expiry, which are read as a concatenated pair (ST-001 §10.1: no line between them)
    canvas.setLineWidth(0.4)
    canvas.line(mid, b["din"].y, mid, b["din"].top)
    canvas.line(
        b["header"].x,
        b["header"].y - 0.25 * mm,
        b["header"].x + b["header"].width,
        b["header"].y - 0.25 * mm,
    )


def render(labels: list[BagLabel], template: LabelTemplate | None = None) -> bytes:
    """Draw one page per label and return the PDF."""
    if not labels:
        raise RuleViolation("no labels to print")
    template = template or load_template()
    buffer = io.BytesIO()
    canvas = embedded_canvas(buffer, (template.width, template.height))
    first = labels[0]
    canvas.setTitle(f"Bag labels {first.batch}")
    canvas.setAuthor(first.facility_name)
    canvas.setSubject("ISBT 128 bag labels")
    canvas.setCreator("cellbatch")
    for number, label in enumerate(labels, start=1):
        _page(canvas, label, template, number, len(labels))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
