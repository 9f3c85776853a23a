"""The batch record PDF and JSON copy hold everything the database holds about a batch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pypdfium2
import pytest

from cellbatch.documents.batch_record import render
from cellbatch.services.auth import authenticate
from cellbatch.services.queries.audit import list_entries
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.documents import RecordData, record_data

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


def record_text(db, code: str) -> tuple[RecordData, list[str], str]:
    data = record_data(db, code)
    pages = pdf_pages(render(data))
    return data, pages, squeeze("".join(pages))


def batch_id(db, code: str) -> int:
    from cellbatch.services.batch_access import find_batch

    with db.session() as session:
        return find_batch(session, code).id


def bank_vial_ids(db, code: str) -> set[str]:
    """Ids of the vials a batch froze (none for a dose batch), read from the table."""
    from sqlalchemy import select

    from cellbatch.db.tables import Vial

    number = batch_id(db, code)
    with db.session() as session:
        rows = session.execute(select(Vial.id).where(Vial.batch_id == number)).scalars()
        return {str(i) for i in rows}


def vial_numbers(db, code: str) -> dict[str, int]:
    """Each vial's number in its bank, by its id (as the audit trail names it)."""
    from sqlalchemy import select

    from cellbatch.db.tables import Vial

    number = batch_id(db, code)
    with db.session() as session:
        rows = session.execute(select(Vial.id, Vial.number).where(Vial.batch_id == number))
        return {str(i): n for i, n in rows}


def batch_audit(db, code: str) -> list:
    """The batch's audit entries: those filed under it, the creation of the batch row, and
    every entry about one of its vials (a dose batch's thaw updates the bank's vials)."""
    number = batch_id(db, code)
    found = {e.seq: e for e in list_entries(db, batch_id=number)}
    found.update({e.seq: e for e in list_entries(db, entity="batch", entity_id=str(number))})
    vials = bank_vial_ids(db, code)
    found.update({e.seq: e for e in list_entries(db, entity="vial") if e.entity_id in vials})
    return [found[seq] for seq in sorted(found)]


def readable_texts(shown: dict) -> list[str]:
    """The texts of one audit entry as the appendix prints it."""
    texts = [str(shown["seq"]), printed_time(shown["at"]), shown["who"], shown["action"]]
    texts += [shown["record"]]
    texts += [t for t in (shown["field"], shown["reason"], shown["old"], shown["new"]) if t]
    return texts


def sop_labels(db, code: str) -> dict[str, dict[str, str]]:
    """The pinned SOP's label of each step parameter, by step kind."""
    from cellbatch.services.batch_access import find_batch
    from cellbatch.services.queries.sops import sop_of

    with db.session() as session:
        sop = sop_of(session, find_batch(session, code))
    return {step.kind: {p.name: p.label for p in step.parameters} for step in sop.steps}


def parameter_shown(labels: dict, kind: str, name: str) -> str:
    """A parameter's name as printed: the SOP's label, or the name in words without one."""
    return labels.get(kind, {}).get(name) or name.replace("_", " ").capitalize()


def missing(expected: list[str], text: str) -> list[str]:
    return [e for e in expected if squeeze(e) not in text]


@pytest.mark.requirement("GMP-02")
@pytest.mark.requirement("GMP-07")
@pytest.mark.requirement("GMP-11")
@pytest.mark.parametrize("code", DEMO_BATCHES)
def test_record_holds_every_value_signature_and_audit_entry(demo_db, code) -> None:
    _data, pages, text = record_text(demo_db, code)
    view = batch_view(demo_db, code).to_dict()  # compared with the database, read separately
    labels = sop_labels(demo_db, code)
    values = []
    for entry in view["steps"]:
        values += [entry["id"], printed_time(entry["performed_at"])]
        values += [entry["recorded_by"]["full_name"]]
        for name, value in entry["values"].items():
            values.append(parameter_shown(labels, entry["kind"], name))
            values += [printed_time(value)] if name in ("start", "end") else shown(value)
        values += [m["lot"] for m in entry["materials"]]
    for q in view["qc"]:
        method = q["method"].replace(" x ", " × ")  # the SOP's letter x printed as a sign
        values += [q["id"], q["name"], method, q["specification"]]
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
    assert [a["seq"] for a in [e.to_dict() for e in _data.audit_readable]] == [
        e.seq for e in entries
    ]
    assert [a["seq"] for a in [e.to_dict() for e in _data.audit_trail]] == [e.seq for e in entries]
    for entry, row in zip(entries, [e.to_dict() for e in _data.audit_readable], strict=True):
        assert (row["action"], row["reason"]) == (entry.action, entry.reason)
        assert row["who"].endswith(f"({entry.username})")
        assert missing(readable_texts(row), text) == [], f"audit entry #{entry.seq}"

    for number, page in enumerate(pages, start=1):
        assert code in page
        assert f"Page {number} of {len(pages)}" in page
        assert "printed" in page


@pytest.mark.requirement("GMP-03")
def test_a_correction_is_marked_changed_after_first_entry(demo_db) -> None:
    from cellbatch.services.commands.corrections import correct

    sup = authenticate(demo_db, "sup1", "demo-sup1-pass")
    thaw = next(
        e for e in batch_view(demo_db, "EASC-D001").to_dict()["steps"] if e["kind"] == "thaw"
    )
    correct(
        demo_db,
        sup,
        "EASC-D001",
        thaw["id"],
        field="viability",
        value="87 %",
        reason="transcription error: counter printout says 87 % (<1 % off & rounded)",
    )
    view = batch_view(demo_db, "EASC-D001").to_dict()
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
    result = cli("--db", demo_db.url, "record", "EASC-B001", "-o", str(pdf), user="qa1")
    assert result.code == 0, result.err
    assert pdf.read_bytes().startswith(b"%PDF")
    result = cli("--db", demo_db.url, "export", "EASC-B001", "-o", str(js), user="qa1")
    assert result.code == 0, result.err
    copy = json.loads(js.read_text(encoding="utf-8"))
    assert copy["format"] == "cellbatch-batch-record/1"
    assert copy["batch"] == json.loads(
        json.dumps(batch_view(demo_db, "EASC-B001").to_dict(), default=str)
    )
    *entries, its_own = batch_audit(demo_db, "EASC-B001")  # the export is recorded after it
    assert [a["seq"] for a in copy["audit_trail"]] == [e.seq for e in entries]
    assert (its_own.action, entries[-1].action) == ("export", "print")
    assert copy["labels"]["labels"] == []  # no vial label printed in the demo
    result = cli("--db", demo_db.url, "record", "NOPE-1", "-o", str(tmp_path / "x.pdf"), user="qa1")
    assert result.code == 3 and "no batch" in result.err
    assert not (tmp_path / "x.pdf").exists()
    for target, says in ((tmp_path, "is a folder"), (Path("/dev/null"), "is not a regular file")):
        result = cli("--db", demo_db.url, "export", "EASC-B001", "-o", str(target), user="qa1")
        assert result.code == 2 and f"--output: {target} {says}" in result.err, result
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")) == []


def test_label_reconciliation_is_in_the_dose_record(demo_db) -> None:
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.commands.labels import print_labels, verify_scans

    tech = authenticate(demo_db, "tech1", "demo-tech1-pass")
    labels = print_labels(demo_db, tech, "EASC-D001", lambda ls: render_labels(ls))
    for _twice in range(2):  # one label scanned twice: two scans, one label verified
        verify_scans(demo_db, tech, "EASC-D001", 1, [labels[0].datamatrix])
    data, _pages, text = record_text(demo_db, "EASC-D001")
    assert data.labels.printed == 1 and data.labels.verified == 2
    assert squeeze("Labels printed 1 Labels reprinted 0") in text
    assert squeeze("Quarantine labels (prints and reprints) 1") in text
    assert squeeze("Scans that verified a label 2") in text
    assert squeeze("Labels applied (verified on their container) 1") in text


def test_label_history_marker_results_and_anchor_are_typed_in_the_record_data(demo_db) -> None:
    """The record's label history, donor marker results and audit anchor are frozen values,
    not dicts; the electronic copy (``to_dict()``) keeps its keys."""
    from dataclasses import FrozenInstanceError

    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.audit_anchor import PrintedAnchor
    from cellbatch.services.commands.labels import print_labels, verify_scans
    from cellbatch.services.queries.donors import MarkerResult
    from cellbatch.services.queries.labels import LabelEventView, LabelHistory, PrintedLabelView

    tech = authenticate(demo_db, "tech1", "demo-tech1-pass")
    labels = print_labels(demo_db, tech, "EASC-D001", lambda ls: render_labels(ls))
    verify_scans(demo_db, tech, "EASC-D001", 1, [labels[0].datamatrix])
    data = record_data(demo_db, "EASC-D001")
    history = data.labels
    (label,) = history.labels  # its only one (the demo's L1 is EASC-D000's)
    assert isinstance(history, LabelHistory) and history.in_force == (label.ref,)
    assert all(isinstance(label, PrintedLabelView) for label in history.labels)
    printed, scanned = history.events
    assert isinstance(printed, LabelEventView) and printed.by.full_name == "Tomás Herrera"
    assert (printed.action, scanned.action, scanned.ok) == ("print", "scan", True)
    with pytest.raises(FrozenInstanceError):
        history.printed = 5  # type: ignore[misc]
    marker = data.donor.tests[0]
    assert isinstance(marker, MarkerResult) and marker.result in ("negative", "reactive")
    with pytest.raises(FrozenInstanceError):
        marker.result = "negative"  # type: ignore[misc]
    copy = data.to_dict()
    assert list(copy["labels"]) == [
        "printed", "reprinted", "final_printed", "quarantine_printed", "verified",
        "failed_scans", "applied", "destroyed", "in_force", "to_destroy", "labels", "events",
    ]  # fmt: skip
    assert copy["labels"]["in_force"] == [label.ref]
    assert copy["labels"]["events"][0]["by"] == {
        "username": "tech1",
        "full_name": "Tomás Herrera",
    }
    assert list(copy["donor"]["tests"][0]) == ["marker", "result", "sampled"]
    anchor = data.audit_anchor  # the trail's head the record was built from, typed too
    assert isinstance(anchor, PrintedAnchor) and anchor.anchored and len(anchor.hash) == 64
    assert copy["audit_anchor"] == {
        "seq": anchor.seq, "hash": anchor.hash, "at": anchor.at, "anchored": True,
    }  # fmt: skip
    text = squeeze("".join(pdf_pages(render(data))))
    assert squeeze(f"audit anchor #{anchor.seq} {anchor.hash[:16]}") in text
    json.dumps(copy)


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
    from cellbatch.services.commands.labels import print_labels

    tech = authenticate(demo_db, "tech1", "demo-tech1-pass")
    pdfs = []
    print_labels(demo_db, tech, "EASC-D001", lambda ls: pdfs.append(render_labels(ls)) or pdfs[-1])
    assert text_outside(pdfs[0], 1.5 * mm, 1.5 * mm) == []


HEADINGS = (
    "Release checklist (batch not released)",
    "Donor and infectious-disease markers",
    "Process steps",
    "Computed values (formula and inputs)",
    "QC results and specifications",
    "Materials and lots",
    "Deviations",
    "Data changed after first entry",
    "Electronic signatures",
    "Growth: cumulative population doublings",
    "Vials (inventory)",
    "Label reconciliation",
)


def stranded_headings(pdf: bytes, code: str) -> list[str]:
    """Section headings printed as the last text of a page's body (their content overleaf)."""
    found = []
    for number, page in enumerate(pdf_pages(pdf), start=1):
        body = page[: page.rfind(f"Batch record {code}")]  # page header and footer come last
        for heading in HEADINGS:
            if squeeze(body).endswith(squeeze(heading)):
                found.append(f"page {number}: {heading}")
    return found


def fill_fucosylated_dose(db) -> None:
    """Fill the bag of the demo's fucosylated dose (FUC-D001), as the README's tour does."""
    from cellbatch.services.commands import steps

    tech = authenticate(db, "tech1", "demo-tech1-pass")
    steps.fill(db, tech, "FUC-D001", volume="10 mL", cells="4e7 cells", materials=["SAL-HSA-0915"])


def test_no_section_heading_is_left_at_the_bottom_of_a_page(demo_db, monkeypatch) -> None:
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    from cellbatch.documents import batch_record

    fill_fucosylated_dose(demo_db)
    cover = batch_record._cover
    for code in DEMO_BATCHES:
        data = record_data(demo_db, code)
        assert stranded_headings(render(data), code) == [], code
        # push every heading through every position on a page: none may end a page alone
        for shift in range(0, 250, 9):
            monkeypatch.setattr(
                batch_record, "_cover", lambda d, s=shift: cover(d) + [Spacer(1, s * mm)]
            )
            assert stranded_headings(render(data), code) == [], f"{code}, shifted {shift} mm"


def verification_line(v: dict) -> str:
    return f"verified by {v['full_name']} ({v['username']}) at {printed_time(v['signed_at'])}"


def entry_rows(text: str, items: list[dict]) -> dict[str, str]:
    """Each step's or QC result's table row in a record's squeezed text, by its ID."""
    starts = []
    for item in items:
        what = item["kind"] if "kind" in item else item["name"]
        starts.append((text.index(squeeze(f"{item['id']} {what}")), item["id"]))
    starts.sort()
    ends = [at for at, _ref in starts[1:]] + [len(text)]
    return {ref: text[at:end] for (at, ref), end in zip(starts, ends, strict=True)}


@pytest.mark.requirement("GMP-20")
@pytest.mark.requirement("GMP-11")
def test_each_critical_entry_shows_its_verification_or_pending(demo_db) -> None:
    from cellbatch.services.commands.verification import verify

    for code in DEMO_BATCHES:
        view = batch_view(demo_db, code).to_dict()
        _data, _pages, text = record_text(demo_db, code)
        body = text[: text.index(squeeze("Appendix: audit trail"))]
        items = view["steps"] + view["qc"]
        rows = entry_rows(body, items)
        for item in items:
            current = [v for v in item["verifications"] if not v["superseded"]]
            if item["verification_status"] == "verified":
                assert squeeze(verification_line(current[-1])) in rows[item["id"]], item["id"]
            elif item["needs_verification"]:
                assert "PENDING" in rows[item["id"]], (code, item["id"])
            else:
                assert "PENDING" not in rows[item["id"]], (code, item["id"])
        pending = [i for i in items if i["needs_verification"]]
        pending = [i for i in pending if i["verification_status"] != "verified"]
        assert body.count("PENDING") == len(pending), code

    thaw = next(
        e for e in batch_view(demo_db, "FUC-D001").to_dict()["steps"] if e["kind"] == "thaw"
    )
    verify(demo_db, "sup1", "demo-sup1-pass", "FUC-D001", thaw["id"])
    [v] = next(
        e for e in batch_view(demo_db, "FUC-D001").to_dict()["steps"] if e["id"] == thaw["id"]
    )["verifications"]
    _data, _pages, text = record_text(demo_db, "FUC-D001")
    assert squeeze(verification_line(v)) in text
    assert v["full_name"] and v["username"] == "sup1"


@pytest.mark.requirement("GMP-08")
def test_a_batch_not_released_prints_its_release_checklist(demo_db) -> None:
    from cellbatch.services.queries.review import review

    checklist = review(demo_db, "FUC-D001").to_dict()["checklist"]
    unmet = [c for c in checklist if not c["met"]]
    assert unmet, "the demo's fucosylated dose is not ready for release"
    _data, _pages, text = record_text(demo_db, "FUC-D001")
    assert squeeze("Release checklist (batch not released)") in text
    for c in checklist:
        row = squeeze(c["description"]) + ("met" if c["met"] else "NOTMET")
        assert row in text, c["id"]
    release_qc = next(c for c in checklist if c["id"] == "release-qc")
    assert "missing:" in release_qc["detail"] and squeeze(release_qc["detail"]) in text
    assert text.count("NOTMET") == len(unmet)

    for code in ("EASC-B001", "BMMSC-B001"):  # released: the checklist QA released it on
        assert batch_view(demo_db, code).status == "released"
        data, _pages, text = record_text(demo_db, code)
        [decision] = batch_view(demo_db, code).to_dict()["release_decisions"]
        assert data.release_checklist_decided_at == decision["decided_at"]
        assert data.release_checklist and all(c.met for c in data.release_checklist)
        assert squeeze("Release checklist at the release") in text
        assert (
            squeeze(f"when QA decided the batch ({printed_time(decision['decided_at'])})") in text
        )
        assert "NOTMET" not in text and squeeze("(batch not released)") not in text


@pytest.mark.requirement("GMP-08")
def test_the_release_checklist_is_kept_as_it_stood_at_release(demo_db, cli, tmp_path) -> None:
    from cellbatch.services.commands.donors import set_eligibility
    from cellbatch.services.queries.review import review

    before = [c.to_dict() for c in record_data(demo_db, "EASC-B001").release_checklist]
    assert before and all(c["met"] for c in before)
    # after the release the donor is made pending again: the bank is held, and the checklist
    # computed now fails; the record still shows the one QA released the bank on
    donor = batch_view(demo_db, "EASC-B001").donor.code
    sup = authenticate(demo_db, "sup1", "demo-sup1-pass")
    set_eligibility(demo_db, sup, donor, "pending", "look-back: a marker to be retested")
    assert not all(c.met for c in review(demo_db, "EASC-B001").checklist)
    data, _pages, text = record_text(demo_db, "EASC-B001")
    assert [c.to_dict() for c in data.release_checklist] == before and "NOTMET" not in text
    out = tmp_path / "bank.json"
    assert cli("--db", demo_db.url, "export", "EASC-B001", "-o", str(out), user="qa1").code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["release_checklist"] == before


def test_the_record_prints_the_donor_marker_results(demo_db) -> None:
    from cellbatch.services.queries.donors import donor_view

    for code in DEMO_BATCHES:
        donor = donor_view(demo_db, batch_view(demo_db, code).to_dict()["donor"]["code"])
        assert donor.tests
        _data, _pages, text = record_text(demo_db, code)
        for t in donor.tests:
            row = squeeze(f"{t.marker} {t.result} {t.sampled}")
            assert row.lower() in text.lower(), (code, t)
    assert "REACTIVE" in record_text(demo_db, "FUC-D001")[2]  # the mother's anti-HBc


def test_audit_values_and_record_names_are_never_split(demo_db) -> None:
    for code in DEMO_BATCHES:
        _data, pages, _text = record_text(demo_db, code)
        printed = " ".join(pages).split()  # as printed: each line's words
        words = set(printed) | {w.removesuffix(";") for w in printed}  # fields end in "; "
        broken = []
        for shown in [e.to_dict() for e in _data.audit_readable]:
            texts = [shown["record"], shown["field"] or "", shown["old"] or "", shown["new"] or ""]
            for word in " ".join(texts).split():
                if word.removesuffix(";") not in words:
                    broken.append(f"#{shown['seq']}: {word}")
        assert broken == [], code


@pytest.mark.requirement("GMP-07")
def test_a_bank_record_holds_the_changes_dose_batches_made_to_its_vials(demo_db) -> None:
    vials = bank_vial_ids(demo_db, "EASC-B001")
    thaws = [
        e
        for e in list_entries(demo_db, entity="vial")
        if e.entity_id in vials and e.field == "thaw_entry_id"
    ]
    assert thaws, "EASC-D001 thawed vials of EASC-B001"
    assert all(e.batch_id != batch_id(demo_db, "EASC-B001") for e in thaws)
    data, _pages, text = record_text(demo_db, "EASC-B001")
    assert {e.seq for e in thaws} <= {a.seq for a in data.audit_trail}
    numbers = vial_numbers(demo_db, "EASC-B001")
    for e in thaws:
        row = f"{e.seq} {printed_time(e.at)} Tomás Herrera ({e.username}) update"
        row += f" vial {numbers[e.entity_id]} of EASC-B001"
        assert squeeze(f"{row} thaw entry new: E{e.new_value} {e.reason}") in text


def boxes_of(pdf: bytes, needle: str) -> list[tuple[float, float, float, float]]:
    """(left, bottom, right, top) of each place ``needle`` is printed, on any page."""
    doc = pypdfium2.PdfDocument(pdf)
    out = []
    try:
        for page in doc:
            textpage = page.get_textpage()
            searcher = textpage.search(needle)
            while (hit := searcher.get_next()) is not None:
                index, count = hit
                boxes = [textpage.get_charbox(i) for i in range(index, index + count)]
                out.append(
                    (
                        min(b[0] for b in boxes),
                        min(b[1] for b in boxes),
                        max(b[2] for b in boxes),
                        max(b[3] for b in boxes),
                    )
                )
    finally:
        doc.close()
    return out


def test_growth_chart_labels_stay_inside_the_plot(demo_db) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    plot_left, plot_right = 31 * mm, A4[0] - 23 * mm  # margin 15 mm; plot 16 mm in, 8 mm short
    for code in ("EASC-B001", "BMMSC-B001"):
        view = batch_view(demo_db, code).to_dict()
        pdf = render(record_data(demo_db, code))
        [days] = boxes_of(pdf, "days since P0 seeding")
        y_ticks = [b for b in boxes_of(pdf, "0") if b[2] < plot_left and b[1] > days[3]]
        zero = min(y_ticks, key=lambda b: b[1])  # the y-axis tick "0", level with the x-axis
        x_axis = (zero[1] + zero[3]) / 2
        for p in view["passages"]:
            [box] = boxes_of(pdf, f"P{p['passage']}: {p['cumulative_population_doublings']:.2f}")
            assert plot_left < box[0] and box[2] < plot_right, (code, p["passage"], box)
            assert box[1] > x_axis + 1, (code, p["passage"], "on the x-axis")
        [ceiling] = boxes_of(pdf, "SOP ceiling")
        assert ceiling[0] > plot_left + 4, "clear of the y-axis"
        assert plot_left < ceiling[0] and ceiling[2] < plot_right


@pytest.mark.requirement("GMP-11")
@pytest.mark.requirement("GMP-21")
def test_a_release_signature_says_what_was_signed(demo_db) -> None:
    for code in ("EASC-B001", "BMMSC-B001"):
        view = batch_view(demo_db, code).to_dict()
        [decision] = view["release_decisions"]
        [sig] = [s for s in view["signatures"] if s["on"] == "batch"]
        assert sig["signed_at"] == decision["decided_at"]
        _data, _pages, text = record_text(demo_db, code)
        row = f"batch {code} (release decision) {sig['full_name']} {sig['username']}"
        assert squeeze(row) in text


def test_times_names_and_signs_are_printed_one_way(demo_db) -> None:
    fill_fucosylated_dose(demo_db)
    view = batch_view(demo_db, "FUC-D001").to_dict()
    _data, pages, _text = record_text(demo_db, "FUC-D001")
    body = "".join(pages)
    body = body[: body.index("Appendix: audit trail")]  # the appendix prints stored values
    assert re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d", body) == []
    fuc = view["fucosylation"]
    for shown_time in (printed_time(fuc["start"]), printed_time(fuc["end"])):
        assert squeeze(shown_time) in squeeze(body)
    for raw in ("vial_numbers", "gdp_fucose_concentration", "enzyme_concentration"):
        assert raw not in body
    for label in ("Vial numbers: 1, 2, 3", "GDP-fucose concentration: 1 mM"):
        assert squeeze(label) in squeeze(body)
    assert squeeze("Viable count × volume, against dose per kg × body weight") in squeeze(body)
    assert " x " not in body
    [deviation] = view["deviations"]
    opened = f"Opened {printed_time(deviation['opened_at'])} by Ingrid Larsen (tech2)"
    assert deviation["opened_by"] == "tech2" and squeeze(opened) in squeeze(body)


@pytest.mark.requirement("GMP-03")
def test_corrections_keep_their_units_in_the_record_the_json_and_batch_show(
    demo_db, cli, tmp_path
) -> None:
    from cellbatch.services.commands.corrections import correct

    sup = authenticate(demo_db, "sup1", "demo-sup1-pass")
    view = batch_view(demo_db, "FUC-D001").to_dict()
    fuc = next(e for e in view["steps"] if e["kind"] == "fucosylation")
    viability = next(q for q in view["qc"] if q["test"] == "viability")
    correct(demo_db, sup, "FUC-D001", fuc["id"], field="temperature", value="36.5 degC",
            reason="incubator log reads 36.5 °C")  # fmt: skip
    correct(demo_db, sup, "FUC-D001", viability["id"], field="value", value="81 %",
            reason="counter printout says 81 %")  # fmt: skip
    fixes = {c["field"]: c for c in batch_view(demo_db, "FUC-D001").to_dict()["corrections"]}
    assert (fixes["temperature"]["old_display"], fixes["temperature"]["new_display"]) == (
        "37 °C",
        "36.5 °C",
    )
    assert (fixes["value"]["old_display"], fixes["value"]["new_display"]) == ("82 %", "81 %")
    _data, _pages, text = record_text(demo_db, "FUC-D001")
    body = text[: text.index(squeeze("Appendix: audit trail"))]
    assert squeeze("was 37 °C, reason") in body and squeeze("was 82 %, reason") in body
    assert "degC" not in body
    shown = cli("--db", demo_db.url, "batch", "show", "FUC-D001", user="qa1")
    assert shown.code == 0, shown.err
    assert "temperature: 37 °C → 36.5 °C" in shown.out and "value: 82 % → 81 %" in shown.out
    js = tmp_path / "fuc.json"
    assert cli("--db", demo_db.url, "export", "FUC-D001", "-o", str(js), user="qa1").code == 0
    exported = json.loads(js.read_text(encoding="utf-8"))["batch"]["corrections"]
    assert {c["new_display"] for c in exported} == {"36.5 °C", "81 %"}
    assert {c["new_value"] for c in exported} == {"36.5 degC", "81.0"}  # as stored, exact


def test_qc_rows_show_when_the_result_was_recorded(demo_db) -> None:
    view = batch_view(demo_db, "EASC-B001").to_dict()
    _data, _pages, text = record_text(demo_db, "EASC-B001")
    body = text[: text.index(squeeze("Appendix: audit trail"))]
    rows = entry_rows(body, view["steps"] + view["qc"])
    for q in view["qc"]:
        assert squeeze(f"recorded {printed_time(q['recorded_at'])}") in rows[q["id"]], q["id"]
        assert squeeze(f"performed {printed_time(q['performed_at'])}") in rows[q["id"]], q["id"]


@pytest.mark.requirement("GMP-02")
def test_a_batchs_audit_trail_starts_with_its_creation(demo_db, cli) -> None:
    from cellbatch.services.queries.audit import count_entries

    for code in ("EASC-B001", "FUC-D001"):
        shown = cli("--db", demo_db.url, "audit", "show", "--batch", code, "--json", user="qa1")
        assert shown.code == 0, shown.err
        first = json.loads(shown.out)[0]
        assert (first["entity"], first["action"]) == ("batch", "create")
        assert json.loads(first["new_value"])["code"] == code
        number = batch_id(demo_db, code)
        assert count_entries(demo_db, batch_id=number) == len(
            list_entries(demo_db, batch_id=number)
        )
    # the bank's trail holds its vials' thaw by a dose batch, as its record does
    bank = list_entries(demo_db, batch_id=batch_id(demo_db, "EASC-B001"))
    assert any(e.entity == "vial" and e.field == "thaw_entry_id" for e in bank)


def _count_parameters(db, code: str) -> set[str]:
    """Step values that are counts in the batch's SOP (no unit: ``vials: 16``), in words."""
    from cellbatch.services.batch_access import find_batch
    from cellbatch.services.queries.sops import sop_of

    with db.session() as session:
        sop = sop_of(session, find_batch(session, code))
    return {
        p.name.replace("_", " ")
        for step in sop.steps
        for p in step.parameters
        if p.measure.key == "count"
    }


_BARE_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$")


@pytest.mark.requirement("GMP-02")
@pytest.mark.requirement("GMP-07")
def test_the_audit_appendix_shows_names_and_units_never_internal_ids(
    demo_db, cli, tmp_path
) -> None:
    from cellbatch.db.tables import AUDITED_TABLES
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.commands.corrections import correct
    from cellbatch.services.commands.labels import print_labels, verify_scans

    tech = authenticate(demo_db, "tech1", "demo-tech1-pass")  # labels printed and scanned
    labels = print_labels(demo_db, tech, "EASC-D001", lambda ls: render_labels(ls))
    verify_scans(demo_db, tech, "EASC-D001", 1, [labels[0].datamatrix])
    sup = authenticate(demo_db, "sup1", "demo-sup1-pass")
    fuc = next(
        e for e in batch_view(demo_db, "FUC-D001").to_dict()["steps"] if e["kind"] == "fucosylation"
    )
    correct(demo_db, sup, "FUC-D001", fuc["id"], field="temperature", value="36.5 degC",
            reason="incubator log reads 36.5 °C")  # fmt: skip
    columns = {c.name for m in AUDITED_TABLES.values() for c in m.__table__.columns}
    for code in DEMO_BATCHES:
        data, pages, _text = record_text(demo_db, code)
        appendix = " ".join(pages)[" ".join(pages).index("Appendix: audit trail") :]
        assert "gaps" in appendix  # the numbers are global: gaps are expected
        counts = _count_parameters(demo_db, code)
        for shown in [e.to_dict() for e in data.audit_readable]:
            for part in [p for v in (shown["old"], shown["new"]) if v for p in v.split("; ")]:
                key, _sep, value = part.rpartition(": ")
                assert "_" not in key and key not in ("id", "entity id"), (shown["seq"], part)
                if _BARE_NUMBER.match(value.strip()):
                    assert key in counts, f"#{shown['seq']}: bare number {part!r}"
        assert '{"' not in appendix and "{'" not in appendix  # no raw JSON, no repr
        raw_keys = [c for c in columns if "_" in c and f"{c}:" in appendix.replace(" ", "")]
        assert raw_keys == [], code
        for raw in [
            e.to_dict() for e in data.audit_trail
        ]:  # no stored id or stored float shows through
            content = json.loads(raw["new_value"]) if raw["action"] == "create" else {}
            for key, value in content.items():
                if key.endswith(("_id", "_by")) and isinstance(value, int):
                    assert f"{key.replace('_', ' ').removesuffix(' id')}: {value};" not in appendix
                if isinstance(value, str) and _BARE_NUMBER.match(value):  # "3800000.0"
                    bare = re.compile(rf": {re.escape(value)}(;|\s*$)", re.M)
                    assert not bare.search(appendix), (raw["seq"], key, value)
    data, _pages, text = record_text(demo_db, "FUC-D001")
    fix = next(a for a in [e.to_dict() for e in data.audit_readable] if a["action"] == "correct")
    assert (fix["field"], fix["old"], fix["new"]) == ("temperature", "37 °C", "36.5 °C")
    creation = [e.to_dict() for e in data.audit_readable][0]
    assert creation["record"] == "batch FUC-D001" and "recorded by: " in creation["new"]
    assert "body weight: 20 kg" in creation["new"] and "parent batch: BMMSC-B001" in creation["new"]
    # the electronic copy keeps every entry as stored, beside the readable one
    out = tmp_path / "fuc.json"
    assert cli("--db", demo_db.url, "export", "FUC-D001", "-o", str(out), user="qa1").code == 0
    copy = json.loads(out.read_text(encoding="utf-8"))
    raw = copy["audit_trail"]
    assert [a["seq"] for a in copy["audit_readable"]] == [a["seq"] for a in raw]
    assert any(a["field"] == "thaw_entry_id" for a in raw)
    assert any('"material_lot_id"' in (a["new_value"] or "") for a in raw)


@pytest.mark.requirement("GMP-07")
def test_a_signature_in_the_appendix_names_what_was_signed_never_its_id(demo_db) -> None:
    """A bank's release signature reads ``of batch EASC-B001``, not the row's id (``of 1``)."""
    data, pages, text = record_text(demo_db, "EASC-B001")
    records = [a.record for a in data.audit_readable]
    release = "signature (released) by Quentin Okafor of batch EASC-B001"
    assert release in records and squeeze(release) in text
    assert [r for r in records if re.search(r"\bof \d+$", r)] == []


@pytest.mark.requirement("GMP-07")
def test_a_label_applied_reads_with_the_printed_name_and_the_time_in_utc(demo_db) -> None:
    """The ``applied`` entry names the person as the record does, not by the bare user ID."""
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.commands.labels import print_labels, verify_scans

    tech = authenticate(demo_db, "tech1", "demo-tech1-pass")
    labels = print_labels(demo_db, tech, "EASC-D001", lambda ls: render_labels(ls))
    verify_scans(demo_db, tech, "EASC-D001", 1, [labels[0].datamatrix])
    data, _pages, text = record_text(demo_db, "EASC-D001")
    [applied] = [a.new for a in data.audit_readable if a.field == "applied"]
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
    assert re.fullmatch(rf"applied {when} by Tomás Herrera \(tech1\)", applied), applied
    assert squeeze(applied) in text


@pytest.mark.requirement("GMP-24")
def test_a_released_banks_vial_labels_are_not_counted_as_quarantine_labels(
    demo_db, cli, tmp_path
) -> None:
    """Vial and QC tube labels carry no release status: the reconciliation counts them as such."""
    out = tmp_path / "vials.pdf"
    printed = cli(
        "--db", demo_db.url, "labels", "EASC-B001", "-o", str(out), "--user", "tech1",
        "--password-stdin", input="demo-tech1-pass\n",
    )  # fmt: skip
    assert printed.code == 0, printed.err
    count = len(pypdfium2.PdfDocument(out.read_bytes()))
    assert batch_view(demo_db, "EASC-B001").to_dict()["status"] == "released"
    _data, _pages, text = record_text(demo_db, "EASC-B001")
    assert squeeze(f"Vial and QC sample tube labels (prints and reprints) {count}") in text
    assert squeeze("Quarantine labels") not in text and squeeze("Final labels") not in text


@pytest.mark.requirement("GMP-07")
def test_a_scans_checks_read_in_words_not_as_program_identifiers(demo_db) -> None:
    """The kind of each barcode checked reads ``product code``, not ``product_code``."""
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.commands.labels import print_labels, verify_scans

    tech = authenticate(demo_db, "tech1", "demo-tech1-pass")
    [label] = print_labels(demo_db, tech, "EASC-D001", lambda ls: render_labels(ls))
    verify_scans(demo_db, tech, "EASC-D001", 1, [label.din_data, label.product_code_data])
    data, pages, _text = record_text(demo_db, "EASC-D001")
    [scan] = [a.new for a in data.audit_readable if a.record.startswith("label scan")]
    assert "kind product code" in scan and "product_code" not in " ".join(pages)
