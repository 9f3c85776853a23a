"""Every door that shows records needs a key, and what leaves the system is on record
(issue 10 point 4; GMP-27)."""

from __future__ import annotations

import hashlib
import json

import pytest

from cellbatch.services.queries.audit import list_entries

GMP27 = pytest.mark.requirement("GMP-27")

READ_COMMANDS = [
    ["user", "list"],
    ["audit", "show", "--batch", "EASC-B001"],
    ["donor", "show", "DN-2026-0001"],
    ["batch", "list"],
    ["batch", "show", "EASC-B001"],
    ["review", "EASC-D001"],
    ["signatures", "EASC-B001"],
    ["deviation", "list"],
    ["sop", "list"],
    ["material", "list"],
]
"""Every command that shows records (record and export are below, with their files)."""


@GMP27
def test_every_command_that_shows_records_asks_who_is_reading(demo_db, cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    documents = [
        ["record", "EASC-B001", "-o", str(out / "record.pdf")],
        ["export", "EASC-B001", "-o", str(out / "record.json")],
    ]
    for args in READ_COMMANDS + documents:
        anonymous = cli("--db", demo_db.url, *args)
        assert anonymous.code == 2 and "Missing option '--user'" in anonymous.err, args
        assert anonymous.out == ""
    refused = cli("--db", demo_db.url, "donor", "show", "DN-2026-0001", user="tech1", password="x")
    assert refused.code == 6 and refused.err.startswith("error: user ID or password wrong")
    assert "HIV" not in refused.out
    (failed,) = [e for e in list_entries(demo_db) if e.action == "login_failed"]
    assert failed.entity == "app_user" and failed.reason == "wrong password"
    for args in READ_COMMANDS + documents:
        shown = cli("--db", demo_db.url, *args, user="tech2")
        assert shown.code == 0, (args, shown.err)
        assert shown.out
    assert sorted(p.name for p in out.iterdir()) == ["record.json", "record.pdf"]


@GMP27
def test_printing_exporting_and_showing_the_audit_trail_are_recorded(demo_db, cli, tmp_path):
    pdf, copy = tmp_path / "EASC-B001.pdf", tmp_path / "EASC-B001.json"
    assert cli("--db", demo_db.url, "record", "EASC-B001", "-o", str(pdf), user="qa1").code == 0
    assert cli("--db", demo_db.url, "export", "EASC-B001", "-o", str(copy), user="qa2").code == 0
    shown = cli("--db", demo_db.url, "audit", "show", "--batch", "EASC-B001", "--json", user="sup1")
    assert shown.code == 0, shown.err
    *_, printed, exported, viewed = list_entries(demo_db)
    assert (printed.username, printed.action, printed.entity) == ("qa1", "print", "batch")
    assert (exported.username, exported.action) == ("qa2", "export")
    assert printed.batch_id == exported.batch_id == viewed.batch_id is not None
    for entry, path, document in (
        (printed, pdf, "batch record (PDF)"),
        (exported, copy, "batch record, electronic copy (JSON)"),
    ):
        detail = json.loads(entry.new_value)
        assert detail["document"] == document and detail["file"] == str(path)
        assert detail["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    listed = json.loads(shown.out)
    assert (viewed.username, viewed.action) == ("sup1", "view")
    assert json.loads(viewed.new_value)["entries"] == [listed[0]["seq"], listed[-1]["seq"]]
    # the next copy of the record shows who printed and exported the earlier ones
    again = tmp_path / "again.json"
    assert cli("--db", demo_db.url, "export", "EASC-B001", "-o", str(again), user="qa1").code == 0
    trail = json.loads(again.read_text())["audit_trail"]
    assert [(e["username"], e["action"]) for e in trail[-3:]] == [
        ("qa1", "print"),
        ("qa2", "export"),
        ("sup1", "view"),
    ]
    assert cli("--db", demo_db.url, "audit", "verify").code == 0
