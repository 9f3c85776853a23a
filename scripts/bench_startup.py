#!/usr/bin/env python3
"""Benchmark of start-up as the user meets it (a script, not a test).

    .venv/bin/python scripts/bench_startup.py [--runs N] [--db URL]

1. ``cellbatch --help`` (the installed console script) against a bare Typer app with as many
   commands: the same groups and commands, by name, each with one option and an empty body,
   generated from cellbatch's own command tree (so it never falls behind).
2. ``cellbatch`` (the real command, no arguments: the terminal UI) in a real terminal, against a
   bare Textual app with a label and an input: each is started in a new tmux window of 80 × 24
   and timed from the launch to its screen being drawn (``tmux capture-pane`` polled until the
   log-in screen's "User ID" and "Password", or the bare app's label, are on it).

3. ``cellbatch batch list`` (the first page of 50, logged in with ``--password-stdin``) on the demo
   plus 6 000 more batches, against SQLAlchemy opening the file and selecting the same 50 rows
   (batch, SOP version, parent), and against that floor plus one scrypt hash at the cost the
   user's stored hash names: every reading command logs in (GMP-27) and the security policy sets
   that cost (never below N = 2^17), so no reading command can be cheaper than one hash. The
   6 000 batches are copies of a demo bank's row inserted with sqlite3 (only the list reads
   them; nothing verifies their audit chain), which makes the database in a second.

Every measurement alternates the two sides (A B A B …) after one warm-up run of each, and
reports the medians and their ratio; the goal of both ratios is at most 1.5 (issue 15).
The terminal UI opens a demo database (a temporary SQLite file unless ``--db`` names one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
GOAL = 1.5

TMUX_SOCKET = f"cellbatch-bench-startup-{os.getpid()}"
"""A tmux server of this benchmark's own (never another user's sessions)."""

BARE_TEXTUAL = """
from textual.app import App
from textual.widgets import Input, Label

class Bare(App):
    def compose(self):
        yield Label("Bare label")
        yield Input(placeholder="bare input")

Bare().run()
"""


def bare_typer_source() -> str:
    """A Typer app with cellbatch's groups and commands, each an empty one-option command."""
    import typer

    from cellbatch.cli.app import app

    root = typer.main.get_command(app)
    lines = ["import typer", "", "app = typer.Typer(add_completion=False)", ""]
    counter = 0

    def add(group, parent: str) -> None:
        nonlocal counter
        for name, command in group.commands.items():
            counter += 1
            if hasattr(command, "commands"):
                lines.append(f"g{counter} = typer.Typer(help={command.help!r})")
                lines.append(f"{parent}.add_typer(g{counter}, name={name!r})")
                add(command, f"g{counter}")
                continue
            lines.extend(
                [
                    f"@{parent}.command({name!r})",
                    f"def c{counter}(value: str = typer.Option('', help='A value.')) -> None:",
                    f"    {(command.help or '').splitlines()[0] if command.help else ''!r}",
                    "",
                ]
            )

    add(root, "app")
    lines += ["", "app()", ""]
    return "\n".join(lines)


def count_commands(source: str) -> int:
    """How many commands (leaves) a generated Typer source defines."""
    return source.count(".command(")


def run_once(argv: list[str], env: dict[str, str]) -> float:
    """Seconds one process takes from launch to exit (its output discarded)."""
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def alternate(
    runs: int, first: Callable[[], float], second: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Times of ``first`` and ``second`` taken A B A B …, after one warm-up run of each."""
    first(), second()
    a, b = [], []
    for _ in range(runs):
        a.append(first())
        b.append(second())
    return a, b


def report(title: str, ours: list[float], floor: list[float], floor_name: str) -> float:
    """Print the medians and the ratio; return the ratio."""
    o, f = statistics.median(ours), statistics.median(floor)
    ratio = o / f
    verdict = "within goal" if ratio <= GOAL else "ABOVE GOAL"
    print(title)
    print(f"  {floor_name:<44} {f * 1000:7.0f} ms  (median of {len(floor)})")
    print(f"  {'cellbatch':<44} {o * 1000:7.0f} ms  (median of {len(ours)})")
    print(f"  {'ratio':<44} {ratio:7.2f}×  (goal ≤ {GOAL}×: {verdict})")
    return ratio


def bench_help(runs: int, env: dict[str, str], folder: Path) -> float:
    """``cellbatch --help`` against the bare Typer app."""
    source = bare_typer_source()
    bare = folder / "bare_typer.py"
    bare.write_text(source, encoding="utf-8")
    ours, floor = alternate(
        runs,
        lambda: run_once([str(BIN / "cellbatch"), "--help"], env),
        lambda: run_once([sys.executable, str(bare), "--help"], env),
    )
    return report(
        "cellbatch --help",
        ours,
        floor,
        f"bare Typer app ({count_commands(source)} commands)",
    )


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", TMUX_SOCKET, *args], capture_output=True, text=True, check=True
    ).stdout


def time_to_screen(command: list[str], marks: tuple[str, ...], env: dict[str, str]) -> float:
    """Seconds from launching ``command`` in a new 80 × 24 tmux window to ``marks`` drawn."""
    name = f"w{time.monotonic_ns()}"
    shell = " ".join(f"'{part}'" for part in command)
    environment = [f"-e{key}={value}" for key, value in env.items() if key.startswith("CELLBATCH")]
    start = time.perf_counter()
    _tmux("new-window", "-d", "-t", "bench", "-n", name, *environment, shell)
    try:
        deadline = start + 60
        while time.perf_counter() < deadline:
            screen = _tmux("capture-pane", "-p", "-t", f"bench:{name}")
            if all(mark in screen for mark in marks):
                return time.perf_counter() - start
            time.sleep(0.002)
        raise RuntimeError(f"{command[0]} never drew {marks}: the screen was\n{screen}")
    finally:
        _tmux("kill-window", "-t", f"bench:{name}")


def bench_terminal(runs: int, env: dict[str, str], folder: Path) -> float:
    """``cellbatch`` to its log-in screen against a bare Textual app, in tmux."""
    bare = folder / "bare_textual.py"
    bare.write_text(BARE_TEXTUAL, encoding="utf-8")
    _tmux("new-session", "-d", "-s", "bench", "-x", "80", "-y", "24", "sleep 100000")
    try:
        ours, floor = alternate(
            runs,
            lambda: time_to_screen([str(BIN / "cellbatch")], ("User ID", "Password"), env),
            lambda: time_to_screen([sys.executable, str(bare)], ("Bare label",), env),
        )
    finally:
        subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-server"], capture_output=True)
    return report(
        "cellbatch (the terminal UI) to its log-in screen, in tmux",
        ours,
        floor,
        "bare Textual app (a label and an input)",
    )


FLOOR_LIST = """
import base64, hashlib, sys
import sqlalchemy as sa

url, stored, password = sys.argv[1], sys.argv[2], sys.argv[3]
if stored != "-":  # the log-in's one hash, at the stored hash's own cost
    _, n, r, p, salt, _digest = stored.split("$")
    hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                   maxmem=2**30, dklen=32)
engine = sa.create_engine(url)
with engine.connect() as connection:
    rows = connection.execute(sa.text(
        "SELECT b.code, b.kind, b.status, s.sop_id, s.version, b.started_at, p.code, "
        "b.recipient_id FROM batch b JOIN sop_version s ON s.id = b.sop_version_id "
        "LEFT JOIN batch p ON p.id = b.parent_batch_id "
        "ORDER BY b.started_at DESC, b.id DESC LIMIT 50"
    )).all()
assert len(rows) == 50
"""


def add_batches(path: Path, count: int) -> None:
    """``count`` more batches in the SQLite file: copies of a demo bank's row, new codes."""
    import sqlite3

    with sqlite3.connect(path) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(batch)")]
        bank = list(connection.execute("SELECT * FROM batch WHERE kind = 'expansion'").fetchone())
        rows = []
        for n in range(count):
            row = list(bank)
            row[columns.index("id")] = None
            row[columns.index("code")] = f"BULK-{n:05d}"
            rows.append(row)
        marks = ", ".join("?" * len(columns))
        connection.executemany(f"INSERT INTO batch ({', '.join(columns)}) VALUES ({marks})", rows)


def bench_batch_list(runs: int, env: dict[str, str], folder: Path) -> float:
    """``batch list`` (demo + 6 000 batches) against SQLAlchemy, with and without one hash."""
    import sqlite3

    path = folder / "list.db"
    shutil.copy(folder / "demo.db", path)
    add_batches(path, 6000)
    url = f"sqlite:///{path}"
    with sqlite3.connect(path) as connection:
        (stored,) = connection.execute(
            "SELECT password_hash FROM app_user WHERE username = 'tech1'"
        ).fetchone()
    password = "demo-tech1-pass"
    floor = folder / "floor_list.py"
    floor.write_text(FLOOR_LIST, encoding="utf-8")

    def ours() -> float:
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "cellbatch"), "batch", "list", "--limit", "50", "--db", url,
             "--user", "tech1", "--password-stdin"],
            input=f"{password}\n", text=True, stdout=subprocess.DEVNULL, env=env, check=True,
        )  # fmt: skip
        return time.perf_counter() - start

    def bare(with_hash: bool) -> Callable[[], float]:
        argv = [sys.executable, str(floor), url, stored if with_hash else "-", password]
        return lambda: run_once(argv, env)

    mine, plain = alternate(runs, ours, bare(False))
    ratio = report("cellbatch batch list (demo + 6 000 batches), first page of 50", mine, plain,
                   "SQLAlchemy: open, select the 50 rows")  # fmt: skip
    print()
    mine, hashed = alternate(runs, ours, bare(True))
    report("the same, against the floor with the log-in's one scrypt hash", mine, hashed,
           f"SQLAlchemy + scrypt (N = {stored.split('$')[1]})")  # fmt: skip
    return ratio


def main() -> None:
    """Run the start-up measurements and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs of each side")
    parser.add_argument("--db", help="database URL for the UI (default: a temporary demo)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cellbatch-bench-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "CELLBATCH_DATA_DIR": str(folder / "data")}
        url = args.db or f"sqlite:///{folder / 'demo.db'}"
        env["CELLBATCH_DATABASE_URL"] = url
        if args.db is None:
            subprocess.run(  # the passwords' hashing cost does not matter here
                [str(BIN / "cellbatch"), "demo"],
                env={**env, "CELLBATCH_SCRYPT_N": "1024"},
                check=True,
                stdout=subprocess.DEVNULL,
            )
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, database {url}\n")
        bench_help(args.runs, env, folder)
        print()
        if args.db is None:
            bench_batch_list(args.runs, env, folder)
            print()
        if shutil.which("tmux") is None:
            print("terminal UI: tmux is not installed (apt-get install tmux); not measured")
            return
        bench_terminal(args.runs, env, folder)


if __name__ == "__main__":
    main()
