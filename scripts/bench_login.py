"""Benchmark (not a test): log-in at the security policy's real hash cost.

    .venv/bin/python scripts/bench_login.py [--runs N] [--db URL]

Times a right password, a wrong password and an unknown user ID through
``authenticate``, each as a ratio to one bare ``hashlib.scrypt`` at the policy's cost in the
same run: the three refusals and the success should all sit near 1x (one scrypt each), and
an unknown user ID must not answer faster than a wrong password (user enumeration).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _median(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Run the log-in benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()

    from cellbatch.domain.errors import AuthenticationFailed
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands.users import create_first_admin
    from cellbatch.services.database import open_database
    from cellbatch.services.security_policy import current_policy

    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(args.db or f"sqlite:///{Path(tmp) / 'login.db'}")
        create_first_admin(db, "admin", "Bench Admin", "bench-admin-password")
        n = current_policy(db).scrypt_n

        def refused(user: str, password: str) -> None:
            try:
                authenticate(db, user, password)
            except AuthenticationFailed:
                return
            raise AssertionError("log-in should have been refused")

        floor = _median(
            args.runs,
            lambda: hashlib.scrypt(
                b"x", salt=b"s" * 16, n=n, r=8, p=1, dklen=32, maxmem=256 * 8 * n + 2**20
            ),
        )
        right = _median(args.runs, lambda: authenticate(db, "admin", "bench-admin-password"))
        wrong = _median(min(args.runs, 4), lambda: refused("admin", "not-the-password"))
        unknown = _median(args.runs, lambda: refused("nobody", "not-the-password"))
        print(f"log-in at the policy's cost (scrypt N = {n}, r = 8, p = 1)")
        print(f"  {'bare hashlib.scrypt (the floor)':<36} {floor * 1000:8.1f} ms")
        for label, took in (
            ("right password", right),
            ("wrong password", wrong),
            ("unknown user ID", unknown),
        ):
            print(f"  {label:<36} {took * 1000:8.1f} ms   {took / floor:5.2f}x the floor")
        print(f"  unknown / wrong: {unknown / wrong:.2f} (1.00 = no enumeration by timing)")
        db.dispose()


if __name__ == "__main__":
    main()
