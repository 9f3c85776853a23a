"""A full verify names what an edit hid behind text it cannot read (hostile re-test, issue 15).

Three edits stopped ``audit verify`` before it named anything, so the other edits made with
them went unnamed: text that is not UTF-8 (Python's SQLite driver refused the whole read:
"the database refused the operation", exit 8), a JSON document nested deeper than Python
parses (exit 70, "unexpected RecursionError"), and an anchor's audit entry whose text is not
an anchor's (exit 70, IndexError). A time edited into no time made every later entry
"timed before the entry it follows". Each is now named, with the rest.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cellbatch.services.queries.audit import verify_trail

GMP25 = pytest.mark.requirement("GMP-25")
SQLITE_ONLY = pytest.mark.parametrize("demo_db", ["sqlite"], indirect=True)
"""SQLite keeps any bytes in a text column; PostgreSQL refuses text that is not UTF-8."""

NOT_UTF8 = "CAST(X'41ff' AS TEXT)"
"""``A`` and a byte no UTF-8 text holds, stored as text."""


def _sql(db, statement: str, **params) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


def _escalate(db) -> None:
    """The edit the odd one is meant to hide: tech1 made an admin."""
    _sql(db, "UPDATE app_user SET role = 'admin' WHERE username = 'tech1'")


def _first_anchor_entry(db) -> int:
    """The number of the first audit entry that records an anchor."""
    with db.engine.connect() as connection:
        return connection.execute(
            text("SELECT min(seq) FROM audit_entry WHERE action = 'anchor'")
        ).scalar_one()


def _user_id(db, username: str) -> int:
    with db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM app_user WHERE username = :u"), {"u": username}
        ).scalar_one()


@GMP25
@SQLITE_ONLY
def test_a_record_holding_text_that_is_not_utf8_is_named_with_the_edit_beside_it(demo_db):
    _escalate(demo_db)
    _sql(demo_db, f"UPDATE app_user SET full_name = {NOT_UTF8} WHERE username = 'qa1'")
    report = verify_trail(demo_db)
    tech1, qa1 = _user_id(demo_db, "tech1"), _user_id(demo_db, "qa1")
    problems = "\n".join(report.problems)
    assert f"app_user {tech1} was edited outside the program" in problems
    assert f"app_user {qa1} was edited outside the program" in problems
    assert report.rows_checked > 0 and report.entries_checked == report.head_seq


@GMP25
@SQLITE_ONLY
def test_a_json_record_holding_bytes_that_are_not_utf8_is_named(demo_db):
    with demo_db.engine.connect() as connection:
        step = connection.execute(text("SELECT min(id) FROM step_entry")).scalar_one()
    odd = "CAST(X'7b2261223a2022ff227d' AS TEXT)"  # {"a": "<a byte no UTF-8 text holds>"}
    _sql(demo_db, f'UPDATE step_entry SET "values" = {odd} WHERE id = :id', id=step)
    _escalate(demo_db)
    problems = "\n".join(verify_trail(demo_db).problems)
    assert f"step_entry {step} was edited outside the program" in problems
    assert f"app_user {_user_id(demo_db, 'tech1')} was edited" in problems


@GMP25
@SQLITE_ONLY
def test_an_entry_holding_text_that_is_not_utf8_is_named_and_the_walk_goes_on(demo_db):
    with demo_db.engine.connect() as connection:
        last = connection.execute(text("SELECT max(seq) FROM audit_entry")).scalar_one()
    seq = last // 2
    _sql(demo_db, f"UPDATE audit_entry SET entity_id = {NOT_UTF8} WHERE seq = :seq", seq=seq)
    _escalate(demo_db)
    report = verify_trail(demo_db)
    assert f"audit entry #{seq} was edited outside the program or forged" in report.problems[0]
    assert "\n".join(report.problems).count(" was edited outside the program") >= 2
    assert report.entries_checked == report.head_seq  # the walk went on to the end


@GMP25
def test_a_json_record_nested_too_deep_to_parse_is_named(demo_db):
    depth = 5000  # deeper than Python's parser goes (its recursion limit is 1 000)
    deep = '{"a":' + "[" * depth + "1" + "]" * depth + "}"
    with demo_db.engine.connect() as connection:
        step = connection.execute(text("SELECT min(id) FROM step_entry")).scalar_one()
    cast = "CAST(:deep AS json)" if demo_db.backend == "postgresql" else ":deep"
    _sql(demo_db, f'UPDATE step_entry SET "values" = {cast} WHERE id = :id', deep=deep, id=step)
    _escalate(demo_db)
    problems = "\n".join(verify_trail(demo_db).problems)
    assert f"step_entry {step} was edited outside the program" in problems
    assert f"app_user {_user_id(demo_db, 'tech1')} was edited" in problems


@GMP25
def test_an_anchor_entry_edited_to_text_no_anchor_has_is_named_not_a_crash(demo_db):
    seq = _first_anchor_entry(demo_db)
    assert seq is not None, "the demo records anchors"
    _sql(demo_db, "UPDATE audit_entry SET new_value = 'x' WHERE seq = :seq", seq=seq)
    report = verify_trail(demo_db)
    assert f"audit entry #{seq} was edited outside the program or forged" in report.problems[0]
    assert not any("anchor log" in p for p in report.problems), report.problems


@GMP25
@SQLITE_ONLY  # SQLite stores times as text
def test_an_entry_whose_time_is_no_time_is_named_once_not_every_entry_after_it(demo_db):
    with demo_db.engine.connect() as connection:
        last = connection.execute(text("SELECT max(seq) FROM audit_entry")).scalar_one()
    seq = last // 2
    _sql(demo_db, "UPDATE audit_entry SET at = 'Ax' WHERE seq = :seq", seq=seq)
    report = verify_trail(demo_db)
    assert f"audit entry #{seq} was edited outside the program or forged" in report.problems[0]
    assert f"audit entry #{seq} holds no time" in report.problems[1]
    assert not any("before the entry it follows" in p for p in report.problems), report.problems


@GMP25
@SQLITE_ONLY
def test_the_command_exits_1_naming_both_and_shows_the_odd_bytes_escaped(demo_db, cli):
    with demo_db.engine.connect() as connection:
        last = connection.execute(text("SELECT max(seq) FROM audit_entry")).scalar_one()
    seq = last // 2
    odd = "CAST(X'1b5b33316dff' AS TEXT)"  # a terminal's "red" escape and a byte no UTF-8 holds
    _sql(demo_db, f"UPDATE audit_entry SET entity = {odd} WHERE seq = :seq", seq=seq)
    _escalate(demo_db)
    verified = cli("--db", demo_db.url, "audit", "verify")
    assert verified.code == 1, (verified.out, verified.err)
    assert verified.err.startswith("AUDIT TRAIL BROKEN: ")
    assert f"audit entry #{seq} was edited outside the program or forged" in verified.err
    assert f"app_user {_user_id(demo_db, 'tech1')} was edited" in verified.err
    assert "\x1b" not in verified.err and "\udcff" not in verified.err


@GMP25
@SQLITE_ONLY
@pytest.mark.parametrize("odd", ["'false'", NOT_UTF8, "0.5", "CAST('1' AS BLOB)"])
def test_a_boolean_stored_as_anything_but_an_integer_is_named(demo_db, odd):
    """The ORM reads 'false' (and any text) as true; SQLite, and a report in SQL, as false."""
    with demo_db.engine.connect() as connection:
        qc = connection.execute(text("SELECT min(id) FROM qc_result WHERE passed = 1")).scalar_one()
    _sql(demo_db, f"UPDATE qc_result SET passed = {odd} WHERE id = :id", id=qc)
    problems = "\n".join(verify_trail(demo_db).problems)
    assert f"qc_result {qc} was edited outside the program" in problems


@GMP25
def test_an_anchor_entry_with_no_text_at_all_is_named_not_a_crash(demo_db):
    seq = _first_anchor_entry(demo_db)
    _sql(demo_db, "UPDATE audit_entry SET new_value = NULL WHERE seq = :seq", seq=seq)
    _escalate(demo_db)
    report = verify_trail(demo_db)
    assert f"audit entry #{seq} was edited outside the program or forged" in report.problems[0]
    assert any(f"app_user {_user_id(demo_db, 'tech1')} was edited" in p for p in report.problems)


def _anchored_then_written(db) -> int:
    """A verified anchor, then one write after it: the anchored entry's number."""
    from cellbatch.services.audit_anchor import verified_anchor, write_anchor
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands import qc

    full = verify_trail(db)
    assert full.ok, full.problems
    write_anchor(db, "verified", verified_anchor(db, full.chain_id, full.head_seq, full.head_hash))
    tech2 = authenticate(db, "tech2", "demo-tech2-pass")
    qc.record_qc(db, tech2, "FUC-D001", test="heca452", value="58 %", stage="in-process")
    return full.head_seq


@GMP25
@SQLITE_ONLY
@pytest.mark.parametrize("odd", [NOT_UTF8, "'Ax'", "CAST('x' AS BLOB)"])
def test_an_incremental_verify_names_an_odd_seal_and_the_edit_after_the_anchor(demo_db, odd):
    anchored = _anchored_then_written(demo_db)
    _sql(demo_db, f"UPDATE audit_seal SET sealed_at = {odd}")
    _sql(demo_db, "UPDATE audit_entry SET reason = 'forged' WHERE seq = :seq", seq=anchored + 2)
    report = verify_trail(demo_db, incremental=True)
    problems = "\n".join(report.problems)
    assert "audit_seal 1 was edited outside the program" in problems
    assert f"audit entry #{anchored + 2} was edited outside the program or forged" in problems


@GMP25
@SQLITE_ONLY
@pytest.mark.parametrize("odd", ["12345", "CAST('x' AS BLOB)"])
def test_an_incremental_verify_from_an_anchor_whose_time_is_no_text_walks_it_all(demo_db, odd):
    anchored = _anchored_then_written(demo_db)
    _sql(demo_db, f"UPDATE audit_entry SET at = {odd} WHERE seq = :seq", seq=anchored)
    report = verify_trail(demo_db, incremental=True)
    assert report.start_seq == 0 and report.entries_checked == report.head_seq
    assert f"audit entry #{anchored} was edited outside the program or forged" in report.problems[0]


@GMP25
@SQLITE_ONLY  # SQLite stores times as text
@pytest.mark.parametrize("odd", ["'9999-12-31 23:59:59.999999'", "'20991231'"])
def test_an_entry_forged_far_in_the_future_is_named_once_and_the_order_goes_on(demo_db, odd):
    with demo_db.engine.connect() as connection:
        last = connection.execute(text("SELECT max(seq) FROM audit_entry")).scalar_one()
    seq = last // 2
    _sql(demo_db, f"UPDATE audit_entry SET at = {odd} WHERE seq = :seq", seq=seq)
    _escalate(demo_db)
    report = verify_trail(demo_db)
    assert f"audit entry #{seq} was edited outside the program or forged" in report.problems[0]
    assert not any("before the entry it follows" in p for p in report.problems), report.problems
    assert any(f"app_user {_user_id(demo_db, 'tech1')} was edited" in p for p in report.problems)


def _refused_on_every_door(db, cli, document: str) -> None:
    with db.engine.connect() as connection:
        step, code = connection.execute(
            text(
                "SELECT s.id, b.code FROM step_entry s JOIN batch b ON b.id = s.batch_id "
                "ORDER BY s.id LIMIT 1"
            )
        ).one()
    cast = "CAST(:doc AS json)" if db.backend == "postgresql" else ":doc"
    _sql(db, f'UPDATE step_entry SET "values" = {cast} WHERE id = :id', doc=document, id=step)
    shown = cli("--db", db.url, "batch", "show", code, user="qa1")
    assert shown.code == 1, (shown.out, shown.err)
    assert "holds a value this program cannot read (a JSON document" in shown.err
    assert "unexpected" not in shown.err
    assert f"step_entry {step} was edited outside the program" in "\n".join(
        verify_trail(db).problems
    )


@GMP25
def test_a_record_whose_json_is_nested_too_deep_is_refused_as_edited_not_a_crash(demo_db, cli):
    """``batch show`` said "unexpected RecursionError" (exit 70)."""
    _refused_on_every_door(demo_db, cli, '{"a":' + "[" * 5000 + "1" + "]" * 5000 + "}")


@GMP25
@SQLITE_ONLY  # PostgreSQL's json type refuses text that is not JSON
def test_a_record_whose_json_is_not_json_is_refused_as_edited_not_a_crash(demo_db, cli):
    """``batch show`` said "unexpected JSONDecodeError" (exit 70)."""
    _refused_on_every_door(demo_db, cli, "{abc")


@GMP25
@SQLITE_ONLY
@pytest.mark.parametrize("odd", [NOT_UTF8, "42", "CAST('x' AS BLOB)"])
def test_a_seal_whose_key_fingerprint_is_odd_refuses_naming_the_key_not_the_database(
    demo_db, cli, odd
):
    """It said "the database refused the operation (SQLite error)" (exit 8) for text not UTF-8."""
    _sql(demo_db, f"UPDATE audit_seal SET key_fingerprint = {odd}")
    for args in (("audit", "verify"), ("audit", "verify", "--incremental")):
        refused = cli("--db", demo_db.url, *args)
        assert refused.code == 9, (refused.out, refused.err)
        assert "is not the key of database" in refused.err and "\udcff" not in refused.err


@GMP25
@SQLITE_ONLY
def test_a_user_row_holding_text_that_is_not_utf8_is_said_to_be_edited_not_a_refusal(demo_db, cli):
    """Logging in said "the database refused the operation (SQLite error)" (exit 8)."""
    _sql(demo_db, f"UPDATE app_user SET full_name = {NOT_UTF8} WHERE username = 'qa1'")
    listed = cli("--db", demo_db.url, "batch", "list", user="qa1")
    assert listed.code == 1, (listed.out, listed.err)
    assert "holds a value this program cannot read (text that is not UTF-8)" in listed.err
    assert "audit verify" in listed.err


@GMP25
@pytest.mark.parametrize("demo_db", ["postgresql"], indirect=True)
def test_a_time_out_of_pythons_range_is_said_to_be_edited_not_an_unreachable_server(demo_db, cli):
    """PostgreSQL keeps 'infinity'; reading it said "cannot reach the database server"."""
    _sql(demo_db, "UPDATE audit_entry SET at = 'infinity' WHERE seq = 100")
    verified = cli("--db", demo_db.url, "audit", "verify")
    assert verified.code == 1, (verified.out, verified.err)
    assert "holds a value this program cannot read" in verified.err
    assert "cannot reach" not in verified.err


@GMP25
@SQLITE_ONLY
def test_a_boolean_holding_text_is_refused_on_the_review_qa_releases_from(demo_db, cli):
    """The review read 'false' as passed and dropped the failed result from its exceptions."""
    with demo_db.engine.connect() as connection:
        failed = connection.execute(
            text(
                "SELECT q.id FROM qc_result q JOIN batch b ON b.id = q.batch_id "
                "WHERE b.code = 'FUC-D001' ORDER BY q.id DESC LIMIT 1"
            )
        ).scalar_one()
    _sql(demo_db, "UPDATE qc_result SET passed = 'false' WHERE id = :id", id=failed)
    reviewed = cli("--db", demo_db.url, "review", "FUC-D001", user="qa1")
    assert reviewed.code == 1, (reviewed.out, reviewed.err)
    assert "holds a value this program cannot read (a yes/no value stored as str)" in reviewed.err
