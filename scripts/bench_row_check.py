"""Benchmark (not a test): what the unit of work's check of a row against its trail costs.

    .venv/bin/python scripts/bench_row_check.py --db URL [--rounds N]

On a demo database (``cellbatch --db URL demo``): times ``stored_row_problem`` (the row by its
key, hashed; the newest entry that vouched for it) on every account, batch and bag, and a whole
write (an admin deactivating and reactivating ``tech2``, one unit of work each) with the check
and with it switched off, alternating in one process. The database is written to: use a copy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    """Print the medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from cellbatch.db.audit_chain_rows import stored_row_problem
    from cellbatch.db.tables import AUDITED_TABLES
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands.users import set_active
    from cellbatch.services.database import open_database
    from cellbatch.services.unit_of_work import UnitOfWork

    db = open_database(args.db)
    with db.engine.connect() as connection:
        for name in ("app_user", "batch", "bag"):
            table = AUDITED_TABLES[name].__table__
            ids = [
                row[0] for row in connection.execute(table.select().with_only_columns(table.c.id))
            ]
            times = []
            for _ in range(args.rounds):
                for row_id in ids:
                    start = time.perf_counter()
                    stored_row_problem(connection, table, row_id)
                    times.append(time.perf_counter() - start)
            print(f"check of one {name} row: median {statistics.median(times) * 1e3:.2f} ms")
    admin = authenticate(db, "admin", "demo-admin-pass")
    real = UnitOfWork.prove

    def writes(count: int) -> float:
        times = []
        for n in range(count):
            start = time.perf_counter()
            set_active(db, admin, "tech2", n % 2 == 1, "measuring the row check")
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    checked, unchecked = [], []
    for _ in range(args.rounds):
        UnitOfWork.prove = real
        checked.append(writes(20))
        UnitOfWork.prove = lambda self, row: None
        unchecked.append(writes(20))
    UnitOfWork.prove = real
    print(
        f"one write: {statistics.median(checked) * 1e3:.2f} ms with the check, "
        f"{statistics.median(unchecked) * 1e3:.2f} ms without"
    )


if __name__ == "__main__":
    main()
