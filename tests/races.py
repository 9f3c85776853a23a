"""A race harness: real processes, released together at a barrier, each doing one write.

Each racer is a ``prepare(db) -> go`` function: ``prepare`` runs in the racer's own process
on its own connection (log in, look things up) before the barrier, ``go`` is the one write
released at the barrier. What each racer got comes back as an :class:`Outcome`: the value
``go`` returned, or the refusal it raised (class name and message), or the crash.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cellbatch.db.database import Database
from cellbatch.domain.errors import CellbatchError

ROUNDS = int(os.environ.get("CELLBATCH_RACE_ROUNDS", "3"))
"""Rounds of each race in the suite (scripts/bench_concurrency.py runs more)."""

CLEAN_REFUSALS = frozenset({"InvalidInput", "NotFound", "RuleViolation", "PermissionDenied"})
"""The errors a person may be shown when they lose a race (never 'busy', never a crash)."""

Racer = Callable[[Database], Callable[[], Any]]

_FORK = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Outcome:
    """What one racer got: a value, or an error's class name and message."""

    value: Any = None
    error: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the write went through."""
        return self.error is None


@dataclass(frozen=True)
class CliRun:
    """What one run of the real command line gave."""

    code: int
    out: str
    err: str


def _racer(url: str, prepare: Racer, barrier, queue, index: int) -> None:
    try:
        db = Database(url, access="create")  # a race of two inits starts with no database
        go = prepare(db)
        barrier.wait(timeout=60)
        try:
            outcome = Outcome(value=go())
        except CellbatchError as exc:
            outcome = Outcome(error=type(exc).__name__, message=str(exc))
    except BaseException as exc:  # reported to the test, which fails on it
        barrier.abort()
        outcome = Outcome(error=type(exc).__name__, message=traceback.format_exc())
    queue.put((index, outcome))


def race(url: str, racers: Sequence[Racer], *, timeout: float = 120) -> list[Outcome]:
    """Run each racer in its own process, released together; their outcomes, in order."""
    barrier = _FORK.Barrier(len(racers))
    queue = _FORK.Queue()
    processes = [
        _FORK.Process(target=_racer, args=(url, racer, barrier, queue, n))
        for n, racer in enumerate(racers)
    ]
    for process in processes:
        process.start()
    try:
        results = dict(queue.get(timeout=timeout) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return [results[n] for n in range(len(racers))]


def cli(*args: str, stdin: str = "") -> Callable[[], CliRun]:
    """A racer's ``go`` that runs ``cellbatch ARGS`` (the real entry point) in its process."""

    def go() -> CliRun:
        from cellbatch.cli.app import main

        out, err = io.StringIO(), io.StringIO()
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        return CliRun(code, out.getvalue(), err.getvalue())

    return go


def one_wins(outcomes: list[Outcome], refusal: str) -> Outcome:
    """Exactly one racer succeeded and every other got a clean refusal matching ``refusal``."""
    winners = [o for o in outcomes if o.ok]
    losers = [o for o in outcomes if not o.ok]
    assert len(winners) == 1, outcomes
    for loser in losers:
        assert loser.error in CLEAN_REFUSALS, loser
        assert re.search(refusal, loser.message), loser
    return winners[0]


def all_win(outcomes: list[Outcome]) -> list[Any]:
    """Every racer succeeded; their values."""
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
    return [o.value for o in outcomes]
