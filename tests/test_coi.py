"""The ISBT 128 chain-of-identity identifier (Data Structure 040) of each recipient's therapy."""

from __future__ import annotations

import io
import json

import pypdfium2
import pytest
import zxingcpp
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from cellbatch.documents.barcodes import LinearSpec, draw_code128
from cellbatch.domain.coi import ChainOfIdentity, parse_coi, sequence_text
from cellbatch.domain.errors import InvalidInput
from cellbatch.isbt128 import check_character
from cellbatch.services.queries.plans import plan_view


def test_data_structure_040_is_built_as_st_001_defines_it():
    coi = ChainOfIdentity(fin="G1234", year=98, sequence="654321")
    assert coi.data_content == "CHG123498654321" and len(coi.data_content) == 15
    assert coi.code == "&/CHG123498654321"
    assert coi.eye_readable() == "CH G1234 98 654321"
    # the JPAC worked example of the mod 37-2 check over the same 13 characters (checksum 17)
    assert coi.check == "H"
    assert parse_coi("&/CHG123498654321\r\n") == coi


@pytest.mark.parametrize(
    "scan",
    ["=G123498654321", "&/CHG12349865432", "&/XXG123498654321", "&/CHO123498654321",
     "&/CHG12AB98654321", "&/chg123498654321"],
)  # fmt: skip
def test_a_scan_that_is_not_a_coi_identifier_is_refused(scan):
    with pytest.raises(InvalidInput):
        parse_coi(scan)


def test_sequences_are_six_characters():
    assert sequence_text(7) == "000007"
    with pytest.raises(InvalidInput, match="out of 1 to 999999"):
        sequence_text(1_000_000)


def test_each_therapy_gets_its_own_identifier_with_its_check_character(demo_db):
    views = [plan_view(demo_db, code) for code in ("RA-P001", "RA-P002", "EB-P001")]
    cois = [parse_coi(v.coi) for v in views]
    assert len({c.code for c in cois}) == 3
    assert [c.sequence for c in cois] == ["000001", "000002", "000003"]
    for view, coi in zip(views, cois, strict=True):
        assert coi.fin == "A9999"  # the approved site settings' FIN
        assert view.coi_check == check_character(coi.checked_characters) == coi.check
        assert view.coi_eye_readable == coi.eye_readable()


def test_the_identifier_is_shown_and_bar_codes_and_decodes_with_zxing(cli, demo_db):
    r = cli("--db", demo_db.url, "plan", "show", "EB-P001", "--json", user="clin1")
    code = json.loads(r.out)["coi"]
    r = cli("--db", demo_db.url, "plan", "show", "EB-P001", user="tech1")
    assert f"(bar code {code})" in r.out
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(100 * mm, 30 * mm))
    draw_code128(canvas, code, 5 * mm, 10 * mm, LinearSpec())
    canvas.save()
    page = pypdfium2.PdfDocument(buffer.getvalue())[0]
    found = zxingcpp.read_barcodes(page.render(scale=300 / 72).to_pil())
    assert [b.text for b in found] == [code]


GMP30 = pytest.mark.requirement("GMP-30")


@GMP30
def test_the_scan_parser_reads_data_structure_040_alone_and_in_the_data_matrix():
    from datetime import datetime

    from cellbatch import isbt128

    coi = ChainOfIdentity(fin="A9999", year=26, sequence="000003")
    scan = isbt128.parse_scan("]C0" + coi.code + "\r\n")
    assert (scan.kind, scan.coi, scan.din) == ("coi", coi.code, None)
    din = isbt128.Din("A9999", 26, 1)
    product = isbt128.parse_product_code("=<S9901V00")
    expiry = datetime(2026, 12, 2, 14, 0)
    matrix = isbt128.datamatrix_content(din, "00", product, expiry, coi.code)
    assert matrix.startswith("=+04000") and matrix.endswith(coi.code)
    read = isbt128.parse_scan("]d2" + matrix)
    assert (read.kind, read.structures, read.coi, read.din) == ("compound", 4, coi.code, din)
    assert isbt128.parse_datamatrix(matrix) == (din, "00", product, expiry, coi.code)
    # a CoI with a FIN the DIN rules refuse, or cut short inside the compound message
    with pytest.raises(InvalidInput, match="letter O"):
        isbt128.parse_scan("&/CHO999926000003")
    with pytest.raises(InvalidInput, match="chain-of-identity identifier at position .* cut short"):
        isbt128.parse_scan(matrix[:-1])
    with pytest.raises(InvalidInput, match="holds the chain-of-identity identifier twice"):
        isbt128.parse_scan(isbt128.compound_message(coi.code, coi.code))
