"""The chain-of-identity identifier on the bag label (content version 2), and labels printed
before it (version 1) that keep verifying in the archive and the audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cellbatch import isbt128
from cellbatch.db import migrate
from cellbatch.db.tables import Batch, BedsideCheck, PrintedLabel
from cellbatch.domain.coi import parse_coi
from cellbatch.services.commands import labels as label_commands
from cellbatch.services.commands.labels import verify_scans
from cellbatch.services.queries.archive_content import archive_content
from cellbatch.services.queries.audit_verify import verify_trail
from cellbatch.services.queries.plans import plan_view
from tests import test_bedside
from tests.test_bedside import RA_BAND, check, checks, label_scans, last_id
from tests.test_labels import decoded, pages_of, print_pdf, release_demo_dose, user
from tests.test_tui_workflows import log_in, run_async, settle, text_of

GMP30 = pytest.mark.requirement("GMP-30")
ward = test_bedside.ward
"""The demo with EASC-D001 released and a second clinic user (tests/test_bedside.py)."""
received = test_bedside.received
"""EASC-D001's bag issued and received on the ward."""
GMP24 = pytest.mark.requirement("GMP-24")


def printed(db, code: str = "EASC-D001") -> list[PrintedLabel]:
    """The labels printed of one batch (the demo printed EASC-D000's, RA-P002's given dose)."""
    with db.session() as session:
        return list(
            session.execute(
                select(PrintedLabel)
                .join(Batch, Batch.id == PrintedLabel.batch_id)
                .where(Batch.code == code)
                .order_by(PrintedLabel.id)
            ).scalars()
        )


@GMP30
@GMP24
def test_the_final_label_decodes_to_the_din_and_the_coi_with_its_check_character(demo_db):
    release_demo_dose(demo_db)
    pdf = print_pdf(demo_db, "EASC-D001")
    [(text, barcodes)] = pages_of(pdf)
    [matrix] = decoded(barcodes)["Data Matrix"]
    read = isbt128.parse_scan("]d2" + matrix)
    coi = parse_coi(plan_view(demo_db, "RA-P001").coi)
    assert read.coi == coi.code and read.structures == 4
    din = read.din
    assert din.data_structure(din.type3_flags()) in decoded(barcodes)["Code 128"]
    # the eye-readable identifier and its boxed check: mod 37-2 over the 13 characters
    assert isbt128.check_character(coi.checked_characters) == coi.check
    assert f"{coi.eye_readable()} {coi.check}" in " ".join(text.split())
    another = parse_coi(plan_view(demo_db, "RA-P002").coi)
    assert another.code not in matrix  # the label is this recipient's therapy's only
    [row] = printed(demo_db)
    assert row.content_version == 2
    # `label scan` checks the CoI too: the Data Matrix verifies, another therapy's does not
    tech2 = user(demo_db, "tech2")
    assert verify_scans(demo_db, tech2, "EASC-D001", 1, ["]d2" + matrix]).ok
    wrong = verify_scans(demo_db, tech2, "EASC-D001", 1, ["]d2" + matrix, another.code])
    assert (
        not wrong.ok
        and (f"chain-of-identity identifier is {another.code}, the bag's label carries {coi.code}")
        in wrong.summary()
    )


@GMP24
def test_a_label_printed_as_version_1_still_verifies_beside_a_version_2_one(demo_db, monkeypatch):
    """A label printed before labels carried the CoI (version 1) keeps its content hash: the
    archive rebuilds it at version 1; the next label printed is version 2, with the CoI."""
    monkeypatch.setattr(label_commands, "BAG_LABEL_VERSION", 1)  # as printed before
    before = print_pdf(demo_db, "EASC-D001")
    monkeypatch.undo()
    [matrix] = decoded(pages_of(before)[0][1])["Data Matrix"]
    assert matrix.startswith("=+03000=") and "&/CH" not in matrix
    assert "Chain of identity" not in pages_of(before)[0][0]
    release_demo_dose(demo_db)
    after = print_pdf(demo_db, "EASC-D001")
    [matrix] = decoded(pages_of(after)[0][1])["Data Matrix"]
    assert matrix.startswith("=+04000=") and plan_view(demo_db, "RA-P001").coi in matrix
    assert [r.content_version for r in printed(demo_db)] == [1, 2]
    archived = archive_content(demo_db, "EASC-D001").labels
    assert [(a.content.content_version, a.matches) for a in archived] == [(1, True), (2, True)]
    assert archived[0].content.coi is None and "coi" not in archived[0].content.to_dict()
    assert verify_trail(demo_db).ok


PREVIOUS = "1e8672c51e38"
"""The schema before printed labels recorded their content version."""


@GMP24
def test_the_upgrade_records_version_1_for_labels_printed_before_and_vouches_for_them(
    demo_db, monkeypatch
):
    monkeypatch.setattr(label_commands, "BAG_LABEL_VERSION", 1)
    print_pdf(demo_db, "EASC-D001")
    migrate.downgrade(demo_db.engine, PREVIOUS)  # the database as it was before
    assert demo_db.ensure_schema(upgrade=True) == "upgraded"
    assert migrate.current_revision(demo_db.engine) == migrate.head_revision()
    [row] = printed(demo_db)
    assert row.content_version == 1
    # The demo's EASC-D000 was labelled and checked at the bedside by this program (label
    # version 2, its check's CoI rule): going down dropped those values and coming back up
    # cannot restore them, so verify names those two rows, and the migration does not vouch
    # for what it could not restore. The label printed as version 1 is vouched for.
    report = verify_trail(demo_db)
    assert sorted(p.split(" (")[0] for p in report.problems) == [
        "bedside_check 1 was edited outside the program",
        "printed_label 1 was edited outside the program",
    ], report.problems
    assert row.id != 1
    [label] = archive_content(demo_db, "EASC-D001").labels
    assert label.matches


# ------------------------------------------------------------------ at the bedside (GMP-30)


def _final_label_matrix(db) -> str:
    """Print the released dose's final label; the Data Matrix as zxing-cpp reads it."""
    [matrix] = decoded(pages_of(print_pdf(db, "EASC-D001"))[0][1])["Data Matrix"]
    return "]d2" + matrix


def _rules(db) -> list[str | None]:
    return [c.coi_rule for c in checks(db)]


@GMP30
@pytest.mark.usefixtures("received")
def test_a_bag_whose_label_carries_the_coi_matches_only_with_its_coi_scanned(ward):
    from cellbatch.domain import bedside

    matrix = _final_label_matrix(ward)
    own, other = plan_view(ward, "RA-P001").coi, plan_view(ward, "RA-P002").coi
    without = check(ward)  # the DIN and product code bar codes only
    assert not without.match
    assert "the bag's label carries its chain-of-identity identifier: scan it" in without.text()
    another = check(ward, scans=[matrix, other])
    assert not another.match and f"scanned ({other}) is not RA-P001's therapy" in another.text()
    wrong_patient = check(ward, band="H0481522^RA-P002", scans=[matrix])
    assert not wrong_patient.match
    assert (
        f"the bag's label carries the chain-of-identity identifier {own}, not RA-P002's "
        f"therapy ({other})"
    ) in wrong_patient.text()
    right = check(ward, scans=[matrix])  # the label's Data Matrix: DIN, product code, CoI
    assert right.match, right.text()
    assert _rules(ward) == [bedside.COI_ON_LABEL] * 4
    assert bedside.COI_ON_LABEL in " ".join(clinical_lines(ward))


@GMP30
@pytest.mark.usefixtures("received")
def test_a_bag_labelled_before_labels_carried_the_coi_keeps_the_rule_and_the_record_says_so(
    ward, monkeypatch
):
    from cellbatch.domain import bedside

    monkeypatch.setattr(label_commands, "BAG_LABEL_VERSION", 1)
    matrix = _final_label_matrix(ward)
    monkeypatch.undo()
    result = check(ward, scans=[matrix])  # the v1 label's Data Matrix: no CoI, as before
    assert result.match, result.text()
    assert _rules(ward) == [bedside.COI_LABEL_V1]
    assert bedside.COI_LABEL_V1 in " ".join(clinical_lines(ward))


def clinical_lines(db) -> list[str]:
    from cellbatch.services.batch_access import find_batch
    from cellbatch.services.queries.clinical_use import clinical_use

    with db.session() as session:
        return clinical_use(session, find_batch(session, "EASC-D001")).lines()


@GMP30
@pytest.mark.usefixtures("received")
def test_the_issued_bags_label_and_accompanying_document_carry_the_same_din_and_coi(ward):
    """Both decoded with zxing-cpp from 300 dpi renderings of the real PDFs."""
    import pypdfium2
    import zxingcpp

    from cellbatch.documents.accompanying import render
    from cellbatch.services.queries.accompanying import accompanying_document

    label = isbt128.parse_scan(_final_label_matrix(ward))
    document = accompanying_document(ward, "EASC-D001")
    page = pypdfium2.PdfDocument(render(document))[0]
    found = [b.text for b in zxingcpp.read_barcodes(page.render(scale=300 / 72).to_pil())]
    reads = [isbt128.parse_scan(text) for text in found]
    [document_din] = [r.din for r in reads if r.din is not None]
    [document_coi] = [r.coi for r in reads if r.coi is not None]
    coi = parse_coi(plan_view(ward, "RA-P001").coi)
    assert (label.din, label.coi) == (document_din, document_coi) == (label.din, coi.code)
    assert coi.eye_readable() in " ".join(page.get_textpage().get_text_range().split())
    # the boxed check character: the domain's mod 37-2 over the identifier's 13 characters
    assert document.coi_check == isbt128.check_character(coi.checked_characters) == coi.check


@GMP30
@pytest.mark.usefixtures("received")
@run_async
async def test_bedside_screen_asks_for_the_coi_of_a_label_that_carries_it_at_80x24(ward):
    from cellbatch.tui.app import build_app
    from cellbatch.tui.screens.bedside import BedsideScreen

    matrix = _final_label_matrix(ward)
    bc = last_id(ward, BedsideCheck) + 1
    app = build_app(ward.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "clin1")
        await pilot.press("f12")
        await settle(app, pilot)
        assert isinstance(app.screen, BedsideScreen)

        async def scan_and_check(barcodes: list[str]) -> str:
            await pilot.press(*RA_BAND, "enter")
            for barcode in barcodes:
                await pilot.press(*barcode, "enter")
            await pilot.press("enter")  # done with the bag
            await pilot.press(*"clin2", "enter", *"demo-clin2-pass", "enter")
            await settle(app, pilot)
            return text_of(app, "#bedside-verdict")

        shown = await scan_and_check(label_scans(ward))  # DIN and product code only
        assert f"NO MATCH (BC{bc})" in shown and "chain-of-identity identifier: scan it" in shown
        await pilot.press("f8")
        shown = await scan_and_check([matrix])  # the label's Data Matrix
        assert shown.startswith(f"✓ MATCH (BC{bc + 1})"), shown
    assert [c.match for c in checks(ward)] == [False, True]
