#!/usr/bin/env python3
"""Benchmark of start-up as the user meets it (a script, not a test): issue 15's four ratios.

    .venv/bin/python scripts/bench_startup.py [--runs N] [--db URL] [--only help,list,verify,tui]

1. ``cellbatch --help`` (the installed console script) against a bare Typer app with as many
   commands: the same groups and commands, by name, each with one option and an empty body,
   generated from cellbatch's own command tree (so it never falls behind).
2. ``cellbatch batch list`` (the first page of 50, logged in with ``--password-stdin``) on the demo
   plus 6 000 more batches, against SQLAlchemy opening the file and selecting the same 50 rows
   (batch, SOP version, parent), and against that floor plus one scrypt hash at the cost the
   user's stored hash names: every reading command logs in (GMP-27) and the security policy sets
   that cost (never below N = 2^17), so no reading command can be cheaper than one hash.
3. ``cellbatch audit verify`` on the same database (about 6 300 entries: the demo's and one per
   added batch), against the bare driver (sqlite3) reading every row of every table and hashing
   each with SHA-256, in a process of its own. ``audit verify`` does not log in (it shows no
   record, and runs unattended as the database's service account), so its floor has no hash.
4. ``cellbatch`` (the real command, no arguments: the terminal UI) in a real terminal, against a
   bare Textual app with a label and an input: each is started in a new tmux window of 80 × 24
   and timed from the launch to its screen being drawn (``tmux capture-pane`` polled until the
   log-in screen's "User ID" and "Password", or the bare app's label, are on it).

The 6 000 added batches are copies of a demo bank's row, each with its own "create" audit entry
chained after the trail's head with the chain module's keyed hash (as a write would), so
``audit verify`` passes on the database; they are written in bulk, in a few seconds.

Every measurement alternates the two sides (A B A B …) after one warm-up run of each, and
reports the medians of wall time and of the child's CPU time (user + system; what a machine
shared with other jobs disturbs least; the terminal UI runs under tmux, whose children are not
ours, so it has wall time only), their ratios, and a summary table of the four. Goals (issue
15): ``--help``, ``batch list`` and the terminal UI at most 1.5× their floor, ``audit verify``
at most 2×.
The terminal UI opens a demo database (a temporary SQLite file unless ``--db`` names one).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
GOAL = 1.5
VERIFY_GOAL = 2.0

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


@dataclass
class Ratio:
    """One line of the summary: a command against a floor, medians of wall and CPU time."""

    what: str
    floor: str
    ours: float
    bare: float
    goal: float
    ours_cpu: float | None = None
    bare_cpu: float | None = None

    @property
    def ratio(self) -> float:
        """Wall-time ratio of the medians."""
        return self.ours / self.bare

    @property
    def cpu_ratio(self) -> float | None:
        """CPU-time ratio of the medians (None when the child's CPU time is not ours to read)."""
        if self.ours_cpu is None or not self.bare_cpu:
            return None
        return self.ours_cpu / self.bare_cpu


RESULTS: list[Ratio] = []


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, float]:
    """Wall and CPU seconds one process takes from launch to exit (its output discarded)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    subprocess.run(
        argv,
        input=stdin,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        check=True,
    )
    return time.perf_counter() - start, _children_cpu() - cpu


Sample = tuple[float, float | None]


def alternate(
    runs: int, first: Callable[[], Sample], second: Callable[[], Sample]
) -> tuple[list[Sample], list[Sample]]:
    """Times of ``first`` and ``second`` taken A B A B …, after one warm-up run of each."""
    first(), second()
    a, b = [], []
    for _ in range(runs):
        a.append(first())
        b.append(second())
    return a, b


def _median(samples: list[Sample], index: int) -> float | None:
    values = [s[index] for s in samples]
    return None if None in values else statistics.median(values)  # type: ignore[type-var]


def report(
    title: str, ours: list[Sample], floor: list[Sample], floor_name: str, goal: float = GOAL
) -> Ratio:
    """Print the medians and the ratios; keep the line for the summary."""
    line = Ratio(
        title,
        floor_name,
        _median(ours, 0),
        _median(floor, 0),
        goal,
        _median(ours, 1),
        _median(floor, 1),
    )
    verdict = "within goal" if line.ratio <= goal else "ABOVE GOAL"
    print(title)
    for name, wall, cpu, n in (
        (floor_name, line.bare, line.bare_cpu, len(floor)),
        ("cellbatch", line.ours, line.ours_cpu, len(ours)),
    ):
        cpu_text = f", CPU {cpu * 1000:5.0f} ms" if cpu is not None else ""
        print(f"  {name:<48} {wall * 1000:6.0f} ms{cpu_text}  (medians of {n})")
    cpu_ratio = f", CPU {line.cpu_ratio:.2f}×" if line.cpu_ratio is not None else ""
    print(f"  {'ratio':<48} {line.ratio:6.2f}×{cpu_ratio}  (goal ≤ {goal}×: {verdict})")
    RESULTS.append(line)
    return line


def summary() -> None:
    """The issue's table: every ratio of this run, with its goal."""
    print("\n| what | floor | cellbatch | floor | ratio (wall) | ratio (CPU) | goal |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in RESULTS:
        cpu = f"{r.cpu_ratio:.2f}×" if r.cpu_ratio is not None else "—"
        verdict = "met" if r.ratio <= r.goal else "not met"
        print(
            f"| {r.what} | {r.floor} | {r.ours:.2f} s | {r.bare:.2f} s | {r.ratio:.2f}× | {cpu} "
            f"| ≤ {r.goal}×: {verdict} |"
        )


def bench_help(runs: int, env: dict[str, str], folder: Path) -> Ratio:
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
        "`cellbatch --help`",
        ours,
        floor,
        f"bare Typer app ({count_commands(source)} commands)",
    )


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", TMUX_SOCKET, *args], capture_output=True, text=True, check=True
    ).stdout


def time_to_screen(command: list[str], marks: tuple[str, ...], env: dict[str, str]) -> Sample:
    """Seconds from launching ``command`` in a new 80 × 24 tmux window to ``marks`` drawn.

    Wall time only: the command is tmux's child, so its CPU time is not ours to read.
    """
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
                return time.perf_counter() - start, None
            time.sleep(0.002)
        raise RuntimeError(f"{command[0]} never drew {marks}: the screen was\n{screen}")
    finally:
        _tmux("kill-window", "-t", f"bench:{name}")


def bench_terminal(runs: int, env: dict[str, str], folder: Path) -> Ratio:
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
        "`cellbatch` to its log-in screen in tmux (80 × 24)",
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


def add_batches(url: str, count: int) -> None:
    """``count`` more batches: copies of a demo bank's row, each with its audit entry.

    The entries are chained after the trail's head with the chain module's own keyed hash
    (``bench_scale.Trail``), so ``audit verify`` proves them as it proves a written batch.
    """
    from bench_scale import Trail, _columns, chain_time, entry_hasher
    from sqlalchemy import func, insert, select

    from cellbatch.db.tables import AuditEntry, AuditHead, Batch, User
    from cellbatch.services.database import open_database

    db = open_database(url)
    with db.session() as session:
        bank = _columns(
            session.execute(select(Batch).where(Batch.kind == "expansion").order_by(Batch.id))
            .scalars()
            .first()
        )
        head = session.get(AuditHead, 1)
        last_at = session.execute(select(func.max(AuditEntry.at))).scalar()
        tech = session.execute(select(User).where(User.username == "tech1")).scalar_one()
        next_id = session.execute(select(func.max(Batch.id))).scalar_one() + 1
        trail = Trail(head.seq, head.hash, chain_time(last_at), tech, entry_hasher(db))
    rows = []
    for n in range(count):
        row = {**bank, "id": next_id + n, "code": f"BULK-{n:05d}"}
        rows.append(row)
        trail.create(Batch, row, row["id"])
    with db.engine.begin() as connection:
        connection.execute(insert(Batch.__table__), rows)
        connection.execute(insert(AuditEntry.__table__), trail.entries)
        connection.execute(
            AuditHead.__table__.update()
            .where(AuditHead.id == 1)
            .values(seq=trail.seq, hash=trail.prev)
        )
    db.dispose()


FLOOR_VERIFY = """
import hashlib, sqlite3, sys

connection = sqlite3.connect(sys.argv[1])
names = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
for (name,) in names:
    for row in connection.execute(f'SELECT * FROM "{name}"'):
        hashlib.sha256(repr(row).encode()).digest()
"""


def list_database(folder: Path) -> tuple[str, str]:
    """The demo plus 6 000 audited batches in a copy of the demo file: its URL, tech1's hash."""
    import sqlite3

    path = folder / "list.db"
    shutil.copy(folder / "demo.db", path)
    url = f"sqlite:///{path}"
    add_batches(url, 6000)
    with sqlite3.connect(path) as connection:
        (stored,) = connection.execute(
            "SELECT password_hash FROM app_user WHERE username = 'tech1'"
        ).fetchone()
        (entries,) = connection.execute("SELECT count(*) FROM audit_entry").fetchone()
        (batches,) = connection.execute("SELECT count(*) FROM batch").fetchone()
    print(f"list and verify database: {batches} batches, {entries} audit entries\n")
    return url, stored


def bench_batch_list(
    runs: int, env: dict[str, str], folder: Path, url: str, stored: str
) -> tuple[Ratio, Ratio]:
    """``batch list`` (demo + 6 000 batches) against SQLAlchemy, with and without one hash."""
    password = "demo-tech1-pass"
    floor = folder / "floor_list.py"
    floor.write_text(FLOOR_LIST, encoding="utf-8")
    command = [str(BIN / "cellbatch"), "batch", "list", "--limit", "50", "--db", url,
               "--user", "tech1", "--password-stdin"]  # fmt: skip

    def ours() -> Sample:
        return run_once(command, env, stdin=f"{password}\n")

    def bare(with_hash: bool) -> Callable[[], Sample]:
        argv = [sys.executable, str(floor), url, stored if with_hash else "-", password]
        return lambda: run_once(argv, env)

    mine, plain = alternate(runs, ours, bare(False))
    first = report("`cellbatch batch list` (demo + 6 000 batches, page of 50, logged in)",
                   mine, plain, "SQLAlchemy: open, select the 50 rows")  # fmt: skip
    print()
    mine, hashed = alternate(runs, ours, bare(True))
    cost = int(stored.split("$")[1]).bit_length() - 1
    second = report("the same", mine, hashed, f"the same + one scrypt hash (N = 2^{cost})")
    return first, second


def bench_verify(runs: int, env: dict[str, str], folder: Path, url: str) -> Ratio:
    """``audit verify`` against sqlite3 reading and hashing every row of every table."""
    floor = folder / "floor_verify.py"
    floor.write_text(FLOOR_VERIFY, encoding="utf-8")
    path = url.removeprefix("sqlite:///")
    here = {**env, "CELLBATCH_DATABASE_URL": url}
    ours, bare = alternate(
        runs,
        lambda: run_once([str(BIN / "cellbatch"), "audit", "verify"], here),
        lambda: run_once([sys.executable, str(floor), path], here),
    )
    return report(
        "`cellbatch audit verify` (the same database, full)",
        ours,
        bare,
        "sqlite3: every row of every table, SHA-256 each",
        goal=VERIFY_GOAL,
    )


PARTS = ("help", "list", "verify", "tui")
"""The measurements ``--only`` can pick."""


def main() -> None:
    """Run the start-up measurements, print each and a summary of the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs of each side")
    parser.add_argument("--db", help="database URL for the UI (default: a temporary demo)")
    parser.add_argument("--only", help=f"only these, comma-separated, of {','.join(PARTS)}")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else set(PARTS)
    if only - set(PARTS):
        parser.error(f"--only: expected some of {','.join(PARTS)}, got {args.only}")
    with tempfile.TemporaryDirectory(prefix="cellbatch-bench-") as tmp:
        folder = Path(tmp)
        os.environ["CELLBATCH_DATA_DIR"] = str(folder / "data")  # the site key of add_batches
        env = {**os.environ}
        url = args.db or f"sqlite:///{folder / 'demo.db'}"
        env["CELLBATCH_DATABASE_URL"] = url
        if args.db is None:
            subprocess.run(
                [str(BIN / "cellbatch"), "demo"], env=env, check=True, stdout=subprocess.DEVNULL
            )
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {load}, {url}\n")
        if "help" in only:
            bench_help(args.runs, env, folder)
            print()
        if args.db is None and only & {"list", "verify"}:
            list_url, stored = list_database(folder)
            if "list" in only:
                bench_batch_list(args.runs, env, folder, list_url, stored)
                print()
            if "verify" in only:
                bench_verify(args.runs, env, folder, list_url)
                print()
        if "tui" in only:
            if shutil.which("tmux") is None:
                print("terminal UI: tmux is not installed (apt-get install tmux); not measured")
            else:
                bench_terminal(args.runs, env, folder)
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\nsummary (load at the end {load})")
        summary()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
