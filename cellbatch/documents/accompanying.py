"""The accompanying document printed with each issued bag (A5 PDF, fonts embedded).

Bar codes: the DIN (Data Structure 001) and the chain-of-identity identifier (Data Structure
040), each Code 128, with their eye-readable text; the CoI's check character in a box.
"""

from __future__ import annotations

import io

from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm

from cellbatch import isbt128
from cellbatch.documents.barcodes import LinearSpec, draw_code128
from cellbatch.documents.fonts import BOLD, REGULAR, embedded_canvas
from cellbatch.services.queries.accompanying import AccompanyingDocument


def render(doc: AccompanyingDocument) -> bytes:
    """The document as PDF bytes."""
    buffer = io.BytesIO()
    canvas = embedded_canvas(buffer, A5)
    width, height = A5
    y = height - 15 * mm
    canvas.setFont(BOLD, 13)
    canvas.drawString(12 * mm, y, "Accompanying document — cell therapy product")
    lines = [
        ("Product", doc.product[:70]),
        ("Batch / bag", f"{doc.batch} bag {doc.bag}"),
        ("DIN / product code", f"{doc.din} {doc.product_code}"),
        ("Recipient ID", f"{doc.recipient} (infusion {doc.infusion})"),
        ("Chain of identity", doc.coi_eye_readable or "none assigned"),
        ("Released by", f"{doc.released_by}, {doc.released_at}"),
        ("EXPIRES", doc.expires_at),
    ]
    canvas.setFont(REGULAR, 10)
    for label, value in lines:
        y -= 7 * mm
        canvas.setFont(BOLD, 10)
        canvas.drawString(12 * mm, y, label)
        canvas.setFont(REGULAR, 10)
        canvas.drawString(52 * mm, y, value)
    if doc.coi_check:
        canvas.rect(52 * mm + canvas.stringWidth(doc.coi_eye_readable, REGULAR, 10) + 3 * mm,
                    y + 6 * mm - 1.2 * mm, 5 * mm, 5 * mm)  # fmt: skip
        canvas.drawString(
            52 * mm + canvas.stringWidth(doc.coi_eye_readable, REGULAR, 10) + 4.3 * mm,
            y + 6 * mm, doc.coi_check,
        )  # fmt: skip
    for title, text in (("Storage", doc.storage), ("Infusion", doc.instructions)):
        y -= 9 * mm
        canvas.setFont(BOLD, 10)
        canvas.drawString(12 * mm, y, title)
        canvas.setFont(REGULAR, 8.5)
        words, line = text.split(), ""
        for word in words:
            if canvas.stringWidth(f"{line} {word}", REGULAR, 8.5) > width - 64 * mm:
                canvas.drawString(52 * mm, y, line)
                y -= 4.5 * mm
                line = word
            else:
                line = f"{line} {word}".strip()
        canvas.drawString(52 * mm, y, line)
    spec = LinearSpec(narrow_bar_mm=0.25, height_mm=10)
    din = isbt128.Din.from_code(doc.din)
    draw_code128(canvas, din.data_structure(), 12 * mm, 35 * mm, spec)
    canvas.setFont(REGULAR, 8)
    canvas.drawString(12 * mm, 31 * mm, f"DIN {doc.din}")
    if doc.coi:
        draw_code128(canvas, doc.coi, 12 * mm, 14 * mm, spec)
        canvas.drawString(12 * mm, 10 * mm, f"Chain of identity {doc.coi}")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
