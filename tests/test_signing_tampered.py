"""No signature binds a record edited outside the program (hostile re-test, issue 15's wave).

A second person's verification signed a QC result whose value had been edited in the
database: the signature bound the forged content and was shown as valid, because signing
writes only the signature row and proved nothing it covers. Signing now proves every row
the signed content is read from, as every write proves the rows it vouches for.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

GMP25 = pytest.mark.requirement("GMP-25")


def _qc_results(db, code: str) -> list[int]:
    with db.engine.connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT q.id FROM qc_result q JOIN batch b ON b.id = q.batch_id "
                    "WHERE b.code = :code ORDER BY q.id"
                ),
                {"code": code},
            ).scalars()
        )


def _signatures(db) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM signature")).scalar_one()


@GMP25
def test_a_verification_of_a_qc_result_edited_in_the_database_is_refused(demo_db, cli):
    intact, forged = _qc_results(demo_db, "FUC-D001")[:2]
    done = cli("--db", demo_db.url, "verify", "FUC-D001", f"Q{intact}", user="sup1")
    assert done.code == 0, done.err  # the door works on an intact result
    with demo_db.engine.begin() as connection:
        connection.execute(
            text("UPDATE qc_result SET value_num = 55, passed = :yes WHERE id = :id"),
            {"id": forged, "yes": True},
        )
    before = _signatures(demo_db)
    refused = cli("--db", demo_db.url, "verify", "FUC-D001", f"Q{forged}", user="sup1")
    assert refused.code == 1, (refused.out, refused.err)
    assert f"qc_result {forged} was edited outside the program" in refused.err
    assert "nothing was written" in refused.err
    assert _signatures(demo_db) == before


@GMP25
def test_a_batch_signature_over_a_record_edited_in_the_database_is_refused(demo_db, cli):
    intact, forged = _qc_results(demo_db, "FUC-D001")[:2]
    with demo_db.engine.begin() as connection:
        connection.execute(
            text("UPDATE qc_result SET method = 'forged' WHERE id = :id"), {"id": forged}
        )
    before = _signatures(demo_db)
    refused = cli(
        "--db", demo_db.url, "sign", "FUC-D001", f"Q{intact}", "--meaning", "reviewed", user="qa1"
    )
    assert refused.code == 1, (refused.out, refused.err)  # the batch's QC results are read
    assert f"qc_result {forged} was edited outside the program" in refused.err
    assert _signatures(demo_db) == before


def _later_expiry(db, code: str) -> int:
    """The first bag of ``code`` given a day more to live, by an edit in the database."""
    from datetime import timedelta

    with db.engine.begin() as connection:
        bag, expires = connection.execute(
            text(
                "SELECT g.id, g.expires_at FROM bag g JOIN batch b ON b.id = g.batch_id "
                "WHERE b.code = :code ORDER BY g.number LIMIT 1"
            ),
            {"code": code},
        ).one()
        if isinstance(expires, str):  # SQLite's text
            later = expires.replace(expires[:4], str(int(expires[:4]) + 1), 1)
        else:
            later = expires + timedelta(days=365)
        connection.execute(
            text("UPDATE bag SET expires_at = :later WHERE id = :id"), {"later": later, "id": bag}
        )
    return bag


@GMP25
def test_a_label_is_never_printed_from_a_bag_edited_in_the_database(demo_db, cli, tmp_path):
    """The label printed (and QA's reprint approval signed) the edited expiry."""
    bag = _later_expiry(demo_db, "EASC-D001")
    printed = cli(
        "--db", demo_db.url, "label", "print", "EASC-D001", "-o", str(tmp_path / "l.pdf"),
        user="tech1",
    )  # fmt: skip
    assert printed.code == 1, (printed.out, printed.err)
    assert f"bag {bag} was edited outside the program" in printed.err
    assert not (tmp_path / "l.pdf").exists()


def _release(db, cli):
    """qa1 releases EASC-D001 on the command line."""
    return cli(
        "--db", db.url, "release", "EASC-D001", "--decision", "release", "--reason", "ok",
        user="qa1",
    )  # fmt: skip


@GMP25
def test_a_release_never_rests_on_a_signature_row_edited_in_the_database(demo_db, cli):
    """A verification's signature edited to look valid again let the release pass."""
    with demo_db.engine.begin() as connection:
        sig = connection.execute(
            text(
                "SELECT s.id FROM signature s JOIN batch b ON b.id = s.batch_id "
                "WHERE b.code = 'EASC-D001' AND s.meaning = 'verified' ORDER BY s.id LIMIT 1"
            )
        ).scalar_one()
        connection.execute(
            text("UPDATE signature SET signer_name = 'Someone Else' WHERE id = :id"), {"id": sig}
        )
    released = _release(demo_db, cli)
    assert released.code == 1, (released.out, released.err)
    assert f"signature {sig} was edited outside the program" in released.err


@GMP25
def test_a_json_object_with_a_repeated_key_is_named_and_refused(demo_db, cli):
    """Python reads a repeated key's last value, SQLite's json_extract its first."""
    from cellbatch.services.queries.audit import verify_trail

    as_text = '"values"' if demo_db.backend == "sqlite" else '"values"::text'
    as_json = "{}" if demo_db.backend == "sqlite" else "CAST({} AS json)"
    with demo_db.engine.begin() as connection:
        step, code = connection.execute(
            text(
                "SELECT s.id, b.code FROM step_entry s JOIN batch b ON b.id = s.batch_id "
                "ORDER BY s.id LIMIT 1"
            )
        ).one()
        for value in ("10", "1"):  # the second makes the key repeat
            edited = as_json.format(f"replace({as_text}, '{{', '{{\"x\": {value}, ')")
            connection.execute(
                text(f'UPDATE step_entry SET "values" = {edited} WHERE id = :id'), {"id": step}
            )
    assert f"step_entry {step} was edited outside the program" in "\n".join(
        verify_trail(demo_db).problems
    )
    shown = cli("--db", demo_db.url, "batch", "show", code, user="qa1")
    assert shown.code == 1 and "a JSON object with a repeated key" in shown.err, shown.err


@GMP25
@pytest.mark.parametrize("demo_db", ["sqlite"], indirect=True)  # PostgreSQL keeps booleans
def test_a_boolean_stored_as_2_is_named_and_refused(demo_db, cli):
    """The program read a 2 as yes, where a report in SQL asking ``= 1`` does not find it."""
    from cellbatch.services.queries.audit import verify_trail

    intact, forged = _qc_results(demo_db, "FUC-D001")[:2]
    with demo_db.engine.begin() as connection:
        connection.execute(text("UPDATE qc_result SET passed = 2 WHERE id = :id"), {"id": forged})
    assert f"qc_result {forged} was edited outside the program" in "\n".join(
        verify_trail(demo_db).problems
    )
    verified = cli("--db", demo_db.url, "verify", "FUC-D001", f"Q{forged}", user="sup1")
    assert verified.code == 1 and "a yes/no value stored as int" in verified.err, verified.err


def _edit(db, statement: str, **params) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


def _first_id(db, table: str) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text(f"SELECT min(id) FROM {table}")).scalar_one()


@GMP25
@pytest.mark.parametrize(
    ("table", "column", "value"),
    [("donor_test", "result", "reactive"), ("treatment_plan", "coi", "edited")],
)
def test_a_bag_label_is_never_printed_from_any_row_edited_in_the_database(
    demo_db, cli, tmp_path, table, column, value
):
    """Only the batch and bags were proved: an edited donor test or CoI was printed."""
    row = _first_id(demo_db, table)
    _edit(demo_db, f"UPDATE {table} SET {column} = :v WHERE id = :id", v=value, id=row)
    printed = cli(
        "--db", demo_db.url, "label", "print", "EASC-D001", "-o", str(tmp_path / "l.pdf"),
        user="tech1",
    )  # fmt: skip
    assert printed.code == 1, (printed.out, printed.err)
    assert f"{table} {row} was edited outside the program" in printed.err


@GMP25
def test_a_vial_label_is_never_printed_from_a_tissue_lot_edited_in_the_database(
    demo_db, cli, tmp_path
):
    """Vial labels proved nothing: an edited donation DIN was printed on every vial."""
    lot = _first_id(demo_db, "tissue_lot")
    _edit(demo_db, "UPDATE tissue_lot SET din = 'A999926000009' WHERE id = :id", id=lot)
    printed = cli(
        "--db", demo_db.url, "label", "print", "EASC-B001", "-o", str(tmp_path / "v.pdf"),
        "--reprint", "--reason", "smudged", "--vial", "5", "--approver", "qa1",
        "--user", "tech1", "--password-stdin", input="demo-tech1-pass\ndemo-qa1-pass\n",
    )  # fmt: skip
    assert printed.code == 1, (printed.out, printed.err)
    assert f"tissue_lot {lot} was edited outside the program" in printed.err


@GMP25
def test_a_release_never_rests_on_an_sop_version_edited_in_the_database(demo_db, cli):
    """The SOP says what release needs: an edited SOP version let a release pass."""
    with demo_db.engine.begin() as connection:
        sop = connection.execute(
            text("SELECT sop_version_id FROM batch WHERE code = 'EASC-D001'")
        ).scalar_one()
        connection.execute(
            text("UPDATE sop_version SET title = title || '.' WHERE id = :id"), {"id": sop}
        )
    released = _release(demo_db, cli)
    assert released.code == 1, (released.out, released.err)
    assert f"sop_version {sop} was edited outside the program" in released.err


@GMP25
@pytest.mark.parametrize("document", ['{"volume": 40.0, "viable_cells": 1e999}', '{"a": NaN}'])
@pytest.mark.parametrize("demo_db", ["sqlite"], indirect=True)  # PostgreSQL's json refuses them
def test_a_json_number_json_has_not_is_refused(demo_db, cli, document):
    """``batch show`` showed viable_cells=inf, and ``--json`` wrote invalid JSON."""
    with demo_db.engine.begin() as connection:
        step, code = connection.execute(
            text(
                "SELECT s.id, b.code FROM step_entry s JOIN batch b ON b.id = s.batch_id "
                "ORDER BY s.id LIMIT 1"
            )
        ).one()
        connection.execute(
            text('UPDATE step_entry SET "values" = :d WHERE id = :id'), {"d": document, "id": step}
        )
    shown = cli("--db", demo_db.url, "batch", "show", code, user="qa1")
    assert shown.code == 1 and "holds a value this program cannot read" in shown.err, shown.err
