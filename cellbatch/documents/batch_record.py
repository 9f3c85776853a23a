"""The complete, human-readable batch record (PDF), for banks and dose batches.

Data in, PDF out: drawn from :func:`cellbatch.services.queries.documents.record_data`. Sections:
cover, steps with values and units, computed values with formula and inputs, QC against
specifications, materials and lots, deviations, data changed after first entry,
signatures, growth chart, vials or bag, label reconciliation, release decisions, a dose's
issue, hand-overs, bedside checks and infusion, and the audit trail as an appendix. Every
page carries the batch ID, page N of M and the time printed.
"""

from __future__ import annotations

import io
import math
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Group, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from cellbatch.documents.fonts import BOLD, MONO, REGULAR, register_fonts
from cellbatch.documents.long_values import (
    BREAK_LONG_WORDS,
    LongValues,
    breakable_table,
    build_with_rows_breaking_if_needed,
    printable,
)
from cellbatch.isbt128 import Din

if TYPE_CHECKING:
    from cellbatch.services.queries.batch_view_model import BatchView, QcView, StepView
    from cellbatch.services.queries.documents import RecordData
    from cellbatch.services.queries.labels import LabelHistory
    from cellbatch.services.queries.signatures import SignatureView

__all__ = ["render"]

_MARGIN = 15 * mm
_WIDTH = A4[0] - 2 * _MARGIN
_WIDE = landscape(A4)[0] - 2 * _MARGIN
"""Width of the landscape pages the audit-trail appendix is printed on."""
_KINDS = {"expansion": "expansion batch / bank", "dose": "dose batch"}
CHANGED = "changed after first entry"
"""How a value corrected after it was first recorded is marked on paper (Annex 11 §8.2)."""


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle(
        "body", fontName=REGULAR, fontSize=8.5, leading=10.5, alignment=TA_LEFT, **BREAK_LONG_WORDS
    )
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7, leading=8.6),
        "tiny": ParagraphStyle("tiny", parent=base, fontSize=6.3, leading=7.6),
        "cell_bold": ParagraphStyle(
            "cell_bold", parent=base, fontName=BOLD, fontSize=7, leading=8.6
        ),
        "title": ParagraphStyle(
            "title", parent=base, fontName=BOLD, fontSize=18, leading=22, spaceAfter=4 * mm
        ),
        "h1": ParagraphStyle(
            "h1",
            parent=base,
            fontName=BOLD,
            fontSize=12,
            leading=15,
            spaceBefore=5 * mm,
            spaceAfter=2 * mm,
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=BOLD,
            fontSize=9.5,
            leading=12,
            spaceBefore=3 * mm,
            spaceAfter=1.5 * mm,
        ),
        "mark": ParagraphStyle(
            "mark",
            parent=base,
            fontName=BOLD,
            fontSize=7,
            leading=8.6,
            textColor=colors.HexColor("#8a1c00"),
        ),
    }


S: dict[str, ParagraphStyle] = {}
NOTES = LongValues()
"""The values of the record being laid out that were too long for their cell."""


def _cell(text: str) -> str:
    """Stored text as paragraph markup, clipped to what a cell holds (the rest in a note)."""
    return printable(NOTES.clip(text))


def _p(text: Any, style: str = "small") -> Paragraph:
    """A paragraph of escaped text (None shows as an em dash)."""
    return Paragraph(_cell(_show(text)), S[style])


def _show(value: Any) -> str:
    """A value as printed: quantities by their display text, lists joined, None as —."""
    if value is None:
        return "—"
    display = getattr(value, "display", None)
    if display is not None:  # a quantity of the read model
        return str(display)
    if isinstance(value, dict):
        if "display" in value:
            return str(value["display"])
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(v) for v in value) if value else "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _when(iso: str | None) -> str:
    """``2026-11-22T03:17:45Z`` as ``2026-11-22 03:17:45 UTC``."""
    if not iso:
        return "—"
    return iso.replace("T", " ").replace("Z", " UTC")


def _who(person: Any) -> str:
    """A person as printed everywhere: ``Full Name (username)``."""
    if not person:
        return "—"
    return person.shown()


def _table(
    headers: list[str],
    rows: list[list[Any]],
    widths: list[float],
    style="small",
    page_width: float = _WIDTH,
) -> Table:
    """A ruled table; cells are wrapped paragraphs, the header row repeats on each page."""
    total = sum(widths)
    data = [[_p(h, "cell_bold") for h in headers]]
    for row in rows:
        data.append([c if isinstance(c, Paragraph) else _p(c, style) for c in row])
    widths = [w / total * page_width for w in widths]
    table = breakable_table(data, widths, split_rows=NOTES.split_rows, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e6e6")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 2.5),
                ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


def _pairs(rows: list[tuple[str, Any]]) -> Table:
    """A two-column table of name and value."""
    data = [
        [_p(name, "cell_bold"), v if isinstance(v, Paragraph) else _p(v, "body")]
        for name, v in rows
    ]
    table = breakable_table(data, [0.28 * _WIDTH, 0.72 * _WIDTH], split_rows=NOTES.split_rows)
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


def _label(labels: dict, kind: str, name: str) -> str:
    """A step parameter as the SOP labels it (``vial_numbers`` as "Vial numbers" if it has none)."""
    return labels.get(kind, {}).get(name) or name.replace("_", " ").capitalize()


def _step_value(name: str, value: Any) -> str:
    """A recorded step value as printed; start and end times like every other time."""
    if name in ("start", "end") and isinstance(value, str):
        return _when(value)
    return _show(value)


_TIMES = re.compile(r"(?<=\S) x (?=\S)")


def _times_sign(text: str) -> str:
    """``count x volume`` as ``count × volume`` (SOP method text written with a letter x)."""
    return _TIMES.sub(" × ", text)


_ISO_TIME = re.compile(r"\b(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)Z\b")


def _times_in(text: str) -> str:
    """Every ``2026-12-01T21:59:14Z`` in a text as ``2026-12-01 21:59:14 UTC``."""
    return _ISO_TIME.sub(r"\1 \2 UTC", text)


def _mark(text: str) -> str:
    """Escaped text in the bold dark-red of things that need attention."""
    return f'<font name="{BOLD}" color="#8a1c00">{_cell(text)}</font>'


def _verification(item: StepView | QcView) -> str:
    """Where a step entry's or QC result's second-person verification stands, as markup."""
    status = item.verification_status
    if status is None or status == "not required":
        return _cell("second-person verification: not required")
    current = [v for v in item.verifications if not v.superseded]
    if status == "verified" and current:
        v = current[-1]
        signed = _when(v.signed_at)
        return _cell(f"verified by {v.full_name} ({v.username}) at {signed}")
    if status == "invalid":
        last = current[-1] if current else None
        return _mark(
            f"verification by {last.full_name if last else None} "
            f"({last.username if last else None}) NO LONGER VALID "
            f"({(last.reason_invalid if last else None) or 'content changed'}): "
            "second-person verification PENDING"
        )
    return _mark("second-person verification PENDING")


def _first_part_height(flowable: Any) -> float:
    """How much of a flowable must share a page with the heading above it."""
    _w, height = flowable.wrap(_WIDTH, 100_000)
    if isinstance(flowable, Table):
        return sum(flowable._rowHeights[:2])  # known after wrap: header and first row
    return height


def _keep_headings(story: list, frame_height: float) -> list:
    """Put a conditional page break before each section heading.

    The heading moves to the next page unless it fits together with the start of its content
    (a table's header and first row, or the first paragraph), so no heading is left alone at the
    bottom of a page.
    """
    out: list = []
    for i, flowable in enumerate(story):
        if isinstance(flowable, Paragraph) and flowable.style.name == "h1":
            _w, height = flowable.wrap(_WIDTH, 100_000)
            need = height + flowable.style.spaceBefore + flowable.style.spaceAfter
            for follower in story[i + 1 :]:
                if isinstance(follower, (PageBreak, CondPageBreak, NextPageTemplate)):
                    break
                need += _first_part_height(follower)
                if not isinstance(follower, Spacer):
                    break
            out.append(CondPageBreak(min(need, 0.8 * frame_height)))
        out.append(flowable)
    return out


# ----------------------------------------------------------------------------- sections


def _din_text(din: str) -> str:
    try:
        parsed = Din.from_code(din)
    except Exception:  # a stored DIN is valid; show it as stored if not
        return din
    return f"{parsed.eye_readable} [{parsed.check}]"


def _mono(text: str) -> Paragraph:
    """An identifier in the monospaced font, whose dotted zero is never read as O."""
    return Paragraph(f'<font name="{MONO}">{_cell(text)}</font>', S["body"])


def _cover(data: RecordData) -> list:
    b = data.batch
    f = data.facility
    story: list = [
        _p(f.name, "h2"),
        _p(", ".join(f.address), "small"),
        Spacer(1, 6 * mm),
        _p(f"Batch record {b.code}", "title"),
    ]
    if f.example:
        story.append(_p("EXAMPLE FIN – NOT FOR CLINICAL USE", "mark"))
    sop = b.sop
    lot = b.tissue_lot
    rows: list[tuple[str, Any]] = [
        ("Product", b.product),
        (
            "Batch",
            f"{b.code} ({_KINDS.get(b.kind, b.kind)})",
        ),
        ("Status", b.status.upper()),
        ("SOP", f"{sop.id} version {sop.version}: {sop.title}"),
        ("SOP content hash", Paragraph(_cell(sop.content_hash), S["small"])),
        (
            "Donor",
            f"{b.donor.code} · relationship: {b.donor.relationship} · "
            f"eligibility: {b.donor.eligibility}",
        ),
        (
            "Tissue lot (donation)",
            f"{lot.lot} · {lot.tissue} · "
            f"{lot.amount} · collected "
            f"{_when(lot.collected_at)} · received "
            f"{_when(lot.received_at)}",
        ),
        ("DIN", _mono(_din_text(b.din))),
        ("Started", f"{_when(b.started_at)} by {_who(b.recorded_by)}"),
    ]
    if b.dose is not None:
        d = b.dose
        rows += [
            ("Parent bank", d.parent),
            ("Recipient", d.recipient),
            ("Body weight", d.body_weight),
            ("Dose per kg", d.dose_per_kg),
            ("Infusion", f"number {_show(d.infusion_number)}, day {_show(d.infusion_day)}"),
            (
                "Target viable cells",
                f"{_show(d.target_viable_cells)} ± "
                f"{d.tolerance_percent:g} % "
                f"({_show(d.target_window.low)} to "
                f"{_show(d.target_window.high)})",
            ),
        ]
        bag = d.bag
        rows.append(
            (
                "Bag",
                f"bag {bag.number} · DIN {_din_text(bag.din)} · product code "
                f"{bag.product_code} · expires {_when(bag.expires_at)}"
                if bag
                else "not filled",
            )
        )
    elif b.expansion is not None:
        bank = b.expansion.bank
        rows.append(
            (
                "Vials made",
                f"{bank.vials_frozen} vials × {_show(bank.cells_per_vial)}"
                f" in {_show(bank.volume_per_vial)} at P{bank.passage}, "
                f"{bank.location}; {b.expansion.vials_left} in stock"
                if bank
                else "not frozen yet",
            )
        )
        if b.expansion.children:
            rows.append(
                ("Dose batches", ", ".join(f"{c.code} ({c.status})" for c in b.expansion.children))
            )
    rows.append(
        (
            "Release decision",
            "; ".join(
                f"{d.decision.upper()} by {_who(d.decided_by)} at {_when(d.decided_at)}: {d.reason}"
                for d in b.release_decisions
            )
            or "none yet",
        )
    )
    story.append(_pairs(rows))
    return story


def _donor(data: RecordData) -> list:
    """The donor's infectious-disease marker results: the grounds of the eligibility."""
    donor = data.donor
    if not donor:
        return []
    story: list = [
        _p("Donor and infectious-disease markers", "h1"),
        _p(
            f"Donor {donor.code} · relationship to the recipient: {donor.relationship} · "
            f"sex {donor.sex} · born {donor.birth_year} · eligibility: "
            f"{donor.eligibility}",
            "body",
        ),
        Spacer(1, 1.5 * mm),
    ]
    tests = donor.tests or []
    if not tests:
        return story + [_p("No marker result recorded.", "body")]
    rows = [
        [
            t.marker,
            Paragraph(_mark(t.result.upper()), S["small"]) if t.result != "negative" else t.result,
            t.sampled,
        ]
        for t in tests
    ]
    story.append(_table(["Marker", "Result", "Sample date"], rows, [40, 30, 30]))
    return story


def _checklist(data: RecordData) -> list:
    """The release criteria, each met or not.

    As they stood at the batch's release (or rejection), or, not decided, when printed.
    """
    criteria = data.release_checklist
    decided_at = data.release_checklist_decided_at
    decision = "release" if data.batch.status == "released" else "rejection"
    if criteria is None:
        if decided_at is None:
            return []
        return [
            _p(f"Release checklist at the {decision}", "h1"),
            _p(
                f"Decided {_when(decided_at)}, before cellbatch kept the checklist of a "
                "decision: the criteria as they stood then are not on record (the decision, "
                "its reason and signature are, under Electronic signatures).",
                "body",
            ),
        ]
    unmet = [c for c in criteria if not c.met]
    counted = f"{len(criteria) - len(unmet)} of {len(criteria)} met"
    if decided_at is not None:
        heading = f"Release checklist at the {decision}"
        intro = (
            f"The release criteria as they stood when QA decided the batch "
            f"({_when(decided_at)}), kept with the decision: {counted}."
        )
    else:
        heading = "Release checklist (batch not released)"
        intro = (
            f"The release criteria as they stood when this record was printed "
            f"({_when(data.generated_at)}): {counted}. The batch cannot be released while "
            "any is not met."
        )
    story: list = [_p(heading, "h1"), _p(intro, "body"), Spacer(1, 1.5 * mm)]
    rows = [
        [
            c.description,
            _p("met", "cell_bold") if c.met else Paragraph(_mark("NOT MET"), S["small"]),
            _times_in(c.detail),
        ]
        for c in criteria
    ]
    story.append(_table(["Criterion", "Met", "Detail"], rows, [45, 10, 45]))
    return story


def _corrections_by_field(b: BatchView) -> dict[tuple[str, str], list]:
    out: dict[tuple[str, str], list] = {}
    for c in b.corrections:
        out.setdefault((c.entry, c.field), []).append(c)
    return out


def _steps(b: BatchView, labels: dict) -> list:
    story: list = [_p("Process steps", "h1")]
    if not b.steps:
        return story + [_p("No step recorded yet.", "body")]
    fixes = _corrections_by_field(b)
    rows = []
    for e in b.steps:
        values = []
        for name, value in e.values.items():
            text = f"{_label(labels, e.kind, name)}: {_step_value(name, value)}"
            line = _cell(text)
            for c in fixes.get((e.id, name), []):
                line += (
                    f' <font name="{BOLD}" color="#8a1c00">[{CHANGED}: was '
                    f"{_cell(c.old_display)}, reason: {_cell(c.reason)}]</font>"
                )
            values.append(line)
        for name in e.corrected_fields:
            if name not in e.values:
                values.append(_mark(f"[{_label(labels, e.kind, name)} {CHANGED}]"))
        materials = [f"{m.kind}: {m.lot} ({m.name}, exp. {m.expires})" for m in e.materials]
        step = e.kind + (f" P{e.passage}" if e.passage is not None else "")
        rows.append(
            [
                e.id,
                step,
                Paragraph("<br/>".join(values) or "—", S["small"]),
                _p("; ".join(materials) or "—", "tiny"),
                Paragraph(
                    _cell(
                        f"performed {_when(e.performed_at)}; recorded "
                        f"{_when(e.recorded_at)} by {_who(e.recorded_by)}"
                    )
                    + "<br/>"
                    + _verification(e),
                    S["tiny"],
                ),
            ]
        )
    story.append(
        _table(
            ["Entry", "Step", "Values", "Materials (lots)", "When and who"],
            rows,
            [9, 14, 40, 30, 30],
        )
    )
    return story


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def _computed(b: BatchView) -> list:
    story: list = [_p("Computed values (formula and inputs)", "h1")]
    rows: list[list[Any]] = []
    if b.expansion is not None:
        x = b.expansion
        for p in x.passages:
            n = f"P{p.passage}"
            if p.area:
                rows.append(
                    [
                        f"{n} culture area",
                        "vessels × area per vessel",
                        f"{p.vessels} × {p.vessel}",
                        _show(p.area),
                    ]
                )
            if p.seeding_density:
                rows.append(
                    [
                        f"{n} seeding density",
                        "viable cells seeded ÷ area",
                        f"{_show(p.viable_cells_seeded)} ÷ {_show(p.area)}",
                        _show(p.seeding_density),
                    ]
                )
            h = p.harvest
            if h is not None:
                rows.append(
                    [
                        f"{n} viable cells harvested",
                        "total cells × viability",
                        f"{_show(h.total_cells_harvested)} × {_show(h.viability)}",
                        _show(h.viable_cells_harvested),
                    ]
                )
                rows.append(
                    [
                        f"{n} population doublings (PD)",
                        "log2(viable harvested ÷ viable seeded)",
                        f"log2({_show(h.viable_cells_harvested)} ÷ {_show(p.viable_cells_seeded)})",
                        _f(h.population_doublings),
                    ]
                )
                rows.append(
                    [
                        f"{n} cumulative PD",
                        "sum of PD up to this passage",
                        f"previous + {_f(h.population_doublings)}",
                        _f(h.cumulative_population_doublings),
                    ]
                )
                dt = h.doubling_time_hours
                rows.append(
                    [
                        f"{n} doubling time",
                        "culture hours × ln 2 ÷ ln(harvested ÷ seeded)",
                        f"{_f(h.culture_hours, 1)} h ({_when(p.seeded_at)} to "
                        f"{_when(h.harvested_at)})",
                        f"{_f(dt, 1)} h" if dt is not None else "—",
                    ]
                )
        limits = x.limits
        rows.append(
            [
                "Cumulative PD of the bank",
                f"limit ≤ {limits.max_cumulative_pd}",
                f"P{limits.min_bank_passage}–P{limits.max_passage} allowed",
                _f(x.cumulative_population_doublings),
            ]
        )
    elif b.dose is not None:
        d = b.dose
        rows.append(
            [
                "Target viable cells",
                "dose per kg × body weight",
                f"{_show(d.dose_per_kg)} × {_show(d.body_weight)}",
                _show(d.target_viable_cells),
            ]
        )
        rows.append(
            [
                "Dose window",
                f"target ± {d.tolerance_percent:g} %",
                _show(d.target_viable_cells),
                f"{_show(d.target_window.low)} to {_show(d.target_window.high)}",
            ]
        )
        t = d.thaw
        if t:
            rows.append(
                [
                    "Viable cells after thaw",
                    "total cells × viability",
                    f"{_show(t.total_cells)} × {_show(t.viability)}",
                    _show(t.viable_cells),
                ]
            )
        fu = d.fucosylation
        if fu:
            rows.append(
                [
                    "Fucosylation time",
                    "end − start",
                    f"{_when(fu.start)} to {_when(fu.end)}",
                    _show(fu.duration),
                ]
            )
        fill = d.fill
        if fill:
            rows.append(
                [
                    "Concentration in the bag",
                    "viable cells ÷ volume",
                    f"{_show(fill.viable_cells)} ÷ {_show(fill.volume)}",
                    _show(fill.concentration),
                ]
            )
            rows.append(
                [
                    "Dose given per kg",
                    "viable cells ÷ body weight",
                    f"{_show(fill.viable_cells)} ÷ {_show(d.body_weight)}",
                    _show(fill.dose_per_kg),
                ]
            )
            rows.append(
                [
                    "Deviation from target",
                    "(viable cells − target) ÷ target × 100",
                    f"{_show(fill.viable_cells)}, {_show(d.target_viable_cells)}",
                    f"{fill.deviation_from_target_percent:+.1f} % — "
                    + ("within tolerance" if fill.within_tolerance else "OUTSIDE tolerance"),
                ]
            )
    if not rows:
        return story + [_p("Nothing computed yet.", "body")]
    story.append(_table(["Value", "Formula", "Inputs", "Result"], rows, [22, 26, 32, 20]))
    return story


def _qc(b: BatchView) -> list:
    story: list = [_p("QC results and specifications", "h1")]
    if not b.qc:
        return story + [_p("No QC result recorded yet.", "body")]
    rows = []
    for q in b.qc:
        verdict = "PASS" if q.passed else "FAIL (OOS)"
        extra = []
        if q.retest_of:
            extra.append(f"retest of {q.retest_of}")
        if q.after_release:
            extra.append("late result, recorded after the release")
        for c in b.corrections:
            if c.entry == q.id:
                extra.append(f"{CHANGED}: {c.field} was {c.old_display}, reason: {c.reason}")
        if q.corrected and not any(CHANGED in x for x in extra):
            extra.append(CHANGED)
        rows.append(
            [
                q.id,
                f"{q.name} ({q.stage})",
                _times_sign(q.method),
                Paragraph(
                    _cell(_show(q.value))
                    + "".join(
                        f'<br/><font name="{BOLD}" color="#8a1c00">[{_cell(x)}]</font>'
                        for x in extra
                    ),
                    S["small"],
                ),
                q.specification,
                _p(verdict, "cell_bold"),
                Paragraph(
                    _cell(
                        f"performed {_when(q.performed_at)}; recorded "
                        f"{_when(q.recorded_at)} by {_who(q.recorded_by)}"
                    )
                    + "<br/>"
                    + _verification(q),
                    S["tiny"],
                ),
            ]
        )
    story.append(
        _table(
            ["ID", "Test", "Method", "Result", "Specification", "Pass/fail", "When and who"],
            rows,
            [7, 18, 18, 13, 14, 11, 19],
        )
    )
    return story


def _materials(b: BatchView) -> list:
    story: list = [_p("Materials and lots", "h1")]
    lots: dict[str, tuple[Any, list[str]]] = {}
    for e in b.steps:
        for m in e.materials:
            lots.setdefault(m.lot, (m, []))[1].append(e.id)
    if not lots:
        return story + [_p("No material lot recorded.", "body")]
    rows = [
        [lot, m.kind, m.name, m.expires, ", ".join(steps)]
        for lot, (m, steps) in sorted(lots.items())
    ]
    story.append(
        _table(["Lot", "Kind", "Material", "Expires", "Used in"], rows, [16, 16, 34, 12, 22])
    )
    return story


def _deviations(b: BatchView) -> list:
    story: list = [_p("Deviations", "h1")]
    devs = b.deviations
    if not devs:
        return story + [_p("No deviation recorded for this batch.", "body")]
    for d in devs:
        rows = [
            ("Deviation", f"{d.id} · {d.title}"),
            (
                "Status",
                f"{_show(d.status)} · classification {_show(d.classification)}",
            ),
            ("What happened", d.description),
            ("QC result", d.qc_result),
            ("Investigation", d.investigation),
            ("Root cause", d.root_cause),
            ("CAPA", d.capa),
            ("Opened", f"{_when(d.opened_at)} by {_person(d.opened_by, d.opened_by_name)}"),
            (
                "Closed",
                f"{_when(d.closed_at)} by {_person(d.closed_by, d.closed_by_name)}"
                if d.closed_at
                else "open",
            ),
        ]
        for s in d.signatures:
            rows.append(("Signature", _signature_text(s)))
        story += [_pairs(rows), Spacer(1, 2 * mm)]
    return story


def _person(username: str | None, name: str | None) -> str:
    """``Full Name (user)`` of a deviation's opener or closer (the user ID alone if no name)."""
    if not username:
        return "—"
    return f"{name} ({username})" if name else str(username)


def _corrections(b: BatchView) -> list:
    story: list = [_p(f"Data {CHANGED}", "h1")]
    fixes = b.corrections
    if not fixes:
        return story + [_p("No value was changed after it was first entered.", "body")]
    rows = [
        [
            c.entry,
            c.field,
            c.old_display,
            c.new_display,
            c.reason,
            _p(f"{_when(c.corrected_at)}, {_who(c.corrected_by)}", "tiny"),
        ]
        for c in fixes
    ]
    story.append(
        _table(
            ["Record", "Field", "Old value", "New value", "Reason", "When and who"],
            rows,
            [9, 14, 16, 16, 27, 18],
        )
    )
    return story


def _signature_text(s: SignatureView) -> str:
    valid = "valid" if s.valid else f"NOT VALID ({s.reason_invalid or 'invalid'})"
    if s.superseded:
        valid += ", superseded"
    return f"{s.full_name} ({s.username}) · {_when(s.signed_at)} · {s.meaning} · {s.on} · {valid}"


def _signed_record(b: BatchView, s: SignatureView) -> str:
    """What a signature is over: ``E19 (thaw step)``, ``batch EASC-D001 (release decision)``."""
    on = str(s.on)
    if on == "batch":
        decided = {d.decided_at for d in b.release_decisions}
        what = "release decision" if s.signed_at in decided else "batch record"
        return f"batch {b.code} ({what})"
    kinds = {e.id: f"{e.kind} step" for e in b.steps}
    kinds |= {q.id: "QC result" for q in b.qc}
    kinds |= {d.id: "deviation" for d in b.deviations}
    return f"{on} ({kinds[on]})" if on in kinds else on


def _signatures(b: BatchView) -> list:
    story: list = [_p("Electronic signatures", "h1")]
    sigs = b.signatures
    if not sigs:
        return story + [_p("No electronic signature recorded for this batch.", "body")]
    rows = [
        [
            _signed_record(b, s),
            s.full_name,
            s.username,
            _when(s.signed_at),
            s.meaning
            + (
                f" (audit anchor {s.audit_entry})"
                if s.meaning in ("released", "rejected") and s.audit_entry
                else ""
            ),
            ("valid" if s.valid else f"NOT VALID: {s.reason_invalid}")
            + (" (superseded)" if s.superseded else ""),
        ]
        for s in sigs
    ]
    story.append(
        _table(
            ["Signed record", "Printed name", "User ID", "Date and time", "Meaning", "Valid"],
            rows,
            [20, 20, 9, 20, 11, 20],
        )
    )
    return story


_POINT_FONT = 6.5


def _point_label(plot: LinePlot, px: float, py: float, text: str) -> String:
    """A point's label inside the plot: above the point, left of it where it would run out.

    Centred above the point; moved left so it ends at the point near the right edge, right so
    it starts at the point near the y-axis, and below the point if there is no room above.
    """
    width = stringWidth(text, REGULAR, _POINT_FONT)
    left, right = plot.x + 2, plot.x + plot.width - 2
    x = min(max(px - width / 2, left), right - width)
    y = py + 4
    if y + _POINT_FONT > plot.y + plot.height - 1:
        y = py - 4 - _POINT_FONT
    return String(x, y, text, fontName=REGULAR, fontSize=_POINT_FONT)


def _growth_chart(b: BatchView) -> list:
    x = b.expansion
    passages = [p for p in (x.passages if x else ()) if p.harvest is not None]
    heading = _p("Growth: cumulative population doublings", "h1")
    if not passages:
        return [heading, _p("No harvest recorded yet.", "body")]
    start = datetime.fromisoformat(x.passages[0].seeded_at.replace("Z", "+00:00"))
    points = [(0.0, 0.0)]
    for p in passages:
        at = datetime.fromisoformat(p.harvest.harvested_at.replace("Z", "+00:00"))
        points.append(
            ((at - start).total_seconds() / 86400.0, p.harvest.cumulative_population_doublings)
        )
    width, height = _WIDTH, 70 * mm
    drawing = Drawing(width, height)
    drawing.initialFontName = REGULAR  # the chart's default font would be Helvetica, unembedded
    plot = LinePlot()
    plot.x, plot.y = 16 * mm, 12 * mm
    plot.width, plot.height = width - 24 * mm, height - 18 * mm
    plot.data = [points]
    plot.lines[0].strokeColor = colors.HexColor("#1f4e79")
    plot.lines[0].strokeWidth = 1.5
    plot.lines[0].symbol = makeMarker("FilledCircle")
    limit = x.limits.max_cumulative_pd
    top = max(y for _x, y in points)
    if limit:
        plot.data.append([(0.0, float(limit)), (max(x for x, _y in points), float(limit))])
        plot.lines[1].strokeColor = colors.HexColor("#8a1c00")
        plot.lines[1].strokeDashArray = [3, 2]
        top = max(top, float(limit))
    plot.yValueAxis.valueMin = 0
    plot.yValueAxis.valueMax = math.ceil(top / 5.0) * 5 + 1
    plot.xValueAxis.valueMin = 0
    plot.xValueAxis.valueMax = math.ceil(max(x for x, _y in points) / 7.0) * 7
    for axis in (plot.xValueAxis, plot.yValueAxis):
        axis.labels.fontName = REGULAR
        axis.labels.fontSize = 7
    drawing.add(plot)
    drawing.add(
        String(
            plot.x + plot.width / 2,
            1 * mm,
            "days since P0 seeding",
            fontName=REGULAR,
            fontSize=7.5,
            textAnchor="middle",
        )
    )
    turned = Group(
        String(0, 0, "cumulative PD", fontName=REGULAR, fontSize=7.5, textAnchor="middle")
    )
    turned.transform = (0, 1, -1, 0, 5 * mm, plot.y + plot.height / 2)
    drawing.add(turned)
    for (x, y), p in zip(points[1:], passages, strict=True):
        drawing.add(
            _point_label(
                plot,
                plot.x + x / plot.xValueAxis.valueMax * plot.width,
                plot.y + y / plot.yValueAxis.valueMax * plot.height,
                f"P{p.passage}: {y:.2f}",
            )
        )
    if limit:
        drawing.add(
            String(
                plot.x + 3 * mm,
                plot.y + float(limit) / plot.yValueAxis.valueMax * plot.height - 8,
                f"SOP ceiling {limit:g}",
                fontName=REGULAR,
                fontSize=6.5,
                fillColor=colors.HexColor("#8a1c00"),
            )
        )
    return [KeepTogether([heading, drawing])]


def _vials(b: BatchView) -> list:
    story: list = [_p("Vials (inventory)", "h1")]
    vials = b.expansion.vials if b.expansion else ()
    if not vials:
        return story + [_p("No vial frozen yet.", "body")]
    rows = [
        [
            v.number,
            v.location,
            _show(v.viable_cells),
            _show(v.volume),
            v.status,
            v.thawed_for or "—",
        ]
        for v in vials
    ]
    story.append(
        _table(
            ["Vial", "Location", "Viable cells", "Volume", "Status", "Thawed for"],
            rows,
            [7, 40, 15, 10, 12, 16],
        )
    )
    return story


def _label_kinds(kind: str, labels: LabelHistory) -> list[tuple[str, Any]]:
    """Prints and reprints by kind of label: a bag's final and quarantine labels, or a bank's.

    A bank's vial and QC sample tube labels carry no release status (a frozen vial is not
    relabelled at the release), so they are neither quarantine nor final labels.
    """
    if kind != "dose":
        total = labels.printed + labels.reprinted
        return [("Vial and QC sample tube labels (prints and reprints)", total)]
    return [
        ("Final labels (prints and reprints)", labels.final_printed),
        ("Quarantine labels (prints and reprints)", labels.quarantine_printed),
    ]


def _labels(data: RecordData) -> list:
    story: list = [_p("Label reconciliation", "h1")]
    labels = data.labels
    if not labels.labels:
        what = "bag" if data.batch.kind == "dose" else "vial or QC sample"
        return story + [_p(f"No {what} label has been printed.", "body")]
    story.append(
        _pairs(
            [
                ("Labels printed", labels.printed),
                ("Labels reprinted", labels.reprinted),
                *_label_kinds(data.batch.kind, labels),
                ("Scans that verified a label", labels.verified),
                ("Failed scans", labels.failed_scans),
                ("Labels applied (verified on their container)", labels.applied),
                ("Superseded labels destroyed", labels.destroyed),
                ("Superseded labels still to destroy", ", ".join(labels.to_destroy) or "none"),
            ]
        )
    )
    if labels.labels:
        rows = []
        for label in labels.labels:
            fate = label.status
            if label.superseded_by:
                fate += f" by {label.superseded_by}"
            if label.applied_at:
                fate += f"; applied {_when(label.applied_at)} by {label.applied_by}"
            if label.destroyed_at:
                fate += (
                    f"; destroyed {_when(label.destroyed_at)} by {label.destroyed_by}"
                    f" ({label.destroy_reason})"
                )
            made = f"{label.site_settings}; content sha256 {label.content_hash[:16]}"
            if label.approved_by:
                made += f"; reprint approved by {label.approved_by}"
            what = label.target + (" final" if label.final else "")
            rows.append(
                [
                    label.ref,
                    f"{what}, flags {label.flags}",
                    f"{_when(label.printed_at)} by {label.printed_by}",
                    made,
                    fate,
                ]
            )
        story += [
            Spacer(1, 2 * mm),
            _p("Every label printed, what it was printed under, and what became of it", "h2"),
            _table(["Label", "For", "Printed", "Made under", "Now"], rows, [7, 14, 20, 26, 33]),
        ]
    if labels.events:
        rows = []
        for e in labels.events:
            if e.action == "scan":
                outcome = "verified" if e.ok else (e.reason or "NOT verified")
            else:
                kind = "final" if e.final else "quarantine"
                outcome = f"{kind} label, {e.copies} cop{'y' if e.copies == 1 else 'ies'}"
                if e.reason:
                    outcome += f"; reason: {e.reason}"
            rows.append([_when(e.at), _who(e.by), e.action, e.bag, outcome])
        story += [
            Spacer(1, 2 * mm),
            _table(["When", "Who", "Action", "Bag", "Outcome"], rows, [20, 22, 10, 6, 42]),
        ]
    return story


def _clinical_use(data: RecordData) -> list:
    """A dose's bag after the cleanroom: issue, hand-overs, bedside checks, the infusion."""
    use = data.clinical_use
    if not use.applies:
        return []
    story: list = [
        _p("Issue, custody, bedside check and infusion", "h1"),
        _p(
            "Who issued the bag and to whom, every hand-over (each a scan of the bag's label and "
            "the log-in of the person taking it), every bedside check by two people with its "
            "verdict (a NO MATCH with its reasons), and what was given. Server time in UTC.",
            "small",
        ),
    ]
    groups = [
        ("Issue and hand-overs", [c.text() for c in use.custody], "The bag has not been issued."),
        ("Bedside checks", [c.text() for c in use.bedside_checks], "No bedside check yet."),
        ("Infusion", [i.text() for i in use.infusions], "No infusion recorded yet."),
    ]
    for title, lines, none in groups:
        story.append(_p(title, "h2"))
        story += [_p(line, "body") for line in lines] or [_p(none, "body")]
    return story


def _audit(data: RecordData) -> list:
    story: list = [
        NextPageTemplate("landscape"),
        PageBreak(),
        _p("Appendix: audit trail of this batch", "h1"),
        _p(
            "Every entry the audit trail holds for this batch, in order: its creation, every "
            "record made or changed under it, and its vials' entries (a dose batch's thaw marks "
            "the bank's vials). Server time in UTC. People by printed name and user ID, records "
            "by the names this record uses, quantities in the units technicians use; for a "
            "created record, its content field by field (empty fields left out). The entries as "
            "stored are in the electronic copy (JSON).",
            "small",
        ),
        _p(
            "Audit numbers (#) count the entries of the whole database in one sequence, every "
            "batch's and the system's, so the numbers of one batch's entries have gaps: the "
            "entries in between belong to other records. A missing or altered entry is found "
            "by the audit trail's own check (cellbatch audit verify), not by these numbers.",
            "small",
        ),
        Spacer(1, 2 * mm),
    ]
    entries = data.audit_readable
    if not entries:
        return story + [_p("No audit entry.", "body")]
    rows = []
    for a in entries:
        lines: list[str] = []
        if a.old is not None:
            lines.append(f'<font name="{BOLD}">old:</font> {_cell(a.old)}')
        if a.new is not None:
            lines.append(f'<font name="{BOLD}">new:</font> {_cell(a.new)}')
        rows.append(
            [
                a.seq,
                _when(a.at),
                a.who,
                a.action,
                a.record,
                a.field,
                Paragraph("<br/>".join(lines) or "—", S["tiny"]),
                a.reason,
            ]
        )
    story.append(
        _table(
            ["#", "Time (UTC)", "Who", "Action", "Record", "Field", "Values", "Reason"],
            rows,
            [4, 9, 9, 5.5, 11, 7, 40, 14.5],
            style="tiny",
            page_width=_WIDE,
        )
    )
    return story


def _story(data: RecordData) -> list:
    b = data.batch
    story = _cover(data)
    story += _checklist(data)
    story += _donor(data)
    story += _steps(b, data.parameter_labels or {})
    story += _computed(b)
    story += _qc(b)
    story += _materials(b)
    story += _deviations(b)
    story += _corrections(b)
    story += _signatures(b)
    if b.expansion is not None:
        story += _growth_chart(b)
        story += _vials(b)
    story += _labels(data)
    story += _clinical_use(data)
    story += _audit(data)
    story += NOTES.appendix(S["h1"], S["small"])
    return _keep_headings(story, A4[1] - 32 * mm)


class _NumberedCanvas(Canvas):
    """A canvas that holds pages back until the end, so each can say 'page N of M'."""

    record: Any = None
    """The record being printed (:class:`RecordData`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        """Keep the page's state; draw it when the page count is known."""
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        """Stamp header and footer on every page, then write the file."""
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._furniture(number, total)
            super().showPage()
        super().save()

    def _furniture(self, number: int, total: int) -> None:
        data = self.record
        code = data.batch.code
        width, height = self._pagesize
        self.saveState()
        self.setFont(BOLD, 8)
        self.drawString(_MARGIN, height - 10 * mm, f"Batch record {code}")
        self.setFont(REGULAR, 7)
        self.drawRightString(width - _MARGIN, height - 10 * mm, data.facility.name)
        self.setLineWidth(0.4)
        self.line(_MARGIN, height - 11.5 * mm, width - _MARGIN, height - 11.5 * mm)
        self.line(_MARGIN, 11.5 * mm, width - _MARGIN, 11.5 * mm)
        self.setFont(REGULAR, 7)
        printed = f"Batch {code} · printed {_when(data.generated_at)}"
        if anchor := data.audit_anchor:  # the audit trail's head it was built from
            printed += f" · audit anchor #{anchor.seq} {anchor.hash[:16]}"
        self.drawString(_MARGIN, 8 * mm, printed)
        self.setFont(BOLD, 7)
        self.drawRightString(width - _MARGIN, 8 * mm, f"Page {number} of {total}")
        if data.facility.example:
            self.setFont(REGULAR, 6)
            self.drawCentredString(width / 2, 5 * mm, "EXAMPLE FIN – NOT FOR CLINICAL USE")
        self.restoreState()


def render(data: RecordData) -> bytes:
    """Lay out the complete batch record and return the PDF."""
    register_fonts()
    S.update(_styles())
    return build_with_rows_breaking_if_needed(lambda split_rows: _build(data, split_rows))


def _build(data: RecordData, split_rows: bool) -> bytes:
    """The PDF, with table rows breaking across pages or not."""
    NOTES.notes.clear()
    NOTES.split_rows = split_rows
    buffer = io.BytesIO()
    code = data.batch.code
    doc = BaseDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Batch record {code}",
        author=data.facility.name,
        subject="GMP batch record",
        creator="cellbatch",
        initialFontName=REGULAR,  # not reportlab's Helvetica, which is never embedded
    )
    templates = []
    for name, size in (("portrait", A4), ("landscape", landscape(A4))):
        frame = Frame(
            _MARGIN,
            16 * mm,
            size[0] - 2 * _MARGIN,
            size[1] - 32 * mm,
            leftPadding=0,
            rightPadding=0,
            topPadding=0,
            bottomPadding=0,
            id=name,
        )
        templates.append(PageTemplate(id=name, frames=[frame], pagesize=size))
    doc.addPageTemplates(templates)
    canvas_class = type("_RecordCanvas", (_NumberedCanvas,), {"record": data})
    doc.build(_story(data), canvasmaker=canvas_class)
    return buffer.getvalue()
