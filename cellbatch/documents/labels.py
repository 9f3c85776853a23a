"""ISBT 128 bag labels: one 100 × 100 mm page per bag, laid out by ``labels/bag_label.toml``.

Data in, PDF out: each page is drawn from a :class:`~cellbatch.services.labels.BagLabel`.
The template fixes where each part goes; text shrinks to fit its box and is refused,
never cut off, if it cannot fit.
"""

from __future__ import annotations

import io
import tomllib
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from cellbatch.documents.barcodes import LinearSpec, datamatrix_size, draw_code128, draw_datamatrix
from cellbatch.documents.fonts import BOLD, MONO, MONO_BOLD, REGULAR, register_fonts
from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.services.labels import BagLabel

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
_CAPTION_PT = 5.0
_LEADING = 1.18


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
        boxes[name] = box
    unknown = [k for k in table if k not in BOXES]
    if unknown:
        raise InvalidInput(f"{path}: box.{unknown[0]}", "unknown box; expected " + ", ".join(BOXES))
    names = list(boxes)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if boxes[first].overlaps(boxes[second]):
                raise InvalidInput(f"{path}: box.{first}", f"overlaps box.{second}")
    return LabelTemplate(width, height, spec, module, boxes)


# ------------------------------------------------------------------------------ text fitting


@dataclass(frozen=True)
class _Run:
    """A paragraph of a text block: its text, font and size relative to the block's size."""

    text: str
    font: str = REGULAR
    scale: float = 1.0


def _layout(runs: list[_Run], box: Box, height: float | None = None) -> tuple[float, list]:
    """Largest size (≤ box.font_pt) at which the runs fit the box; their wrapped lines."""
    room = box.height if height is None else height
    size = box.font_pt
    while size >= box.min_font_pt - 1e-9:
        lines = []
        total = 0.0
        for run in runs:
            run_size = size * run.scale
            for line in simpleSplit(run.text, run.font, run_size, box.width):
                lines.append((line, run.font, run_size))
                total += run_size * _LEADING
        if total <= room + 0.01:
            return size, lines
        size -= 0.25
    raise RuleViolation(
        f"label text does not fit box {box.name!r} even at {box.min_font_pt:g} pt: "
        "shorten the text in the site settings or enlarge the box in labels/bag_label.toml"
    )


def _draw_lines(canvas: Canvas, lines: list, x: float, top: float) -> float:
    """Draw wrapped lines downward from ``top``; return the baseline of the last line."""
    y = top
    for text, font, size in lines:
        y -= size * _LEADING
        canvas.setFont(font, size)
        canvas.drawString(x, y + size * (_LEADING - 1.0), text)
    return y


def _text_block(canvas: Canvas, runs: list[_Run], box: Box, top: float | None = None) -> float:
    """Fit and draw runs in the box from ``top`` (default: the box's top); return the bottom."""
    start = box.top if top is None else top
    _size, lines = _layout(runs, box, start - box.y)
    return _draw_lines(canvas, lines, box.x, start)


def _single_line_size(text: str, font: str, box: Box, width: float | None = None) -> float:
    """Largest size ≤ box.font_pt at which ``text`` fits on one line of the given width."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    room = box.width if width is None else width
    size = box.font_pt
    while size >= box.min_font_pt - 1e-9:
        if stringWidth(text, font, size) <= room:
            return size
        size -= 0.25
    raise RuleViolation(
        f"label text {text!r} does not fit box {box.name!r} on one line even at "
        f"{box.min_font_pt:g} pt"
    )


def _caption(canvas: Canvas, text: str, x: float, top: float) -> float:
    """A small caption whose cap line is at ``top``; returns its baseline."""
    canvas.setFont(REGULAR, _CAPTION_PT)
    baseline = top - _CAPTION_PT * 0.8
    canvas.drawString(x, baseline, text)
    return baseline


def _barcode(canvas: Canvas, value: str, box: Box, top: float, spec: LinearSpec) -> float:
    """Code 128 of ``value`` hanging from ``top`` at the box's left edge; returns its bottom."""
    from cellbatch.documents.barcodes import code128_width

    if code128_width(value, spec) > box.width + 0.01:
        raise RuleViolation(
            f"the barcode {value!r} with its quiet zones is wider than box {box.name!r}"
        )
    bottom = top - spec.height_mm * mm
    draw_code128(canvas, value, box.x, bottom, spec)
    return bottom


# ------------------------------------------------------------------------------ the parts


def _header(canvas: Canvas, label: BagLabel, box: Box) -> None:
    name_size = _single_line_size(label.facility_name, BOLD, box)
    address = ", ".join(label.facility_address)
    address_size = min(_single_line_size(address, REGULAR, box), name_size * 0.85)
    if (name_size + address_size) * _LEADING > box.height + 0.01:
        raise RuleViolation("the facility name and address do not fit box 'header'")
    y = box.top - name_size * 0.95
    canvas.setFont(BOLD, name_size)
    canvas.drawString(box.x, y, label.facility_name)
    canvas.setFont(REGULAR, address_size)
    canvas.drawString(box.x, y - address_size * _LEADING, address)


def _din(canvas: Canvas, label: BagLabel, box: Box, spec: LinearSpec) -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    quiet = spec.quiet_zone_modules * spec.narrow_bar_mm * mm
    _caption(canvas, "Donation Identification Number (DIN)", box.x + quiet, box.top)
    bottom = _barcode(canvas, label.din_data, box, box.top - 2.6 * mm, spec)
    text = label.din_eye_readable
    flags_width = 2.2 * mm
    check_gap = 1.2 * mm
    room = box.width - quiet - flags_width - check_gap
    size = _single_line_size(text + "  ", MONO_BOLD, box, room - 0.75 * box.font_pt)
    baseline = bottom - 0.9 * mm - size * 0.75
    x = box.x + quiet
    canvas.setFont(MONO_BOLD, size)
    canvas.drawString(x, baseline, text)
    x += stringWidth(text, MONO_BOLD, size) + 0.6 * mm
    # flag characters: small and turned, as ISBT 128 prints them
    canvas.saveState()
    canvas.translate(x + 1.6 * mm, baseline - 0.2 * mm)
    canvas.rotate(90)
    canvas.setFont(MONO, 5.0)
    canvas.drawString(0, 0, label.flags)
    canvas.restoreState()
    x += flags_width
    char_width = stringWidth(label.check_character, MONO_BOLD, size)
    pad = 0.5 * mm
    canvas.setLineWidth(0.6)
    canvas.rect(x, baseline - pad - size * 0.1, char_width + 2 * pad, size * 0.85 + 2 * pad)
    canvas.drawString(x + pad, baseline, label.check_character)
    if label.reprint:
        mark = baseline - 2 * mm - size * 0.8
        if mark < box.y:
            raise RuleViolation("the REPRINT mark does not fit box 'din'")
        canvas.setFont(BOLD, size)
        canvas.drawString(box.x + quiet, mark, "REPRINT")


def _blood_group(canvas: Canvas, label: BagLabel, box: Box, module_mm: float) -> None:
    modules, side = datamatrix_size(label.datamatrix, module_mm)
    quiet = 2 * module_mm * mm
    if side + 2 * quiet > box.height or side + 2 * quiet > box.width / 2:
        raise RuleViolation(f"the Data Matrix ({modules} modules) does not fit box 'blood_group'")
    bottom = box.y + (box.height - side) / 2
    draw_datamatrix(canvas, label.datamatrix, box.x + quiet, bottom, module_mm)
    x = box.x + side + 2 * quiet + 1.5 * mm
    width = box.x + box.width - x
    inner = Box(box.name, x, box.y, width, box.height, box.font_pt, box.min_font_pt)
    baseline = _caption(canvas, "Blood group", x, box.top)
    size = _single_line_size(label.blood_group, BOLD, inner)
    canvas.setFont(BOLD, size)
    canvas.drawString(x, baseline - 1 * mm - size * 0.8, label.blood_group)
    note = Box(box.name, x, box.y, width, baseline - 2 * mm - size - box.y, 5.0, 4.5)
    _text_block(
        canvas,
        [_Run("not applicable to this product"), _Run("Data Matrix: DIN, product code, expiry")],
        note,
    )


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


def _product(canvas: Canvas, label: BagLabel, box: Box, spec: LinearSpec) -> None:
    quiet = spec.quiet_zone_modules * spec.narrow_bar_mm * mm
    _caption(canvas, "Product code", box.x + quiet, box.top)
    bottom = _barcode(canvas, label.product_code_data, box, box.top - 2.6 * mm, spec)
    size = _single_line_size(label.product_code, MONO_BOLD, box, box.width - quiet)
    baseline = bottom - 0.9 * mm - size * 0.75
    canvas.setFont(MONO_BOLD, size)
    canvas.drawString(box.x + quiet, baseline, label.product_code)
    rest = Box(box.name, box.x, box.y, box.width, baseline - 1 * mm - box.y, 6.0, box.min_font_pt)
    _text_block(canvas, [_Run(label.product_name, BOLD)], rest)


def _expiry(canvas: Canvas, label: BagLabel, box: Box, spec: LinearSpec) -> None:
    quiet = spec.quiet_zone_modules * spec.narrow_bar_mm * mm
    _caption(canvas, "Expiry date and time", box.x + quiet, box.top)
    bottom = _barcode(canvas, label.expiry_data, box, box.top - 2.6 * mm, spec)
    text = f"EXP {label.expiry_local} {label.expiry_zone}"
    size = _single_line_size(text, BOLD, box, box.width - quiet)
    baseline = bottom - 0.9 * mm - size * 0.75
    canvas.setFont(BOLD, size)
    canvas.drawString(box.x + quiet, baseline, text)
    if label.expiry_zone != "UTC":
        # ST-001 §7.4.4.2: for cellular therapy the UTC time goes beneath, in parentheses
        baseline -= 6.5 * _LEADING
        canvas.setFont(REGULAR, 6.5)
        canvas.drawString(box.x + quiet, baseline, f"({label.expiry_utc} UTC)")
    rest = Box(box.name, box.x, box.y, box.width, baseline - 1 * mm - box.y, 5.5, box.min_font_pt)
    _text_block(canvas, [_Run(label.storage)], rest)


def _content(canvas: Canvas, label: BagLabel, box: Box) -> None:
    infusion = ""
    if label.infusion_number is not None:
        infusion = f" · Infusion {label.infusion_number}"
        if label.infusion_day is not None:
            infusion += f", day {label.infusion_day}"
    _text_block(
        canvas,
        [
            _Run(f"Recipient ID: {label.recipient}{infusion}", BOLD),
            _Run(
                f"Volume {label.volume} · Viable cells {label.viable_cells} · "
                f"Dose {label.dose_per_kg} (body weight {label.body_weight})",
                scale=0.9,
            ),
        ],
        box,
    )


def _statements(canvas: Canvas, label: BagLabel, box: Box) -> None:
    runs = [_Run(s) for s in label.statements]
    if label.biohazard:
        runs.append(_Run(f"\u2623 {label.biohazard_legend}", BOLD, 1.3))
        runs.append(_Run(label.communicable_disease_warning or "", BOLD))
    if label.reactive_warning:
        runs.append(_Run(label.reactive_warning, BOLD))
    _text_block(canvas, runs, box)


def _footer(canvas: Canvas, label: BagLabel, box: Box, page: int, pages: int) -> None:
    kind = "FINAL LABEL" if label.final else "QUARANTINE LABEL"
    if label.reprint:
        kind += f" – REPRINT ({label.reason})"
    runs = []
    if label.example_notice:
        runs.append(_Run(label.example_notice, BOLD))
    runs.append(
        _Run(
            f"Batch {label.batch} · bag {label.bag_number} · {kind} · printed "
            f"{label.printed_at.replace('T', ' ').replace('Z', ' UTC')} by {label.printed_by}"
            f" · label {page} of {pages}",
            scale=0.85,
        )
    )
    _text_block(canvas, runs, box)


def _page(canvas: Canvas, label: BagLabel, template: LabelTemplate, page: int, pages: int) -> None:
    """Draw one label."""
    b = template.boxes
    _header(canvas, label, b["header"])
    _din(canvas, label, b["din"], template.code128)
    _blood_group(canvas, label, b["blood_group"], template.module_mm)
    _status(canvas, label, b["status"])
    _product(canvas, label, b["product"], template.code128)
    _expiry(canvas, label, b["expiry"], template.code128)
    _content(canvas, label, b["content"])
    _statements(canvas, label, b["statements"])
    _footer(canvas, label, b["footer"], page, pages)
    # quadrant rules, as on the ISBT 128 base label
    canvas.setLineWidth(0.4)
    mid = (b["din"].x + b["din"].width + b["blood_group"].x) / 2
    canvas.line(mid, b["din"].y, mid, b["din"].top)
    canvas.line(mid, b["product"].y, mid, b["product"].top)
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
    register_fonts()
    template = template or load_template()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(template.width, template.height), pageCompression=1)
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
