"""The accompanying document's layout (issue 12 review, finding 3): each boxed check character
stands beside its identifier on its line, no text runs past the A5 page's right margin (long
values wrap), the DIN is printed eye-readable with its spacing, flags and boxed check character
as on the label, and its bar code carries the document's flags (11), not the label's."""

from __future__ import annotations

import dataclasses

import pytest
from reportlab.pdfbase.pdfmetrics import stringWidth

from cellbatch import isbt128
from cellbatch.services.queries.batch_view import batch_view
from tests.test_bedside import label_scans, ward  # noqa: F401
from tests.test_labels import print_pdf
from tests.test_receipt import issue

GMP30 = pytest.mark.requirement("GMP-30")


@pytest.fixture
def document(ward):  # noqa: F811
    from cellbatch.services.queries.accompanying import accompanying_document

    print_pdf(ward, "EASC-D001")  # the final label in force: flags 60 + check value
    issue(ward, logger=None)
    return accompanying_document(ward, "EASC-D001")


def _text_right(item) -> float:
    """The right end of a drawn string, measured again here (not trusting the layout)."""
    if item.turned:
        return item.x + item.size
    return item.x + stringWidth(item.text, item.font, item.size)


def _check_beside(page, key: str, text: str, check: str) -> None:
    from cellbatch.documents.accompanying import Box, Text

    [box] = [i for i in page.items if isinstance(i, Box) and i.of == key]
    line = page.lines[key]
    [ident] = [i for i in page.items if isinstance(i, Text) and i.text == text]
    assert ident.y == line
    # the box straddles the identifier's baseline, to the right of its text, on its line
    assert box.y < line < box.y + box.height, (box, line)
    assert box.x > _text_right(ident)
    assert box.x - _text_right(ident) < 5 * 72 / 25.4  # beside it: within 5 mm
    [char] = [
        i for i in page.items
        if isinstance(i, Text) and i.text == check and box.x <= i.x <= box.right
    ]  # fmt: skip
    assert char.y == line
    others = [i for i in page.items if isinstance(i, Text) and i.y == line and i is not char]
    assert all(not box.x <= i.x <= box.right for i in others)


@GMP30
def test_each_check_character_box_stands_on_its_identifiers_line(document):
    from cellbatch.documents.accompanying import layout

    page = layout(document)
    _check_beside(page, "coi", document.coi_eye_readable, document.coi_check)
    _check_beside(page, "din", document.din_eye_readable, document.din_check)
    assert page.lines["coi"] != page.lines["din"]
    # not on the "Released by" line, where it was drawn before
    released = next(i for i in page.items if getattr(i, "text", "") == "Released by")
    assert released.y not in page.lines.values()


@GMP30
def test_no_text_runs_past_the_right_margin_even_a_long_product_name(document):
    from cellbatch.documents.accompanying import MARGIN, Barcode, Text, layout

    long = dataclasses.replace(
        document,
        product="Allogeneic Adipose-derived Mesenchymal Stromal Cells (eASC), for IV infusion, "
        "one bag of a dose for the recipient named by the chain of identity below",
    )
    for doc in (document, long):
        page = layout(doc)
        assert page.frame_right == page.width - MARGIN
        for item in page.items:
            right = _text_right(item) if isinstance(item, Text) else item.right
            assert right <= page.frame_right + 1e-6, item
            assert item.x >= MARGIN - 1e-6, item
        assert any(isinstance(i, Barcode) for i in page.items)
    texts = [i for i in layout(long).items if isinstance(i, Text)]
    product_lines = [i for i in texts if i.x > MARGIN and "infusion" in i.text]
    assert product_lines  # wrapped, every word printed
    words = " ".join(i.text for i in layout(long).items if isinstance(i, Text))
    assert "named by the chain of identity below" in words


@GMP30
def test_the_din_reads_as_on_the_label_and_its_bar_code_carries_the_document_flags(
    ward, document, cli,  # noqa: F811
):  # fmt: skip
    import pypdfium2
    import zxingcpp

    from cellbatch.documents.accompanying import render

    page = pypdfium2.PdfDocument(render(document))[0]
    text = " ".join(page.get_textpage().get_text_range().split())
    bag = batch_view(ward, "EASC-D001").to_dict()["bag"]
    din = isbt128.Din.from_code(bag["din"])
    assert f"{din.eye_readable} 11 {din.check}" in text, text  # spaced, flags, boxed check
    reads = [
        isbt128.parse_scan(b.text)
        for b in zxingcpp.read_barcodes(page.render(scale=300 / 72).to_pil())
    ]
    [document_din] = [r for r in reads if r.din is not None]
    assert (document_din.din, document_din.flags) == (din, "11")
    assert isbt128.flag_type("11") == 1
    # the label in force carries other flags: the document's DIN is not the bag's label
    label_flags = isbt128.parse_scan(label_scans(ward)[0]).flags
    assert label_flags != "11"
    r = cli("--db", ward.url, "label", "scan", "EASC-D001", "--bag", "1", "--scan",
            document_din.text, "--scan", label_scans(ward)[1], user="tech1")  # fmt: skip
    assert r.code != 0 and "Traceback" not in r.err, (r.out, r.err)
    assert "11" in r.out + r.err, (r.out, r.err)
