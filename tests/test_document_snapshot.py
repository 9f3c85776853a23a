"""A document is built from one snapshot of the database (issue 17 point 6): an export taken
while another terminal records QC never contradicts itself."""

from __future__ import annotations

import json
import subprocess
import sys

from cellbatch.services.queries.documents import export_json
from tests.conftest import REPO

WRITER = """
import sys
from pathlib import Path

from cellbatch.services.auth import authenticate
from cellbatch.services.commands.qc import record_qc
from cellbatch.services.database import open_database

db = open_database(sys.argv[1])
stop = Path(sys.argv[2])
tech = authenticate(db, "tech1", "demo-tech1-pass")
written = 0
print("ready", flush=True)
while not stop.exists():
    record_qc(db, tech, "FUC-D001", test="gram-stain-release", value="negative")
    written += 1
print(written, flush=True)
"""


def contradictions(copy: dict) -> list[str]:
    """Results the audit section lists that the QC table lacks, and the other way round."""
    table = {q["id"].removeprefix("Q") for q in copy["batch"]["qc"]}
    audited = {
        e["entity_id"]
        for e in copy["audit_trail"]
        if e["entity"] == "qc_result" and e["action"] == "create"
    }
    return sorted(f"Q{n} only in the audit trail" for n in audited - table) + sorted(
        f"Q{n} only in the QC table" for n in table - audited
    )


def test_forty_exports_while_another_process_records_qc_are_each_consistent(demo_db, tmp_path):
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, demo_db.url, str(stop)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        seen, broken = [], []
        for _ in range(40):
            copy = json.loads(export_json(demo_db, "FUC-D001"))
            seen.append(len(copy["batch"]["qc"]))
            if problems := contradictions(copy):
                broken.append(problems)
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert int(out.strip()) > 0 and len(set(seen)) > 1, "the writer must write during the exports"
    assert broken == [], f"{len(broken)} of 40 exports contradict themselves: {broken[:3]}"
