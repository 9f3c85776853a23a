"""Small labels for cryovials and QC sample tubes, one page each (``labels/vial_label.toml``).

ST-001 §7.3.1: a container too small for linear bar codes carries text and a Data Matrix.
"""

from __future__ import annotations

import io
import tomllib
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from cellbatch import isbt128
from cellbatch.documents.barcodes import datamatrix_size, draw_datamatrix
from cellbatch.documents.fonts import BOLD, MONO, MONO_BOLD, REGULAR, embedded_canvas
from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.services.queries.vial_label_content import VialLabel

__all__ = ["VialTemplate", "default_vial_template_path", "load_vial_template", "render_vials"]

_LEADING = 1.18


@dataclass(frozen=True)
class VialTemplate:
    """Page, Data Matrix module and text sizes of the small label (points)."""

    width: float
    height: float
    margin: float
    module_mm: float
    quiet_modules: int
    din_pt: float
    font_pt: float
    min_font_pt: float


def default_vial_template_path() -> Path:
    """The layout shipped with cellbatch: ``<repo>/labels/vial_label.toml``."""
    return Path(__file__).resolve().parent.parent.parent / "labels" / "vial_label.toml"


def _number(table: dict, key: str, where: str, path: Path) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInput(f"{path}: {where}.{key}", f"expected a positive number, got {value!r}")
    return float(value)


def load_vial_template(path: Path | None = None) -> VialTemplate:
    """Read and check the small label's layout."""
    path = Path(path) if path is not None else default_vial_template_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(str(path), "vial label template not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(str(path), f"not valid TOML: {exc}") from None
    page, matrix, text = data.get("page", {}), data.get("datamatrix", {}), data.get("text", {})
    template = VialTemplate(
        width=_number(page, "width_mm", "page", path) * mm,
        height=_number(page, "height_mm", "page", path) * mm,
        margin=_number(page, "margin_mm", "page", path) * mm,
        module_mm=_number(matrix, "module_mm", "datamatrix", path),
        quiet_modules=int(_number(matrix, "quiet_modules", "datamatrix", path)),
        din_pt=_number(text, "din_pt", "text", path),
        font_pt=_number(text, "font_pt", "text", path),
        min_font_pt=_number(text, "min_font_pt", "text", path),
    )
    if template.module_mm < 0.25:
        raise InvalidInput(
            f"{path}: datamatrix.module_mm",
            "ISBT 128 needs a Data Matrix module of at least 0.25 mm",
        )
    return template


def _din_line(canvas: Canvas, label: VialLabel, t: VialTemplate) -> float:
    """The DIN, its printed flags (turned clockwise) and boxed check character; its bottom."""
    x, room = t.margin, t.width - 2 * t.margin
    printed_flags = isbt128.flag_type(label.flags) in (1, 2)
    pad = 0.3 * mm

    def width(size: float) -> float:
        flags = size * 0.9 if printed_flags else 0.0
        return (
            stringWidth(label.din_eye_readable + " ", MONO_BOLD, size)
            + flags
            + stringWidth(label.check_character, MONO_BOLD, size)
            + 2 * pad
        )

    size = t.din_pt
    while width(size) > room:
        size -= 0.25
        if size < t.min_font_pt - 1e-9:
            raise RuleViolation("vial label: the DIN does not fit: enlarge the label")
    baseline = t.height - t.margin - size * 0.8
    canvas.setFont(MONO_BOLD, size)
    canvas.drawString(x, baseline, label.din_eye_readable)
    after = x + stringWidth(label.din_eye_readable + " ", MONO_BOLD, size)
    if printed_flags:  # ST-001 §7.4.1: type 1 and 2 flags, turned 90° clockwise
        canvas.saveState()
        canvas.translate(after, baseline + size * 0.73)
        canvas.rotate(-90)
        canvas.setFont(MONO, size * 0.6)
        canvas.drawString(0, 0, label.flags)
        canvas.restoreState()
        after += size * 0.9
    char = stringWidth(label.check_character, MONO_BOLD, size)
    canvas.setLineWidth(0.4)
    canvas.rect(after, baseline - pad - size * 0.1, char + 2 * pad, size * 0.85 + 2 * pad)
    canvas.setFont(MONO_BOLD, size)
    canvas.drawString(after + pad, baseline, label.check_character)
    return baseline - pad - size * 0.1


_BIOHAZARD = "\u2623"
"""The biohazard symbol: on a small label the legend's word does not fit beside it."""


def _lines(label: VialLabel) -> list[tuple[str, str]]:
    """The text lines left of the Data Matrix: (text, font); at most four."""
    code = label.product_code + (f" {label.divisions}" if label.divisions else "")
    notices = [label.example_notice] if label.example_notice else []
    if label.kind == "vial":
        title = label.title + (f" {_BIOHAZARD}" if label.biohazard else "")
        lines = [(title, BOLD), (code, MONO), (label.batch, REGULAR)]
        notices += ["REPRINT"] if label.reprint else []
    else:
        lines = [
            (label.sample_name or "QC sample", BOLD),
            (code, MONO),
            (f"{label.batch} QC {label.number}/{label.count}", REGULAR),
        ]
        notices += [_BIOHAZARD] if label.biohazard else []
        notices += ["REPRINT"] if label.reprint else []
    if notices:
        lines.append((" ".join(notices), BOLD))
    return lines


def _page(canvas: Canvas, label: VialLabel, t: VialTemplate) -> None:
    bottom_of_din = _din_line(canvas, label, t)
    modules, side = datamatrix_size(label.datamatrix, t.module_mm)
    quiet = t.quiet_modules * t.module_mm * mm
    matrix_x = t.width - t.margin - quiet - side
    matrix_y = t.margin + quiet
    if matrix_y + side + quiet > bottom_of_din + 0.01:
        raise RuleViolation(
            f"vial label: the Data Matrix ({modules} modules) does not fit under the DIN: "
            "enlarge the label or make the module smaller in labels/vial_label.toml"
        )
    draw_datamatrix(canvas, label.datamatrix, matrix_x, matrix_y, t.module_mm)
    room = matrix_x - quiet - t.margin
    lines = _lines(label)
    size = t.font_pt
    while True:
        fits = all(stringWidth(text, font, size) <= room for text, font in lines)
        if fits and len(lines) * size * _LEADING <= bottom_of_din - t.margin - 0.3 * mm:
            break
        size -= 0.25
        if size < t.min_font_pt - 1e-9:
            widest = max(lines, key=lambda line: stringWidth(line[0], line[1], t.min_font_pt))
            raise RuleViolation(
                f"vial label: its text ({widest[0]!r}, …) does not fit beside the Data Matrix "
                f"even at {t.min_font_pt:g} pt: enlarge the label in labels/vial_label.toml"
            )
    y = bottom_of_din - 0.3 * mm
    for text, font in lines:
        y -= size * _LEADING
        canvas.setFont(font, size)
        canvas.drawString(t.margin, y + size * (_LEADING - 1.0), text)


def render_vials(labels: list[VialLabel], template: VialTemplate | None = None) -> bytes:
    """One small label per page; returns the PDF."""
    if not labels:
        raise RuleViolation("no labels to print")
    template = template or load_vial_template()
    buffer = io.BytesIO()
    canvas = embedded_canvas(buffer, (template.width, template.height))
    canvas.setTitle(f"Vial labels {labels[0].batch}")
    canvas.setSubject("ISBT 128 cryovial and QC sample labels")
    canvas.setCreator("cellbatch")
    for label in labels:
        _page(canvas, label, template)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
