"""The nightly job (GMP-33, issue 16 point 4): audit verify and backup unattended, the result
on the QA home screen; a broken trail or a failed backup is shown, and a job that stopped is
shown late."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from cellbatch.domain.nightly import NightlyResult
from cellbatch.services.backup_file import read_backup
from cellbatch.services.queries.nightly import nightly_line
from cellbatch.tui.app import build_app
from tests.test_tui_workflows import log_in, run_async, text_of

pytestmark = pytest.mark.requirement("GMP-33")


def test_nightly_verifies_backs_up_and_records_the_result(demo_db, cli, tmp_path, monkeypatch):
    status = tmp_path / "nightly.json"
    monkeypatch.setenv("CELLBATCH_NIGHTLY_STATUS", str(status))
    assert nightly_line() == "Nightly check: NOT RUN YET (no result recorded)"
    backups = tmp_path / "backups"
    backups.mkdir()
    result = cli("--db", demo_db.url, "nightly", "--backup-dir", str(backups))
    assert result.code == 0, result.err
    saved = NightlyResult.from_json(status.read_bytes())
    assert saved.ok and saved.backup_file is not None
    work = tmp_path / "work"
    work.mkdir()
    assert read_backup(saved.backup_file, work).manifest.made_by.startswith("system")
    assert "audit trail intact, backup made" in nightly_line()

    # a trail changed behind the program's back: the night fails, the backup is still made
    with demo_db.engine.begin() as connection:
        connection.execute(text("UPDATE app_user SET full_name = 'Mallory' WHERE id = 2"))
    result = cli("--db", demo_db.url, "nightly", "--backup-dir", str(backups))
    assert result.code == 1
    saved = NightlyResult.from_json(status.read_bytes())
    assert not saved.audit_ok and saved.backup_ok
    line = nightly_line()
    assert "FAILED" in line and "AUDIT TRAIL BROKEN" in line and "app_user 2" in line
    assert len(list(backups.iterdir())) == 2

    # the status never goes over the records
    database = demo_db.files()[0] if demo_db.files() else None
    if database is not None:
        before = database.read_bytes()
        result = cli(
            "--db", demo_db.url, "nightly", "--backup-dir", str(backups), "--status", str(database)
        )  # fmt: skip
        assert result.code == 2 and "never written over" in result.err
        assert database.read_bytes()[:100] == before[:100]

    # the backup folder gone: the night fails and says so
    result = cli("--db", demo_db.url, "nightly", "--backup-dir", str(tmp_path / "gone"))
    assert result.code == 2 and "--backup-dir" in result.err


def test_a_night_without_a_run_is_shown_late() -> None:
    at = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    result = NightlyResult(at.isoformat().replace("+00:00", "Z"), True, "ok", True, "ok")
    assert "LATE" not in result.summary(at + timedelta(hours=20))
    assert "LATE" in result.summary(at + timedelta(hours=27))
    assert json.loads(result.to_json())["audit_ok"] is True


@run_async
async def test_qa_home_screen_shows_the_nightly_result(demo_db, tmp_path, monkeypatch):
    status = tmp_path / "nightly.json"
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    status.write_bytes(
        NightlyResult(
            now, False, "AUDIT TRAIL BROKEN: audit entry #7 was edited", True, "ok"
        ).to_json()
    )
    monkeypatch.setenv("CELLBATCH_NIGHTLY_STATUS", str(status))
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(app, pilot, "qa1")
        summary = text_of(app, "#home-summary")
        assert "Nightly check" in summary and "AUDIT TRAIL BROKEN" in summary
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        assert "Nightly" not in text_of(app, "#home-summary")
