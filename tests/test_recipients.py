"""Recipients as records: registered before any dose, identity kept apart and audited when read."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from cellbatch.db.tables import AuditEntry
from cellbatch.domain.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches
from cellbatch.services.commands.recipients import (
    record_weight,
    register_recipient,
    set_identity,
    show_identity,
)
from cellbatch.services.queries.recipients import recipient_list, recipient_view
from tests.lab import snapshot
from tests.test_tui_workflows import run_async


def user(db, name: str):
    return authenticate(db, name, f"demo-{name}-pass")


def dose(db, code: str, recipient: str, **kwargs):
    values = {
        "parent": "EASC-B001",
        "sop_id": "SOP-EASC-DOSE",
        "dose": "2 x 10^6 cells/kg",
        "infusion": 2,
    }
    values.update(kwargs)
    return batches.start_dose(db, user(db, "tech1"), code, recipient=recipient, **values)


@pytest.mark.parametrize(
    ("typed", "error", "message"),
    [
        ("EB-P01", InvalidInput, "--recipient: expected a pseudonymous recipient ID"),
        ("RA-P009", NotFound, "--recipient: no registered recipient RA-P009 \\(did you mean"),
        ("RA-P0O1", InvalidInput, "--recipient: expected a pseudonymous recipient ID"),
    ],
)
def test_a_dose_for_an_unregistered_or_mistyped_recipient_is_refused(
    demo_db, typed, error, message
):
    before = snapshot(demo_db)
    with pytest.raises(error, match=message):
        dose(demo_db, "EASC-D009", typed)
    assert snapshot(demo_db) == before


def test_the_issue_typo_EB_P01_no_longer_starts_a_dose_from_the_mothers_bank(demo_db):
    before = snapshot(demo_db)
    with pytest.raises(InvalidInput, match="e.g. EB-P001; got 'EB-P01'"):
        batches.start_dose(
            demo_db, user(demo_db, "tech1"), "FUC-D009", parent="BMMSC-B001",
            sop_id="SOP-FUC-BMMSC-DOSE", recipient="EB-P01", weight="20 kg",
            dose="2 x 10^6 cells/kg", infusion=2,
        )  # fmt: skip
    assert snapshot(demo_db) == before


def test_a_directed_donation_makes_doses_only_for_its_recipient(demo_db):
    with pytest.raises(RuleViolation, match="directed donation, used only for the recipient"):
        batches.start_dose(
            demo_db, user(demo_db, "tech1"), "FUC-D009", parent="BMMSC-B001",
            sop_id="SOP-FUC-BMMSC-DOSE", recipient="RA-P002", dose="2 x 10^6 cells/kg",
            infusion=2,
        )  # fmt: skip


def test_the_dose_is_made_for_the_body_weight_on_record(demo_db):
    with pytest.raises(
        InvalidInput, match="--weight: 60 kg is not RA-P002's body weight on record"
    ):
        dose(demo_db, "EASC-D002", "RA-P002", weight="60 kg")
    record_weight(
        demo_db, user(demo_db, "clin1"), "RA-P002", weight="60 kg", weighed_on=date.today()
    )
    # day 1 was given six days ago (the demo's EASC-D000): this dose is for day 8
    assert dose(demo_db, "EASC-D002", "RA-P002", weight="60 kg", infusion=2) == "EASC-D002"
    view = recipient_view(demo_db, "ra-p002")
    assert view.weight_kg == 60 and [w.weight_kg for w in view.weights] == [60, 70]
    assert view.dose_batches == [
        {"batch": "EASC-D000", "infusion": 1, "status": "released"},
        {"batch": "EASC-D002", "infusion": 2, "status": "in-process"},
    ]


def test_only_the_clinic_registers_recipients_and_ids_are_unique(demo_db):
    with pytest.raises(PermissionDenied, match="needs role clinic"):
        register_recipient(
            demo_db, user(demo_db, "tech1"), "RA-P003", trial="EASC-RA", cohort=1,
            weight="70 kg", weighed_on=date.today(),
        )  # fmt: skip
    with pytest.raises(RuleViolation, match="RA-P001 is registered already"):
        register_recipient(
            demo_db, user(demo_db, "clin1"), "ra-p001", trial="EASC-RA", cohort=1,
            weight="70 kg", weighed_on=date.today(),
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="--weight: expected a body weight between"):
        register_recipient(
            demo_db, user(demo_db, "clin1"), "RA-P003", trial="EASC-RA", cohort=1,
            weight="700 kg", weighed_on=date.today(),
        )  # fmt: skip


def test_identity_is_for_the_clinic_and_qa_and_each_reading_is_audited(demo_db):
    with pytest.raises(PermissionDenied, match="may not see who a recipient is"):
        show_identity(demo_db, user(demo_db, "tech1"), "EB-P001")
    shown = show_identity(demo_db, user(demo_db, "qa1"), "EB-P001")
    assert shown.name == "Elin Sorensen" and shown.hospital_number == "H07742"
    with demo_db.session() as session:
        entries = list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
    last = entries[-1]
    assert (last.action, last.entity, last.username) == ("view", "recipient_identity", "qa1")
    # who the recipient is never appears in the audit trail (read by more roles)
    trail = json.dumps([(e.new_value, e.old_value) for e in entries])
    assert "Sorensen" not in trail and "H07742" not in trail and "2019-02-07" not in trail
    assert "<redacted>" in trail
    # nor in the pseudonymous views the cleanroom reads
    listed = json.dumps([r.to_dict() for r in recipient_list(demo_db)])
    assert "Sorensen" not in listed and "EB-P001" in listed


def test_a_correction_of_identity_needs_a_reason_and_one_patient_is_one_recipient(demo_db):
    clin1 = user(demo_db, "clin1")
    with pytest.raises(RuleViolation, match="--reason"):
        set_identity(demo_db, clin1, "EB-P001", name="Elin Sørensen", born=date(2019, 2, 7),
                     hospital_number="H07742")  # fmt: skip
    with pytest.raises(RuleViolation, match="recorded for recipient RA-P001 already"):
        set_identity(demo_db, clin1, "EB-P001", name="Elin Sørensen", born=date(2019, 2, 7),
                     hospital_number="H0481516", reason="typo")  # fmt: skip
    set_identity(demo_db, clin1, "EB-P001", name="Elin Sørensen", born=date(2019, 2, 7),
                 hospital_number="H07742", reason="spelling as on the passport")  # fmt: skip
    assert show_identity(demo_db, clin1, "EB-P001").name == "Elin Sørensen"


def test_recipient_commands(cli, demo_db):
    url = demo_db.url
    r = cli("--db", url, "recipient", "register", "RA-P003", "--trial", "EASC-RA",
            "--cohort", "3", "--weight", "81 kg", user="clin1")  # fmt: skip
    assert r.code == 0 and "RA-P003 registered" in r.out, r.err
    r = cli("--db", url, "recipient", "register", "RA-P004", "--trial", "EASC-RA",
            "--weight", "81 kg", user="tech1")  # fmt: skip
    assert r.code == 5 and "needs role clinic" in r.err
    r = cli("--db", url, "recipient", "list", user="tech1")
    assert r.code == 0 and "RA-P003" in r.out and "81 kg" in r.out and "Lindqvist" not in r.out
    r = cli("--db", url, "recipient", "show", "EB-P001", "--json", user="tech1")
    shown = json.loads(r.out)
    assert shown["donor"] == "DN-2026-0002" and shown["identity_on_file"] is True
    r = cli("--db", url, "recipient", "identity", "show", "RA-P001", user="tech1")
    assert r.code == 5 and "Lindqvist" not in r.out
    r = cli("--db", url, "recipient", "identity", "show", "RA-P001", user="qa1")
    assert r.code == 0 and "Marta Lindqvist" in r.out and "H0481516" in r.out
    r = cli("--db", url, "recipient", "identity", "set", "RA-P003", "--name", "Per Holm",
            "--born", "1960-13-01", "--hospital-number", "H1", user="clin1")  # fmt: skip
    assert r.code == 2 and "--born" in r.err


@run_async
async def test_recipients_screen_at_80x24(demo_db):
    from textual.widgets import DataTable, Input

    from cellbatch.tui.app import build_app
    from cellbatch.tui.screens.recipients import RecipientsScreen
    from tests.test_tui_workflows import log_in, settle, text_of

    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "clin1")
        await pilot.press("f10")
        await settle(app, pilot)
        assert isinstance(app.screen, RecipientsScreen)
        table = app.screen.query_one("#recipients", DataTable)
        assert [table.get_row_at(i)[0] for i in range(table.row_count)] == [
            "EB-P001", "RA-P001", "RA-P002",
        ]  # fmt: skip
        await pilot.press("f4")
        await settle(app, pilot)
        for name, value in (
            ("code", "ra-p01"), ("trial", "EASC-RA"), ("cohort", "1"), ("weight", "77 kg"),
            ("weighed_on", "2026-01-05"), ("donor", "-"),
        ):  # fmt: skip
            app.screen.query_one(f"#form-{name}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert table.row_count == 3  # the mistyped ID was refused
        await pilot.press("f4")
        await settle(app, pilot)
        for name, value in (
            ("code", "RA-P003"), ("trial", "EASC-RA"), ("cohort", "1"), ("weight", "77 kg"),
            ("weighed_on", "2026-01-05"), ("donor", "-"),
        ):  # fmt: skip
            app.screen.query_one(f"#form-{name}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert table.row_count == 4 and table.get_row_at(3)[3] == "77 kg"
        table.move_cursor(row=0)
        await pilot.press("f6")
        await settle(app, pilot)
        assert "Elin Sorensen" in text_of(app, "#identity")
        table.move_cursor(row=1)
        await settle(app, pilot)
        assert text_of(app, "#identity") == ""
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f10")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        assert text_of(app, "#identity") == ""
        assert not app.screen.check_action("identity", ())
