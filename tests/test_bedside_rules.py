"""The bedside's rules a hostile tester broke (issue 12's clinic chain): which infusion is
next, what an infusion record may say, what a scan may leave in the record, what the bag's
label must say, the wristband a scanner sends, who may hold a bag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cellbatch.domain.errors import InvalidInput
from cellbatch.services.commands import batches, release
from cellbatch.services.commands.bedside import record_infusion
from cellbatch.services.commands.custody import issue_bag, receive_bag
from cellbatch.services.queries.batch_view import batch_view
from tests.test_bedside import check, label_scans, user
from tests.test_tui_workflows import log_in, run_async, settle, text_of

GMP30 = pytest.mark.requirement("GMP-30")


@pytest.fixture
def ward(demo_db):
    """The demo (whose second clinic user is clin2) with EASC-D001 released."""
    release.decide(demo_db, "qa1", "EASC-D001", "release", "record reviewed",
                   password="demo-qa1-pass")  # fmt: skip
    return demo_db


@pytest.fixture
def received(ward):
    """EASC-D001's bag issued to clin1 and received on the ward (20 °C)."""
    issue_bag(ward, user(ward, "tech1"), "clin1", "demo-clin1-pass", label_scans(ward),
              container="validated shipper no. 4")  # fmt: skip
    receive_bag(ward, user(ward, "clin1"), label_scans(ward), condition="intact",
                temperature="20 degC")  # fmt: skip


def start(db, code: str, **kwargs) -> str:
    return batches.start_dose(db, user(db, "tech1"), code, parent="EASC-B001",
                              sop_id="SOP-EASC-DOSE", recipient="RA-P001", **kwargs)  # fmt: skip


@GMP30
@pytest.mark.usefixtures("received")
def test_a_discarded_bag_is_replaced_for_the_same_infusion(ward):
    result = check(ward)
    assert result.match
    record_infusion(ward, user(ward, "clin1"), result.ref, fate="discarded", reason="leak")
    again = check(ward)  # the bag has its fate: it is not given after all
    assert not again.match and "the bag's fate is recorded already: discarded" in again.text()
    assert "next infusion" not in again.text()  # infusion 1 is still the one to give
    with pytest.raises(InvalidInput, match="--infusion: RA-P001's next planned infusion is 1"):
        start(ward, "EASC-D002", infusion=2)
    code = start(ward, "EASC-D002", infusion=1)
    assert batch_view(ward, code).to_dict()["infusion_number"] == 1
    # the replacement is in production: infusion 1 is not made a third time
    with pytest.raises(InvalidInput, match="next planned infusion is 2"):
        start(ward, "EASC-D003", infusion=1)


@GMP30
@pytest.mark.usefixtures("received")
def test_without_infusion_the_replacement_takes_the_infusion_not_given(ward):
    result = check(ward)
    record_infusion(ward, user(ward, "clin1"), result.ref, fate="not-infused",
                    reason="patient febrile")  # fmt: skip
    code = start(ward, "EASC-D002")
    assert batch_view(ward, code).to_dict()["infusion_number"] == 1


@GMP30
@pytest.mark.usefixtures("received")
def test_a_given_infusion_is_not_made_again(ward):
    result = check(ward)
    now = datetime.now(UTC)
    record_infusion(ward, user(ward, "clin1"), result.ref, fate="partly-infused",
                    started=now, stopped=now + timedelta(seconds=5), volume="20 mL",
                    reason="stopped for chills")  # fmt: skip
    with pytest.raises(InvalidInput, match="next planned infusion is 2"):
        start(ward, "EASC-D002", infusion=1)
    assert "next infusion is 2" in check(ward).text()


def _matched(ward) -> str:
    result = check(ward)
    assert result.match
    return result.ref


LATER = timedelta(seconds=5)


@GMP30
@pytest.mark.usefixtures("received")
@pytest.mark.parametrize(
    ("fate", "when", "volume", "extra", "option", "message"),
    [
        ("infused", (0, 1), "400 mL", {}, "--volume", "400 mL is more than the bag holds (40 mL)"),
        ("infused", (0, 1), "0 mL", {}, "--volume", "a volume above 0 mL"),
        ("infused", (0, 1), "10 mL", {}, "--volume", "infused means at least 90 % of 40 mL"),
        ("partly-infused", (0, 1), "40 mL", {"reason": "chills"}, "--volume",
         "partly-infused means less than 90 % of 40 mL, 36 mL"),
        ("infused", (0, 120), "40 mL", {}, "--stop", "is in the future"),
        ("infused", (-120, 1), "40 mL", {}, "--start", "before the bedside check"),
        ("infused", (0, 0), "40 mL", {}, "--stop", "expected the stop after the start"),
        ("not-infused", (0, 1), None, {"reason": "fever"}, "--start", "leave --start out"),
        ("not-infused", None, "40 mL", {"reason": "fever"}, "--volume", "leave --volume out"),
        ("infused", (0, 1), "40 mL", {"grade": 2}, "--grade", "--reaction is none"),
        ("discarded", None, None, {"reason": "leak", "reaction": "rash", "grade": 1},
         "--reaction", "the reaction is none"),
    ],
)  # fmt: skip
def test_an_impossible_infusion_record_is_refused_naming_the_option(
    ward, fate, when, volume, extra, option, message
):
    ref = _matched(ward)
    now = datetime.now(UTC)
    times = {}
    if when is not None:
        times = {"started": now + timedelta(minutes=when[0]),
                 "stopped": now + timedelta(minutes=when[0]) + when[1] * LATER}  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        record_infusion(ward, user(ward, "clin1"), ref, fate=fate, volume=volume,
                        **times, **extra)  # fmt: skip
    assert refused.value.field == option and message in refused.value.message
    # nothing was recorded: the right record is still accepted
    assert (
        record_infusion(
            ward,
            user(ward, "clin1"),
            ref,
            fate="infused",
            started=now,
            stopped=now + LATER,
            volume="38 mL",
        )
        == "IR2"
    )  # fmt: skip (the demo holds IR1)


@GMP30
@pytest.mark.usefixtures("received")
def test_a_hospital_number_scanned_into_the_bag_field_is_never_recorded(ward):
    from sqlalchemy import select

    from cellbatch.db.tables import AuditEntry, BedsideCheck
    from cellbatch.services.queries.review import review

    result = check(ward, scans=["H0481516^RA-P001", "Jane Doe 1961", *label_scans(ward)])
    assert not result.match
    assert "a scan that is not an ISBT 128 label (16 characters)" in result.text()
    assert "(13 characters)" in result.text()
    with ward.session() as session:
        row = session.execute(select(BedsideCheck).where(BedsideCheck.id > 1)).scalar_one()
        audit = [
            f"{e.old_value} {e.new_value} {e.reason}"
            for e in session.execute(select(AuditEntry)).scalars()
        ]
    recorded = [row.bag_scans, row.reasons, *audit, "\n".join(review(ward, "EASC-D001")
                .clinical_use.lines())]  # fmt: skip
    for text in recorded:
        assert "H0481516" not in text and "Jane" not in text
    # what parses as ISBT 128 is kept with the attempt, as scanned
    assert label_scans(ward)[0] in row.bag_scans


def _forged(matrix: str, **changes) -> str:
    """The label's Data Matrix with some of its parts changed (as a forger would print it)."""
    from cellbatch import isbt128

    parts = isbt128.parse_datamatrix(matrix)._replace(**changes)
    return isbt128.datamatrix_content(*parts)


@GMP30
@pytest.mark.usefixtures("received")
def test_the_bedside_compares_the_scans_with_the_bags_label_in_force(ward):
    from cellbatch import isbt128
    from cellbatch.services.queries.plans import plan_view
    from tests.test_label_coi import _final_label_matrix

    matrix = _final_label_matrix(ward)
    own = plan_view(ward, "RA-P001").coi
    # the accompanying document's bar codes: its DIN (flags 00), product code, CoI
    document = check(ward, scans=[*label_scans(ward), own])
    assert not document.match
    assert "the bag's label was not scanned: scan the bag's label in force" in document.text()
    # the same, the DIN keyed from the document without flags (hostile re-test): the document
    # prints the bag's DIN, so a DIN with no flags does not tell the bag's label from it
    din = isbt128.parse_datamatrix(matrix).din.code
    keyed = f"{din[:5]} {din[5:7]} {din[7:]} {isbt128.check_character(din)}"
    product = [s for s in label_scans(ward) if s.startswith("=<")]
    no_flags = check(ward, scans=[keyed, *product, own])
    assert not no_flags.match
    assert "the bag's label was not scanned" in no_flags.text(), no_flags.text()
    label = isbt128.parse_datamatrix(matrix)
    for forged, why in (
        (_forged(matrix, flags="20"), "flag characters 20 were printed on no label"),
        (_forged(matrix, flags="37"), "flag characters 37 were printed on no label"),
        (_forged(matrix, expiry=label.expiry + timedelta(days=300)), "expiry is "),
    ):
        result = check(ward, scans=[forged])
        assert not result.match and why in result.text(), result.text()
        assert "not the bag's label in force" in result.text()
    right = check(ward, scans=[matrix])
    assert right.match, right.text()


@GMP30
def test_a_superseded_quarantine_label_says_no_match_as_label_scan_says(demo_db):
    from tests.test_label_coi import _final_label_matrix

    quarantine = _final_label_matrix(demo_db)  # printed before the release: flags 20
    ward.__wrapped__(demo_db)
    received.__wrapped__(demo_db)
    final = _final_label_matrix(demo_db)
    result = check(demo_db, scans=[quarantine])
    assert not result.match
    assert "the quarantine label of bag 1 (flags 20), superseded by the release" in result.text()
    assert check(demo_db, scans=[final]).match


GSRN = "123456789012345675"


@GMP30
@pytest.mark.parametrize(
    "scan",
    [
        f"(8018){GSRN}(91)RA-P001",
        f"]C18018{GSRN}\x1d91RA-P001",  # GS1-128 as a scanner sends it: FNC1 as GS
        f"]C18018{GSRN}91RA-P001",  # no GS after the fixed-length GSRN
        f"]d28018{GSRN}\x1d91RA-P001\x1d",  # GS1 DataMatrix
        f"]Q391RA-P001\x1d8018{GSRN}",  # GS1 QR, the elements the other way round
        f"8018{GSRN}\x1d91RA-P001",  # no symbology identifier
    ],
)
def test_a_gs1_wristband_reads_as_printed_or_as_a_scanner_sends_it(scan):
    from cellbatch.domain.bedside import Wristband, read_wristband

    assert read_wristband(scan) == Wristband(GSRN, "RA-P001", "GS1")


@pytest.mark.parametrize(
    "scan", [f"]C18018{GSRN[:-1]}\x1d91RA-P001", f"]C18018{GSRN}", "]C191RA-P001\x1d91RA-P002"]
)
def test_a_gs1_wristband_missing_an_element_is_unreadable(scan):
    from cellbatch.domain.bedside import read_wristband

    with pytest.raises(InvalidInput, match="--wristband"):
        read_wristband(scan)


def test_a_coi_keyed_as_printed_reads_with_its_check_character_verified():
    from cellbatch import isbt128

    check_char = isbt128.check_character("A999926000001")
    for typed in (f"CH A9999 26 000001 {check_char}", f"cha999926000001{check_char}"):
        assert isbt128.parse_scan(typed).coi == "&/CHA999926000001"
    wrong = "B" if check_char != "B" else "C"
    with pytest.raises(InvalidInput, match=f"wrong check character: expected {check_char}, got "
                       f"{wrong}"):  # fmt: skip
        isbt128.parse_scan(f"CH A9999 26 000001 {wrong}")
    with pytest.raises(InvalidInput, match="boxed check character"):
        isbt128.parse_scan("CH A9999 26 000001")  # no check character


@GMP30
@pytest.mark.usefixtures("received")
def test_the_bedside_takes_the_coi_keyed_as_printed(ward):
    from cellbatch import isbt128
    from cellbatch.domain.coi import parse_coi
    from cellbatch.services.queries.plans import plan_view

    coi = parse_coi(plan_view(ward, "RA-P001").coi)
    keyed = f"{coi.eye_readable()} {isbt128.check_character(coi.checked_characters)}"
    result = check(ward, scans=[*label_scans(ward), keyed])
    assert result.match, result.text()
    other = parse_coi(plan_view(ward, "RA-P002").coi)
    keyed = f"{other.eye_readable()} {isbt128.check_character(other.checked_characters)}"
    assert "is not RA-P001's therapy" in check(ward, scans=[*label_scans(ward), keyed]).text()


@GMP30
@pytest.mark.usefixtures("received")
def test_a_no_match_bag_is_recorded_not_infused_never_discarded(ward):
    from cellbatch.domain.errors import RuleViolation

    result = check(ward, band="H0481522^RA-P002")
    assert not result.match
    with pytest.raises(RuleViolation, match="recorded as not-infused"):
        record_infusion(ward, user(ward, "clin1"), result.ref, fate="discarded", reason="leak")
    assert record_infusion(ward, user(ward, "clin1"), result.ref, fate="not-infused",
                           reason="wrong patient: returned, destroyed") == "IR2"  # fmt: skip


@GMP30
@pytest.mark.usefixtures("received")
def test_a_bag_is_not_handed_over_after_its_fate_and_never_to_admin(ward):
    from cellbatch.domain.errors import PermissionDenied, RuleViolation
    from cellbatch.services.commands.custody import hand_over

    with pytest.raises(PermissionDenied, match=r"--to: admin \(admin\) may not take a bag"):
        hand_over(ward, user(ward, "clin1"), "admin", "demo-admin-pass", label_scans(ward))
    result = check(ward)
    now = datetime.now(UTC)
    record_infusion(ward, user(ward, "clin1"), result.ref, fate="infused", started=now,
                    stopped=now + LATER, volume="40 mL")  # fmt: skip
    with pytest.raises(RuleViolation, match=r"fate recorded \(IR2: infused\): it is not handed"):
        hand_over(ward, user(ward, "clin1"), "clin2", "demo-clin2-pass", label_scans(ward))


@GMP30
def test_a_bag_is_not_issued_to_admin(ward):
    from cellbatch.domain.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match=r"--to: admin \(admin\) may not take a bag"):
        issue_bag(ward, user(ward, "tech1"), "admin", "demo-admin-pass", label_scans(ward),
                  container="validated shipper no. 4")  # fmt: skip


@GMP30
def test_a_bedside_check_refused_for_who_tried_it_is_audited_not_recorded(ward):
    from sqlalchemy import select

    from cellbatch.db.tables import AuditEntry, BedsideCheck
    from cellbatch.domain.errors import AuthenticationFailed, PermissionDenied
    from cellbatch.services.commands.bedside import bedside_check
    from tests.test_bedside import RA_BAND

    clin1, tech1 = user(ward, "clin1"), user(ward, "tech1")
    with pytest.raises(PermissionDenied, match="two people"):
        bedside_check(ward, clin1, "clin1", "demo-clin1-pass", RA_BAND, [])
    with pytest.raises(PermissionDenied, match="may not check bags"):
        bedside_check(ward, tech1, "clin2", "demo-clin2-pass", RA_BAND, [])
    with pytest.raises(AuthenticationFailed):
        bedside_check(ward, clin1, "clin2", "wrong-password", RA_BAND, [])
    with ward.session() as session:
        assert session.execute(select(BedsideCheck).where(BedsideCheck.id > 1)).first() is None
        refused = session.execute(
            select(AuditEntry.username, AuditEntry.reason).where(
                AuditEntry.action == "bedside_refused"
            )
        ).all()
        failed = session.execute(
            select(AuditEntry.seq).where(AuditEntry.action == "login_failed")
        ).all()
    assert [u for u, _ in refused] == ["clin1", "tech1"]
    assert "--second is you" in refused[0][1] and "may not check bags" in refused[1][1]
    assert len(failed) >= 1  # the wrong second password, as every failed log-in
    from cellbatch.services.queries.audit_verify import verify_trail

    assert verify_trail(ward).ok


@GMP30
@pytest.mark.usefixtures("received")
@run_async
async def test_the_infusion_form_keeps_its_values_and_names_the_field_at_80x24(ward):
    from textual.widgets import Input

    from cellbatch.tui.app import build_app
    from tests.test_bedside import RA_BAND, minutes_from_now

    app = build_app(ward.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "clin1")
        await pilot.press("f12")
        await settle(app, pilot)
        await pilot.press(*RA_BAND, "enter")
        for barcode in label_scans(ward):
            await pilot.press(*barcode, "enter")
        await pilot.press("enter", *"clin2", "enter", *"demo-clin2-pass", "enter")
        await settle(app, pilot)
        assert text_of(app, "#bedside-verdict").startswith("✓ MATCH (BC2)")  # the demo holds BC1
        await pilot.press("f6")
        await settle(app, pilot)
        form = app.screen
        typed = {"fate": "infused", "start": minutes_from_now(0), "stop": minutes_from_now(0.1),
                 "volume": "400 mL", "reaction": "none", "grade": "-", "reason": "-"}  # fmt: skip
        for name, value in typed.items():
            form.query_one(f"#form-{name}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form  # refused: the form stays open
        status = text_of(app, "#dialog-status")
        assert "Not saved: Volume given" in status and "more than the bag holds (40 mL)" in status
        assert form.query_one("#form-start", Input).value == typed["start"]  # kept as typed
        assert app.focused is form.query_one("#form-volume", Input)
        form.query_one("#form-volume", Input).value = "39 mL"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "infusion record IR2 saved" in text_of(app, "#bedside-verdict")


def screen_lines(app) -> list[str]:
    """The rows the terminal shows (the dialog on top), as text."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


@GMP30
@pytest.mark.usefixtures("received")
@run_async
async def test_every_hint_of_the_infusion_form_reads_in_full_at_80x24(ward):
    from textual.widgets import Input

    from cellbatch.tui.app import build_app
    from tests.test_bedside import RA_BAND, minutes_from_now

    app = build_app(ward.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "clin1")
        await pilot.press("f12")
        await settle(app, pilot)
        await pilot.press(*RA_BAND, "enter")
        for barcode in label_scans(ward):
            await pilot.press(*barcode, "enter")
        await pilot.press("enter", *"clin2", "enter", *"demo-clin2-pass", "enter")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        form = app.screen
        shown = screen_lines(app)
        for f in form.fields:  # each label and each hint whole, on one row of the screen
            assert any(f.label in row for row in shown), (f.label, shown)
            assert f.help and any(f.help in row for row in shown), (f.help, shown)
        for word in ("infused", "partly-infused", "not-infused", "discarded", "YYYY-MM-DD HH:MM"):
            assert any(word in row for row in shown), word
        typed = {"fate": "infused", "start": minutes_from_now(0), "stop": minutes_from_now(0.1),
                 "volume": "400 mL", "reaction": "none", "grade": "-", "reason": "-"}  # fmt: skip
        for name, value in typed.items():
            form.query_one(f"#form-{name}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form  # refused: the form stays open, names the field, keeps values
        assert "Not saved: Volume given" in text_of(app, "#dialog-status")
        assert {n: form.query_one(f"#form-{n}", Input).value for n in typed} == typed
        assert any("more than the bag holds (40 mL)" in row for row in screen_lines(app))


def _wrong(right: str) -> str:
    """A check character that is not ``right``."""
    return "B" if right != "B" else "C"


@GMP30
@pytest.mark.usefixtures("received")
def test_a_wrong_check_character_keyed_at_the_bedside_is_said_in_the_parsers_words(ward, cli):
    from sqlalchemy import select

    from cellbatch import isbt128
    from cellbatch.db.tables import BedsideCheck
    from cellbatch.domain.coi import parse_coi
    from cellbatch.services.queries.plans import plan_view

    din = isbt128.Din.from_code(batch_view(ward, "EASC-D001").to_dict()["bag"]["din"])
    right = din.check
    keyed_din = f"{din.eye_readable} {_wrong(right)}"
    coi = parse_coi(plan_view(ward, "RA-P001").coi)
    coi_right = isbt128.check_character(coi.checked_characters)
    keyed_coi = f"{coi.eye_readable()} {_wrong(coi_right)}"
    product = label_scans(ward)[1]
    result = check(ward, scans=[keyed_din, product, keyed_coi])
    assert not result.match
    said = result.text()
    assert f"check character {_wrong(right)} does not match, expected {right}" in said, said
    assert f"check character {_wrong(coi_right)} does not match, expected {coi_right}" in said
    assert "not an ISBT 128 label" not in said
    with ward.session() as session:
        row = (
            session.execute(select(BedsideCheck).order_by(BedsideCheck.id.desc())).scalars().first()
        )
    assert f"check character {_wrong(right)} does not match, expected {right}" in row.reasons
    for recorded in (row.bag_scans, row.reasons):  # the fault, never what was keyed
        assert "".join(keyed_din.split()) not in "".join(recorded.split())
        assert "".join(keyed_coi.split()) not in "".join(recorded.split())
    # a scan that is not ISBT-shaped stays "not an ISBT 128 label", its text unrecorded
    other = check(ward, scans=["H0481516^RA-P001", *label_scans(ward)])
    assert "a scan that is not an ISBT 128 label (16 characters)" in other.text()
    r = cli("--db", ward.url, "bedside", "check", "--wristband", "H0481516^RA-P001",
            "--scan", keyed_din, "--scan", product, "--second", "clin2", "--user", "clin1",
            "--password-stdin", input="demo-clin1-pass\ndemo-clin2-pass\n")  # fmt: skip
    assert r.code == 1 and f"check character {_wrong(right)} does not match, expected {right}" in (
        r.out
    ), r.out


@GMP30
@pytest.mark.usefixtures("received")
@run_async
async def test_the_bedside_screen_says_a_wrong_check_character_in_the_parsers_words(ward):
    from cellbatch import isbt128
    from cellbatch.tui.app import build_app
    from tests.test_bedside import RA_BAND

    din = isbt128.Din.from_code(batch_view(ward, "EASC-D001").to_dict()["bag"]["din"])
    app = build_app(ward.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "clin1")
        await pilot.press("f12")
        await settle(app, pilot)
        await pilot.press(*RA_BAND, "enter")
        for barcode in (f"{din.eye_readable} {_wrong(din.check)}", label_scans(ward)[1]):
            await pilot.press(*barcode, "enter")
        await pilot.press("enter", *"clin2", "enter", *"demo-clin2-pass", "enter")
        await settle(app, pilot)
        shown = text_of(app, "#bedside-verdict")
    assert f"check character {_wrong(din.check)} does not match, expected {din.check}" in shown
