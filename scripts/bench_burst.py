#!/usr/bin/env python3
"""Benchmark of a scanner's burst in the terminal UI (a script, not a test).

How fast keys typed in one burst take effect, now that each key waits for everything the key
before it set off (cellbatch/tui/key_order.py). Three measurements on a fresh demo database:

1. headless, one field: ``--keys`` letters posted at once into the material lot dialog's
   first field (as the terminal driver posts one read), time until the field holds them all;
2. headless, the whole dialog: the 50-key burst of tests/test_tui_burst.py (four fields moved
   through by Tab and Enter, then saved), time until the lot is registered;
3. a real terminal: the same 50 keys through ``tmux send-keys`` in one call, time until the
   screen says the lot is registered.

The headless runs are repeated with the key queue switched off (Textual's own delivery,
which puts keys out of order) to show what the ordering costs. The machine's load average is
printed with the numbers: they mean little on a busy machine.

Usage: .venv/bin/python scripts/bench_burst.py [--runs N] [--keys N] [--no-tmux]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

LOT_BURST = "DPBS-99001\twash-solution\rDPBS no Ca/Mg\t2027-12-31\r"
"""Four fields of the new material lot dialog, moved through by Tab and by Enter: 50 keys."""


def make_demo(folder: Path) -> str:
    """A demo database in ``folder``; its URL."""
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.database import init_database
    from cellbatch.services.demo import load_demo

    url = f"sqlite:///{folder}/demo.db"
    db, _ = init_database(url)
    load_demo(db, render_labels=render_labels)
    db.dispose()
    return url


def post_burst(app, text: str) -> int:
    """Post ``text`` to the app as the terminal driver does with one read: every key at once."""
    from textual._xterm_parser import XTermParser

    parser = XTermParser()
    keys = [*parser.feed(text), *parser.tick()]
    for key in keys:
        key.set_sender(app)
        app.post_message(key)
    return len(keys)


async def _headless(url: str, text: str, done, ordered: bool) -> float:
    """Seconds from posting ``text`` in the lot dialog until ``done(app)``."""
    from textual.app import App

    from cellbatch.tui.app import build_app

    app = build_app(url, idle_lock_seconds=10**6)
    if not ordered:  # Textual's own delivery: each key to the focused widget at once
        app.on_event = lambda event: App.on_event(app, event)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"tech1", "enter", *"demo-tech1-pass", "enter")
        while type(app.screen).__name__ != "HomeScreen":
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("f7")
        while type(app.screen).__name__ != "FormDialog":
            await pilot.pause()
        await pilot.pause()
        start = time.perf_counter()
        post_burst(app, text)
        while not done(app):
            await asyncio.sleep(0.005)
            if time.perf_counter() - start > 120:
                raise RuntimeError("the burst never took effect")
        return time.perf_counter() - start


def bench_headless(url: str, runs: int, keys: int) -> None:
    """Keys per second in one field and through the whole dialog, ordered and not."""
    letters = "A" * keys

    def field_full(app) -> bool:
        from textual.widgets import Input

        try:
            return app.screen.query_one("#form-lot", Input).value == letters
        except Exception:
            return False

    def registered(app) -> bool:
        return type(app.screen).__name__ == "HomeScreen"

    for ordered in (True, False):
        label = "in order (KeysInOrder)" if ordered else "Textual's own (unordered)"
        one = [asyncio.run(_headless(url, letters, field_full, ordered)) for _ in range(runs)]
        print(
            f"  {label:28} {keys} letters in one field: median {statistics.median(one):.2f} s"
            f" = {keys / statistics.median(one):.0f} keys/s"
        )
    saved = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as fresh:
            fresh_url = make_demo(Path(fresh))
            saved.append(asyncio.run(_headless(fresh_url, LOT_BURST, registered, True)))
    print(
        f"  {'in order (KeysInOrder)':28} the 50-key lot burst, saved: median"
        f" {statistics.median(saved):.2f} s = {50 / statistics.median(saved):.0f} keys/s"
    )


def bench_tmux(runs: int) -> None:
    """The 50-key lot burst through a real terminal (tmux send-keys in one call)."""
    if not shutil.which("tmux"):
        print("  (no tmux)")
        return
    took = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            url = make_demo(Path(folder))
            socket = f"{folder}/tmux.sock"
            name = f"cb-{uuid.uuid4().hex[:6]}"

            def tmux(*args: str, socket: str = socket) -> str:
                return subprocess.run(
                    ["tmux", "-S", socket, *args], capture_output=True, text=True, check=True
                ).stdout

            def wait(text: str, seconds: float = 60.0, name: str = name) -> float:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    if text in tmux("capture-pane", "-p", "-t", name):
                        return time.perf_counter()
                    time.sleep(0.02)
                raise RuntimeError(f"{text!r} never appeared")

            subprocess.run(
                [
                    "tmux",
                    "-S",
                    socket,
                    "new-session",
                    "-d",
                    "-s",
                    name,
                    "-x",
                    "80",
                    "-y",
                    "24",
                    f"{sys.executable} -m cellbatch --db {url}",
                ],
                check=True,
                env={**os.environ, "TERM": "xterm-256color"},
            )
            try:
                wait("Log in to record GMP work")
                time.sleep(0.5)
                tmux("send-keys", "-t", name, "-l", "tech1\tdemo-tech1-pass\r")
                wait("in process")
                time.sleep(0.5)
                tmux("send-keys", "-t", name, "F7")
                wait("Register a material lot")
                time.sleep(0.3)
                start = time.perf_counter()
                tmux("send-keys", "-t", name, "-l", LOT_BURST)
                took.append(wait("material lot DPBS-99001 registered") - start)
            finally:
                subprocess.run(["tmux", "-S", socket, "kill-server"], check=False)
    print(
        f"  tmux send-keys, the 50-key lot burst, saved: median {statistics.median(took):.2f} s"
        f" = {50 / statistics.median(took):.0f} keys/s"
        f"  (runs: {', '.join(f'{t:.2f}' for t in took)})"
    )


def main() -> None:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--no-tmux", action="store_true")
    args = parser.parse_args()
    print(
        f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as folder:
        url = make_demo(Path(folder))
        print("headless (Pilot harness, keys posted as one read):")
        bench_headless(url, args.runs, args.keys)
    if not args.no_tmux:
        print("real terminal:")
        bench_tmux(args.runs)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
