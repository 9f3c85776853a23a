"""The keyed, anchored audit trail (issue 10 points 1 and 2, GMP-25).

The attacker of these tests can write to the database and has read the source code: they
edit a record, fix its audit entry's row hash, and recompute the chain with the published
unkeyed algorithm; they append forged entries; they cut the trail's tail and set the head
back; they point the program at a key file of their own. Without the site key none of it
may pass ``audit verify``, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from cellbatch.db.audit_chain import canonical_value, dumps, legacy_entry_hash, sha256
from cellbatch.db.audit_chain_key import SiteKeyProblem, create_key, load_key
from cellbatch.db.tables import AUDITED_TABLES, AuditEntry, AuditHead
from cellbatch.services.audit_anchor import write_anchor
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import qc
from cellbatch.services.database import open_database
from cellbatch.services.queries.audit import list_entries, verify_trail
from cellbatch.services.queries.deviations import list_deviations

GMP25 = pytest.mark.requirement("GMP-25")
EB = "FUC-D001"  # the demo's open dose batch


def _sql(db, statement: str, **params) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


def _row_hash(connection, table: str, row_id: int) -> str:
    model = AUDITED_TABLES[table]
    columns = model.__table__.columns  # type: ignore[attr-defined]
    row = connection.execute(select(model.__table__).where(columns.id == row_id)).one()
    return sha256(dumps({c.name: canonical_value(v) for c, v in zip(columns, row, strict=True)}))


def recompute_without_key(db, table: str, row_id: int) -> int:
    """The attack of issue 10 point 1, after a record was edited with plain SQL.

    Fix the row hash in the record's last audit entry, then recompute that entry and every
    one after it with the published unkeyed algorithm, and move the head. Returns the seq
    of the entry the attack starts at (the one verify must name).
    """
    with db.engine.begin() as connection:
        start = connection.execute(
            select(AuditEntry.seq)
            .where(
                AuditEntry.entity == table,
                AuditEntry.entity_id == str(row_id),
                AuditEntry.row_hash.is_not(None),
            )
            .order_by(AuditEntry.seq.desc())
        ).first()[0]
        connection.execute(
            update(AuditEntry)
            .where(AuditEntry.seq == start)
            .values(row_hash=_row_hash(connection, table, row_id))
        )
        _rechain(connection, start)
    return start


def _rechain(connection, start: int) -> None:
    """Recompute every hash from entry ``start`` on with the unkeyed algorithm."""
    prev = connection.execute(
        select(AuditEntry.hash).where(AuditEntry.seq == start - 1)
    ).scalar_one()
    rows = (
        connection.execute(
            select(AuditEntry.__table__).where(AuditEntry.seq >= start).order_by(AuditEntry.seq)
        )
        .mappings()
        .all()
    )
    for row in rows:
        values = {**row, "prev_hash": prev}
        prev = legacy_entry_hash(values)
        connection.execute(
            update(AuditEntry)
            .where(AuditEntry.seq == row["seq"])
            .values(prev_hash=values["prev_hash"], hash=prev)
        )
    connection.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))


def _first_problem(db) -> str:
    report = verify_trail(db)
    assert not report.ok
    return report.problems[0]


@GMP25
def test_the_demo_trail_verifies_under_its_key_and_every_release_is_anchored(demo_db, cli):
    report = verify_trail(demo_db)
    assert report.ok, report.problems
    assert report.anchors_checked >= 2  # the demo's releases
    result = cli("--db", demo_db.url, "audit", "verify")
    assert result.code == 0, result.err
    assert "audit trail intact" in result.out and "entries/s" in result.out


QC_VALUE = ("qc_result", "UPDATE qc_result SET value_num = 75.0, passed = true WHERE id = :id")
ROLE = ("app_user", "UPDATE app_user SET role = 'qa' WHERE id = :id")
SIGNATURE = ("signature", "UPDATE signature SET signer_name = 'Quinn QA' WHERE id = :id")


def _target(db, table: str) -> int:
    with db.engine.connect() as connection:
        if table == "qc_result":  # the out-of-spec result that opened a deviation
            return connection.execute(
                text("SELECT id FROM qc_result WHERE passed = false ORDER BY id")
            ).scalar()
        if table == "app_user":
            return connection.execute(
                text("SELECT id FROM app_user WHERE username = 'tech1'")
            ).scalar()
        return connection.execute(text("SELECT min(id) FROM signature")).scalar()


@GMP25
@pytest.mark.parametrize("attack", [QC_VALUE, ROLE, SIGNATURE], ids=["qc", "role", "signature"])
def test_a_record_edited_and_the_chain_recomputed_without_the_key_is_named(demo_db, cli, attack):
    table, statement = attack
    row_id = _target(demo_db, table)
    _sql(demo_db, statement, id=row_id)
    seq = recompute_without_key(demo_db, table, row_id)
    problem = _first_problem(demo_db)
    assert problem.startswith(f"audit entry #{seq} was edited outside the program or forged")
    assert f"{table} {row_id}," in problem and " UTC, " in problem  # table, time and action
    result = cli("--db", demo_db.url, "audit", "verify")
    assert result.code == 1 and result.err.startswith(f"AUDIT TRAIL BROKEN: audit entry #{seq}")


@GMP25
def test_the_whole_trail_recomputed_without_the_key_fails_at_its_first_entry(demo_db):
    _sql(demo_db, "UPDATE app_user SET role = 'qa' WHERE username = 'tech1'")
    row_id = _target(demo_db, "app_user")
    recompute_without_key(demo_db, "app_user", row_id)
    with demo_db.engine.begin() as connection:
        _rechain_all(connection)
    assert _first_problem(demo_db).startswith("audit entry #1 was edited outside the program")


def _rechain_all(connection) -> None:
    rows = (
        connection.execute(select(AuditEntry.__table__).order_by(AuditEntry.seq)).mappings().all()
    )
    prev = "0" * 64
    for row in rows:
        values = {**row, "prev_hash": prev}
        prev = legacy_entry_hash(values)
        connection.execute(
            update(AuditEntry)
            .where(AuditEntry.seq == row["seq"])
            .values(prev_hash=values["prev_hash"], hash=prev)
        )
    connection.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))


@GMP25
def test_a_forged_entry_appended_to_the_chain_is_named(demo_db):
    with demo_db.engine.begin() as connection:
        head = connection.execute(select(AuditHead.seq, AuditHead.hash)).one()
        values = {
            "seq": head.seq + 1,
            "at": list_entries(demo_db)[-1].at,
            "user_id": None,
            "username": "qa1",
            "action": "release",
            "entity": "batch",
            "entity_id": "1",
            "batch_id": 1,
            "field": "status",
            "old_value": "open",
            "new_value": "released",
            "reason": "looks fine",
            "row_hash": None,
            "prev_hash": head.hash,
        }
        values["at"] = datetime.fromisoformat(values["at"].replace("Z", "+00:00"))
        values["hash"] = legacy_entry_hash(values)
        connection.execute(AuditEntry.__table__.insert().values(**values))
        connection.execute(
            update(AuditHead)
            .where(AuditHead.id == 1)
            .values(seq=values["seq"], hash=values["hash"])
        )
    problem = _first_problem(demo_db)
    assert problem.startswith(
        f"audit entry #{head.seq + 1} was edited outside the program or forged"
    )
    assert "batch 1, release)" in problem


def _cut_after(db, seq: int) -> None:
    """Delete every entry after ``seq`` and set the head back to it (plain SQL)."""
    with db.engine.begin() as connection:
        kept = connection.execute(select(AuditEntry.hash).where(AuditEntry.seq == seq)).scalar_one()
        connection.execute(text("DELETE FROM audit_entry WHERE seq > :seq"), {"seq": seq})
        connection.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=kept))


def _head(db) -> int:
    with db.engine.connect() as connection:
        return connection.execute(select(AuditHead.seq)).scalar_one()


@GMP25
def test_an_out_of_spec_result_and_its_deviation_cut_from_the_tail_are_found(demo_db, cli):
    db = demo_db
    tech2 = authenticate(db, "tech2", "demo-tech2-pass")
    before = _head(db)  # after the log-in's own entry
    result_id = qc.record_qc(db, tech2, EB, test="heca452", value="45 %", stage="in-process")
    deviation = next(d for d in list_deviations(db, EB) if d.qc_result == f"Q{result_id}")
    anchored = cli("--db", db.url, "audit", "anchor")  # e.g. a release, or the nightly anchor
    assert anchored.code == 0 and "anchored #" in anchored.out
    assert verify_trail(db).ok
    # the attacker removes the result, its deviation and their entries, and sets the head back
    _sql(db, "DELETE FROM deviation WHERE id = :id", id=int(deviation.id.lstrip("D")))
    _sql(db, "DELETE FROM qc_result WHERE id = :id", id=result_id)
    _cut_after(db, before)
    report = verify_trail(db)
    assert report.problems == [report.problems[0]], report.problems  # only the anchor sees it
    assert report.problems[0].startswith("the audit trail was cut: the anchor of ")
    assert "(anchor, anchor log line " in report.problems[0]
    assert f"names audit entry #{before + 2}" in report.problems[0]
    assert f"the trail now ends at #{before}" in report.problems[0]
    result = cli("--db", db.url, "audit", "verify", "--incremental")
    assert result.code == 1 and "AUDIT TRAIL BROKEN: the audit trail was cut" in result.err


@GMP25
def test_failed_log_ins_and_the_lock_cut_from_the_tail_are_found(demo_db):
    from cellbatch.domain.errors import AuthenticationFailed

    db = demo_db
    before = _head(db)
    with db.engine.connect() as connection:
        user = dict(
            connection.execute(text("SELECT * FROM app_user WHERE username = 'tech1'"))
            .mappings()
            .one()
        )
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            authenticate(db, "tech1", "not-the-password")
    actions = [e.action for e in list_entries(db)[before:]]
    assert "lock" in " ".join(actions), actions
    write_anchor(db, "anchor")
    # the attacker unlocks the account, removes the entries and sets the head back
    _sql(
        db,
        "UPDATE app_user SET failed_attempts = :n, locked = :locked WHERE id = :id",
        n=user["failed_attempts"],
        locked=user["locked"],
        id=user["id"],
    )
    _cut_after(db, before)
    problems = verify_trail(db).problems
    assert len(problems) == 1 and problems[0].startswith("the audit trail was cut"), problems


@GMP25
def test_a_wrong_key_is_told_apart_from_a_forged_trail(demo_db, cli, tmp_path, monkeypatch):
    other = create_key(tmp_path / "other.key")
    monkeypatch.setenv("CELLBATCH_KEY_FILE", str(other.path))
    db = open_database(demo_db.url)
    with pytest.raises(SiteKeyProblem, match="is not the key of database"):
        verify_trail(db)
    db.dispose()
    result = cli("--db", demo_db.url, "audit", "verify")
    assert result.code == 9 and "is not the key of database" in result.err
    assert "BROKEN" not in result.err and "forged" not in result.err


@GMP25
def test_a_key_file_others_may_read_or_another_account_made_is_refused(demo_db, cli, monkeypatch):
    key = load_key(site_key_dir_of(demo_db) / "cellbatch.key").path
    os.chmod(key, 0o640)
    result = cli("--db", demo_db.url, "audit", "verify")
    assert result.code == 9 and "may be read or written by group or others" in result.err
    os.chmod(key, 0o600)
    os.chown(key, 65534, 65534)  # made by another account (the tests run as root)
    result = cli("--db", demo_db.url, "audit", "verify")
    assert result.code == 9 and "belongs to another account" in result.err
    os.chown(key, 0, 0)
    assert cli("--db", demo_db.url, "audit", "verify").code == 0
    fifo = key.with_name("planted.fifo")  # a pipe would hang a plain open: refused at once
    os.mkfifo(fifo, 0o600)
    monkeypatch.setenv("CELLBATCH_KEY_FILE", str(fifo))
    result = cli("--db", demo_db.url, "audit", "verify")
    assert result.code == 9 and "is not a regular file" in result.err


def site_key_dir_of(db) -> Path:
    """The folder of the site key ``db`` uses (the test's own, see conftest)."""
    return db.key_file.parent


@GMP25
def test_a_hostile_key_path_cannot_make_a_forged_chain_pass(demo_db, cli, tmp_path, monkeypatch):
    """The attacker forges the whole trail under a key of their own, records its fingerprint
    in the database, and points CELLBATCH_KEY_FILE at their key file."""
    from cellbatch.db.audit_chain import entry_mac

    _sql(demo_db, "UPDATE app_user SET role = 'qa' WHERE username = 'tech1'")
    row_id = _target(demo_db, "app_user")
    recompute_without_key(demo_db, "app_user", row_id)
    evil = create_key(tmp_path / "evil" / "cellbatch.key")
    with demo_db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_seal SET key_fingerprint = :f"), {"f": evil.fingerprint}
        )
        seal_entry = connection.execute(
            select(AuditEntry.seq).where(AuditEntry.entity == "audit_seal")
        ).scalar_one()
        connection.execute(
            update(AuditEntry)
            .where(AuditEntry.seq == seal_entry)
            .values(row_hash=_row_hash(connection, "audit_seal", 1))
        )
        rows = (
            connection.execute(select(AuditEntry.__table__).order_by(AuditEntry.seq))
            .mappings()
            .all()
        )
        prev = "0" * 64
        for row in rows:
            values = {**row, "prev_hash": prev}
            prev = entry_mac(evil.secret, values)
            connection.execute(
                update(AuditEntry)
                .where(AuditEntry.seq == row["seq"])
                .values(prev_hash=values["prev_hash"], hash=prev)
            )
        connection.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))
    monkeypatch.setenv("CELLBATCH_KEY_FILE", str(evil.path))
    result = cli("--db", demo_db.url, "audit", "verify")  # the real anchor log still speaks
    assert result.code == 1, result
    assert "was written under site key" in result.err and "not under this key" in result.err
    # and with the attacker's own anchor log too: their files belong to their account
    os.chown(evil.path, 65534, 65534)
    monkeypatch.setenv("CELLBATCH_ANCHOR_LOG", str(tmp_path / "evil" / "cellbatch.anchors"))
    result = cli("--db", demo_db.url, "audit", "verify")
    assert result.code == 9 and "belongs to another account" in result.err


@GMP25
def test_the_key_and_the_anchor_log_are_never_overwritten_by_an_output(demo_db, cli):
    folder = site_key_dir_of(demo_db)
    for name in ("cellbatch.key", "cellbatch.anchors"):
        target = folder / name
        before = target.read_bytes()
        result = cli(
            "--db", demo_db.url, "record", EB, "--user", "qa1", "--password-stdin",
            "-o", str(target), "--force", input="demo-qa1-pass\n",
        )  # fmt: skip
        assert result.code == 2 and "never written over" in result.err, result
        assert target.read_bytes() == before


@GMP25
def test_init_makes_a_private_key_and_refuses_to_replace_one(tmp_path, monkeypatch, cli):
    keys = tmp_path / "service"
    monkeypatch.setenv("CELLBATCH_KEY_FILE", str(keys / "cellbatch.key"))
    monkeypatch.setenv("CELLBATCH_ANCHOR_LOG", str(keys / "cellbatch.anchors"))
    result = cli("--db", f"sqlite:///{tmp_path / 'new.db'}", "init")
    assert result.code == 0, result.err
    assert "site key" in result.out and str(keys / "cellbatch.key") in result.out
    assert oct((keys / "cellbatch.key").stat().st_mode & 0o777) == "0o600"
    key = load_key(keys / "cellbatch.key")
    with pytest.raises(SiteKeyProblem, match="never replaced"):
        create_key(keys / "cellbatch.key")
    # a second database with the same key file keeps the key
    assert cli("--db", f"sqlite:///{tmp_path / 'second.db'}", "init").code == 0
    assert load_key(keys / "cellbatch.key").fingerprint == key.fingerprint
    # a sealed database whose key was lost is never given a new one
    (keys / "cellbatch.key").unlink()
    result = cli("--db", f"sqlite:///{tmp_path / 'new.db'}", "audit", "verify")
    assert result.code == 9 and "no such file" in result.err
    result = cli("--db", f"sqlite:///{tmp_path / 'new.db'}", "init")
    assert result.code != 0 and not (keys / "cellbatch.key").exists()


@GMP25
def test_incremental_verify_walks_only_the_entries_since_the_last_verified_anchor(demo_db, cli):
    full = cli("--db", demo_db.url, "audit", "verify")
    assert full.code == 0 and "anchored #" in full.out, full.err
    head = _head(demo_db) - 1  # the verify recorded its anchor in the entry after the head
    tech2 = authenticate(demo_db, "tech2", "demo-tech2-pass")  # a log-in, a QC result
    qc.record_qc(demo_db, tech2, EB, test="heca452", value="58 %", stage="in-process")
    new = _head(demo_db) - head
    report = verify_trail(demo_db, incremental=True)
    assert report.ok and report.start_seq == head and report.entries_checked == new, report
    with demo_db.engine.connect() as connection:
        reason = connection.execute(
            text("SELECT reason FROM audit_entry WHERE seq = :s"), {"s": head + new}
        ).scalar()
    _sql(demo_db, "UPDATE audit_entry SET reason = 'nothing' WHERE seq = :s", s=head + new)
    again = verify_trail(demo_db, incremental=True)
    assert again.problems[0].startswith(f"audit entry #{head + new} was edited"), again.problems
    _sql(demo_db, "UPDATE audit_entry SET reason = :r WHERE seq = :s", r=reason, s=head + new)
    shown = cli("--db", demo_db.url, "audit", "verify", "--incremental")
    assert shown.code == 0 and f"{new} entries in" in shown.out and "entries/s" in shown.out
    assert f"since anchored entry #{head}" in shown.out


@GMP25
def test_the_record_and_the_release_signature_print_their_anchor(demo_db, cli):
    from cellbatch.documents.batch_record import render
    from cellbatch.services.queries.documents import record_data
    from tests.test_batch_record import pdf_pages

    log = (site_key_dir_of(demo_db) / "cellbatch.anchors").read_text().splitlines()
    releases = [line.split() for line in log if line.endswith(" release")]
    assert releases, log  # every QA decision of the demo was anchored
    text = " ".join(" ".join(pdf_pages(render(record_data(demo_db, "EASC-B001")))).split())
    head = _head(demo_db)
    assert f"audit anchor #{head} " in text  # the footer: the head the record was built from
    printed = [f"(auditanchor#{seq}{seal[:16]})" for _, _, seq, seal, *_ in releases]
    squeezed = "".join(text.split())  # the narrow cell may break the hash anywhere
    assert any(p in squeezed for p in printed), printed  # in the release signature's row
    shown = cli(
        "--db", demo_db.url, "batch", "show", "EASC-B001", "-u", "qa1", "--password-stdin",
        input="demo-qa1-pass\n",
    )  # fmt: skip
    assert shown.code == 0, shown.err
    assert any(p in "".join(shown.out.split()) for p in printed), shown.out
    assert (site_key_dir_of(demo_db) / "cellbatch.anchors").read_text().splitlines()[-1].split()[
        2
    ] == str(head)  # printing anchored it too


SEAL = "371c686fc181"
"""The migration that seals the trail under the site key."""


def _unsealed(db_url: str):
    """A database at the schema before the seal, with an unkeyed trail of a few entries."""
    from cellbatch.db import migrate
    from cellbatch.db.database import Database

    db = Database(db_url, access="create")
    db.ensure_schema()
    migrate.downgrade(db.engine, f"{SEAL}-1", site_key=load_key(db.key_file))
    return db


@GMP25
def test_an_existing_trail_is_proved_and_sealed_as_an_audited_event(db_url):
    from cellbatch.db import migrate

    db = _unsealed(db_url)
    before = list_entries(db)
    assert db.ensure_schema(upgrade=True) == "upgraded"
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    entries = list_entries(db)
    assert [(e.seq, e.action) for e in entries[:-1]] == [(e.seq, e.action) for e in before]
    seal = entries[-1]
    assert (seal.action, seal.entity, seal.username) == ("seal", "audit_seal", "system")
    assert f"audit trail of {len(before)} entries proved intact" in seal.reason
    assert load_key(db.key_file).short in seal.reason
    report = verify_trail(db)
    assert report.ok and report.rows_checked >= 2, report.problems  # the seal row vouched for
    db.dispose()


@GMP25
def test_a_trail_that_does_not_prove_is_never_sealed(db_url):
    from cellbatch.db import migrate
    from cellbatch.domain.errors import RuleViolation

    db = _unsealed(db_url)
    parent = migrate.current_revision(db.engine)
    _sql(db, "UPDATE audit_entry SET reason = 'rewritten' WHERE seq = 1")
    with pytest.raises(RuleViolation, match="does not prove intact .entry #1 was edited"):
        db.ensure_schema(upgrade=True)
    assert migrate.current_revision(db.engine) == parent != SEAL
    with db.engine.connect() as connection:
        tables = connection.dialect.get_table_names(connection)
    assert "audit_seal" not in tables  # nothing changed
    db.dispose()


@GMP25
def test_a_cut_tail_hidden_behind_a_new_chain_name_is_found(demo_db):
    """The anchors are picked by the chain's name in audit_seal: renaming it does not hide them."""
    before = _head(demo_db)
    authenticate(demo_db, "tech2", "demo-tech2-pass")
    write_anchor(demo_db, "verified", None)  # a verify proved it up to here
    _cut_after(demo_db, before)
    _sql(demo_db, "UPDATE audit_seal SET chain_id = :c", c="f" * 32)
    for incremental in (False, True):
        problems = verify_trail(demo_db, incremental=incremental).problems
        assert any(p.startswith("audit_seal 1 was edited outside the program") for p in problems)


@GMP25
def test_an_edited_anchor_log_is_reported(demo_db, cli):
    log = site_key_dir_of(demo_db) / "cellbatch.anchors"
    lines = log.read_text().splitlines()
    seq, seal = lines[0].split()[2:4]
    log.write_text("\n".join([lines[0].replace(seal, "0" * 64), "not an anchor", *lines[1:]]))
    result = cli("--db", demo_db.url, "audit", "verify")
    assert result.code == 1, result
    assert "anchor log line 2 is not an anchor: the log was edited" in result.err
    assert f"names audit entry #{seq} with hash {'0' * 16}, the database holds" in result.err


@GMP25
def test_a_cut_tail_verified_against_a_missing_empty_or_new_anchor_log_fails(
    demo_db, cli, tmp_path, monkeypatch
):
    """The trail records every anchor written: a log lacking them is missing or replaced."""
    db = demo_db
    tech2 = authenticate(db, "tech2", "demo-tech2-pass")
    before = _head(db)
    result_id = qc.record_qc(db, tech2, EB, test="heca452", value="45 %", stage="in-process")
    deviation = next(d for d in list_deviations(db, EB) if d.qc_result == f"Q{result_id}")
    assert cli("--db", db.url, "audit", "anchor").code == 0
    assert cli("--db", db.url, "audit", "verify").code == 0  # the normal path still passes
    assert cli("--db", db.url, "audit", "verify", "--incremental").code == 0
    recorded = [e for e in list_entries(db, entity="audit_anchor") if e.action == "anchor"]
    assert len(recorded) >= 3  # the demo's releases, the anchor, the verifies
    # the attacker removes the result, its deviation and their entries, sets the head back
    _sql(db, "DELETE FROM deviation WHERE id = :id", id=int(deviation.id.lstrip("D")))
    _sql(db, "DELETE FROM qc_result WHERE id = :id", id=result_id)
    _cut_after(db, before)
    remaining = len([e for e in list_entries(db, entity="audit_anchor") if e.action == "anchor"])
    assert remaining >= 1  # the demo's release anchors are before the cut
    new = tmp_path / "new.anchors"
    empty = tmp_path / "empty.anchors"
    empty.write_text("")
    empty.chmod(0o600)
    for log in (new, empty):
        monkeypatch.setenv("CELLBATCH_ANCHOR_LOG", str(log))
        for options in ((), ("--incremental",)):
            result = cli("--db", db.url, "audit", "verify", *options)
            assert result.code == 1, (log, options, result)
            assert "audit trail intact" not in result.out
            assert (
                f"the anchor log {log} has 0 anchors of this trail; the trail says "
                f"{remaining} were written: the log is missing or replaced"
            ) in result.err, result.err
    assert not new.exists()  # a failed verify starts no new log
    assert empty.read_text() == ""
