"""The process-record command line, as a newcomer and a technician use it."""

from __future__ import annotations

import json

import pytest

from cellbatch.services.queries.users import get_actor
from cellbatch.services.queries.verification import verification_status
from tests.lab import PASSING, PASSWORD, make_lab

BANK_TESTS = {
    "viability",
    "sterility",
    "mycoplasma",
    "endotoxin",
    "cd105",
    "cd73",
    "cd90",
    "cd45",
    "cd34",
    "cd14",
    "cd19",
    "hla-dr",
    "karyotype",
    "post-thaw-viability",
}


def test_demo_list_show_and_verify_on_a_fresh_sqlite_file(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    r = cli("--db", url, "demo")
    assert r.code == 0, r.err
    assert "tech1" in r.out and "demo-tech1-pass" in r.out and "demo-qa2-pass" in r.out
    listing = json.loads(cli("--db", url, "batch", "list", "--json", user="tech1").out)
    assert {b["code"]: b["status"] for b in listing} == {
        "EASC-B001": "released",
        "EASC-D001": "in-process",
        "EASC-D000": "released",
        "BMMSC-B001": "released",
        "FUC-D001": "in-process",
    }
    dose = json.loads(cli("--db", url, "batch", "show", "EASC-D001", "--json", user="tech1").out)
    assert dose["recipient"] == "RA-P001" and dose["parent"] == "EASC-B001"
    assert dose["body_weight"]["value"] == 70 and dose["dose_per_kg"]["value"] == 2e6
    assert dose["bag"]["din"] == dose["din"] and dose["fill"]["within_tolerance"]
    fuc = json.loads(cli("--db", url, "batch", "show", "FUC-D001", "--json", user="tech1").out)
    assert [q["test"] for q in fuc["qc"] if q["out_of_spec"]] == ["heca452"]
    assert fuc["donor"]["relationship"] == "mother" and fuc["next_steps"] == ["fill"]
    bank = json.loads(cli("--db", url, "batch", "show", "EASC-B001", "--json", user="tech1").out)
    assert [p["passage"] for p in bank["passages"]] == [0, 1, 2, 3]
    assert bank["cumulative_population_doublings"] < 25 and bank["vials_left"] == 8
    assert cli("--db", url, "audit", "verify").code == 0
    text = cli("--db", url, "batch", "show", "BMMSC-B001", user="tech1").out
    assert "BMMSC-B001  expansion batch  status: RELEASED" in text and "PD" in text
    assert "[verified by " in text and "batch: released by Grace Liu (qa2)" in text
    assert ": valid" in text
    fuc_text = cli("--db", url, "batch", "show", "FUC-D001", user="tech1").out
    assert "[OPEN] Out of specification: HECA-452" in fuc_text
    assert "[verification PENDING]" in fuc_text


def test_demo_refuses_a_non_empty_database_unless_if_empty(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert cli("--db", url, "demo").code == 0
    again = cli("--db", url, "demo")
    assert again.code == 4 and "not empty" in again.err
    assert cli("--db", url, "demo", "--if-empty").code == 0


def recorded(cli, url: str) -> list[dict]:
    """The audit trail as ``audit show`` lists it, less the entries that record its showing."""
    shown = cli("--db", url, "audit", "show", "--json", user="qa1", password=PASSWORD)
    assert shown.code == 0, shown.err
    return [e for e in json.loads(shown.out) if e["action"] != "view"]


@pytest.fixture
def lab_url(db):
    make_lab(db)
    return db.url


def test_wrong_dimension_on_the_command_line_names_the_field(cli, lab_url):
    cli(
        "--db",
        lab_url,
        "batch",
        "start",
        "EXP-1",
        "--lot",
        "TL-A",
        "--sop",
        "SOP-EASC-EXP",
        "--user",
        "tech1",
        "--password-stdin",
        input=f"{PASSWORD}\n",
    )
    before = recorded(cli, lab_url)
    r = cli(
        "--db",
        lab_url,
        "passage",
        "seed",
        "EXP-1",
        "--vessel",
        "CS5",
        "--vessels",
        "1",
        "--cells",
        "5 mL",
        "--material",
        "MED-1",
        "--material",
        "SUP-1",
        "--material",
        "DIS-1",
        "--user",
        "tech1",
        "--password-stdin",
        input=f"{PASSWORD}\n",
    )
    assert r.code == 2
    assert r.err.startswith("error: --cells: expected a cell count") and "Traceback" not in r.err
    assert recorded(cli, lab_url) == before


@pytest.mark.requirement("GMP-04")
def test_a_write_with_a_wrong_password_records_nothing_but_the_failed_attempt(cli, lab_url):
    r = cli(
        "--db",
        lab_url,
        "batch",
        "start",
        "EXP-1",
        "--lot",
        "TL-A",
        "--sop",
        "SOP-EASC-EXP",
        "--user",
        "tech1",
        "--password-stdin",
        input="not-my-password\n",
    )
    assert r.code == 6 and "user ID or password wrong" in r.err
    listing = cli("--db", lab_url, "batch", "list", "--json", user="qa1", password=PASSWORD)
    assert json.loads(listing.out) == []
    last = recorded(cli, lab_url)[-1]
    assert last["action"] == "login_failed" and last["reason"] == "wrong password"


def test_a_whole_bank_and_dose_through_the_command_line(cli, lab_url, db):
    from datetime import UTC, datetime, timedelta

    # day 1 is the day after the tissue lot TL-A was received (40 days ago)
    first = datetime.now(UTC).date() - timedelta(days=39)

    def on(day: int, time: str) -> str:
        return f"{first + timedelta(days=day - 1)} {time}"

    def run(*args):
        r = cli(
            "--db", lab_url, *args, "--user", "tech1", "--password-stdin", input=f"{PASSWORD}\n"
        )
        assert r.code == 0, r.err
        return r.out

    run(
        "batch",
        "start",
        "EXP-1",
        "--lot",
        "TL-A",
        "--sop",
        "SOP-EASC-EXP",
        "--at",
        on(1, "08:00"),
    )
    for p in range(4):
        day = 2 + p * 7
        run(
            "passage",
            "seed",
            "EXP-1",
            "--vessel",
            "CS2",
            "--vessels",
            "1",
            "--cells",
            "3 x 10^6 cells",
            "--material",
            "MED-1",
            "--material",
            "SUP-1",
            "--material",
            "DIS-1",
            "--at",
            on(day, "09:00"),
        )
        run(
            "passage",
            "harvest",
            "EXP-1",
            "--cells",
            "1.2e8 cells",
            "--viability",
            "95 %",
            "--confluence",
            "80%",
            "--material",
            "DIS-1",
            "--material",
            "WASH-1",
            "--at",
            on(day + 6, "09:00"),
        )
    out = run(
        "vial",
        "freeze",
        "EXP-1",
        "--vials",
        "2",
        "--cells-per-vial",
        "50e6 cells",
        "--volume-per-vial",
        "1.5 mL",
        "--cryoprotectant",
        "CRYO-1",
        "--location",
        "Tank 1 / Box 2",
        "--at",
        on(30, "10:00"),
    )
    assert "2 vials frozen" in out
    for test, value in PASSING.items():
        if test in BANK_TESTS:
            r = cli("--db", lab_url, "qc", "record", "EXP-1", "--test", test, "--value", value,
                    "--user", "sup1", "--password-stdin", input=f"{PASSWORD}\n")  # fmt: skip
            assert r.code == 0, r.err
    tech2 = get_actor(db, "tech2")
    for state in verification_status(db, "EXP-1"):
        if state.status == "pending":
            who = "tech1" if state.recorded_by == tech2.id else "tech2"
            r = cli("--db", lab_url, "verify", "EXP-1", state.ref, "--user", who,
                    "--password-stdin", input=f"{PASSWORD}\n")  # fmt: skip
            assert r.code == 0, r.err
    r = cli(
        "--db",
        lab_url,
        "release",
        "EXP-1",
        "--decision",
        "release",
        "--reason",
        "ok",
        "--user",
        "qa1",
        "--password-stdin",
        input=f"{PASSWORD}\n",
    )
    assert r.code == 0, r.err
    r = cli("--db", lab_url, "recipient", "register", "RA-P009", "--trial", "EASC-RA",
            "--weight", "70 kg", "--user", "clin1", "--password-stdin",
            input=f"{PASSWORD}\n")  # fmt: skip
    assert r.code == 0, r.err
    r = cli("--db", lab_url, "plan", "create", "RA-P009", "--sop", "SOP-EASC-DOSE", "--first",
            on(2, "10:00"), "--user", "clin1", "--password-stdin",
            input=f"{PASSWORD}\n")  # fmt: skip
    assert r.code == 0, r.err
    run(
        "batch",
        "start",
        "DOSE-1",
        "--parent",
        "EXP-1",
        "--sop",
        "SOP-EASC-DOSE",
        "--recipient",
        "RA-P009",
        "--weight",
        "70 kg",
        "--dose",
        "1 x 10^6 cells/kg",
        "--infusion",
        "1",
    )
    run(
        "vial",
        "thaw",
        "DOSE-1",
        "--vials",
        "2",
        "--cells",
        "9e7 cells",
        "--viability",
        "88 %",
        "--material",
        "WASH-1",
    )
    run(
        "bag",
        "fill",
        "DOSE-1",
        "--volume",
        "20 mL",
        "--cells",
        "7.1e7 cells",
        "--material",
        "EXC-1",
    )
    out = run("qc", "record", "DOSE-1", "--test", "gram-stain", "--value", "negative")
    assert "Gram stain (gram-stain-release): negative, specification negative" in out
    assert out.rstrip().endswith("PASS")
    out = run("qc", "record", "DOSE-1", "--test", "viability", "--value", "41 %")
    assert "specification ≥ 70 %" in out and "FAIL (out of specification" in out
    shown = cli("--db", lab_url, "batch", "show", "DOSE-1", "--json", user="qa1", password=PASSWORD)
    view = json.loads(shown.out)
    assert view["infusion_day"] == 1 and view["fill"]["within_tolerance"]
    assert view["bag"]["product_code"].endswith("A0")
    assert cli("--db", lab_url, "audit", "verify").code == 0


def test_a_batch_code_is_found_whatever_its_case(cli, demo_db):
    upper = cli("--db", demo_db.url, "batch", "show", "FUC-D001", "--json", user="tech1")
    lower = cli("--db", demo_db.url, "batch", "show", "fuc-d001", "--json", user="tech1")
    assert lower.code == 0 and lower.out == upper.out
    missing = cli("--db", demo_db.url, "batch", "show", "nope-1", user="tech1")
    assert "no batch 'nope-1'" in missing.err
