#!/usr/bin/env python3
"""Benchmark at thirty years' scale (a script, not a test): ``scripts/bench.py --scale``.

    .venv/bin/python scripts/bench.py --scale [--batches 50000] [--entries 5000000]
                                              [--runs 50] [--db URL] [--keep FILE]
                                              [--only list,show,review,home,cli,ui]
                                              [--skip-cli]
                                              [--skip-ui] [--skip-verify]
                                              [--built] [--build-only]

1. Builds the database: the demo through the real services (every kind of step, QC,
   deviation, correction and signature, a valid audit chain), then copies of its batches
   in bulk, each copied row with its own "create" audit entry chained with the chain
   module's own functions, and "show" entries (every read is recorded) until the trail
   holds ``--entries`` entries. The chain stays valid: ``audit verify`` passes on it.
2. Measures, each against its floor in the same run (the same work done by the bare library
   underneath), alternating A B A B after a warm-up, p50 and p95 of ``--runs`` runs:
   CLI start, the batch list's first and last page, batch show, review, the home screen's
   data, log-in to home in the terminal UI, and audit verify (full; incremental when the
   chain module offers it), with entries per second.

Goals (issue 15): batch list, batch show, review and home data p95 < 50 ms at 50 000 batches
and 5 000 000 audit entries, on SQLite and PostgreSQL (``scripts/with-postgres``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL_MS = 50.0
CHUNK = 250
"""Batches copied per transaction."""


# ----------------------------------------------------------------------------- building


def entry_hasher(db) -> Callable[[dict[str, Any]], str]:
    """The chain's own hash of an audit entry (keyed when the chain module is keyed)."""
    from cellbatch.db import audit_chain as chain

    if hasattr(chain, "entry_mac"):
        secret = db.site_key().secret
        return lambda values: chain.entry_mac(secret, values)
    return chain.entry_hash


def build(url: str, batches: int, entries: int) -> None:
    """The demo through the services, then copies of its batches and reads, in bulk."""
    from sqlalchemy import func, insert, select, text

    from cellbatch.db.tables import (
        AuditEntry,
        AuditHead,
        Batch,
        Correction,
        Deviation,
        MaterialUse,
        QcResult,
        Signature,
        StepEntry,
        User,
    )
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.database import init_database
    from cellbatch.services.demo import load_demo

    started = time.perf_counter()
    db, _ = init_database(url)
    load_demo(db, render_labels=render_labels)
    print(f"  demo through the services: {time.perf_counter() - started:.1f} s")
    hasher = entry_hasher(db)
    tables = (StepEntry, QcResult, Deviation, Correction, Signature)
    with db.session() as session:
        templates = []
        for batch in session.execute(select(Batch).order_by(Batch.id)).scalars():
            rows = {
                model: [
                    _columns(r)
                    for r in session.execute(
                        select(model).where(model.batch_id == batch.id).order_by(model.id)
                    ).scalars()
                ]
                for model in tables
            }
            step_ids = [r["id"] for r in rows[StepEntry]]
            rows[MaterialUse] = [
                _columns(u)
                for u in session.execute(
                    select(MaterialUse)
                    .where(MaterialUse.step_entry_id.in_(step_ids))
                    .order_by(MaterialUse.id)
                ).scalars()
            ]
            templates.append((_columns(batch), rows))
        next_id = {
            model: (session.execute(select(func.max(model.id))).scalar() or 0) + 1
            for model in (Batch, MaterialUse, *tables)
        }
        head = session.get(AuditHead, 1)
        seq, prev = head.seq, head.hash
        last_at = session.execute(select(func.max(AuditEntry.at))).scalar()
        tech = session.execute(select(User).where(User.username == "tech1")).scalar_one()
        have_batches = session.execute(select(func.count()).select_from(Batch)).scalar_one()
    at = chain_time(last_at)
    copies = max(0, batches - have_batches)
    per_batch_rows = sum(1 + sum(len(v) for v in rows.values()) for _b, rows in templates) / len(
        templates
    )
    reads = max(0, entries - seq - int(copies * per_batch_rows))
    reads_each = reads // copies if copies else 0
    trail = Trail(seq, prev, at, tech, hasher)
    started = time.perf_counter()
    made = 0
    while made < copies:
        chunk = min(CHUNK, copies - made)
        order = (Batch, StepEntry, QcResult, Deviation, MaterialUse, Correction, Signature)
        out: dict[Any, list[dict[str, Any]]] = {m: [] for m in order}  # foreign keys first
        for n in range(made, made + chunk):
            source, rows = templates[n % len(templates)]
            ids: dict[tuple[Any, int], int] = {}
            batch = {**source, "id": next_id[Batch], "code": f"S{n:06d}"}
            next_id[Batch] += 1
            if batch["recipient_id"]:
                batch["recipient_id"] = f"R{n:06d}"
            out[Batch].append(batch)
            trail.create(Batch, batch, batch["id"])
            for model in (StepEntry, QcResult, Deviation, MaterialUse, Correction, Signature):
                for old in rows[model]:
                    row = {**old, "id": next_id[model]}
                    ids[(model, old["id"])] = next_id[model]
                    next_id[model] += 1
                    if "batch_id" in row:
                        row["batch_id"] = batch["id"]
                    _repoint(row, model, ids, batch["id"])
                    out[model].append(row)
                    trail.create(model, row, batch["id"])
            for _ in range(reads_each):
                trail.read(batch["id"])
        with db.engine.begin() as connection:
            for model, rows in out.items():
                if rows:
                    connection.execute(insert(model.__table__), rows)
            connection.execute(insert(AuditEntry.__table__), trail.entries)
            connection.execute(
                AuditHead.__table__.update()
                .where(AuditHead.id == 1)
                .values(seq=trail.seq, hash=trail.prev)
            )
        trail.entries = []
        made += chunk
        if made % (CHUNK * 20) == 0 or made == copies:
            took = time.perf_counter() - started
            print(f"  {made} batches copied, trail at #{trail.seq} ({took:.0f} s)", flush=True)
    if db.backend == "postgresql":
        with db.engine.begin() as connection:
            for model in (Batch, MaterialUse, *tables):
                name = model.__tablename__
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
            connection.execute(text("ANALYZE"))
    elif db.backend == "sqlite":
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    db.dispose()


class Trail:
    """The audit entries of the bulk copy, chained after the trail's head as a write would."""

    def __init__(self, seq: int, prev: str, at: datetime, user, hasher) -> None:
        self.seq, self.prev, self.at, self.user, self.hasher = seq, prev, at, user, hasher
        self.entries: list[dict[str, Any]] = []

    def _append(self, **values: Any) -> None:
        from cellbatch.db.audit_chain import ENTRY_FIELDS

        self.seq += 1
        self.at += timedelta(microseconds=1)
        entry = {name: None for name in ENTRY_FIELDS}
        entry.update(
            seq=self.seq,
            at=self.at,
            user_id=self.user.id,
            username=self.user.username,
            prev_hash=self.prev,
            **values,
        )
        entry["hash"] = self.prev = self.hasher(entry)
        self.entries.append(entry)

    def create(self, model, values: dict[str, Any], batch_id: int) -> None:
        """The entry of a row written, with its full content and its hash (as ``uow.add``)."""
        from cellbatch.db import audit_chain as chain

        row = SimpleNamespace(**values, __table__=model.__table__)
        self._append(
            action="create",
            entity=model.__tablename__,
            entity_id=str(values["id"]),
            batch_id=batch_id,
            new_value=chain.dumps(chain.public_content(row)),
            row_hash=chain.row_hash(row),
        )

    def read(self, batch_id: int) -> None:
        """The entry of a batch shown to someone (every read is recorded)."""
        self._append(
            action="show",
            entity="batch",
            entity_id=str(batch_id),
            batch_id=batch_id,
            new_value='{"what": "batch show"}',
        )


def append_reads(db, count: int) -> None:
    """``count`` more "show" entries at the end of the trail, chained as a write would."""
    from sqlalchemy import func, insert, select

    from cellbatch.db.tables import AuditEntry, AuditHead, Batch, User

    with db.session() as session:
        head = session.get(AuditHead, 1)
        last_at = session.execute(select(func.max(AuditEntry.at))).scalar()
        user = session.execute(select(User).where(User.username == "tech1")).scalar_one()
        batch_id = session.execute(select(func.max(Batch.id))).scalar_one()
        trail = Trail(head.seq, head.hash, chain_time(last_at), user, entry_hasher(db))
    for _ in range(count):
        trail.read(batch_id)
    with db.engine.begin() as connection:
        connection.execute(insert(AuditEntry.__table__), trail.entries)
        connection.execute(
            AuditHead.__table__.update()
            .where(AuditHead.id == 1)
            .values(seq=trail.seq, hash=trail.prev)
        )


def chain_time(last: datetime | None) -> datetime:
    """An aware UTC time just after the trail's last entry (the trail's times never go back)."""
    if last is None:
        return datetime.now(UTC)
    return (last if last.tzinfo else last.replace(tzinfo=UTC)) + timedelta(milliseconds=1)


def _columns(row) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in row.__table__.columns}


def _repoint(row: dict[str, Any], model, ids: dict, batch_id: int) -> None:
    """Point a copied row at the copies of the rows it refers to."""
    from cellbatch.db.tables import Deviation, MaterialUse, QcResult, StepEntry

    names = {"step_entry": StepEntry, "qc_result": QcResult, "deviation": Deviation}
    if model is MaterialUse:
        row["step_entry_id"] = ids[(StepEntry, row["step_entry_id"])]
    elif model is QcResult and row.get("retest_of_id"):
        row["retest_of_id"] = ids[(QcResult, row["retest_of_id"])]
    elif model is Deviation and row.get("qc_result_id"):
        row["qc_result_id"] = ids[(QcResult, row["qc_result_id"])]
    elif "entity" in row and "entity_id" in row:  # a correction or a signature
        if row["entity"] == "batch":
            row["entity_id"] = batch_id
        elif row["entity"] in names:
            row["entity_id"] = ids.get((names[row["entity"]], row["entity_id"]), row["entity_id"])


# ----------------------------------------------------------------------------- measuring


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def alternate(ours: Callable[[], Any], floor: Callable[[], Any], runs: int):
    """Run ``ours`` and ``floor`` alternately (A B A B) after one warm-up of each.

    Each side's list holds (wall, CPU) seconds per run: CPU time is this process's
    (``time.process_time``), the figure a machine shared with other jobs disturbs least.
    """
    ours(), floor()
    a, b = [], []
    for _ in range(runs):
        for side, action in ((a, ours), (b, floor)):
            cpu, start = time.process_time(), time.perf_counter()
            action()
            side.append((time.perf_counter() - start, time.process_time() - cpu))
    return a, b


ROWS: list[str] = []
HEADER = (
    "| what | cellbatch p50 / p95 (ms) | floor p50 / p95 (ms) | ratio (p50) "
    "| CPU p50 cellbatch / floor (ms) | load | goal |\n|---|---|---|---|---|---|---|"
)


def report(what: str, a: list, b: list, *, goal_ms: float | None = None) -> None:
    """One line: p50 and p95 of ours and of the floor, their ratio, CPU medians, load."""
    wall_a = [x[0] if isinstance(x, tuple) else x for x in a]
    wall_b = [x[0] if isinstance(x, tuple) else x for x in b]
    a50, a95, b50, b95 = (
        statistics.median(wall_a) * 1e3,
        percentile(wall_a, 95) * 1e3,
        statistics.median(wall_b) * 1e3,
        percentile(wall_b, 95) * 1e3,
    )
    cpu = "—"
    if a and isinstance(a[0], tuple) and isinstance(b[0], tuple):
        cpu_a = statistics.median(x[1] for x in a) * 1e3
        cpu_b = statistics.median(x[1] for x in b) * 1e3
        cpu = f"{cpu_a:.1f} / {cpu_b:.1f}"
    verdict = ""
    if goal_ms is not None:
        verdict = "ok" if a95 < goal_ms else f"ABOVE {goal_ms:g} ms"
    load = f"{os.getloadavg()[0]:.1f}"
    line = (
        f"| {what} | {a50:.1f} / {a95:.1f} | {b50:.1f} / {b95:.1f} | {a50 / b50:.2f}× "
        f"| {cpu} | {load} | {verdict} |"
    )
    ROWS.append(line)
    print(line, flush=True)


def floors(db):
    """The bare library's work for each read: the same rows, selected with SQLAlchemy Core."""
    from sqlalchemy import func, select

    from cellbatch.db.tables import (
        Batch,
        Correction,
        Deviation,
        MaterialLot,
        MaterialUse,
        QcResult,
        Signature,
        SopVersion,
        StepEntry,
    )

    b, s = Batch.__table__, SopVersion.__table__
    parent = b.alias("parent")

    def page(offset: int):
        with db.engine.connect() as c:
            return c.execute(
                select(b, s.c.sop_id, s.c.version, parent.c.code)
                .join(s, s.c.id == b.c.sop_version_id)
                .outerjoin(parent, parent.c.id == b.c.parent_batch_id)
                .order_by(b.c.started_at.desc(), b.c.id.desc())
                .offset(offset)
                .limit(50)
            ).all()

    def batch_rows(code: str):
        with db.engine.connect() as c:
            batch = c.execute(select(b).where(b.c.code == code)).one()
            out = [batch]
            for table in (StepEntry, QcResult, Correction, Deviation, Signature):
                t = table.__table__
                out.append(c.execute(select(t).where(t.c.batch_id == batch.id)).all())
            e = StepEntry.__table__
            u = MaterialUse.__table__
            out.append(
                c.execute(
                    select(u).join(e, e.c.id == u.c.step_entry_id).where(e.c.batch_id == batch.id)
                ).all()
            )
            return out

    def home(today: date):
        with db.engine.connect() as c:
            shown = []
            for status in ("in-process", "quarantine"):
                shown += c.execute(
                    select(b)
                    .where(b.c.status == status)
                    .order_by(b.c.started_at.desc(), b.c.id.desc())
                    .limit(50)
                ).all()
            ids = [r.id for r in shown]
            for table in (StepEntry, QcResult, Signature):
                t = table.__table__
                c.execute(select(t).where(t.c.batch_id.in_(ids))).all()
            d, m = Deviation.__table__, MaterialLot.__table__
            newest = select(d).where(d.c.status == "open").order_by(d.c.id.desc()).limit(50)
            c.execute(newest).all()
            c.execute(select(func.count()).select_from(d).where(d.c.status == "open")).one()
            c.execute(select(m).where(m.c.expires_on <= today + timedelta(days=30))).all()
            return shown

    return page, batch_rows, home


def floor_after(db):
    """The floor of a keyset page: the batch's key, then the 50 rows before it in the index."""
    from sqlalchemy import select, tuple_

    from cellbatch.db.tables import Batch, SopVersion

    b, s = Batch.__table__, SopVersion.__table__
    parent = b.alias("parent")

    def page(code: str):
        with db.engine.connect() as c:
            key = c.execute(select(b.c.started_at, b.c.id).where(b.c.code == code)).one()
            return c.execute(
                select(b, s.c.sop_id, s.c.version, parent.c.code)
                .join(s, s.c.id == b.c.sop_version_id)
                .outerjoin(parent, parent.c.id == b.c.parent_batch_id)
                .where(tuple_(b.c.started_at, b.c.id) < tuple_(*key))
                .order_by(b.c.started_at.desc(), b.c.id.desc())
                .limit(50)
            ).all()

    return page


QUERIES = ("list", "show", "review", "home")
"""The reads ``--only`` can pick: the batch list's pages, batch show, review, home data."""
PARTS = ("cli", "ui")
"""The rest ``--only`` can pick: the CLI's start, log-in to home in the terminal UI."""


def measure_queries(url: str, runs: int, only: frozenset[str] = frozenset(QUERIES)) -> None:
    """Batch list, batch show, review and home data against their floors (those in ``only``)."""
    from cellbatch.services.auth import authenticate
    from cellbatch.services.database import open_database
    from cellbatch.services.queries.batch_view import batch_view
    from cellbatch.services.queries.batches import count_batches, list_batches
    from cellbatch.services.queries.home import home_data
    from cellbatch.services.queries.review import review

    db = open_database(url)
    total = count_batches(db)
    page, batch_rows, home = floors(db)
    qa = authenticate(db, "qa1", "demo-qa1-pass")
    today = datetime.now(UTC).date()
    last = max(0, total - 50)
    print(f"  {total} batches")
    if "list" in only:
        report(
            "batch list, first page (50)",
            *alternate(lambda: list_batches(db, limit=50), lambda: page(0), runs),
            goal_ms=GOAL_MS,
        )
        report(
            "batch list, last page (50)",
            *alternate(lambda: list_batches(db, offset=last, limit=50), lambda: page(last), runs),
            goal_ms=GOAL_MS,
        )
        before_last = list_batches(db, offset=max(0, last - 1), limit=1)[0].code
        keyset = floor_after(db)
        report(
            "batch list, last page (50) after the batch before it (`--after`)",
            *alternate(
                lambda: list_batches(db, after=before_last, limit=50),
                lambda: keyset(before_last),
                runs,
            ),
            goal_ms=GOAL_MS,
        )
    code = list_batches(db, offset=total // 2, limit=1)[0].code
    for key, name, read in (("show", "batch show", batch_view), ("review", "review", review)):
        if key not in only:
            continue
        for which in ("EASC-D001", code):
            report(
                f"{name} ({which})",
                *alternate(lambda r=read, w=which: r(db, w), lambda w=which: batch_rows(w), runs),
                goal_ms=GOAL_MS,
            )
    if "home" in only:
        report(
            "home screen data",
            *alternate(lambda: home_data(db, qa, today), lambda: home(today), runs),
            goal_ms=GOAL_MS,
        )
    db.dispose()


def measure_verify(url: str, runs: int = 3) -> None:
    """Audit verify, full and (when the chain offers it) incremental.

    The full verify against the issue's floor: the bare driver (sqlite3, psycopg) reading
    every row of every table and hashing each with SHA-256; alternating A B A B after a
    warm-up of each, medians of ``runs``, in wall time and in this process's CPU time (the
    figure a machine shared with other jobs disturbs least).
    """
    from cellbatch.services.database import open_database

    try:
        from cellbatch.services.queries.audit_verify import verify_trail
    except ImportError:
        from cellbatch.services.queries.audit import verify_trail

    db = open_database(url)
    result = None

    def ours() -> None:
        nonlocal result
        result = verify_trail(db)

    def floor() -> None:
        bare_floor(db)

    walls: dict[str, list[float]] = {"ours": [], "floor": []}
    cpus: dict[str, list[float]] = {"ours": [], "floor": []}
    ours(), floor()
    for _ in range(runs):
        for key, action in (("ours", ours), ("floor", floor)):
            wall, cpu = time.perf_counter(), time.process_time()
            action()
            walls[key].append(time.perf_counter() - wall)
            cpus[key].append(time.process_time() - cpu)
    ours_s, floor_s = statistics.median(walls["ours"]), statistics.median(walls["floor"])
    ours_cpu, floor_cpu = statistics.median(cpus["ours"]), statistics.median(cpus["floor"])
    count = result.entries_checked
    state = "intact" if result.ok else f"BROKEN: {result.problems[:2]}"
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"  full verify ({state}, load average {load}, {os.cpu_count()} cores): "
        f"{count:,} entries, {result.rows_checked:,} records; "
        f"wall {ours_s:.1f} s ({count / ours_s:,.0f} entries/s), floor {floor_s:.1f} s, "
        f"{ours_s / floor_s:.2f}x; CPU {ours_cpu:.1f} s ({count / ours_cpu:,.0f} entries/s), "
        f"floor {floor_cpu:.1f} s, {ours_cpu / floor_cpu:.2f}x (medians of {runs})",
        flush=True,
    )
    ROWS.append(
        f"| audit verify, full ({count:,} entries) | {ours_s * 1e3:.0f} | "
        f"{floor_s * 1e3:.0f} | {ours_s / floor_s:.2f}× (CPU {ours_cpu / floor_cpu:.2f}×) | "
        f"{count / ours_s:,.0f} entries/s (CPU {count / ours_cpu:,.0f}) |"
    )
    if "incremental" in inspect.signature(verify_trail).parameters and result.ok:
        from cellbatch.services.audit_anchor import verified_anchor, write_anchor

        write_anchor(
            db, "verified", verified_anchor(db, result.chain_id, result.head_seq, result.head_hash)
        )
        append_reads(db, 1000)
        start = time.perf_counter()
        inc = verify_trail(db, incremental=True)
        took = time.perf_counter() - start
        state = "intact" if inc.ok else f"BROKEN: {inc.problems[:2]}"
        print(
            f"  incremental verify: {inc.entries_checked} entries in {took * 1e3:.0f} ms, {state}"
        )
        ROWS.append(
            f"| audit verify, incremental ({inc.entries_checked:,} new entries) | "
            f"{took * 1e3:.0f} | | | goal < 1 s: {'ok' if took < 1 else 'ABOVE'} |"
        )
    else:
        print("  incremental verify: not offered by this chain module (or the trail is broken)")
    db.dispose()


def bare_floor(db) -> int:
    """The bare driver reading every row of every table, hashing each with SHA-256."""
    if db.backend == "sqlite":
        import sqlite3

        connection = sqlite3.connect(db.files()[0])
        tables = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        import psycopg

        connection = psycopg.connect(
            db.engine.url.render_as_string(hide_password=False).replace("+psycopg", "")
        )
        tables = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    count = 0
    try:
        for (name,) in connection.execute(tables).fetchall():
            cursor = connection.cursor()
            cursor.execute(f'SELECT * FROM "{name}"')
            while chunk := cursor.fetchmany(5000):
                for row in chunk:
                    hashlib.sha256(repr(row).encode()).digest()
                    count += 1
            cursor.close()
    finally:
        connection.close()
    return count


def measure_cli_start(runs: int) -> None:
    """``cellbatch --help`` against a bare Typer app with as many commands."""
    from bench_startup import bare_typer_source

    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(bare_typer_source(), encoding="utf-8")

        def ours() -> None:
            subprocess.run([str(bin_dir / "cellbatch"), "--help"], capture_output=True, check=True)

        def floor() -> None:
            subprocess.run([sys.executable, str(bare), "--help"], capture_output=True, check=True)

        a, b = alternate(ours, floor, runs)  # this process's CPU time is not the child's
        report("CLI start (`cellbatch --help`)", [w for w, _ in a], [w for w, _ in b])


def measure_login_to_home(url: str, runs: int) -> None:
    """From Enter on the password to the home screen filled, in the terminal UI (Pilot).

    Against a bare Textual app that checks the same scrypt hash and selects the home's rows.
    Twice: Enter pressed as soon as the log-in screen shows (the log-in then waits for the
    UI's warm-up, which opens the database and imports the services behind the screen), and
    once the warm-up is done, as when a person types user ID and password.
    """
    from sqlalchemy import select
    from textual.app import App
    from textual.widgets import DataTable, Input

    from cellbatch.db.tables import User
    from cellbatch.services.database import open_database
    from cellbatch.services.passwords import check_password
    from cellbatch.tui.app import build_app

    db = open_database(url)
    _page, _rows, home = floors(db)
    with db.session() as session:
        stored = session.execute(select(User).where(User.username == "tech1")).scalar_one()
        stored_hash = stored.password_hash
    today = datetime.now(UTC).date()

    class Bare(App):
        def compose(self):
            yield Input(id="user")
            yield Input(id="password", password=True)

        def on_input_submitted(self, event) -> None:
            if event.input.id == "user":
                self.query_one("#password", Input).focus()
            else:
                self.run_worker(self.load, thread=True)

        def load(self) -> None:
            check_password("demo-tech1-pass", stored_hash)
            rows = home(today)
            self.call_from_thread(self.show, rows)

        def show(self, rows) -> None:
            table = DataTable(id="home")
            self.mount(table)
            table.add_columns("code", "kind")
            for r in rows:
                table.add_row(r.code, r.kind)

    async def ours_once(warm: bool) -> float:
        app = build_app(url, idle_lock_seconds=10**6)
        async with app.run_test(size=(100, 32)) as pilot:
            while type(app.screen).__name__ != "LoginScreen":
                await pilot.pause()
            if warm:  # a person types for longer than the warm-up takes
                await asyncio.to_thread(app.wait_for_warm_up)
            await pilot.press(*"tech1", "enter", *"demo-tech1-pass")
            start = time.perf_counter()
            await pilot.press("enter")
            while type(app.screen).__name__ != "HomeScreen":
                await pilot.pause(0.001)
            while getattr(app.screen, "data", None) is None:
                await pilot.pause(0.001)
            return time.perf_counter() - start

    async def floor_once() -> float:
        app = Bare()
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press(*"tech1", "enter", *"demo-tech1-pass")
            start = time.perf_counter()
            await pilot.press("enter")
            while not app.query("#home"):
                await pilot.pause(0.001)
            return time.perf_counter() - start

    for warm, what in (
        (False, "log-in to home (terminal UI), Enter as soon as the log-in screen shows"),
        (True, "log-in to home (terminal UI), Enter once the UI's warm-up is done"),
    ):
        a, b = [], []
        asyncio.run(ours_once(warm)), asyncio.run(floor_once())
        for _ in range(runs):
            a.append(asyncio.run(ours_once(warm)))
            b.append(asyncio.run(floor_once()))
        report(what, a, b)
    db.dispose()


def main(argv: list[str] | None = None) -> None:
    """Build (or reuse) the scale database, then measure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=50_000)
    parser.add_argument("--entries", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--db", help="database URL (default: a SQLite file)")
    parser.add_argument("--keep", help="SQLite file to build once and reuse")
    parser.add_argument("--skip-verify", action="store_true", help="do not time audit verify")
    parser.add_argument(
        "--built", action="store_true", help="the database at --db is built already: measure it"
    )
    parser.add_argument("--build-only", action="store_true", help="build, and do not measure")
    parser.add_argument("--skip-ui", action="store_true", help="do not time the terminal UI")
    parser.add_argument(
        "--verify-only", action="store_true", help="time audit verify only (full, incremental)"
    )
    parser.add_argument("--verify-runs", type=int, default=3, help="runs of the full verify")
    parser.add_argument("--skip-cli", action="store_true", help="do not time the CLI's start")
    parser.add_argument(
        "--only",
        help=f"time only these, comma-separated, of {','.join(QUERIES + PARTS)} "
        "(cli: the CLI's start, ui: log-in to home; never audit verify)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{args.keep or Path(tmp) / 'scale.db'}"
        fresh = not args.built and not (args.keep and Path(args.keep).exists())
        if "CELLBATCH_DATA_DIR" not in os.environ:  # the site key and anchor log of this run
            data = Path(f"{args.keep}.data") if args.keep else Path(tmp) / "data"
            os.environ["CELLBATCH_DATA_DIR"] = str(data)
        print(f"scale benchmark on {url.split('@')[-1]}")
        if fresh:
            started = time.perf_counter()
            build(url, args.batches, args.entries)
            print(f"  built in {time.perf_counter() - started:.0f} s")
        if args.build_only:
            return
        print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()}")
        print(HEADER)
        only = frozenset(args.only.split(",")) if args.only else frozenset(QUERIES + PARTS)
        if only - set(QUERIES + PARTS):
            parser.error(f"--only: expected some of {','.join(QUERIES + PARTS)}, got {args.only}")
        everything = not args.only and not args.verify_only
        if "cli" in only and not args.verify_only and not args.skip_cli:
            measure_cli_start(min(args.runs, 20))
        if only & set(QUERIES) and not args.verify_only:
            measure_queries(url, args.runs, only)
        if "ui" in only and not args.verify_only and not args.skip_ui:
            measure_login_to_home(url, min(args.runs, 10))
        if (everything or args.verify_only) and not args.skip_verify:
            measure_verify(url, args.verify_runs)
        print(f"\nsummary ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()})")
        print(HEADER)
        print("\n".join(ROWS))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
