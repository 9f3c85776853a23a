"""Benchmark printed output: labels of the demo dose batches and the record of the demo eASC bank.

Usage: .venv/bin/python scripts/bench_documents.py [--db URL_OF_AN_EMPTY_DATABASE] [--repeat N]

Loads the demo into a fresh database (a temporary SQLite file unless --db is given), fills
the fucosylated dose so that both dose batches have a bag, then times, N times each:
gathering the label data and drawing the label PDF; rendering the label at 300 dpi and
decoding its barcodes (what the tests do); gathering and drawing the batch record of
EASC-B001; and the JSON export. Prints the median and the worst time of each. Label
prints are counted events, so the label runs use reprints after the first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cellbatch.services import passwords  # noqa: E402

passwords.TEST_SCRYPT_N = 1024  # this measures documents/screens; bench_login.py measures log-in


def _timed(runs: int, work) -> list[float]:
    times = []
    for n in range(runs):
        start = time.perf_counter()
        work(n)
        times.append(time.perf_counter() - start)
    return times


def _line(name: str, times: list[float], note: str = "") -> None:
    print(
        f"{name:<46} median {statistics.median(times) * 1000:8.1f} ms   "
        f"worst {max(times) * 1000:8.1f} ms   (n={len(times)}){note}"
    )


def main() -> None:
    """Run the benchmark and print the times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="URL of an EMPTY database (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cellbatch-bench-") as folder:
        _run(args, args.db or f"sqlite:///{folder}/bench.db")


def _run(args: argparse.Namespace, url: str) -> None:
    """Load the demo into ``url`` and time the documents."""
    import pypdfium2
    import zxingcpp

    from cellbatch.documents import batch_record
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands import steps
    from cellbatch.services.commands.labels import print_labels
    from cellbatch.services.database import init_database
    from cellbatch.services.demo import load_demo
    from cellbatch.services.queries.documents import export_json, record_data

    db, _ = init_database(url)
    started = time.perf_counter()
    load_demo(db, render_labels=render_labels)
    print(f"database: {url.split('@')[-1]}; demo loaded in {time.perf_counter() - started:.2f} s")
    tech = authenticate(db, "tech1", "demo-tech1-pass")
    steps.fill(
        db, tech, "FUC-D001", volume="10 mL", cells="4.0e7 cells", materials=["SAL-HSA-0915"]
    )

    for code in ("EASC-D001", "FUC-D001"):
        pdfs: list[bytes] = []

        def label_run(n: int, code: str = code, pdfs: list[bytes] = pdfs) -> None:
            extra = {"reprint": True, "reason": "benchmark"} if n else {}
            print_labels(
                db, tech, code, lambda ls: pdfs.append(render_labels(ls)) or pdfs[-1], **extra
            )

        _line(f"labels {code}: data + PDF + counted event", _timed(args.repeat, label_run))
        decoded: list[int] = []

        def decode_run(_n: int, pdfs: list[bytes] = pdfs, decoded: list[int] = decoded) -> None:
            doc = pypdfium2.PdfDocument(pdfs[-1])
            for page in doc:
                image = page.render(scale=300 / 72).to_pil()
                decoded.append(len(zxingcpp.read_barcodes(image)))
            doc.close()

        times = _timed(args.repeat, decode_run)
        _line(f"labels {code}: render 300 dpi + decode", times, f"  {decoded[-1]} barcodes")

    pages: list[int] = []

    def record_run(_n: int) -> None:
        pdf = batch_record.render(record_data(db, "EASC-B001"))
        doc = pypdfium2.PdfDocument(pdf)
        pages.append(len(doc))
        doc.close()

    times = _timed(args.repeat, record_run)
    _line("record EASC-B001: data + PDF", times, f"  {pages[-1]} pages")
    data = record_data(db, "EASC-B001")
    times = _timed(args.repeat, lambda _n: batch_record.render(data))
    _line("record EASC-B001: PDF only (data gathered)", times)
    times = _timed(args.repeat, lambda _n: export_json(db, "EASC-B001"))
    _line("export EASC-B001: JSON electronic copy", times)
    db.dispose()


if __name__ == "__main__":
    main()
