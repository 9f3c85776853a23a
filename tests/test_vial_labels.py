"""Small labels for the bank's cryovials and QC sample tubes (ST-001 §7.3.1)."""

from __future__ import annotations

import pypdfium2
import pytest
import zxingcpp

from cellbatch import isbt128
from cellbatch.domain.errors import InvalidInput
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.labels import label_history
from tests.lab import next_demo_dose
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
    view = batch_view(demo_db, "EASC-B001").to_dict()
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
    assert len(history.labels) == len(pages)
    assert {label.kind for label in history.labels} == {"vial", "qc-sample"}
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
    labels = label_history(demo_db, "EASC-B001").labels
    states = {(label.target, label.status) for label in labels}
    assert ("vial 5", "superseded") in states and ("vial 5", "in force") in states
    with pytest.raises(InvalidInput):
        from cellbatch.services.auth import authenticate
        from cellbatch.services.commands.vial_labels import print_vial_labels

        print_vial_labels(
            demo_db, authenticate(demo_db, "tech1", "demo-tech1-pass"), "EASC-B001",
            lambda _l: b"", reprint=True, reason="x",
        )  # fmt: skip


def _matrices(pdf: bytes) -> dict[str, str]:
    """Each vial label's Data Matrix by its divisions (QC tubes: ``tube``), decoded at 300 dpi."""
    out = {}
    for _text, [matrix], _size in small_pages(pdf):
        out[isbt128.parse_scan(matrix).divisions or "tube"] = matrix
    return out


def _thaw(cli, db, *vials: str, vials_count: int = 2):
    args = [
        "--db", db.url, "thaw", "EASC-D002", "--vials", str(vials_count), "--cells", "9e7 cells",
        "--viability", "90 %", "--material", "DPBS-88812", "--user", "tech1", "--password-stdin",
    ]  # fmt: skip
    for vial in vials:
        args += ["--vial", vial]
    return cli(*args, input="demo-tech1-pass\n")


def _in_stock(db, code: str) -> list[int]:
    return [
        v["number"] for v in batch_view(db, code).to_dict()["vials"] if v["status"] == "in stock"
    ]


@GMP24
@GMP10
def test_thaw_takes_the_vial_labels_scanned_or_typed_and_refuses_another_banks(
    demo_db, cli, tmp_path
) -> None:
    from datetime import UTC, datetime, timedelta

    from cellbatch.services.auth import authenticate

    result, own = print_bank(cli, demo_db, tmp_path)
    assert result.code == 0, result.err
    other = tmp_path / "other.pdf"
    result = cli(
        "--db", demo_db.url, "labels", "BMMSC-B001", "-o", str(other), "--user", "tech1",
        "--password-stdin", input="demo-tech1-pass\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    ours, theirs = _matrices(own.read_bytes()), _matrices(other.read_bytes())
    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    next_demo_dose(demo_db, tech1, at=datetime.now(UTC) - timedelta(minutes=30))
    stock = _in_stock(demo_db, "EASC-B001")
    # another bank's vial (BMMSC-B001, another donation): refused, naming both banks
    refused = _thaw(cli, demo_db, "]d2" + theirs["010010"], "6")
    assert refused.code != 0 and "Traceback" not in refused.err
    assert "--vial" in refused.err and "vial 10 of BMMSC-B001" in refused.err
    assert "not a vial of EASC-B001" in refused.err
    # a QC sample tube of the right bank is not a vial
    tube = _thaw(cli, demo_db, ours["tube"], "6")
    assert tube.code != 0 and "QC sample tube" in tube.err and "--vial" in tube.err
    # a typed label whose check character is wrong
    din = isbt128.Din.from_code(batch_view(demo_db, "EASC-B001").to_dict()["din"])
    wrong = "A" if din.check != "A" else "B"
    typo = _thaw(cli, demo_db, f"{din.eye_readable} {wrong} 010007", "6")
    assert typo.code != 0 and "check character" in typo.err
    assert _in_stock(demo_db, "EASC-B001") == stock  # nothing thawed by a refusal
    # vial 9's label is reprinted: its original no longer passes, the reprint does
    done, reprint = print_bank(
        cli, demo_db, tmp_path, "--reprint", "--reason", "frosted over", "--vial", "9",
        "--approver", "qa2", stdin="demo-tech1-pass\ndemo-qa2-pass\n",
    )  # fmt: skip
    assert done.code == 0, done.err
    superseded = _thaw(cli, demo_db, ours["010009"], "6")
    assert superseded.code != 0 and "superseded" in superseded.err
    # the reprint's Data Matrix as the scanner sends it, and a label typed from its text
    [(_text, [reprinted], _size)] = small_pages(reprint.read_bytes())
    typed = f"{din.eye_readable} {din.check} S9903V99 010007"
    ok = _thaw(cli, demo_db, "]d2" + reprinted + "\n", typed)
    assert ok.code == 0, ok.err
    thaw = batch_view(demo_db, "EASC-D002").to_dict()["thaw"]
    assert thaw["vial_numbers"] == [9, 7]
    assert _in_stock(demo_db, "EASC-B001") == [n for n in stock if n not in (7, 9)]


def test_the_thaw_form_reads_a_scanned_vial_label(demo_db, cli, tmp_path) -> None:
    from cellbatch.services.queries.sops import find_usable_sop
    from cellbatch.tui.forms import build_form, check_field

    result, out = print_bank(cli, demo_db, tmp_path)
    assert result.code == 0, result.err
    matrices = _matrices(out.read_bytes())
    sop = find_usable_sop("SOP-EASC-DOSE", None)
    field = next(f for f in build_form(sop, "thaw").fields if f.name == "vial_numbers")
    vials = {v.number: v for v in batch_view(demo_db, "EASC-B001").expansion.vials}
    check = check_field(field, f"{matrices['010006']}, 8", None, "2026-01-01", vials)
    assert check.state == "ok" and "vials 6, 8" in check.message
    assert check.value == [matrices["010006"], 8]
    thawed_vial = matrices["010006"].replace("=,010006", "=,010002")  # thawed: no label left
    thawed = check_field(field, thawed_vial, None, "2026-01-01", vials)
    assert thawed.state == "error" and "vial 2 is not in stock" in thawed.message
    tube = check_field(field, matrices["tube"], None, "2026-01-01", vials)
    assert tube.state == "error" and "QC sample tube" in tube.message


@GMP24
def test_freeze_prints_the_banks_vial_labels(db, cli, tmp_path) -> None:
    from cellbatch.services.commands import batches, steps
    from tests.lab import HARVEST_LOTS, PASSWORD, SEED_LOTS, ago, make_lab

    lab = make_lab(db)

    batches.start_expansion(db, lab.tech1, "BANK-9", lot_number="TL-A", sop_id="SOP-EASC-EXP",
                            at=ago(days=39))  # fmt: skip
    for p in range(4):
        steps.seed(db, lab.tech1, "BANK-9", vessel="CS2", vessels=1, cells="3e6 cells",
                   materials=SEED_LOTS, at=ago(days=38 - p * 7))  # fmt: skip
        steps.harvest(db, lab.tech1, "BANK-9", total_cells="1.2e8 cells", viability="95 %",
                      confluence="80 %", materials=HARVEST_LOTS,
                      at=ago(days=32 - p * 7))  # fmt: skip
    out = tmp_path / "bank-9-vials.pdf"
    args = ["--db", db.url, "freeze", "BANK-9", "--vials", "2", "--cells-per-vial", "50e6 cells",
            "--volume-per-vial", "1.5 mL", "--cryoprotectant", "CRYO-1", "--location",
            "Tank 1 / Box 1", "--user", "tech1", "--password-stdin"]  # fmt: skip
    alone = cli(*args, "--labels", input=f"{PASSWORD}\n")
    assert alone.code == 2 and "--output" in alone.err  # refused before anything is recorded
    assert batch_view(db, "BANK-9").to_dict()["vials"] == []
    done = cli(*args, "--labels", "-o", str(out), input=f"{PASSWORD}\n")
    assert done.code == 0, done.err
    assert "2 vials frozen" in done.out and "label(s) of BANK-9 printed" in done.out
    pages = small_pages(out.read_bytes())
    vials = [isbt128.parse_scan(m).divisions for _t, [m], _s in pages if "Vial " in _t]
    assert vials == ["010001", "010002"]
    assert len(label_history(db, "BANK-9").labels) == len(pages)


@GMP10
def test_the_thaw_form_saves_scanned_vial_labels_and_shows_another_banks_refused(
    demo_db, cli, tmp_path
) -> None:
    import asyncio

    from textual.widgets import Input

    from cellbatch.services.auth import authenticate
    from cellbatch.tui.app import build_app
    from tests.test_tui_workflows import fill_form, log_in, settle, text_of

    result, own = print_bank(cli, demo_db, tmp_path)
    assert result.code == 0, result.err
    other = tmp_path / "other.pdf"
    result = cli(
        "--db", demo_db.url, "labels", "BMMSC-B001", "-o", str(other), "--user", "tech1",
        "--password-stdin", input="demo-tech1-pass\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    ours, theirs = _matrices(own.read_bytes()), _matrices(other.read_bytes())
    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    next_demo_dose(demo_db, tech1)

    async def run() -> None:
        app = build_app(demo_db.url, idle_lock_seconds=3600)
        async with app.run_test(size=(110, 44)) as pilot:
            await log_in(app, pilot, "tech2")
            await pilot.press(*"EASC-D002", "enter")
            await settle(app, pilot)
            await pilot.press("f2")
            await settle(app, pilot)
            form = app.screen
            assert form.form.kind == "thaw"
            values = {
                "vials": "2",
                "vial_numbers": f"]d2{theirs['010010']} 6",  # another bank's vial, scanned
                "total_cells": "1.2e8 cells",
                "viability": "88 %",
                "lot_wash-solution": "DPBS-88812",
            }
            await fill_form(app, pilot, values)
            await pilot.press("ctrl+s")
            await settle(app, pilot)
            refused = text_of(app, "#form-error")  # named by the form's field, shown at it
            assert refused.startswith("✗ Not saved: Vial numbers: the label read is vial 10 of")
            assert "BMMSC-B001" in refused and "EASC-B001" in refused, refused
            assert "BMMSC-B001" in text_of(app, "#h-vial_numbers")
            form.query_one("#f-vial_numbers", Input).value = f"{ours['010006']} 8"
            await settle(app, pilot)
            assert text_of(app, "#h-vial_numbers").startswith("✓ vials 6, 8")
            await pilot.press("ctrl+s")
            await settle(app, pilot)
            assert "RECORDED" in text_of(app, "#preview"), text_of(app, "#form-error")

    asyncio.run(run())
    assert batch_view(demo_db, "EASC-D002").to_dict()["thaw"]["vial_numbers"] == [6, 8]
