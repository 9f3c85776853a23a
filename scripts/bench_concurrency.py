"""Concurrency benchmark (not a test): many terminals writing at once, on SQLite and PostgreSQL.

    .venv/bin/python scripts/bench_concurrency.py [--writers 8] [--writes 40] [--race-rounds 10]

For each backend, on a throw-away database holding the demo data: ``--writers`` processes,
released together, each record ``--writes`` QC results through the real service (log-in
done before; each write is one audited transaction under the write lock), first all on
the same batch, then each on a batch of its own. Reported: writes per second, and the
p50/p99 wait for the write lock (from asking for a write session to holding it) and of
a whole write. The floor is the bare library in the same run: the same processes doing
one-row INSERT transactions through SQLAlchemy, with the same lock (and, on PostgreSQL,
without it, which shows what the global write lock itself costs).

Then the race harness of the test suite (tests/test_concurrency.py) runs with
``--race-rounds`` rounds per race on both backends (0 skips it).

PostgreSQL: when CELLBATCH_TEST_PG_URL is not set, the script runs itself again inside
scripts/with-postgres (a throw-away server on a free port).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

_FORK = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Run:
    """One writer's measurements: seconds per lock wait and per write; failures as text."""

    waits: list[float]
    writes: list[float]
    failures: list[str]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _timed_database(url: str):
    from cellbatch.db.database import Database

    class TimedDatabase(Database):
        """A database that notes how long each unit of work waited for the write lock."""

        waits: list[float] = []

        def write_session(self):
            start = time.perf_counter()
            session = super().write_session()
            self.waits.append(time.perf_counter() - start)
            return session

    db = TimedDatabase(url)
    db.waits = []
    return db


def _qc_writer(url: str, code: str, writes: int, barrier, queue) -> None:
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands.qc import record_qc

    db = _timed_database(url)
    tech = authenticate(db, "tech1", "demo-tech1-pass")
    times, failures = [], []
    barrier.wait(timeout=120)
    for _ in range(writes):
        start = time.perf_counter()
        try:
            record_qc(db, tech, code, test="viability", value="94 %", stage="in-process")
        except Exception as exc:  # counted and printed: a benchmark must show failures
            failures.append(f"{type(exc).__name__}: {exc}")
        times.append(time.perf_counter() - start)
    queue.put(Run(db.waits, times, failures))


def _floor_writer(url: str, locked: bool, writes: int, barrier, queue) -> None:
    from sqlalchemy import text

    from cellbatch.db import locks
    from cellbatch.db.engine import WRITE_OPTION, make_engine

    engine = make_engine(url).execution_options(**{WRITE_OPTION: True})
    insert = text("INSERT INTO bench_floor (writer, n) VALUES (:w, :n)")
    waits, times, failures = [], [], []
    barrier.wait(timeout=120)
    for n in range(writes):
        start = time.perf_counter()
        try:
            with engine.begin() as connection:
                if locked:
                    locks.hold(connection, locks.WRITE_LOCK)
                waits.append(time.perf_counter() - start)
                connection.execute(insert, {"w": os.getpid(), "n": n})
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        times.append(time.perf_counter() - start)
    queue.put(Run(waits, times, failures))


def _together(target, args_per_writer: list[tuple]) -> tuple[float, Run]:
    """Run one process per argument tuple, released together; wall time and pooled runs."""
    barrier = _FORK.Barrier(len(args_per_writer) + 1)
    queue = _FORK.Queue()
    processes = [
        _FORK.Process(target=target, args=(*args, barrier, queue)) for args in args_per_writer
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    start = time.perf_counter()
    runs = [queue.get(timeout=600) for _ in processes]
    wall = time.perf_counter() - start
    for process in processes:
        process.join()
    return wall, Run(
        [w for r in runs for w in r.waits],
        [t for r in runs for t in r.writes],
        [f for r in runs for f in r.failures],
    )


def _line(label: str, wall: float, run: Run, floor: float | None = None) -> float:
    rate = len(run.writes) / wall
    ratio = f"{rate / floor:9.2f}" if floor else f"{'':9}"
    print(
        f"  {label:<34} {len(run.writes):6d} {rate:9.1f} {ratio} "
        f"{_percentile(run.waits, 50) * 1000:8.1f} {_percentile(run.waits, 99) * 1000:8.1f} "
        f"{_percentile(run.writes, 99) * 1000:9.1f}"
    )
    for failure in sorted(set(run.failures))[:5]:
        print(f"      FAILED {run.failures.count(failure)}x: {failure}")
    return rate


def _pg_admin(sql: str) -> str:
    import psycopg

    admin = os.environ["CELLBATCH_TEST_PG_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)
    return admin.rpartition("/")[0]


def _fresh_url(backend: str, folder: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}", None
    name = f"cb_bench_{uuid.uuid4().hex[:8]}"
    return f"{_pg_admin(f'CREATE DATABASE {name}')}/{name}", name


def bench(backend: str, writers: int, writes: int, folder: Path) -> None:
    """Measure one backend: the floor, then cellbatch on one batch and on separate batches."""
    from sqlalchemy import text

    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands import batches
    from cellbatch.services.database import init_database
    from cellbatch.services.demo import load_demo

    url, name = _fresh_url(backend, folder)
    db, _done = init_database(url)
    load_demo(db, render_labels=render_labels)
    tech = authenticate(db, "tech1", "demo-tech1-pass")
    codes = [f"BENCH-{n}" for n in range(writers)]
    for code in codes:
        batches.start_expansion(db, tech, code, lot_number="TL-ADI-0001", sop_id="SOP-EASC-EXP")
    with db.engine.begin() as conn:
        key = "SERIAL" if backend == "postgresql" else "INTEGER"
        conn.execute(
            text(f"CREATE TABLE bench_floor (id {key} PRIMARY KEY, writer INTEGER, n INTEGER)")
        )
    db.dispose()
    print(f"\n{backend}: {writers} writers x {writes} writes each")
    print(
        f"  {'':<34} {'writes':>6} {'writes/s':>9} {'x floor':>9} "
        f"{'p50 lock':>8} {'p99 lock':>8} {'p99 write':>9}   (ms)"
    )
    floor_wall, floor_run = _together(_floor_writer, [(url, True, writes)] * writers)
    floor = _line("bare SQLAlchemy INSERT, write lock", floor_wall, floor_run)
    if backend == "postgresql":
        wall, run = _together(_floor_writer, [(url, False, writes)] * writers)
        _line("bare SQLAlchemy INSERT, no lock", wall, run, floor)
    wall, run = _together(_qc_writer, [(url, codes[0], writes)] * writers)
    _line("cellbatch QC result, same batch", wall, run, floor)
    wall, run = _together(_qc_writer, [(url, code, writes) for code in codes])
    _line("cellbatch QC result, own batches", wall, run, floor)
    if name is not None:
        _pg_admin(f"DROP DATABASE {name} WITH (FORCE)")


def races(rounds: int) -> int:
    """Run the suite's race harness with more rounds; pytest's exit code."""
    print(f"\nrace harness, {rounds} rounds per race (tests/test_concurrency.py -k race):")
    env = {**os.environ, "CELLBATCH_RACE_ROUNDS": str(rounds)}
    command = [sys.executable, "-m", "pytest", "tests/test_concurrency.py", "-k", "race"]
    command += ["-q", "-p", "no:randomly", "--no-header"]
    return subprocess.run(command, cwd=REPO, env=env, check=False).returncode


def main() -> None:
    """Run the benchmark on both backends."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--writes", type=int, default=40, help="writes per writer")
    parser.add_argument("--race-rounds", type=int, default=10, help="0 skips the races")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], help="only this one")
    args = parser.parse_args()
    backends = [args.backend] if args.backend else ["sqlite", "postgresql"]
    if "postgresql" in backends and not os.environ.get("CELLBATCH_TEST_PG_URL"):
        with_postgres = [str(HERE / "with-postgres"), sys.executable, __file__, *sys.argv[1:]]
        os.execv(with_postgres[0], with_postgres)
    from cellbatch.services import passwords

    passwords.TEST_SCRYPT_N = 1024  # writes are measured here; bench_login.py measures log-in
    with tempfile.TemporaryDirectory() as folder:
        os.environ["CELLBATCH_DATA_DIR"] = folder
        for backend in backends:
            bench(backend, args.writers, args.writes, Path(folder))
    if args.race_rounds:
        sys.exit(races(args.race_rounds))


if __name__ == "__main__":
    main()
