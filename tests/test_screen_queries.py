"""The home, batch and review screens read in a bounded number of SQL statements (issue 15).

Each screen's read service is counted with an SQLAlchemy event listener on the engine: the
count is the same with the demo's batches and with 300, and the same after a batch gains
entries and signatures, so it cannot grow again unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import event, select

import cellbatch.services.queries.signatures as signatures
from cellbatch.db.audit_chain import dumps, row_content
from cellbatch.db.tables import (
    Bag,
    Batch,
    Deviation,
    MaterialUse,
    QcResult,
    StepEntry,
    Vial,
)
from cellbatch.services.auth import authenticate
from cellbatch.services.commands.qc import record_qc
from cellbatch.services.commands.verification import verify
from cellbatch.services.queries.batches import count_batches, list_batches
from cellbatch.services.queries.deviations import deviation_list, list_deviations
from cellbatch.services.queries.home import HOME_BATCHES, HOME_DEVIATIONS, home_data
from cellbatch.services.queries.screens import batch_screen, review_screen
from tests.bulk_batches import clone_batches

TODAY = date(2026, 12, 2)


def pw(user: str) -> str:
    return f"demo-{user}-pass"


def statements(db, read: Callable[[], object]) -> int:
    """How many SQL statements ``read`` sends to the database."""
    sent: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        read()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(sent)


GROWING = frozenset(
    {
        "audit_entry", "bag", "batch", "correction", "deviation", "held_batch", "material_use",
        "print_event", "printed_label", "qc_result", "release_decision", "signature",
        "step_entry", "vial",
    }
)  # fmt: skip
"""Tables that grow with the batches made: a screen reads them by an index, never whole."""


def full_reads(db, read: Callable[[], object]) -> list[str]:
    """The statements ``read`` sends whose plan reads a growing table whole.

    SQLite's plan names a whole read ``SCAN <table>`` (``SEARCH`` is by an index);
    PostgreSQL, told to avoid sequential scans, still plans one where no index serves.
    """
    sent: list[tuple[str, object]] = []

    def grab(_conn, _cursor, statement, parameters, *_args) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        read()
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    whole = []
    with db.engine.connect() as connection:
        if db.backend == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in sent:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            if db.backend == "sqlite":
                plan = [
                    row[3]
                    for row in connection.exec_driver_sql(
                        f"EXPLAIN QUERY PLAN {statement}", parameters
                    )
                ]
                scanned = {p.split()[1] for p in plan if p.startswith("SCAN ")}
            else:
                plan = [
                    row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                ]
                scanned = {
                    p.split("Seq Scan on ")[1].split()[0] for p in plan if "Seq Scan on " in p
                }
            if scanned & GROWING:
                whole.append(f"{sorted(scanned & GROWING)}: {' '.join(statement.split())[:160]}")
    return whole


def screens(db, qa) -> dict[str, Callable[[], object]]:
    """Each screen's read, as the terminal UI calls it."""
    out: dict[str, Callable[[], object]] = {"home": lambda: home_data(db, qa, TODAY)}
    for code in ("EASC-D001", "EASC-B001"):
        out[f"batch {code}"] = lambda c=code: batch_screen(db, c, audit_offset=0, audit_page=50)
        out[f"review {code}"] = lambda c=code: review_screen(db, c, qa)
    return out


def counts(db, qa) -> dict[str, int]:
    return {name: statements(db, read) for name, read in screens(db, qa).items()}


def test_screens_take_as_many_statements_for_300_batches_as_for_the_demo(demo_db) -> None:
    qa = authenticate(demo_db, "qa1", pw("qa1"))
    few = counts(demo_db, qa)
    demo_home = home_data(demo_db, qa, TODAY)
    codes = [b.code for b in list_batches(demo_db)]
    for code in codes:
        clone_batches(demo_db, code, 300 // len(codes) - 1)
    assert count_batches(demo_db) >= 300
    home = home_data(demo_db, qa, TODAY)
    assert len(home.in_process) + len(home.awaiting_decision) == HOME_BATCHES  # it did grow
    assert len(home.verifications) > len(demo_home.verifications)
    assert counts(demo_db, qa) == few


def test_home_lists_the_newest_open_deviations_and_counts_them_all(demo_db) -> None:
    """Thirty years of open deviations: the home lists the newest and says how many there are."""
    qa = authenticate(demo_db, "qa1", pw("qa1"))
    codes = [b.code for b in list_batches(demo_db)]
    for code in codes:
        clone_batches(demo_db, code, 300 // len(codes) - 1)
    open_ids = sorted(
        (int(d.id.removeprefix("D")) for d in list_deviations(demo_db) if d.status == "open"),
        reverse=True,
    )
    assert len(open_ids) > HOME_DEVIATIONS  # more than the home lists
    home = home_data(demo_db, qa, TODAY)
    assert home.open_deviations == len(open_ids)
    assert [int(d.id.removeprefix("D")) for d in home.deviations] == open_ids[:HOME_DEVIATIONS]


def test_the_list_of_every_deviation_is_bounded_and_counts_them_all(demo_db) -> None:
    """The palette's list of every batch's deviations reads as fast with 300 batches' worth.

    Its lines are those of the full list (open first, oldest first), cut at the limit, in the
    same number of statements whatever the number of deviations.
    """
    few = statements(demo_db, lambda: deviation_list(demo_db))
    codes = [b.code for b in list_batches(demo_db)]
    for code in codes:
        clone_batches(demo_db, code, 300 // len(codes) - 1)
    every = sorted(list_deviations(demo_db), key=lambda d: (d.status != "open", d.opened_at))
    found = deviation_list(demo_db, limit=40)
    assert found.total == len(every) > 40
    assert found.open == sum(1 for d in every if d.status == "open")
    assert [(d.id, d.batch, d.status, d.opened_by) for d in found.lines] == [
        (d.id, d.batch, d.status, d.opened_by) for d in every[:40]
    ]
    assert statements(demo_db, lambda: deviation_list(demo_db)) == few


def test_batch_and_review_screens_take_as_many_statements_for_more_entries(demo_db) -> None:
    qa = authenticate(demo_db, "qa1", pw("qa1"))
    tech = authenticate(demo_db, "tech1", pw("tech1"))
    few = counts(demo_db, qa)
    for _ in range(4):
        result = record_qc(demo_db, tech, "EASC-D001", test="gram-stain-release", value="negative")
        verify(demo_db, "sup1", pw("sup1"), "EASC-D001", f"Q{result}")
    assert counts(demo_db, qa) == few


def test_a_screen_computes_signature_validity_once(demo_db, monkeypatch) -> None:
    qa = authenticate(demo_db, "qa1", pw("qa1"))
    computed: list[int] = []
    compute = signatures._signature_views

    def counting(session, batch):
        computed.append(batch.id)
        return compute(session, batch)

    monkeypatch.setattr(signatures, "_signature_views", counting)
    for name, read in screens(demo_db, qa).items():
        computed.clear()
        read()
        assert len(computed) == len(set(computed)), name
        assert len(computed) <= (0 if name == "home" else 1), name


def test_screens_read_no_growing_table_whole(demo_db) -> None:
    """Every statement of the home, batch and review screens reads by an index (issue 15).

    The bank's batch screen lists the dose batches made from it: without an index on the
    parent batch, that read every batch (9 ms of the bank's screen at 50 000 batches).
    """
    qa = authenticate(demo_db, "qa1", pw("qa1"))
    for name, read in screens(demo_db, qa).items():
        assert full_reads(demo_db, read) == [], name


def test_plain_rows_hash_as_their_table_objects(demo_db) -> None:
    """The home hashes plain rows; their content is the audit chain's content of each row.

    Every row of the demo's signable tables (times, floats, JSON values, text, flags).
    """
    models = (StepEntry, QcResult, Deviation, MaterialUse, Batch, Vial, Bag)
    with demo_db.session() as session:
        for model in models:
            plain = session.execute(select(model.__table__).order_by(model.id)).all()
            objects = session.execute(select(model).order_by(model.id)).scalars().all()
            assert plain, model.__tablename__
            for row, obj in zip(plain, objects, strict=True):
                assert signatures.content_of(row) == row_content(obj)
                assert dumps(signatures.content_of(obj)) == dumps(row_content(obj))


def test_home_sees_a_verified_entry_changed_between_two_reads(demo_db) -> None:
    """The home remembers content hashes by the rows' values: a changed row is hashed afresh.

    E10 (the dose batch's thaw) is verified; changed outside cellbatch between two readings,
    its verification shows invalid on the next; changed back, valid again.
    """
    qa = authenticate(demo_db, "qa1", pw("qa1"))

    def shown() -> dict[str, str]:
        return {v.ref: v.status for v in home_data(demo_db, qa, TODAY).verifications}

    assert "E10" not in shown()
    assert "E10" not in shown()  # read again: the same rows, the remembered hash
    with demo_db.engine.begin() as connection:
        (before,) = connection.execute(select(StepEntry.passage).where(StepEntry.id == 10)).one()
        connection.execute(
            StepEntry.__table__.update().where(StepEntry.id == 10).values(passage=(before or 0) + 1)
        )
    assert shown()["E10"] == "invalid"
    with demo_db.engine.begin() as connection:
        connection.execute(
            StepEntry.__table__.update().where(StepEntry.id == 10).values(passage=before)
        )
    assert "E10" not in shown()
