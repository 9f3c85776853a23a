"""Odd numbers, dates and bytes at the command line: a clear message naming the option, never
exit 70 (issue 10 points 12 and 14, issue 17 point 8)."""

from __future__ import annotations

import io
import sys

import pytest

from tests.lab import snapshot

PASSWORD = "demo-tech1-pass\n"


@pytest.fixture
def run(cli, demo_db):
    """``cellbatch --db <the demo database> ARGS`` as tech1 (the password on stdin)."""

    def go(*args: str):
        return cli(
            "--db", demo_db.url, *args, "--user", "tech1", "--password-stdin", input=PASSWORD
        )

    return go


QC_RECORD = "qc record FUC-D001 --test gram-stain-release --value negative".split()
RECEIVE = "lot receive TL-NEW-1 --donor DN-2026-0001 --tissue adipose --amount".split()
RECEIVE.append("100 g")
MATERIAL = "material add M-1 --kind medium --name x --expires".split()
ANCIENT = "0001-01-01 00:00"


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ([*QC_RECORD, "--at", ANCIENT], "--at", "is not a plausible date; expected a date from"),
        (
            "correct FUC-D001 E19 --field at --reason typo --was 2026-01-01T00:00 --value".split()
            + [ANCIENT],
            "--value",
            "is not a plausible date",
        ),
        ([*RECEIVE, "--collected", ANCIENT], "--collected", "is not a plausible date"),
        ([*RECEIVE, "--collected", "1900-01-01 00:00"], "--collected", "before the donor was born"),
        (
            [*RECEIVE, "--collected", "2026-01-01 00:00", "--at", "2026-02-01 00:00"],
            "--collected",
            "more than 7 days before the receipt",
        ),
        (
            [*RECEIVE, "--collected", "2026-01-01 00:00", "--temperature", "1000 degC"],
            "--temperature",
            "expected a receipt temperature from -200 to 60 °C, got 1000 °C",
        ),
        ([*MATERIAL, "0001-01-01"], "--expires", "is not a plausible date"),
        ([*MATERIAL, "2099-01-01"], "--expires", "expected an expiry date from"),
        (
            "donor test DN-2026-0001 --marker HIV --result negative --sampled 1950-01-01".split(),
            "--sampled",
            "before the donor was born",
        ),
        (
            (
                "freeze EASC-B001 --vials 1 --cells-per-vial 1e7cells --volume-per-vial 1mL "
                "--cryoprotectant CS10-5561 --location LN2 --first-position 99999999999999999999"
            ).split(),
            None,
            "",
        ),
    ],
)
def test_implausible_dates_and_numbers_are_refused_naming_the_option(
    run, demo_db, args, field, message
):
    before = snapshot(demo_db)
    r = run(*args)
    assert r.code in (2, 4), r.err
    if field is not None:
        assert r.err.startswith(f"error: {field}: "), r.err
        assert message in r.err
    assert "unexpected" not in r.err and "Traceback" not in r.err
    assert snapshot(demo_db) == before


@pytest.mark.parametrize("ref", ["E99999999999999999999", "E9999999999", "Q2147483648", "E²"])
def test_an_entry_id_beyond_any_record_is_no_such_entry(run, demo_db, ref):
    before = snapshot(demo_db)
    r = run(
        "correct", "FUC-D001", ref, "--field", "volume", "--value", "1 mL", "--was", "2 mL",
        "--reason", "x",
    )  # fmt: skip
    assert r.code in (2, 3), r.err
    assert "unexpected" not in r.err
    assert ("no step entry or QC result" in r.err) if ref != "E²" else ("ENTRY-ID" in r.err)
    r = run("verify", "FUC-D001", ref)
    assert r.code in (2, 3, 6) and "unexpected" not in r.err, r.err
    assert snapshot(demo_db) == before


@pytest.mark.parametrize("option", ["--limit", "--offset"])
@pytest.mark.parametrize("value", ["-1", "99999999999999999999"])
def test_a_negative_or_absurd_page_size_is_refused_naming_the_option(run, option, value):
    for command in (["audit", "show"], ["batch", "list"]):
        r = run(*command, option, value)
        assert r.code == 2, r.err
        assert r.err.startswith(f"error: {option}: expected a whole number from 0 to"), r.err


def test_bytes_that_are_not_utf8_are_refused_naming_the_option(run, demo_db, monkeypatch):
    before = snapshot(demo_db)
    bad = b"negative \xff".decode("utf-8", "surrogateescape")  # what Linux hands over
    r = run(*QC_RECORD, "--method", bad)
    assert r.code == 2
    assert r.err.startswith("error: --method: the text is not valid UTF-8 (the byte 0xFF)")
    r = run("batch", "show", bad)
    assert r.code == 2 and r.err.startswith("error: BATCH: the text is not valid UTF-8"), r.err
    from cellbatch.cli.app import main

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"demo-\xfftech1\n")))
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "--db",
                demo_db.url,
                "qc",
                "record",
                "FUC-D001",
                "--test",
                "gram-stain-release",
                "--value",
                "negative",
                "--user",
                "tech1",
                "--password-stdin",
            ]
        )
    assert exit_.value.code == 2
    assert snapshot(demo_db) == before
