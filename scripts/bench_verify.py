"""Benchmark `audit verify` against the floor of the parts it stands on (issue 15).

    .venv/bin/python scripts/bench_verify.py [--entries N] [--new N] [--runs N] [--db URL]

Builds a database whose trail holds N entries (default 200 000) with a valid keyed chain
(written in bulk under the site key, as the program would seal them), then measures, in
one run, alternating A B A B and reporting medians:

- the floor: sqlite3 reading every audit entry in key order and hashing each row with
  SHA-256, and with HMAC-SHA256 under the key (what any proof must at least do);
- the full verify (``verify_trail``: every entry, every anchor, every record);
- the incremental verify of the last ``--new`` entries (default 1 000) after a verified
  anchor.

Each line gives seconds, entries per second and the ratio to the HMAC floor. Goals
(issue 15): full verify >= 100 000 entries/s on SQLite and within 2x the floor; the
incremental verify of 1 000 new entries < 1 s whatever the trail's length.
``--db`` names an empty PostgreSQL database instead (the floor is then psycopg's).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _fill(db, count: int, start_at: datetime) -> None:
    """Append ``count`` sealed entries (log-ins of the first admin) to the trail, in bulk."""
    from sqlalchemy import text

    from cellbatch.db.audit_chain import entry_mac

    secret = db.site_key().secret
    with db.engine.begin() as connection:
        head = connection.execute(text("SELECT seq, hash FROM audit_head")).one()
        seq, prev = head.seq, head.hash
        rows = []
        for n in range(count):
            seq += 1
            at = start_at + timedelta(milliseconds=n)
            values = {
                "seq": seq,
                "at": at,
                "user_id": 1,
                "username": "admin",
                "action": "login",
                "entity": "app_user",
                "entity_id": "1",
                "batch_id": None,
                "field": None,
                "old_value": None,
                "new_value": None,
                "reason": f"bench entry {n}",
                "row_hash": None,
                "prev_hash": prev,
            }
            prev = values["hash"] = entry_mac(secret, values)
            stored = at.strftime("%Y-%m-%d %H:%M:%S.%f")
            rows.append({**values, "at": stored if db.backend == "sqlite" else at})
        columns = list(rows[0]) if rows else []
        insert = text(
            f"INSERT INTO audit_entry ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})"
        )
        for start in range(0, len(rows), 20_000):
            connection.execute(insert, rows[start : start + 20_000])
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": seq, "hash": prev},
        )


def _floor(db, secret: bytes, keyed: bool) -> int:
    """Read every entry in key order with the bare driver and hash it; returns the count."""
    sql = "SELECT * FROM audit_entry ORDER BY seq"
    count = 0
    if db.backend == "sqlite":
        import sqlite3

        connection = sqlite3.connect(db.files()[0])
        rows = connection.execute(sql)
    else:
        import psycopg

        connection = psycopg.connect(
            db.engine.url.render_as_string(hide_password=False).replace(
                "postgresql+psycopg://", "postgresql://"
            )
        )
        rows = connection.cursor(name="floor")
        rows.execute(sql)
    for row in rows:
        data = repr(row).encode()
        if keyed:
            hmac.digest(secret, data, "sha256").hex()
        else:
            hashlib.sha256(data).hexdigest()
        count += 1
    connection.close()
    return count


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _cpu(action) -> float:
    """Seconds of this process's CPU: the figure a machine shared with other jobs keeps."""
    started = time.process_time()
    action()
    return time.process_time() - started


def main() -> None:
    """Build the trail, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", help="an empty PostgreSQL database URL (default: SQLite)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    os.environ["CELLBATCH_KEY_FILE"] = str(folder / "cellbatch.key")
    os.environ["CELLBATCH_ANCHOR_LOG"] = str(folder / "cellbatch.anchors")
    from cellbatch.services import passwords

    passwords.TEST_SCRYPT_N = 1024  # the set-up's one account: its hash cost is not measured
    from cellbatch.services.audit_anchor import verified_anchor, write_anchor
    from cellbatch.services.commands.users import create_first_admin
    from cellbatch.services.database import init_database
    from cellbatch.services.queries.audit import verify_trail

    url = args.db or f"sqlite:///{folder / 'bench.db'}"
    db, _ = init_database(url)
    create_first_admin(db, "admin", "Ada Admin", "bench-password-1")
    print(f"filling the trail with {args.entries:,} entries ({db.backend}) ...", flush=True)
    started = datetime.now(UTC)  # after the set-up's entries: the trail's times never go back
    _fill(db, args.entries, started)
    secret = db.site_key().secret

    full = verify_trail(db)
    assert full.ok, full.problems[:3]
    write_anchor(db, "verified", verified_anchor(db, full.chain_id, full.head_seq, full.head_hash))
    _fill(db, args.new, started + timedelta(milliseconds=args.entries + 1))
    total = full.entries_checked + args.new

    timings: dict[str, list[float]] = {k: [] for k in ("sha", "hmac", "full", "incremental")}
    cpu: dict[str, list[float]] = {k: [] for k in timings}

    def full() -> None:
        report = verify_trail(db)
        assert report.ok, report.problems[:3]

    def incremental() -> None:
        report = verify_trail(db, incremental=True)
        assert report.ok and report.entries_checked == args.new, report

    actions = {
        "sha": lambda: _floor(db, secret, keyed=False),
        "hmac": lambda: _floor(db, secret, keyed=True),
        "full": full,
        "incremental": incremental,
    }
    for _ in range(args.runs):  # A B A B: each measured next to the others every round
        for key, action in actions.items():
            timings[key].append(_timed(action))
            cpu[key].append(_cpu(action))

    floor = statistics.median(timings["hmac"])
    cpu_floor = statistics.median(cpu["hmac"])
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n{total:,} entries, {args.runs} runs, medians ({db.backend}; load average {load}, "
        f"{os.cpu_count()} cores)\n"
    )
    print(
        f"{'what':<52} {'s':>8} {'entries/s':>12} {'× floor':>8} "
        f"{'cpu s':>8} {'cpu entries/s':>14} {'× floor':>8}"
    )
    lines = (
        ("floor: bare driver, every row, SHA-256", "sha", total),
        ("floor: bare driver, every row, HMAC-SHA256", "hmac", total),
        ("audit verify (full: chain, anchors, records)", "full", total),
        (f"audit verify --incremental (last {args.new:,})", "incremental", args.new),
    )
    for label, key, count in lines:
        seconds, used = statistics.median(timings[key]), statistics.median(cpu[key])
        ratio = f"{seconds / floor:8.2f}" if key != "incremental" else "       -"
        cpu_ratio = f"{used / cpu_floor:8.2f}" if key != "incremental" else "       -"
        print(
            f"{label:<52} {seconds:8.3f} {count / seconds:12,.0f} {ratio} "
            f"{used:8.3f} {count / used:14,.0f} {cpu_ratio}"
        )
    db.dispose()


if __name__ == "__main__":
    main()
