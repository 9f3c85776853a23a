"""The batch record PDF and JSON copy hold everything the database holds about a batch."""

from __future__ import annotations

import json
import re

import pypdfium2
import pytest

from cellbatch.documents.batch_record import render
from cellbatch.services.audit import list_entries
from cellbatch.services.auth import authenticate
from cellbatch.services.batch_view import batch_view
from cellbatch.services.documents import record_data

DEMO_BATCHES = ("EASC-B001", "EASC-D001", "BMMSC-B001", "FUC-D001")


def pdf_pages(pdf: bytes) -> list[str]:
    doc = pypdfium2.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_range() for page in doc]
    finally:
        doc.close()


def squeeze(text: str) -> str:
    """Text without any whitespace: table cells wrap lines anywhere."""
    return re.sub(r"\s+", "", text)


def printed_time(iso: str) -> str:
    """How the record prints a UTC time stored as 2026-11-22T03:18:04Z."""
    return iso.replace("T", " ").replace("Z", " UTC")


def shown(value) -> list[str]:
    """The texts a recorded value must appear as."""
    if isinstance(value, dict) and "display" in value:
        return [value["display"]]
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, float):
        return [f"{value:g}"]
    return [str(value)]


def record_text(db, code: str) -> tuple[dict, list[str], str]:
    data = record_data(db, code)
    pages = pdf_pages(render(data))
    return data, pages, squeeze("".join(pages))


def batch_id(db, code: str) -> int:
    from cellbatch.services.batch_access import find_batch

    with db.session() as session:
        return find_batch(session, code).id


def batch_audit(db, code: str) -> list:
    """The batch's audit entries: those filed under it, and the creation of the batch row."""
    number = batch_id(db, code)
    found = {e.seq: e for e in list_entries(db, batch_id=number)}
    found.update({e.seq: e for e in list_entries(db, entity="batch", entity_id=str(number))})
    return [found[seq] for seq in sorted(found)]


def missing(expected: list[str], text: str) -> list[str]:
    return [e for e in expected if squeeze(e) not in text]


@pytest.mark.requirement("GMP-02")
@pytest.mark.requirement("GMP-07")
@pytest.mark.requirement("GMP-11")
@pytest.mark.parametrize("code", DEMO_BATCHES)
def test_record_holds_every_value_signature_and_audit_entry(demo_db, code) -> None:
    _data, pages, text = record_text(demo_db, code)
    view = batch_view(demo_db, code)  # compared with the database, read separately
    values = []
    for entry in view["steps"]:
        values += [entry["id"], printed_time(entry["performed_at"])]
        values += [entry["recorded_by"]["full_name"]]
        for name, value in entry["values"].items():
            values += [name] + shown(value)
        values += [m["lot"] for m in entry["materials"]]
    for q in view["qc"]:
        values += [q["id"], q["name"], q["method"], q["specification"]]
        values += shown(q["value"]) if isinstance(q["value"], dict) else [q["value"]]
        values.append("PASS" if q["passed"] else "FAIL")
    values += [view["sop"]["id"], view["sop"]["version"], view["sop"]["content_hash"]]
    values += [view["donor"]["code"], view["tissue_lot"]["lot"], view["din"]]
    if view["kind"] == "dose":
        values += [view["parent"], view["recipient"]] + shown(view["target_viable_cells"])
    else:
        values += [v["location"] for v in view["vials"]]
    for d in view["release_decisions"]:
        values += [d["decision"].upper(), d["reason"], printed_time(d["decided_at"])]
    assert missing(values, text) == []

    signatures = view.get("signatures", [])
    if code != "FUC-D001":
        assert signatures, "the demo's released and verified batches carry signatures"
    manifestations = [
        part
        for s in signatures
        for part in (s["full_name"], printed_time(s["signed_at"]), s["meaning"])
    ]
    assert missing(manifestations, text) == []

    entries = batch_audit(demo_db, code)
    assert any(e.entity == "batch" and e.action == "create" for e in entries)
    for entry in entries:
        parts = [str(entry.seq), printed_time(entry.at), entry.username, entry.action]
        parts += [f"{entry.entity} {entry.entity_id}"]
        parts += [p for p in (entry.field, entry.old_value, entry.new_value, entry.reason) if p]
        assert missing(parts, text) == [], f"audit entry #{entry.seq}"

    for number, page in enumerate(pages, start=1):
        assert code in page
        assert f"Page {number} of {len(pages)}" in page
        assert "printed" in page


@pytest.mark.requirement("GMP-03")
def test_a_correction_is_marked_changed_after_first_entry(demo_db) -> None:
    from cellbatch.services.corrections import correct

    sup = authenticate(demo_db, "sup1", "demo-sup1")
    thaw = next(e for e in batch_view(demo_db, "EASC-D001")["steps"] if e["kind"] == "thaw")
    correct(
        demo_db,
        sup,
        "EASC-D001",
        thaw["id"],
        field="viability",
        value="87 %",
        reason="transcription error: counter printout says 87 % (<1 % off & rounded)",
    )
    view = batch_view(demo_db, "EASC-D001")
    [fix] = view["corrections"]
    _data, _pages, text = record_text(demo_db, "EASC-D001")
    assert (
        squeeze(f"[changed after first entry: was {fix['old_value']}, reason: {fix['reason']}]")
        in text
    )
    assert missing([fix["old_value"], fix["new_value"], fix["reason"]], text) == []
    assert squeeze("Data changed after first entry") in text


@pytest.mark.requirement("GMP-02")
def test_cli_writes_the_pdf_and_the_complete_json_copy(demo_db, cli, tmp_path) -> None:
    pdf, js = tmp_path / "record.pdf", tmp_path / "record.json"
    result = cli("--db", demo_db.url, "record", "EASC-B001", "-o", str(pdf))
    assert result.code == 0, result.err
    assert pdf.read_bytes().startswith(b"%PDF")
    result = cli("--db", demo_db.url, "export", "EASC-B001", "-o", str(js))
    assert result.code == 0, result.err
    copy = json.loads(js.read_text(encoding="utf-8"))
    assert copy["format"] == "cellbatch-batch-record/1"
    assert copy["batch"] == json.loads(json.dumps(batch_view(demo_db, "EASC-B001"), default=str))
    entries = batch_audit(demo_db, "EASC-B001")
    assert [a["seq"] for a in copy["audit_trail"]] == [e.seq for e in entries]
    assert copy["labels"] is None
    result = cli("--db", demo_db.url, "record", "NOPE-1", "-o", str(tmp_path / "x.pdf"))
    assert result.code == 3 and "no batch" in result.err
    assert not (tmp_path / "x.pdf").exists()


def test_label_reconciliation_is_in_the_dose_record(demo_db) -> None:
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.labels import print_labels, verify_scans

    tech = authenticate(demo_db, "tech1", "demo-tech1")
    labels = print_labels(demo_db, tech, "EASC-D001", lambda ls: render_labels(ls))
    verify_scans(demo_db, tech, "EASC-D001", 1, [labels[0].datamatrix])
    data, _pages, text = record_text(demo_db, "EASC-D001")
    assert data["labels"]["printed"] == 1 and data["labels"]["verified"] == 1
    assert squeeze("Labels printed 1 Labels reprinted 0") in text
    assert squeeze("Quarantine labels (prints and reprints) 1") in text
    assert squeeze("Labels verified by scan 1") in text


def text_outside(pdf: bytes, x_margin: float, y_margin: float) -> list[str]:
    """Characters printed outside the given margins (points) of their page."""
    doc = pypdfium2.PdfDocument(pdf)
    bad = []
    try:
        for number, page in enumerate(doc, start=1):
            width, height = page.get_size()
            text = page.get_textpage()
            for i in range(text.count_chars()):
                left, bottom, right, top = text.get_charbox(i)
                if right <= left:  # spaces and line breaks have no extent
                    continue
                inside = x_margin <= left and right <= width - x_margin
                if not (inside and y_margin <= bottom and top <= height - y_margin):
                    bad.append(
                        f"page {number}: {text.get_text_range(i, 1)!r} at {left:.0f},{bottom:.0f}"
                    )
    finally:
        doc.close()
    return bad


@pytest.mark.parametrize("code", DEMO_BATCHES)
def test_no_text_runs_off_the_page(demo_db, code) -> None:
    from reportlab.lib.units import mm

    pdf = render(record_data(demo_db, code))
    assert text_outside(pdf, 14.5 * mm, 4 * mm) == []


def test_no_label_text_runs_off_the_label(demo_db) -> None:
    from reportlab.lib.units import mm

    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.labels import print_labels

    tech = authenticate(demo_db, "tech1", "demo-tech1")
    pdfs = []
    print_labels(demo_db, tech, "EASC-D001", lambda ls: pdfs.append(render_labels(ls)))
    assert text_outside(pdfs[0], 1.5 * mm, 1.5 * mm) == []
