"""Backup and restore (GMP-33, issue 16 point 2): the restore drill on both databases, a
backup with any byte changed refused, only an empty target, audit verify before done."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tarfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from cellbatch.domain.backup_manifest import DATABASE_PART, BackupManifest, BackupRefused
from cellbatch.services.backup_file import MANIFEST, _stream, read_backup
from cellbatch.services.database import open_database
from cellbatch.services.queries.audit import list_entries, verify_trail
from tests.conftest import _pg_admin, _pg_url

pytestmark = pytest.mark.requirement("GMP-33")


@pytest.fixture
def target_url(demo_db, tmp_path):
    """An empty target of the demo database's kind: a new file name, or an empty database."""
    if demo_db.backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'cellbatch.db'}"
        return
    name = f"cb_restore_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _pg_url(name)
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_backup(cli, db, path: Path, user: str = "admin"):
    return cli("--db", db.url, "backup", "-o", str(path), user=user)


def restore(cli, url: str, path: Path, password: str | None = None):
    return cli("--db", url, "restore", str(path), user="admin", password=password)


def is_empty(url: str) -> bool:
    """Nothing restored: no SQLite file at all, or a PostgreSQL database without tables."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return not path.exists() and not any(path.parent.glob(f".{path.name}*"))
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as target:
        count = target.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()[0]
    return count == 0


def test_restore_drill(demo_db, target_url, cli, tmp_path) -> None:
    """Back up online, restore into an empty database, and the restored trail verifies."""
    (tmp_path / "restored").mkdir()
    backup = tmp_path / "nightly.cbk"
    made = make_backup(cli, demo_db, backup)
    assert made.code == 0, made.err
    assert "audit trail up to #" in made.out
    with tarfile.open(backup) as archive:
        assert archive.getnames()[0] == MANIFEST
        manifest = BackupManifest.from_json(archive.extractfile(MANIFEST).read())
    assert manifest.backend == demo_db.backend
    assert manifest.made_by == "admin"
    # the backup is recorded in the source's trail, naming file and SHA-256
    last = list_entries(demo_db)[-1]
    assert last.action == "backup" and last.username == "admin"
    assert json.loads(last.new_value)["sha256"] in made.out
    assert json.loads(last.new_value)["audit_entries"] == manifest.audit_entries == last.seq - 1

    done = restore(cli, target_url, backup)
    assert done.code == 0, done.err
    assert "audit trail intact" in done.out
    restored = open_database(target_url)
    try:
        entries = list_entries(restored)
        assert len(entries) == manifest.audit_entries + 1
        assert entries[-1].action == "restore" and entries[-1].username == "admin"
        assert json.loads(entries[-1].new_value)["made_by"] == "admin"
        assert verify_trail(restored).ok
        assert [e.to_dict() for e in entries[:-1]] == [
            e.to_dict() for e in list_entries(demo_db)[: manifest.audit_entries]
        ]
    finally:
        restored.dispose()
    assert cli("--db", target_url, "audit", "verify").code == 0
    # a second restore into the now full target is refused, and changes nothing there
    again = restore(cli, target_url, backup)
    assert again.code == 2 and "--db" in again.err, again.err
    assert ("already exists" in again.err) or ("not empty" in again.err)


def _file_bytes(tmp_path: Path, demo_db, cli) -> tuple[Path, bytes]:
    backup = tmp_path / "b.cbk"
    assert make_backup(cli, demo_db, backup).code == 0
    return backup, backup.read_bytes()


def test_any_byte_changed_is_refused(_demo_templates, tmp_path, cli) -> None:
    """One byte changed anywhere (manifest, data, checksums, a header, padding, the end).

    The container is the same on both databases; the SQLite one is checked byte by byte here,
    the PostgreSQL one by the command in the test below."""
    import shutil

    path = tmp_path / "demo.db"
    shutil.copy(_demo_templates["sqlite"], path)
    db = open_database(f"sqlite:///{path}")
    try:
        backup, good = _file_bytes(tmp_path, db, cli)
    finally:
        db.dispose()
    assert read_backup(backup, _workdir(tmp_path, "good")).manifest.backend == "sqlite"
    data_start = 512 + 1024 + 512  # manifest header + manifest (< 1 KiB) + part header
    positions = {
        "tar header of the manifest": 10,
        "the header's checksum": 150,
        "manifest content": 520,
        "database part": data_start + 5000,
        "database part, last page": len(good) - 10240 - 2000,
        "padding after the end": len(good) - 3,
        "last byte": len(good) - 1,
    }
    sums_header = good.rfind(b"SHA256SUMS\x00")
    positions["SHA256SUMS header"] = sums_header + 3
    positions["SHA256SUMS content"] = sums_header + 512 + 5
    for n, (where, offset) in enumerate(positions.items()):
        damaged = bytearray(good)
        damaged[offset] ^= 0x01
        backup.write_bytes(bytes(damaged))
        with pytest.raises(BackupRefused) as refused:
            read_backup(backup, _workdir(tmp_path, str(n)))
        assert "damaged" in str(refused.value) or "not a cellbatch backup" in str(refused.value), (
            where
        )
    # a damaged file through the command: refused, naming the file, nothing restored
    damaged = bytearray(good)
    damaged[positions["database part"]] ^= 0x01
    backup.write_bytes(bytes(damaged))
    target = tmp_path / "restored.db"
    result = restore(cli, f"sqlite:///{target}", backup)
    assert result.code == 2, result
    assert "FILE:" in result.err and "database.sqlite3" in result.err and "SHA-256" in result.err
    assert not target.exists()


def _workdir(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / f"work-{name}"
    folder.mkdir()
    return folder


def test_damaged_backup_refused_on_each_database(demo_db, target_url, cli, tmp_path) -> None:
    """The drill's refusal on both databases: one byte of the database part changed."""
    (tmp_path / "restored").mkdir()
    backup, good = _file_bytes(tmp_path, demo_db, cli)
    damaged = bytearray(good)
    damaged[4096] ^= 0x40
    backup.write_bytes(bytes(damaged))
    result = restore(cli, target_url, backup)
    assert result.code == 2 and "damaged" in result.err, result
    assert is_empty(target_url)


def _rewrite(backup: Path, tmp_path: Path, **changes) -> Path:
    """The same backup with its manifest changed and every hash made to agree again."""
    opened = read_backup(backup, _workdir(tmp_path, uuid.uuid4().hex[:6]))
    data = json.loads(opened.manifest.to_json())
    data.update(changes)
    parts = dict(opened.parts)
    if "backend" in changes:  # the database part takes the other kind's name
        new_name = DATABASE_PART[changes["backend"]]
        old_name = DATABASE_PART[opened.manifest.backend]
        parts[new_name] = parts.pop(old_name)
        for part in data["parts"]:
            if part["name"] == old_name:
                part["name"] = new_name
    manifest = BackupManifest.from_json(json.dumps(data).encode())
    out = tmp_path / f"rewritten-{uuid.uuid4().hex[:6]}.cbk"
    with open(out, "wb") as handle:
        _stream(handle.write, manifest.to_json(), manifest, parts)
    return out


def test_mismatched_backup_is_refused(demo_db, target_url, cli, tmp_path) -> None:
    """Another schema, another kind of database, or a trail that is not the manifest's."""
    (tmp_path / "restored").mkdir()
    backup, _ = _file_bytes(tmp_path, demo_db, cli)
    other = "postgresql" if demo_db.backend == "sqlite" else "sqlite"
    cases = [
        ({"schema_revision": "0123456789ab"}, "holds schema 0123456789ab"),
        ({"audit_entries": 3}, "the manifest says #3"),
        ({"backend": other}, f"this backup is of a {other} database"),
    ]
    for changes, said in cases:
        result = restore(cli, target_url, _rewrite(backup, tmp_path, **changes))
        assert result.code == 2 and said in result.err, (changes, result)
        assert is_empty(target_url)


def test_restore_refuses_a_target_that_is_not_empty(demo_db, cli, tmp_path) -> None:
    backup, _ = _file_bytes(tmp_path, demo_db, cli)
    before = list_entries(demo_db)
    result = restore(cli, demo_db.url, backup)
    assert result.code == 2 and "--db" in result.err, result
    assert ("already exists" in result.err) or ("not empty" in result.err)
    assert list_entries(demo_db) == before


def test_restore_never_makes_a_database_companion_file(demo_db, cli, tmp_path) -> None:
    """A restore into the live database's -wal, -shm or -journal name is refused: such a
    file beside the live database would make SQLite refuse it (read-only) or roll it back."""
    backup, _ = _file_bytes(tmp_path, demo_db, cli)
    live = Path(demo_db.url.removeprefix("sqlite:///")) if "sqlite" in demo_db.url else None
    live = live or tmp_path / "live.db"
    for end in ("-wal", "-shm", "-journal"):
        companion = live.with_name(live.name + end)
        if companion.exists():
            companion.unlink()
        result = restore(cli, f"sqlite:///{companion}", backup)
        assert result.code == 2 and "--db" in result.err and end in result.err, result
        assert not companion.exists()
    assert verify_trail(demo_db).ok


def test_restore_verifies_the_trail_before_saying_done(demo_db, target_url, cli, tmp_path) -> None:
    """A backup of records changed behind the program's back is refused after restoring."""
    (tmp_path / "restored").mkdir()
    with demo_db.engine.begin() as connection:
        connection.execute(
            text("UPDATE app_user SET full_name = 'Mallory' WHERE username = 'tech1'")
        )
    backup, _ = _file_bytes(tmp_path, demo_db, cli)
    result = restore(cli, target_url, backup)
    assert result.code == 2, result
    assert "do not pass audit verify" in result.err and "app_user" in result.err
    assert is_empty(target_url)


def test_only_an_admin_backs_up_and_restores(demo_db, target_url, cli, tmp_path) -> None:
    (tmp_path / "restored").mkdir()
    refused = make_backup(cli, demo_db, tmp_path / "x.cbk", user="qa1")
    assert refused.code == 5 and "admin" in refused.err
    assert not (tmp_path / "x.cbk").exists()
    backup, _ = _file_bytes(tmp_path, demo_db, cli)
    wrong = restore(cli, target_url, backup, password="not-the-password")
    assert wrong.code == 6, wrong
    assert is_empty(target_url)
    no_user = cli("--db", demo_db.url, "backup", "-o", str(tmp_path / "y.cbk"))
    assert no_user.code == 2 and "--user" in no_user.err


def test_unattended_backup_is_recorded_as_the_system(demo_db, cli, tmp_path) -> None:
    """The nightly job: no log-in, as the account that owns the database; on record."""
    result = cli("--db", demo_db.url, "backup", "-o", str(tmp_path / "n.cbk"), "--unattended")
    assert result.code == 0, result.err
    last = list_entries(demo_db)[-1]
    assert last.action == "backup" and last.username == "system"
    assert "unattended" in (last.reason or "")


def test_sqlite_backup_is_one_moment_of_a_busy_database(_demo_templates, tmp_path) -> None:
    """The online copy holds exactly the trail its state names while another connection
    holds a write open (WAL: the copy sees the last commit, never half of one)."""
    import shutil

    from cellbatch.db.backup import sqlite_copy

    path = tmp_path / "busy.db"
    shutil.copy(_demo_templates["sqlite"], path)
    db = open_database(f"sqlite:///{path}")
    writer = sqlite3.connect(path)
    try:
        before = writer.execute("SELECT seq FROM audit_head").fetchone()[0]
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE audit_head SET seq = seq + 1000")
        state = sqlite_copy(db, tmp_path / "copy.db")
        writer.rollback()
    finally:
        writer.close()
        db.dispose()
    assert state.audit_seq == before
    from cellbatch.settings import anchor_log_path

    # the trail records the anchors the demo wrote: verify against the demo's own anchor log
    shutil.copy2(_demo_templates["sqlite.anchors"], anchor_log_path())
    copy = open_database(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        assert verify_trail(copy).ok
    finally:
        copy.dispose()


def test_backup_carries_the_anchors_and_restore_checks_them(
    demo_db, target_url, cli, tmp_path, monkeypatch
) -> None:
    """The anchor log travels in the backup; the restore holds to every anchor it had, names
    the entries anchored after it (lost), refuses another key and a contradicting site log."""
    from cellbatch.db.audit_chain_anchors import read_anchors
    from cellbatch.db.audit_chain_key import create_key
    from cellbatch.settings import anchor_log_path

    (tmp_path / "restored").mkdir()
    backup, _ = _file_bytes(tmp_path, demo_db, cli)
    opened = read_backup(backup, _workdir(tmp_path, "anchors"))
    anchors = opened.manifest.anchors
    assert anchors["part"] == "anchors.log" and "anchors.log" in opened.parts
    assert anchors["anchors_of_this_trail"] >= 1 and anchors["last"]["seq"] <= (
        opened.manifest.audit_entries
    )
    site_log = anchor_log_path()
    # after the backup, a release is anchored: the restore will not hold it
    released = cli(
        "--db", demo_db.url, "release", "EASC-D001", "--decision", "release",
        "--reason", "record reviewed", user="qa1",
    )  # fmt: skip
    assert released.code == 0, released.err
    later = max(a.seq for a in read_anchors(site_log).anchors)
    assert later > opened.manifest.audit_entries

    # another site key: refused before anything is restored
    own_key = os.environ["CELLBATCH_KEY_FILE"]
    monkeypatch.setenv("CELLBATCH_KEY_FILE", str(create_key(tmp_path / "other.key").path))
    refused = restore(cli, target_url, backup)
    assert refused.code == 2 and "is not the key this backup's trail was sealed with" in (
        refused.err
    )
    assert is_empty(target_url)
    monkeypatch.setenv("CELLBATCH_KEY_FILE", own_key)

    done = restore(cli, target_url, backup)
    assert done.code == 0, done.err
    assert "anchors of the backup held" in done.out
    assert f"#{later}" in done.err and "Record a deviation" in done.err


def test_restore_refuses_a_backup_the_site_anchors_contradict(
    demo_db, target_url, cli, tmp_path
) -> None:
    from cellbatch.db.audit_chain_anchors import Anchor, append_anchor, read_anchors
    from cellbatch.settings import anchor_log_path

    (tmp_path / "restored").mkdir()
    backup, _ = _file_bytes(tmp_path, demo_db, cli)
    site = read_anchors(anchor_log_path()).anchors[-1]
    forged = Anchor(site.chain_id, 3, "ab" * 32, site.at, site.key_fingerprint, "anchor")
    append_anchor(anchor_log_path(), forged)
    result = restore(cli, target_url, backup)
    assert result.code == 2 and "is not a copy of this site's records" in result.err, result
    assert is_empty(target_url)


def test_restore_on_a_new_machine_brings_the_anchor_log(
    demo_db, target_url, cli, tmp_path, monkeypatch
) -> None:
    (tmp_path / "restored").mkdir()
    backup, _ = _file_bytes(tmp_path, demo_db, cli)
    fresh = tmp_path / "new-machine.anchors"
    monkeypatch.setenv("CELLBATCH_ANCHOR_LOG", str(fresh))
    done = restore(cli, target_url, backup)
    assert done.code == 0, done.err
    assert f"anchor log was put in place: {fresh}" in done.out
    assert fresh.stat().st_mode & 0o777 == 0o600
    verified = cli("--db", target_url, "audit", "verify")
    assert verified.code == 0, verified.err


def test_a_crafted_backup_never_writes_outside_its_folder(tmp_path) -> None:
    """Part names are the program's own: a manifest naming a path is refused unread."""
    from cellbatch.domain.backup_manifest import BackupPart

    payload = tmp_path / "payload"
    payload.write_bytes(b"x" * 10)
    digest = hashlib.sha256(b"x" * 10).hexdigest()
    for name in ("../evil.txt", "/tmp/evil.txt", "database.sqlite3"):
        parts = [BackupPart("database.sqlite3", digest, 10, "db")]
        parts.append(BackupPart(name, digest, 10, "a crafted part"))
        manifest = BackupManifest(
            "0", "sqlite", "x", 1, "0" * 64, "2026-12-02T00:00:00Z", "x", "x", tuple(parts)
        )
        crafted = tmp_path / "crafted.cbk"
        with open(crafted, "wb") as handle:
            _stream(handle.write, manifest.to_json(), manifest, {p.name: payload for p in parts})
        work = tmp_path / "work" / "inner"
        work.mkdir(parents=True, exist_ok=True)
        with pytest.raises(BackupRefused, match="a cellbatch backup holds only"):
            read_backup(crafted, work)
        assert not (tmp_path / "work" / "evil.txt").exists() and list(work.iterdir()) == []


def _keep_writing(url: str, stop, written) -> None:
    """Another terminal: audit entries, one transaction each, until told to stop."""
    from cellbatch.services.unit_of_work import UnitOfWork

    db = open_database(url)
    try:
        while not stop.is_set():
            with UnitOfWork(db, None) as uow:
                uow.audit("test-write", None, entity="backup-race", entity_id=str(written.value))
                uow.commit()
            written.value += 1
    finally:
        db.dispose()


def test_online_backup_while_another_process_writes(demo_db, target_url, cli, tmp_path) -> None:
    """A real second process writes throughout the backup: the copy is one moment (its
    manifest's head is exactly what it holds), and it restores and verifies."""
    import multiprocessing
    import time

    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands.backup import make_backup as backup_now
    from cellbatch.services.output_files import OutputFile

    (tmp_path / "restored").mkdir()
    fork = multiprocessing.get_context("fork")
    stop, written = fork.Event(), fork.Value("i", 0)
    writer = fork.Process(target=_keep_writing, args=(demo_db.url, stop, written))
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while written.value < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        before = written.value
        admin = authenticate(demo_db, "admin", "demo-admin-pass")
        made = backup_now(demo_db, admin, OutputFile(tmp_path / "busy.cbk"))
        during = written.value - before
    finally:
        stop.set()
        writer.join(30)
    assert writer.exitcode == 0
    assert during > 0, "the other process must have written while the backup ran"
    done = restore(cli, target_url, made.path)
    assert done.code == 0, done.err
    restored = open_database(target_url)
    try:
        entries = list_entries(restored)
    finally:
        restored.dispose()
    assert entries[-2].seq == made.manifest.audit_entries and entries[-1].action == "restore"
