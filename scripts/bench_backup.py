"""Benchmark backup, restore and the archive check against the bare libraries' floor.

Usage: .venv/bin/python scripts/bench_backup.py [--repeat N] [--padding MB]

Loads the demo into a temporary SQLite file (its site key and anchor log beside it), optionally
pads it with a blob table of MB megabytes (unaudited filler, dropped again before restore is
timed) so that copying costs something, then times, N times each, with their floors:

- ``cellbatch backup`` as the service does it (copy, hashes, tar, manifest, audit entry,
  fsync) against the floor: SQLite's backup API into a file alone;
- reading a backup back (every byte checked, the archive rebuilt to compare) against the
  floor: one SHA-256 pass over the file;
- the whole restore (check, unpack, log-in, audit entry, full audit verify, publish) against
  the floor: ``audit verify`` of the same database alone;
- ``archive verify`` of one batch's archive against ``sha256sum``-like hashing of its files.

Prints the median of each and the ratio to its floor.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cellbatch.services import passwords  # noqa: E402

passwords.TEST_SCRYPT_N = 1024  # this measures copying and checking; bench_login.py log-in


def _median(runs: int, work) -> float:
    times = []
    for n in range(runs):
        start = time.perf_counter()
        work(n)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _line(name: str, seconds: float, floor: float, floor_name: str) -> None:
    print(
        f"{name:<34} {seconds * 1000:9.1f} ms   floor ({floor_name}) {floor * 1000:8.1f} ms"
        f"   ratio {seconds / floor:5.1f}"
    )


def main() -> None:
    """Run the benchmark and print the times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--padding", type=int, default=0, help="MB of filler in the database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cellbatch-bench-") as folder:
        os.environ["CELLBATCH_DATA_DIR"] = folder
        os.environ["CELLBATCH_KEY_FILE"] = f"{folder}/cellbatch.key"
        os.environ["CELLBATCH_ANCHOR_LOG"] = f"{folder}/cellbatch.anchors"
        _run(args, Path(folder))


def _run(args: argparse.Namespace, folder: Path) -> None:
    from cellbatch.documents.archive_files import archive_files
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.archive_verify import check
    from cellbatch.services.auth import authenticate
    from cellbatch.services.backup_file import read_backup
    from cellbatch.services.commands.archive import make_archive
    from cellbatch.services.commands.backup import make_backup, restore_backup
    from cellbatch.services.database import init_database
    from cellbatch.services.demo import load_demo
    from cellbatch.services.output_files import OutputFile
    from cellbatch.services.queries.audit import verify_trail

    source = folder / "source.db"
    db, _ = init_database(f"sqlite:///{source}")
    load_demo(db, render_labels=render_labels)
    if args.padding:
        with sqlite3.connect(source) as raw:
            raw.execute("CREATE TABLE bench_padding (data BLOB)")
            for _ in range(args.padding):
                raw.execute("INSERT INTO bench_padding VALUES (randomblob(1048576))")
        raw.close()
    size = source.stat().st_size
    print(f"database: {size / 1e6:.1f} MB, demo data{' + padding' if args.padding else ''}")
    admin = authenticate(db, "admin", "demo-admin-pass")

    backups = folder / "backups"
    backups.mkdir()
    made = []

    def backup(n: int) -> None:
        made.append(make_backup(db, admin, OutputFile(backups / f"b{n}.cbk")))

    def bare_copy(n: int) -> None:
        target = sqlite3.connect(folder / f"floor{n}.db")
        with sqlite3.connect(source) as raw:
            raw.backup(target)
        target.close()

    _line("backup", _median(args.repeat, backup), _median(args.repeat, bare_copy), "sqlite backup")
    backup_file = made[-1].path

    def read(n: int) -> None:
        work = folder / f"read{n}"
        work.mkdir()
        read_backup(backup_file, work)

    def hash_once(_n: int) -> None:
        hashlib.sha256(backup_file.read_bytes()).hexdigest()

    _line("backup check and unpack", _median(args.repeat, read), _median(args.repeat, hash_once),
          "one SHA-256")  # fmt: skip
    if args.padding:  # the filler is not audited: a restore would refuse it (rightly)
        with sqlite3.connect(source) as raw:
            raw.execute("DROP TABLE bench_padding")
            raw.execute("VACUUM")
        raw.close()
        backup(args.repeat)
        backup_file = made[-1].path

    def restore(n: int) -> None:
        restore_backup(f"sqlite:///{folder}/restored{n}.db", backup_file, "admin",
                       "demo-admin-pass")  # fmt: skip

    def verify(_n: int) -> None:
        assert verify_trail(db).ok

    _line("restore (with audit verify)", _median(args.repeat, restore),
          _median(args.repeat, verify), "audit verify")  # fmt: skip

    qa = authenticate(db, "qa1", "demo-qa1-pass")
    archive = folder / "archive"
    make_archive(db, qa, "EASC-B001", archive, archive_files)

    def archive_check(_n: int) -> None:
        assert check(archive) == []

    def hash_files(_n: int) -> None:
        for path in archive.rglob("*"):
            if path.is_file():
                hashlib.sha256(path.read_bytes()).hexdigest()

    _line("archive verify", _median(args.repeat, archive_check),
          _median(args.repeat, hash_files), "sha256 of files")  # fmt: skip
    db.dispose()


if __name__ == "__main__":
    main()
