"""Issue and chain of custody: only a released, in-date bag not on hold is issued; each
hand-over is a label scan and both people's log-in, by the bag's holder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from cellbatch.db.tables import Bag, BagCustody
from cellbatch.domain.errors import AuthenticationFailed, PermissionDenied, RuleViolation
from cellbatch.services.commands import release
from cellbatch.services.commands.custody import custody_chain, hand_over, issue_bag
from cellbatch.services.commands.recall import recall
from cellbatch.services.queries.batch_view import batch_view
from tests.test_bedside import label_scans, last_id, user


@pytest.fixture
def ward(demo_db):
    """The demo: its clinic has two nurses, clin1 and clin2."""
    return demo_db


def issue(db, to: str = "clin1", password: str | None = None):
    return issue_bag(db, user(db, "tech1"), to, password or f"demo-{to}-pass", label_scans(db),
                     container="shipper 15-25 °C no. 4", temperature="21 degC")  # fmt: skip


def test_an_unreleased_expired_or_held_bag_is_not_issued(ward):
    with pytest.raises(RuleViolation, match="in-process, not released: not issued"):
        issue(ward)
    release.decide(ward, "qa1", "EASC-D001", "release", "ok", password="demo-qa1-pass")
    with ward.session() as session:
        session.execute(update(Bag).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
        session.commit()
    with pytest.raises(RuleViolation, match="expired at .*: not issued"):
        issue(ward)
    with ward.session() as session:
        session.execute(update(Bag).values(expires_at=datetime.now(UTC) + timedelta(hours=2)))
        session.commit()
    recall(ward, "qa2", "demo-qa2-pass", "bank", "EASC-B001", reason="supplier recall")
    with pytest.raises(RuleViolation, match="ON HOLD"):
        issue(ward)
    assert custody_chain(ward, "EASC-D001") == []


def test_issue_and_hand_overs_make_the_chain_of_custody(ward, cli):
    release.decide(ward, "qa1", "EASC-D001", "release", "ok", password="demo-qa1-pass")
    with pytest.raises(AuthenticationFailed):
        issue(ward, password="wrong")
    c = last_id(ward, BagCustody) + 1  # after the demo's (RA-P002's day 1)
    assert issue(ward) == f"C{c}"
    with pytest.raises(RuleViolation, match="issued already"):
        issue(ward, "clin2")
    with pytest.raises(PermissionDenied, match="held by clin1: only they hand it over"):
        hand_over(ward, user(ward, "tech1"), "clin2", "demo-clin2-pass", label_scans(ward))
    assert hand_over(ward, user(ward, "clin1"), "clin2", "demo-clin2-pass",
                     label_scans(ward)) == f"C{c + 1}"  # fmt: skip
    chain = custody_chain(ward, "EASC-D001")
    assert [(s.kind, s.handed_over_by, s.taken_by) for s in chain] == [
        ("issue", "tech1", "clin1"), ("hand-over", "clin1", "clin2"),
    ]  # fmt: skip
    assert chain[0].temperature_c == 21 and "shipper" in chain[0].container
    r = cli("--db", ward.url, "custody", "show", "EASC-D001", user="qa1")
    assert r.code == 0 and "issue: tech1 → clin1" in r.out and "hand-over: clin1 → clin2" in r.out
    scans = [a for s in label_scans(ward) for a in ("--scan", s)]
    r = cli("--db", ward.url, "custody", "handover", *scans, "--to", "clin1", "--user", "clin2",
            "--password-stdin", input="demo-clin2-pass\ndemo-clin1-pass\n")  # fmt: skip
    assert r.code == 0 and f"(C{c + 2})" in r.out, r.err


def test_the_accompanying_document_decodes_to_the_din_and_the_coi(ward, cli, tmp_path):
    import pypdfium2
    import zxingcpp

    from cellbatch import isbt128
    from cellbatch.services.queries.plans import plan_view

    release.decide(ward, "qa1", "EASC-D001", "release", "ok", password="demo-qa1-pass")
    out = tmp_path / "doc.pdf"
    r = cli("--db", ward.url, "custody", "document", "EASC-D001", "-o", str(out), user="tech1")
    assert r.code == 4 and "not issued" in r.err and not out.exists()
    issue(ward)
    r = cli("--db", ward.url, "custody", "document", "EASC-D001", "-o", str(out), user="tech1")
    assert r.code == 0, r.err
    page = pypdfium2.PdfDocument(out.read_bytes())[0]
    text = page.get_textpage().get_text_range()
    assert "RA-P001" in text and "Quentin Okafor (qa1)" in text and "EXPIRES" in text
    assert "Marta" not in text  # never who the recipient is
    found = {b.text for b in zxingcpp.read_barcodes(page.render(scale=300 / 72).to_pil())}
    coi = plan_view(ward, "RA-P001").coi
    din_scan = label_scans(ward)[0]
    document_din = isbt128.parse_scan(din_scan).din.data_structure("11")  # the document's flags
    assert coi in found and document_din in found
    assert (
        isbt128.parse_scan(din_scan).din.code
        == batch_view(ward, "EASC-D001").to_dict()["bag"]["din"]
    )
