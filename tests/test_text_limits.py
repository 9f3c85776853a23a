"""One text limit, in one place, and the columns follow it (issue 17 points 8 and 9): whatever
the text rule accepts fits its column, on SQLite and PostgreSQL alike; the migration widens the
columns and never cuts a stored value."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import SQLModel

import cellbatch.db.tables  # noqa: F401  (the tables' metadata)
from cellbatch.db import migrate
from cellbatch.db.database import Database
from cellbatch.domain.sop import MAX_KEY
from cellbatch.domain.text import (
    MAX_CODE,
    MAX_NAME,
    MAX_SUPPLIER_LOT,
    MAX_TEXT,
    MAX_VIAL_LOCATION,
)
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import corrections, donors, qc, release
from cellbatch.services.queries.batch_view import batch_view

FREE_TEXT = {
    "correction": ("old_value", "new_value", "reason"),
    "deviation": ("title", "description", "investigation", "root_cause", "capa"),
    "donor": ("relationship",),
    "donor_test": ("marker",),
    "label_event": ("reason",),
    "material_lot": ("name",),
    "qc_result": ("name", "method", "value_text", "spec"),
    "release_decision": ("reason",),
    "sop_version": ("title",),
}
"""Columns filled by the free-text rule (typed, or an SOP file's text): MAX_TEXT long."""

LIMITED = {
    ("app_user", "full_name"): MAX_NAME,
    ("sop_approval", "signer_name"): MAX_NAME,
    ("signature", "signer_name"): MAX_NAME,
    ("donor", "code"): MAX_CODE,
    ("tissue_lot", "lot_number"): MAX_CODE,
    ("batch", "code"): MAX_CODE,
    ("batch", "recipient_id"): MAX_CODE,
    ("material_lot", "lot_number"): MAX_SUPPLIER_LOT,
    ("vial", "location"): MAX_VIAL_LOCATION,
    ("sop_version", "sop_id"): MAX_KEY,
    ("qc_result", "qc_id"): MAX_KEY,
    ("qc_result", "test"): MAX_KEY,
}
"""Columns filled by a narrower rule (a name, a code, a lot number, a location, an SOP key)."""

COMPOSED = {("audit_entry", "old_value"), ("audit_entry", "new_value")}
COMPOSED |= {("audit_entry", "reason"), ("label_event", "detail")}
"""Columns the program composes from other values (a record's content, a reason that quotes a
marker, a scan's details): unbounded, so a composition of accepted texts always fits."""

FIXED = (
    {("app_user", t) for t in ("username", "role", "password_hash")}
    | {("audit_entry", c) for c in ("username", "action", "entity", "entity_id", "field")}
    | {
        ("audit_entry", "row_hash"),
        ("audit_entry", "prev_hash"),
        ("audit_entry", "hash"),
        ("audit_head", "hash"),
        ("din_counter", "fin"),
        ("donor", "sex"),
        ("donor", "eligibility"),
        ("sop_version", "version"),
        ("sop_version", "status"),
        ("sop_version", "kind"),
        ("sop_version", "content_hash"),
        ("donor_test", "result"),
        ("material_lot", "kind"),
        ("sop_approval", "content_hash"),
        ("tissue_lot", "tissue"),
        ("tissue_lot", "amount_unit"),
        ("tissue_lot", "din"),
        ("batch", "kind"),
        ("batch", "status"),
        ("correction", "entity"),
        ("correction", "field"),
        ("qc_result", "stage"),
        ("qc_result", "unit"),
        ("release_decision", "decision"),
        ("signature", "entity"),
        ("signature", "meaning"),
        ("signature", "content_hash"),
        ("step_entry", "kind"),
        ("bag", "din"),
        ("bag", "product_code"),
        ("deviation", "classification"),
        ("deviation", "status"),
        ("material_use", "role"),
        ("label_event", "action"),
    }
)
"""Columns holding a value from a fixed list, a hash or a code the program makes: nothing typed."""


def test_every_text_column_is_as_long_as_the_rule_that_fills_it() -> None:
    expected = {(t, c): MAX_TEXT for t, columns in FREE_TEXT.items() for c in columns}
    expected |= LIMITED
    unclassified, wrong = [], []
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, sa.String):
                continue
            key = (table.name, column.name)
            if key in expected:
                if column.type.length != expected[key]:
                    wrong.append((key, column.type.length, expected[key]))
            elif key in COMPOSED:
                if column.type.length is not None:
                    wrong.append((key, column.type.length, None))
            elif key not in FIXED:
                unclassified.append(key)
    assert unclassified == [], "classify each new text column and check it on the way in"
    assert wrong == []


def test_text_as_long_as_the_limit_is_stored_on_both_databases(demo_db) -> None:
    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    longest = "m" * MAX_TEXT  # PostgreSQL raised DataError for a method over 200, a marker
    qc.record_qc(  # over 60, a reason over 1000 characters
        demo_db, tech1, "FUC-D001", test="gram-stain-release", value="negative", method=longest
    )
    donors.record_donor_test(
        demo_db, tech1, "DN-2026-0002", marker=longest, result="negative", sampled=date.today()
    )
    donors.add_donor(demo_db, tech1, "DN-LONG", relationship=longest, sex="F", birth_year=1980)
    view = batch_view(demo_db, "FUC-D001").to_dict()
    heca = next(q["id"] for q in view["qc"] if q["qc_id"].startswith("heca"))
    corrections.correct(
        demo_db, tech1, "FUC-D001", heca, field="value", value="43 %", reason=longest
    )
    release.decide(demo_db, "qa1", "EASC-D001", "release", "r" * MAX_TEXT, password="demo-qa1-pass")
    view = batch_view(demo_db, "FUC-D001").to_dict()
    assert any(q["method"] == longest for q in view["qc"])
    assert any(c["reason"] == longest for c in view["corrections"])


def test_the_migration_widens_text_columns_and_never_cuts_a_stored_value(empty_db_url) -> None:
    from alembic import command

    db = Database(empty_db_url, access="create")
    with db.engine.begin() as connection:
        command.upgrade(migrate._config(connection), "4a14065edc87")  # before the text rule
        connection.execute(
            sa.text(
                "INSERT INTO app_user (id, username, full_name, role, password_hash, active, "
                "must_change_password, failed_attempts, locked, password_changed_at, created_at)"
                " VALUES (1, 'qa1', 'Q', 'qa', 'x', true, false, 0, false, :t, :t)"
            ),
            {"t": "2026-01-01 00:00:00"},
        )
        connection.execute(
            sa.text(
                "INSERT INTO sop_version (id, sop_id, version, status, title, kind, content_hash,"
                " content, registered_at) VALUES (1, 'SOP-X', '1.0', 'approved', 'X', 'dose',"
                " 'h', '{}', :t)"
            ),
            {"t": "2026-01-01 00:00:00"},
        )
        connection.execute(
            sa.text(
                "INSERT INTO batch (id, code, kind, status, sop_version_id, started_at, "
                "recorded_at, recorded_by) VALUES (1, 'B-1', 'dose', 'in-process', 1, :t, :t, 1)"
            ),
            {"t": "2026-01-01 00:00:00"},
        )
        connection.execute(
            sa.text(
                "INSERT INTO deviation (id, batch_id, title, description, status, investigation,"
                " opened_at, opened_by) VALUES (1, 1, 't', :d, 'open', :i, :t, 1)"
            ),
            {"d": "d" * 3000, "i": "i" * 5000, "t": "2026-01-01 00:00:00"},
        )
    migrate.upgrade(empty_db_url)
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    columns = {c["name"]: c["type"] for c in sa.inspect(db.engine).get_columns("deviation")}
    with db.engine.connect() as connection:
        kept = connection.execute(sa.text("SELECT description, investigation FROM deviation"))
        assert kept.one() == ("d" * 3000, "i" * 5000)
    assert columns["title"].length == MAX_TEXT
    if db.engine.dialect.name == "postgresql":  # never cut: these keep their size here
        assert columns["description"].length == 4000
        assert columns["investigation"].length is None
    else:  # SQLite stores any length; only the declaration changes
        assert columns["description"].length == MAX_TEXT
        assert migrate.pending_changes(db.engine) == []
    db.dispose()
