#!/usr/bin/env python3
"""Benchmark of the terminal UI (a script, not a test).

1. Start-up: wall time from launching a Python process to the log-in screen being shown
   (headless), against a bare Textual app measured the same way in the same run. Goal:
   cellbatch at most 1.5 × the bare app.
2. The batch list with 10 000 batches: time from pressing F3 on the home screen to the
   first page being shown (the query is paged: 100 rows, never the whole table).

Usage: .venv/bin/python scripts/bench_tui.py [--runs N] [--batches N] [--db PATH]
       .venv/bin/python scripts/bench_tui.py --screenshots docs
       (writes the README's SVG screenshots from a demo frozen in time, and exits)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = """
from textual.app import App
from textual.widgets import Footer, Input, Static

class Bare(App):
    def compose(self):
        yield Static("bare")
        yield Input()
        yield Footer()

async def ready(pilot):
    await pilot.pause()
    print("READY", flush=True)
    pilot.app.exit()

Bare().run(headless=True, size=(80, 24), auto_pilot=ready)
"""

CELLBATCH = """
import sys
from cellbatch.tui.app import build_app

async def ready(pilot):
    while type(pilot.app.screen).__name__ != "LoginScreen":
        await pilot.pause()
    await pilot.pause()
    print("READY", flush=True)
    pilot.app.exit()

build_app(sys.argv[1]).run(headless=True, size=(80, 24), auto_pilot=ready)
"""


def time_to_ready(code: str, *args: str) -> float:
    """Seconds from launching ``python -c code`` to it printing READY."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "READY":
            elapsed = time.perf_counter() - start
            break
    else:
        raise RuntimeError(f"never ready: {proc.stderr.read() if proc.stderr else ''}")
    proc.wait(timeout=30)
    return elapsed


def bench_startup(db_url: str, runs: int) -> None:
    """Start-up of cellbatch against a bare Textual app, interleaved."""
    bare, ours = [], []
    time_to_ready(BARE)  # warm the file cache for both
    time_to_ready(CELLBATCH, db_url)
    for _ in range(runs):
        bare.append(time_to_ready(BARE))
        ours.append(time_to_ready(CELLBATCH, db_url))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"start-up to log-in screen (median of {runs}):")
    print(f"  bare Textual app : {b * 1000:7.0f} ms")
    print(f"  cellbatch        : {o * 1000:7.0f} ms")
    verdict = "OK" if o <= 1.5 * b else "ABOVE GOAL"
    print(f"  ratio            : {o / b:7.2f}  (goal ≤ 1.5: {verdict})")


def make_batches(db_url: str, count: int) -> None:
    """Fill the demo database with expansion batches until it holds ``count`` batches."""
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands.batches import start_expansion
    from cellbatch.services.database import init_database
    from cellbatch.services.demo import is_empty, load_demo
    from cellbatch.services.queries.batches import count_batches

    db, _ = init_database(db_url)
    if is_empty(db):
        load_demo(db, render_labels=render_labels)
    have = count_batches(db)
    if have >= count:
        return
    tech1 = authenticate(db, "tech1", "demo-tech1-pass")
    started = time.perf_counter()
    for n in range(have, count):
        start_expansion(
            db, tech1, f"BENCH-{n:05d}", lot_number="TL-ADI-0001", sop_id="SOP-EASC-EXP"
        )
    took = time.perf_counter() - started
    print(f"  created {count - have} batches through the service in {took:.1f} s")
    db.dispose()


def bench_batch_list(db_url: str, runs: int) -> None:
    """Time from F3 on the home screen to the first page of the batch list shown."""
    import asyncio

    from cellbatch.tui.app import build_app

    async def once() -> tuple[float, int, str]:
        app = build_app(db_url, idle_lock_seconds=10**6)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"tech1", "enter", *"demo-tech1-pass", "enter")
            while type(app.screen).__name__ != "HomeScreen":
                await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            start = time.perf_counter()
            await pilot.press("f3")
            while type(app.screen).__name__ != "BatchListScreen":
                await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            took = time.perf_counter() - start
            rows = app.screen.query_one("#batches").row_count
            line = str(app.screen.query_one("#page-line").render())
            return took, rows, line

    results = [asyncio.run(once()) for _ in range(runs)]
    took = statistics.median(r[0] for r in results)
    print(f"batch list (median of {runs}): {took * 1000:.0f} ms to show {results[0][1]} rows")
    print(f"  {results[0][2]}")


def save_screenshots(folder: Path) -> None:
    """SVG screenshots of the batch screen and an entry form, on a demo frozen in time."""
    import asyncio
    from datetime import UTC, datetime

    from textual.widgets import Input

    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.database import init_database
    from cellbatch.services.demo import load_demo
    from cellbatch.tui.app import build_app
    from cellbatch.tui.clock import FrozenClock

    at = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        db, _ = init_database(url)
        load_demo(db, now=at, render_labels=render_labels)
        db.dispose()

        async def settle(app, pilot) -> None:
            for _ in range(4):
                await app.workers.wait_for_complete()
                await pilot.pause()

        async def shoot() -> None:
            clock = FrozenClock(at.replace(minute=5))
            app = build_app(url, clock=clock, idle_lock_seconds=10**6, blink=False)
            async with app.run_test(size=(100, 32)) as pilot:
                await pilot.press(*"tech1", "enter", *"demo-tech1-pass", "enter")
                await settle(app, pilot)
                app.open_batch("EASC-B001")
                await settle(app, pilot)
                app.screen.query_one("#tabs").active = "tab-process"
                await settle(app, pilot)
                app.save_screenshot(str(folder / "tui-batch-screen.svg"))
                await pilot.press("escape")
                app.open_batch("FUC-D001")
                await settle(app, pilot)
                await pilot.press("f2")
                await settle(app, pilot)
                for name, value in (
                    ("volume", "10 mL"),
                    ("viable_cells", "4.1 x 10^7 cells"),
                    ("lot_excipient", "SAL-HSA-0915"),
                ):
                    app.screen.query_one(f"#f-{name}", Input).value = value
                await settle(app, pilot)
                app.save_screenshot(str(folder / "tui-entry-form.svg"))

        asyncio.run(shoot())
    print(f"wrote {folder / 'tui-batch-screen.svg'} and {folder / 'tui-entry-form.svg'}")


def main() -> None:
    """Run both benchmarks and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=10_000)
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "cellbatch-bench.db"))
    parser.add_argument("--screenshots", metavar="DIR", help="write the README screenshots")
    args = parser.parse_args()
    from cellbatch.services import passwords

    passwords.TEST_SCRYPT_N = 1024  # screens are measured here; bench_login.py measures log-in
    if args.screenshots:
        save_screenshots(Path(args.screenshots))
        return
    db_url = f"sqlite:///{args.db}"
    print(f"python {sys.version.split()[0]}, database {db_url}")
    make_batches(db_url, args.batches)
    bench_startup(db_url, args.runs)
    bench_batch_list(db_url, max(1, args.runs // 2))


if __name__ == "__main__":
    main()
