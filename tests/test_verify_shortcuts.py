"""The full verify's shortcuts: the same verdicts as the long way, on every odd stored value.

On SQLite ``audit verify`` lets the database write each entry's and each record's canonical
JSON (``json_array``, ``json_object``) and seals or hashes that; a stored value in a form the
program never writes takes the long way (the entry or the row read as the program reads it)
before anything is called edited. These tests hold the shortcuts to the long way: every
entry and row the program writes passes with no second look, however odd its text; a value
stored in another form that reads the same passes; one that reads differently is named;
bytes where text belongs are named, not a traceback. The helper ``reseal`` plays the
program: it writes tricky values and seals them under the key, as a genuine write would.
"""

from __future__ import annotations

import hmac
import math

import pytest
from sqlalchemy import select, text

from cellbatch.db import audit_chain_rows, audit_chain_verify
from cellbatch.db.audit_chain import canonical_value, entry_mac, row_hash
from cellbatch.db.audit_chain_rows import row_hashes
from cellbatch.db.audit_chain_verify import sealer
from cellbatch.db.tables import AUDITED_TABLES, AuditEntry
from cellbatch.services.queries import audit_verify
from cellbatch.services.queries.audit import verify_trail

GMP25 = pytest.mark.requirement("GMP-25")
SQLITE_ONLY = pytest.mark.parametrize("demo_db", ["sqlite"], indirect=True)
"""What SQLite alone allows (any value, bytes, a time in another form in any column): these
run on SQLite only, where an edit can store it; PostgreSQL's typed columns refuse it."""

TRICKY = [
    'quote " backslash \\ slash / end\\',
    "control \x01\x1f tab\t newline\n return\r bell\x07 del\x7f",
    "unicode é ü 漢字 \u2028 \u2029 emoji 🧫",
    ',"body_weight_kg":[]',  # the text of a column SQLite leaves to Python
    '{"id":[]}',
    "",
]


def _sql(db, statement: str, **params) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


def reseal(db, start: int) -> None:
    """Seal every entry from ``start`` on again under the site key (what the program does)."""
    secret = db.site_key().secret
    with db.engine.begin() as connection:
        prev = connection.execute(
            text("SELECT hash FROM audit_entry WHERE seq = :seq"), {"seq": start - 1}
        ).scalar_one()
        rows = (
            connection.execute(
                select(AuditEntry.__table__).where(AuditEntry.seq >= start).order_by(AuditEntry.seq)
            )
            .mappings()
            .all()
        )
        for row in rows:
            sealed = entry_mac(secret, {**row, "prev_hash": prev})
            connection.execute(
                text("UPDATE audit_entry SET prev_hash = :prev, hash = :hash WHERE seq = :seq"),
                {"prev": prev, "hash": sealed, "seq": row["seq"]},
            )
            prev = sealed
        connection.execute(text("UPDATE audit_head SET hash = :hash WHERE id = 1"), {"hash": prev})


def _no_second_look(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the shortcut needed the long way on a value the program wrote")

    monkeypatch.setattr(audit_chain_verify, "_recheck", refuse)
    monkeypatch.setattr(audit_verify, "exact_row_hash", refuse)


@GMP25
@pytest.mark.parametrize("size", [0, 32, 64, 65, 200])
def test_the_walks_seal_is_the_programs_hmac(size):
    secret = bytes(range(size))
    seal = sealer(secret)
    for fields_json in ("", "[1,2]", TRICKY[1], "x" * 1000):
        message = (audit_chain_verify.MAC_PREFIX + fields_json).encode()
        assert seal(fields_json) == hmac.digest(secret, message, "sha256").hex()


@GMP25
def test_the_demo_trail_and_records_pass_with_no_second_look(demo_db, monkeypatch):
    _no_second_look(monkeypatch)
    report = verify_trail(demo_db)
    assert report.ok, report.problems
    assert report.entries_checked > 200 and report.rows_checked > 200


@GMP25
def test_entries_the_program_writes_with_odd_text_pass_with_no_second_look(demo_db, monkeypatch):
    with demo_db.engine.connect() as connection:
        first = connection.execute(
            text(f"SELECT max(seq) - {len(TRICKY) - 1} FROM audit_entry")
        ).scalar_one()
    for offset, value in enumerate(TRICKY):
        _sql(
            demo_db,
            "UPDATE audit_entry SET reason = :reason, field = :field WHERE seq = :seq",
            reason=value,
            field=value[:80] or None,
            seq=first + offset,
        )
    reseal(demo_db, first)
    _no_second_look(monkeypatch)
    report = verify_trail(demo_db)
    assert report.ok, report.problems


def _edit_entry(db, seq: int, column: str, sql_value: str) -> None:
    _sql(db, f"UPDATE audit_entry SET {column} = {sql_value} WHERE seq = :seq", seq=seq)


def _middle_entry(db) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT max(seq) / 2 FROM audit_entry")).scalar_one()


@GMP25
@SQLITE_ONLY  # SQLite stores times as text
def test_an_entry_time_stored_in_another_form_of_the_same_instant_still_proves(demo_db):
    seq = _middle_entry(demo_db)
    _edit_entry(demo_db, seq, "at", "replace(at, ' ', 'T')")  # canonical_time reads it alike
    report = verify_trail(demo_db)
    assert report.ok, report.problems


@GMP25
@pytest.mark.parametrize(
    ("sql_value", "kind"),
    [
        ("substr(at, 1, 19)", "a second's fraction cut"),
        ("' ' || at", "a space in front"),
        ("1700000000", "a number"),
        ("1700000000.5", "a real number"),
        ("CAST(at AS BLOB)", "bytes"),
    ],
    ids=lambda v: v if " " in v else None,
)
@SQLITE_ONLY  # SQLite keeps any value in any column
def test_an_entry_time_edited_to_any_other_form_is_named(demo_db, sql_value, kind):
    seq = _middle_entry(demo_db)
    _edit_entry(demo_db, seq, "at", sql_value)
    report = verify_trail(demo_db)
    assert report.problems, kind
    assert f"audit entry #{seq} was edited outside the program or forged" in report.problems[0]
    assert report.entries_checked == report.head_seq  # the walk went on to the end


@GMP25
@pytest.mark.parametrize("column", ["reason", "username", "batch_id", "row_hash"])
@SQLITE_ONLY  # SQLite keeps bytes in any column
def test_bytes_in_an_entry_are_named_and_the_walk_goes_on(demo_db, column):
    seq = _middle_entry(demo_db)
    later = seq + 7
    _edit_entry(demo_db, seq, column, "CAST('x' AS BLOB)")
    _edit_entry(demo_db, later, "reason", "'edited'")
    problems = verify_trail(demo_db).problems
    assert f"audit entry #{seq} was edited outside the program or forged" in problems[0]
    assert any(f"audit entry #{later} was edited" in p for p in problems), problems


# ----------------------------------------------------------------------------- records


def _orm_hashes(db) -> dict[str, dict]:
    with db.snapshot() as snapshot, snapshot.session() as session:
        return {
            name: {row.id: row_hash(row) for row in session.execute(select(model)).scalars()}
            for name, model in AUDITED_TABLES.items()
        }


def _streamed(db) -> dict[str, dict]:
    with db.snapshot() as snapshot:
        return {
            name: dict(row_hashes(snapshot.connection, model.__table__))  # type: ignore[attr-defined]
            for name, model in AUDITED_TABLES.items()
        }


@GMP25
def test_rows_with_odd_text_json_floats_and_times_hash_as_the_orm_reads_them(demo_db):
    edits = [
        ("batch", "recipient_id", TRICKY[3]),
        ("batch", "code", TRICKY[0]),
        ("deviation", "description", TRICKY[1]),
        ("deviation", "title", TRICKY[2]),
        ("step_entry", "kind", TRICKY[4]),
    ]
    with demo_db.engine.begin() as connection:
        for table, column, value in edits:
            connection.execute(
                text(
                    f'UPDATE {table} SET "{column}" = :v WHERE id = (SELECT min(id) FROM {table})'
                ),
                {"v": value},
            )
        json_doc = (
            '{"b": [1, 2.5, {"id": [], "body_weight_kg": []}], "a": "x\\u0001", '
            '"z": 1e-07, ",\\"k\\":[]": null}'
        )
        if demo_db.backend == "postgresql":
            connection.execute(
                text('UPDATE step_entry SET "values" = CAST(:v AS json) WHERE id = '
                     "(SELECT max(id) FROM step_entry)"),
                {"v": json_doc},
            )  # fmt: skip
        else:
            connection.execute(
                text(
                    'UPDATE step_entry SET "values" = :v '
                    "WHERE id = (SELECT max(id) FROM step_entry)"
                ),
                {"v": json_doc},
            )
        for value in (0.1, 1e-05, 3.0, 1e22, -0.0, 5e-324, math.pi, 123456789.123456789):
            connection.execute(
                text("UPDATE batch SET body_weight_kg = :v, dose_per_kg = :v WHERE id = "
                     "(SELECT max(id) FROM batch)"),
                {"v": value},
            )  # fmt: skip
            assert _streamed(demo_db)["batch"] == _orm_hashes(demo_db)["batch"], value
    assert _streamed(demo_db) == _orm_hashes(demo_db)


def _row_edit(db, table: str, column: str, sql_value: str) -> int:
    with db.engine.begin() as connection:
        row_id = connection.execute(
            text(f'SELECT min(id) FROM {table} WHERE "{column}" IS NOT NULL')
        ).scalar_one()
        connection.execute(
            text(f'UPDATE {table} SET "{column}" = {sql_value} WHERE id = :id'), {"id": row_id}
        )
    return row_id


@GMP25
def test_a_float_one_step_off_is_named(demo_db):
    with demo_db.engine.connect() as connection:
        row_id, weight = connection.execute(
            text("SELECT id, body_weight_kg FROM batch WHERE body_weight_kg IS NOT NULL "
                 "ORDER BY id LIMIT 1")
        ).one()  # fmt: skip
    _sql(
        demo_db,
        "UPDATE batch SET body_weight_kg = :v WHERE id = :id",
        v=math.nextafter(weight, math.inf),
        id=row_id,
    )
    problems = verify_trail(demo_db).problems
    assert problems == [f"batch {row_id} was edited outside the program (it no longer matches "
                        f"audit entry #{_last_entry(demo_db, 'batch', row_id)})"]  # fmt: skip


def _last_entry(db, table: str, row_id: int) -> int:
    with db.engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT max(seq) FROM audit_entry WHERE entity = :t AND entity_id = :id "
                "AND row_hash IS NOT NULL"
            ),
            {"t": table, "id": str(row_id)},
        ).scalar_one()


ODD_BUT_SAME = [  # stored in a form the program never writes, read by the ORM as before
    ("batch", "started_at", "replace(started_at, ' ', 'T')", "a time with a T"),
    ("batch", "started_at", "started_at || '+00:00'", "a time with its offset"),
]

ODD_AND_EDITED = [
    ("app_user", "active", "active * 7", "a boolean stored as 7 (SQL asking = 1 misses it)"),
    ("batch", "infusion_number", "infusion_number + 0.5", "an integer holding a real"),
    ("batch", "started_at", "substr(started_at, 1, 19)", "a time without its fraction"),
    ("batch", "started_at", "1700000000", "a time stored as a number"),
    ("recipient_weight", "measured_on", "20260101", "a date stored as a number"),
    ("recipient_weight", "measured_on", "'2026-1-5'", "a date in another text form"),
    ("batch", "recipient_id", "CAST(recipient_id AS BLOB)", "bytes where text belongs"),
    ("batch", "body_weight_kg", "CAST('x' AS BLOB)", "bytes where a float belongs"),
    ("batch", "body_weight_kg", "'heavy'", "text where a float belongs"),
    ("step_entry", "values", "CAST('{}' AS BLOB)", "bytes where JSON belongs"),
]


@GMP25
@pytest.mark.parametrize(
    ("table", "column", "sql_value", "kind"), ODD_BUT_SAME + ODD_AND_EDITED, ids=lambda v: v
)
@SQLITE_ONLY  # SQLite keeps any value in any column
def test_a_record_stored_in_an_odd_form_is_judged_as_the_orm_reads_it(
    demo_db, table, column, sql_value, kind
):
    before = _orm_hashes(demo_db)[table]
    row_id = _row_edit(demo_db, table, column, sql_value)
    try:
        same = _orm_hashes(demo_db)[table][row_id] == before[row_id]
    except (TypeError, ValueError, OverflowError):  # the ORM cannot read it: edited
        same = False
    problems = verify_trail(demo_db).problems
    edited = f"{table} {row_id} was edited outside the program"
    assert any(edited in p for p in problems) != same, (kind, problems)
    if (table, column, sql_value, kind) in ODD_BUT_SAME:  # the shortcut misses, the long way holds
        assert same, kind
        assert _streamed(demo_db)[table][row_id] != before[row_id]


@GMP25
@SQLITE_ONLY  # SQLite keeps bytes in any column
def test_bytes_in_a_record_are_named_and_the_rest_of_its_table_checked(demo_db):
    with demo_db.engine.begin() as connection:
        first, last = connection.execute(text("SELECT min(id), max(id) FROM batch")).one()
        connection.execute(
            text("UPDATE batch SET recipient_id = CAST('x' AS BLOB) WHERE id = :id"), {"id": first}
        )
        connection.execute(text("UPDATE batch SET code = code || 'X' WHERE id = :id"), {"id": last})
    problems = "\n".join(verify_trail(demo_db).problems)
    assert f"batch {first} was edited outside the program" in problems
    assert f"batch {last} was edited outside the program" in problems
    assert "has no audit entry" not in problems and "removed outside" not in problems


@GMP25
def test_the_long_way_and_the_shortcut_agree_on_every_demo_row(demo_db):
    with demo_db.snapshot() as snapshot:
        connection = snapshot.connection
        for model in AUDITED_TABLES.values():
            table = model.__table__  # type: ignore[attr-defined]
            for row_id, content_hash in row_hashes(connection, table):
                assert audit_chain_rows.exact_row_hash(connection, table, row_id) == content_hash
    assert canonical_value(0.1) == "0.1"


def _count_rechecks(monkeypatch) -> list[int]:
    calls: list[int] = []
    recheck = audit_chain_verify._recheck

    def counted(connection, seal, seq, *args):
        calls.append(seq)
        return recheck(connection, seal, seq, *args)

    monkeypatch.setattr(audit_chain_verify, "_recheck", counted)
    return calls


@GMP25
def test_after_an_edited_entry_the_walk_takes_the_shortcut_again(demo_db, monkeypatch):
    seq = _middle_entry(demo_db)
    _edit_entry(demo_db, seq, "reason", "'edited'")
    calls = _count_rechecks(monkeypatch)
    report = verify_trail(demo_db)
    assert f"audit entry #{seq} was edited" in report.problems[0]
    assert calls == [seq]  # the entries after it: no second look each


@GMP25
def test_an_incremental_verify_from_an_anchor_takes_the_shortcut_and_names_an_edit(
    demo_db, monkeypatch
):
    from cellbatch.services.audit_anchor import verified_anchor, write_anchor
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands import qc

    full = verify_trail(demo_db)
    write_anchor(
        demo_db, "verified", verified_anchor(demo_db, full.chain_id, full.head_seq, full.head_hash)
    )
    tech2 = authenticate(demo_db, "tech2", "demo-tech2-pass")  # a log-in, a QC result
    qc.record_qc(demo_db, tech2, "FUC-D001", test="heca452", value="58 %", stage="in-process")
    calls = _count_rechecks(monkeypatch)
    report = verify_trail(demo_db, incremental=True)
    assert report.ok and report.entries_checked >= 2 and calls == [], (report, calls)
    _edit_entry(demo_db, report.head_seq - 1, "reason", "'edited'")
    report = verify_trail(demo_db, incremental=True)
    assert f"audit entry #{report.head_seq - 1} was edited" in report.problems[0]
