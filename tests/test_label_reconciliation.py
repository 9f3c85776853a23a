"""Superseded labels fail the scan; printed, applied, destroyed are recorded; reprints of released
labels are approved by QA with a signature."""

from __future__ import annotations

import pytest

from cellbatch import isbt128
from cellbatch.domain.errors import InvalidInput, PermissionDenied, RuleViolation
from cellbatch.services.commands.labels import destroy_label, verify_scans
from cellbatch.services.queries.labels import PrintedLabelView, label_history
from cellbatch.services.queries.signatures import batch_signatures
from tests.test_batch_record import pdf_pages
from tests.test_labels import (
    QUARANTINE_FIRST,
    decoded,
    intended,
    pages_of,
    print_pdf,
    release_demo_dose,
    user,
)

GMP08 = pytest.mark.requirement("GMP-08")
GMP10 = pytest.mark.requirement("GMP-10")
GMP24 = pytest.mark.requirement("GMP-24")
GMP26 = pytest.mark.requirement("GMP-26")


def scans_of(pdf: bytes) -> list[str]:
    """What a scanner reads from the three linear bar codes of a printed label."""
    return [f"]C0{text}" for text in decoded(pages_of(pdf)[0][1])["Code 128"]]


def labels_of(db, code: str = "EASC-D001") -> dict[str, PrintedLabelView]:
    """The batch's printed labels by reference (L1, L2, …)."""
    return {label.ref: label for label in label_history(db, code).labels}


@GMP24
@GMP10
@GMP08
def test_a_superseded_quarantine_label_fails_the_scan_after_release(demo_db, cli) -> None:
    quarantine = print_pdf(demo_db, "EASC-D001")
    tech2 = user(demo_db, "tech2")
    assert verify_scans(demo_db, tech2, "EASC-D001", 1, scans_of(quarantine)).ok
    release_demo_dose(demo_db)
    # released, final label not printed yet: the quarantine label no longer passes
    report = verify_scans(demo_db, tech2, "EASC-D001", 1, scans_of(quarantine))
    assert not report.ok
    assert "final label of bag 1 is not printed yet" in report.summary()
    final = print_pdf(demo_db, "EASC-D001")
    assert decoded(pages_of(final)[0][1]) == intended(demo_db, "EASC-D001")
    [old] = [ref for ref, label in labels_of(demo_db).items() if not label.final]
    result = cli(
        "--db", demo_db.url, "label", "scan", "EASC-D001", "--bag", "1",
        *(a for s in scans_of(quarantine) for a in ("--scan", s)),
        "--user", "tech2", "--password-stdin", input="demo-tech2-pass\n",
    )  # fmt: skip
    assert result.code == 4
    assert f"{old}, the quarantine label of bag 1 (flags {QUARANTINE_FIRST})" in result.err
    assert "superseded by the release of EASC-D001" in result.err
    assert f"label destroy EASC-D001 --label {old}" in result.err
    passed = cli(
        "--db", demo_db.url, "label", "scan", "EASC-D001", "--bag", "1",
        *(a for s in scans_of(final) for a in ("--scan", s)),
        "--user", "tech2", "--password-stdin", input="demo-tech2-pass\n",
    )  # fmt: skip
    assert passed.code == 0, passed.err
    [new] = [ref for ref, label in labels_of(demo_db).items() if label.final]
    assert f"label in force: {new}, the final label of bag 1" in passed.out
    assert "under site settings v1" in passed.out and "approved by Quentin Okafor" in passed.out


@GMP24
@GMP10
@GMP26
def test_a_reprint_needs_qa_and_its_original_fails_the_scan(demo_db, cli, tmp_path) -> None:
    release_demo_dose(demo_db)
    original = print_pdf(demo_db, "EASC-D001")
    with pytest.raises(InvalidInput, match="--approver.*QA officer's electronic signature"):
        print_pdf(demo_db, "EASC-D001", reprint=True, reason="smudged")
    with pytest.raises(PermissionDenied):
        supervisor = ("sup1", "demo-sup1-pass")
        print_pdf(demo_db, "EASC-D001", reprint=True, reason="smudged", approver=supervisor)
    out = tmp_path / "reprint.pdf"
    result = cli(
        "--db", demo_db.url, "labels", "EASC-D001", "-o", str(out), "--reprint",
        "--reason", "smudged at the bedside", "--approver", "qa2",
        "--user", "tech1", "--password-stdin", input="demo-tech1-pass\ndemo-qa2-pass\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    reprint = out.read_bytes()
    assert decoded(pages_of(reprint)[0][1]) == intended(demo_db, "EASC-D001", flags="05")
    refs = labels_of(demo_db)
    first, second = refs  # EASC-D001's, after the demo's label of EASC-D000
    assert refs[second].approved_by == "Grace Liu" and refs[second].reprint
    [signature] = [s for s in batch_signatures(demo_db, "EASC-D001") if s.on == second]
    assert (signature.meaning, signature.username, signature.valid) == ("approved", "qa2", True)
    tech2 = user(demo_db, "tech2")
    report = verify_scans(demo_db, tech2, "EASC-D001", 1, scans_of(original))
    assert not report.ok and f"{first}, the final label of bag 1" in report.summary()
    assert f"superseded by the reprint {second}" in report.summary()
    din = isbt128.Din.from_code(intended_din(demo_db))
    keyed = f"{din.eye_readable} {din.check}"  # the original's text: no flags printed
    rest = [s for s in scans_of(reprint) if not s[3:].startswith("=A")]
    assert not verify_scans(demo_db, tech2, "EASC-D001", 1, [keyed, *rest]).ok
    assert verify_scans(demo_db, tech2, "EASC-D001", 1, scans_of(reprint)).ok
    typed = f"{din.eye_readable} 05 {din.check}"  # the reprint's flags are printed: typed too
    assert verify_scans(demo_db, tech2, "EASC-D001", 1, [typed, *rest]).ok


def intended_din(db) -> str:
    """The 13 characters of the DIN the demo dose's bag carries."""
    from cellbatch.services.queries.batch_view import batch_view

    return batch_view(db, "EASC-D001").to_dict()["bag"]["din"]


@GMP08
def test_reconciliation_printed_applied_destroyed(demo_db, cli) -> None:
    """Each label is printed, applied (verified on the bag), and destroyed once superseded."""
    tech1 = user(demo_db, "tech1")
    quarantine = print_pdf(demo_db, "EASC-D001")
    assert verify_scans(demo_db, tech1, "EASC-D001", 1, scans_of(quarantine)).ok
    [first] = labels_of(demo_db)  # EASC-D001's, after the demo's label of EASC-D000
    with pytest.raises(RuleViolation, match=f"{first} is the label in force"):
        destroy_label(demo_db, tech1, "EASC-D001", first, "shredded")
    release_demo_dose(demo_db)
    final = print_pdf(demo_db, "EASC-D001")
    assert verify_scans(demo_db, tech1, "EASC-D001", 1, scans_of(final)).ok
    history = label_history(demo_db, "EASC-D001")
    assert (history.applied, history.destroyed, history.to_destroy) == (2, 0, (first,))
    [_, second] = labels_of(demo_db)
    result = cli(
        "--db", demo_db.url, "label", "destroy", "EASC-D001", "--label", first,
        "--reason", "shredded at release", "--user", "tech2", "--password-stdin",
        input="demo-tech2-pass\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert f"{first}, the quarantine label of bag 1 recorded destroyed by Ingrid Larsen" in (
        result.out
    )
    with pytest.raises(RuleViolation, match="already recorded destroyed"):
        destroy_label(demo_db, tech1, "EASC-D001", first, "again")
    with pytest.raises(InvalidInput, match="--label"):
        destroy_label(demo_db, tech1, "EASC-D001", "label one", "x")
    history = label_history(demo_db, "EASC-D001")
    assert (history.applied, history.destroyed, history.to_destroy) == (2, 1, ())
    states = {label.ref: label.status for label in history.labels}
    assert states == {first: "destroyed", second: "in force"}
    shown = cli(
        "--db", demo_db.url, "label", "history", "EASC-D001", "--user", "tech1",
        "--password-stdin", input="demo-tech1-pass\n",
    )  # fmt: skip
    assert shown.code == 0, shown.err
    assert "applied 2, destroyed 1; to destroy: none" in shown.out
    from cellbatch.documents.batch_record import render
    from cellbatch.services.queries.documents import record_data

    text = " ".join(" ".join(pdf_pages(render(record_data(demo_db, "EASC-D001")))).split())
    assert "Superseded labels destroyed 1" in text
    assert "site settings v1" in text and "shredded at release" in text


@GMP24
def test_the_final_print_names_the_quarantine_labels_to_destroy_and_only_those(
    demo_db, cli, tmp_path
) -> None:
    def final_print(name: str):
        return cli(
            "--db", demo_db.url, "label", "print", "EASC-D001", "-o", str(tmp_path / name),
            "--user", "tech1", "--password-stdin", input="demo-tech1-pass\n",
        )  # fmt: skip

    print_pdf(demo_db, "EASC-D001")  # a quarantine label, superseded by the release
    release_demo_dose(demo_db)
    result = final_print("final.pdf")
    assert result.code == 0, result.err
    [old] = [ref for ref, label in labels_of(demo_db).items() if not label.final]
    assert f"`cellbatch label destroy EASC-D001 --label {old} --reason TEXT" in result.out
    destroy_label(demo_db, user(demo_db, "tech2"), "EASC-D001", old, "shredded")
    again = cli(
        "--db", demo_db.url, "label", "print", "EASC-D001", "-o", str(tmp_path / "again.pdf"),
        "--reprint", "--reason", "smudged", "--approver", "qa1",
        "--user", "tech1", "--password-stdin", input="demo-tech1-pass\ndemo-qa1-pass\n",
    )  # fmt: skip
    assert again.code == 0, again.err
    [final] = [ref for ref, label in labels_of(demo_db).items() if label.status == "superseded"]
    assert f"label destroy EASC-D001 --label {final} " in again.out  # superseded by the reprint
    assert f"--label {old} " not in again.out  # destroyed already: not named again


@GMP24
def test_a_final_print_with_no_quarantine_label_asks_to_destroy_nothing(
    demo_db, cli, tmp_path
) -> None:
    release_demo_dose(demo_db)
    result = cli(
        "--db", demo_db.url, "label", "print", "EASC-D001", "-o", str(tmp_path / "final.pdf"),
        "--user", "tech1", "--password-stdin", input="demo-tech1-pass\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "superseded" not in result.out and "label destroy" not in result.out
