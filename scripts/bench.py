"""Benchmarks (not tests): how long the things people wait for take, on this machine.

    .venv/bin/python scripts/bench.py [--batches N] [--db URL]
    .venv/bin/python scripts/bench.py --scale [--batches 50000] [--entries 5000000] ...

Service layer on a throw-away database (SQLite by default): loading the demo, starting N
batches through the real services (each one audited), the first page of the batch list,
one batch's complete read model, and verifying the whole audit trail. Then the document
and terminal-UI benchmarks, when their scripts are present. ``--scale`` runs the benchmark at
thirty years' scale instead (``scripts/bench_scale.py``; its options follow ``--scale``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(label: str, func, *args, **kwargs):
    """Run ``func`` once and print how long it took."""
    start = time.perf_counter()
    result = func(*args, **kwargs)
    print(f"  {label:<52} {time.perf_counter() - start:8.3f} s")
    return result


def services(url: str, batches: int) -> None:
    """Benchmark the service layer on ``url``."""
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands import batches as batch_service
    from cellbatch.services.commands import donors
    from cellbatch.services.database import init_database
    from cellbatch.services.demo import load_demo
    from cellbatch.services.queries.audit_verify import verify_trail
    from cellbatch.services.queries.batch_view import batch_view
    from cellbatch.services.queries.batches import list_batches

    db, _ = timed("create and migrate an empty database", init_database, url)
    timed("load the demo data (both clinical cases)", load_demo, db)
    tech = authenticate(db, "tech1", "demo-tech1-pass")
    donors.receive_tissue_lot(
        db,
        tech,
        "TL-BENCH",
        donor_code="DN-2026-0001",
        tissue="adipose",
        amount=100.0,
        collected=__import__("datetime").datetime.now(__import__("datetime").UTC),
    )
    start = time.perf_counter()
    for n in range(batches):
        batch_service.start_expansion(
            db, tech, f"BENCH-{n:05d}", lot_number="TL-BENCH", sop_id="SOP-EASC-EXP"
        )
    took = time.perf_counter() - start
    print(
        f"  {f'start {batches} batches (one audited transaction each)':<52} {took:8.3f} s"
        f"   ({took / batches * 1000:.1f} ms each)"
    )
    timed("batch list, first page of 50", list_batches, db, limit=50)
    timed("batch list, page 100 of 50", list_batches, db, offset=5000, limit=50)
    timed("complete read model of the eASC bank", batch_view, db, "EASC-B001")
    report = timed("verify the whole audit trail", verify_trail, db)
    print(
        f"  ({report.entries_checked} entries, {report.rows_checked} records, "
        f"{'intact' if report.ok else 'BROKEN'})"
    )
    db.dispose()


def main() -> None:
    """Run every benchmark."""
    if "--scale" in sys.argv[1:]:
        from bench_scale import main as scale

        scale([a for a in sys.argv[1:] if a != "--scale"])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(f"services on {url.split('@')[-1]}")
        services(url, args.batches)
    for script in ("bench_documents.py", "bench_tui.py"):
        path = HERE / script
        if path.exists():
            print(f"\n{script}")
            subprocess.run([sys.executable, str(path)], check=False)


if __name__ == "__main__":
    main()
