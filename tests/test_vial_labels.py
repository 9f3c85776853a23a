"""Small labels for the bank's cryovials and QC sample tubes (ST-001 §7.3.1)."""

from __future__ import annotations

import pypdfium2
import pytest
import zxingcpp

from cellbatch import isbt128
from cellbatch.domain.errors import InvalidInput
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.labels import label_history
from tests.test_labels import rotated_chars

GMP24 = pytest.mark.requirement("GMP-24")
GMP10 = pytest.mark.requirement("GMP-10")

MM = 72 / 25.4


def small_pages(pdf: bytes) -> list[tuple[str, list[str], tuple[float, float]]]:
    """Each page's text, the Data Matrix symbols decoded at 300 dpi, and its size in mm."""
    doc = pypdfium2.PdfDocument(pdf)
    out = []
    try:
        for page in doc:
            width, height = page.get_size()
            text = page.get_textpage().get_text_range()
            image = page.render(scale=300 / 72).to_pil()
            found = [b.text for b in zxingcpp.read_barcodes(image) if "Matrix" in str(b.format)]
            out.append((text, found, (width / MM, height / MM)))
    finally:
        doc.close()
    return out


def print_bank(cli, db, tmp_path, *extra: str, user: str = "tech1", stdin: str | None = None):
    out = tmp_path / f"vials-{len(list(tmp_path.iterdir()))}.pdf"
    result = cli(
        "--db", db.url, "labels", "EASC-B001", "-o", str(out), *extra,
        "--user", user, "--password-stdin", input=stdin or f"demo-{user}-pass\n",
    )  # fmt: skip
    return result, out


@GMP24
@GMP10
def test_a_vial_label_of_the_demo_bank_decodes_to_din_product_code_and_vial(
    demo_db, cli, tmp_path
) -> None:
    result, out = print_bank(cli, demo_db, tmp_path)
    assert result.code == 0, result.err
    view = batch_view(demo_db, "EASC-B001")
    din = isbt128.Din.from_code(view["din"])
    in_stock = [v["number"] for v in view["vials"] if v["status"] == "in stock"]
    pages = small_pages(out.read_bytes())
    vial_pages = [p for p in pages if "Vial " in p[0]]
    assert len(vial_pages) == len(in_stock)
    for (text, [matrix], size), number in zip(vial_pages, in_stock, strict=True):
        assert size == pytest.approx((25.0, 12.0), abs=0.05)
        scan = isbt128.parse_scan("]d2" + matrix)
        assert scan.kind == "compound" and matrix.startswith("=+03000")
        assert scan.din == din and scan.flags == din.type3_flags()
        assert scan.product.eye_readable == "S9903V99"  # the bank's product, divisions in 032
        assert scan.divisions == f"01{number:04d}"  # bank 1 of its donation, vial number
        assert f"Vial {number} of {len(view['vials'])}" in text
        assert din.eye_readable in text and din.check in text
        assert "S9903V99 01" in text
    from cellbatch.services.queries.sops import find_usable_sop

    sop = find_usable_sop(view["sop"]["id"], view["sop"]["version"])
    methods = {t.method for t in sop.qc if t.stage == "release"}
    tubes = [p for p in pages if "EASC-B001 QC " in p[0]]
    assert len(tubes) == len(methods)  # one tube per method: the flow cytometry panel is one
    assert any("Flow cytometry" in text for text, _m, _s in tubes)
    assert any("Sterility" in text for text, _m, _s in tubes)
    text, [matrix], _size = tubes[0]
    tube = isbt128.parse_scan(matrix)
    assert (tube.din, tube.flags, tube.product.eye_readable) == (din, "07", "S9903V00")
    history = label_history(demo_db, "EASC-B001")
    assert len(history["labels"]) == len(pages)
    assert {label["kind"] for label in history["labels"]} == {"vial", "qc-sample"}
    again, _out = print_bank(cli, demo_db, tmp_path)
    assert again.code != 0 and "already printed" in again.err


@GMP24
def test_a_test_tube_flag_is_printed_turned_and_a_vial_reprint_needs_qa(
    demo_db, cli, tmp_path
) -> None:
    result, out = print_bank(cli, demo_db, tmp_path)
    assert result.code == 0, result.err
    pdf = out.read_bytes()
    texts = [text for text, _found, _size in small_pages(pdf)]
    tube_page = next(i for i, text in enumerate(texts) if "EASC-B001 QC " in text)
    assert [c for c, _b, _c in rotated_chars(pdf, tube_page)] == ["0", "7"]  # test tube label
    vial_page = next(i for i, text in enumerate(texts) if "Vial " in text)
    assert rotated_chars(pdf, vial_page) == []  # check flags: never printed
    refused, _out = print_bank(
        cli, demo_db, tmp_path, "--reprint", "--reason", "frost", "--vial", "5"
    )
    assert refused.code != 0 and "--approver" in refused.err  # a released bank
    done, reprint = print_bank(
        cli, demo_db, tmp_path, "--reprint", "--reason", "frosted over", "--vial", "5",
        "--approver", "qa2", stdin="demo-tech1-pass\ndemo-qa2-pass\n",
    )  # fmt: skip
    assert done.code == 0, done.err
    [(text, [matrix], _size)] = small_pages(reprint.read_bytes())
    assert isbt128.parse_scan(matrix).flags == "05" and "REPRINT" in text
    labels = label_history(demo_db, "EASC-B001")["labels"]
    states = {(label["target"], label["status"]) for label in labels}
    assert ("vial 5", "superseded") in states and ("vial 5", "in force") in states
    with pytest.raises(InvalidInput):
        from cellbatch.services.auth import authenticate
        from cellbatch.services.commands.vial_labels import print_vial_labels

        print_vial_labels(
            demo_db, authenticate(demo_db, "tech1", "demo-tech1-pass"), "EASC-B001",
            lambda _l: b"", reprint=True, reason="x",
        )  # fmt: skip
