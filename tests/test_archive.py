"""The 30-year archive (GMP-33, issue 16 point 3): made and checked without cellbatch, any
change to any file caught, released batches archived automatically, the release never undone
by a failing archive."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cellbatch.db.audit_chain import ENTRY_FIELDS
from cellbatch.services import archive_verify
from cellbatch.services.queries.audit import list_entries
from cellbatch.tui.app import build_app
from tests.test_tui_workflows import log_in, run_async, settle, text_of

pytestmark = pytest.mark.requirement("GMP-33")


def archive(cli, db, batch: str, folder: Path, user: str = "qa1"):
    return cli("--db", db.url, "archive", batch, "-o", str(folder), user=user)


def without_cellbatch(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """The archive's own script, by the system's Python, isolated: no cellbatch, no packages."""
    return subprocess.run(
        ["python3", "-I", "-S", "verify_archive.py", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},
        check=False,
    )


def test_archive_verifies_without_cellbatch_and_any_change_fails(demo_db, cli, tmp_path) -> None:
    labels = cli(
        "--db", demo_db.url, "labels", "EASC-D001", "-o", str(tmp_path / "q.pdf"), user="tech1"
    )
    assert labels.code == 0, labels.err
    anchored = cli("--db", demo_db.url, "audit", "anchor")  # as a site schedules it, hourly
    assert anchored.code == 0, anchored.err
    folder = tmp_path / "EASC-D001"
    made = archive(cli, demo_db, "EASC-D001", folder)
    assert made.code == 0, made.err
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    for expected in (
        "README.txt", "SHA256SUMS", "SHA256SUMS.seal", "manifest.json", "record.pdf",
        "record.json",
        "audit/entries.jsonl", "audit/chain.txt", "labels/labels.json", "verify_archive.py",
    ):  # fmt: skip
        assert expected in names, names
    assert any(n.startswith("sops/SOP-") for n in names)
    label_files = [n for n in names if n.startswith("labels/L") and n.endswith(".pdf")]
    assert label_files and (folder / label_files[0]).read_bytes().startswith(b"%PDF")
    listing = json.loads((folder / "labels/labels.json").read_text())
    assert all(item["content_matches_print"] for item in listing)
    assert (folder / "record.pdf").read_bytes().startswith(b"%PDF")
    record = json.loads((folder / "record.json").read_text())
    assert record["batch"]["code"] == "EASC-D001"
    manifest = json.loads((folder / "manifest.json").read_text())
    # the proof reaches an anchor outside the database: the chain passes through it
    anchor = manifest["anchor"]
    assert anchor is not None and anchor["seq"] <= manifest["audit_head"]["seq"]
    chain_lines = (folder / "audit/chain.txt").read_text().splitlines()
    assert f" {anchor['hash']}" in next(x for x in chain_lines if x.startswith(f"{anchor['seq']} "))
    assert f"anchor #{anchor['seq']}" in (folder / "README.txt").read_text()
    entries = [json.loads(x) for x in (folder / "audit/entries.jsonl").read_text().splitlines()]
    assert entries and all(e["batch_id"] == entries[0]["batch_id"] or e["entity"] for e in entries)
    assert manifest["audit_head"]["seq"] == list_entries(demo_db)[-1].seq - 1
    # the making is on record, with the SHA-256 of SHA256SUMS
    last = list_entries(demo_db)[-1]
    assert last.action == "archive" and last.username == "qa1"
    sums = hashlib.sha256((folder / "SHA256SUMS").read_bytes()).hexdigest()
    assert json.loads(last.new_value)["sha256_of_SHA256SUMS"] == sums

    assert cli("archive", "verify", str(folder)).code == 0
    alone = without_cellbatch(folder)  # no key: never "intact"
    assert alone.returncode == 3 and "archive intact" not in alone.stdout, alone
    assert "not proved" in alone.stdout
    alone = without_cellbatch(folder, "--key", str(demo_db.key_file))  # every seal checked
    assert alone.returncode == 0 and "archive intact" in alone.stdout, alone
    assert "not checked" not in alone.stdout
    sha = subprocess.run(
        ["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, check=False
    )
    assert sha.returncode == 0

    # any file changed by one byte: verify fails, naming it (the seal: checked with the key)
    secret = archive_verify.read_key(demo_db.key_file)
    for name in names:
        path = folder / name
        good = path.read_bytes()
        damaged = bytearray(good)
        damaged[len(damaged) // 2] ^= 0x01
        path.write_bytes(bytes(damaged))
        problems = archive_verify.check(folder, secret)
        assert problems, name
        assert any(name in p or "manifest.json" in p for p in problems), (name, problems)
        path.write_bytes(good)
    assert archive_verify.check(folder) == []
    (folder / "audit" / "note.txt").write_text("added later")
    result = cli("archive", "verify", str(folder))
    assert result.code == 1 and "audit/note.txt was added" in result.err
    alone = without_cellbatch(folder)
    assert alone.returncode == 1 and "audit/note.txt" in alone.stdout
    (folder / "audit" / "note.txt").unlink()
    sums = (folder / "SHA256SUMS").read_text()
    (folder / "SHA256SUMS").write_text(sums + f"{'0' * 64}  ../../etc/hostname\n")
    assert any("outside the archive folder" in p for p in archive_verify.check(folder))
    (folder / "SHA256SUMS").write_text(sums)
    (folder / "record.json").unlink()
    assert any("record.json is missing" in p for p in archive_verify.check(folder))


def _reseal(folder: Path) -> None:
    """Make the file hashes agree again after a change: only the chain check can catch it."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for item in manifest["files"]:
        item["sha256"] = hashlib.sha256((folder / item["path"]).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    lines = [
        f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}"
        for n in sorted(
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.name not in ("SHA256SUMS", "SHA256SUMS.seal")
        )
    ]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def test_a_resealed_forgery_fails_the_chain(demo_db, cli, tmp_path) -> None:
    """An audit entry changed and every file hash recomputed: the entry no longer hashes."""
    folder = tmp_path / "bank"
    assert archive(cli, demo_db, "EASC-B001", folder).code == 0
    pristine = tmp_path / "pristine"
    shutil.copytree(folder, pristine)
    entries = (folder / "audit/entries.jsonl").read_text().splitlines()
    entry = json.loads(entries[1])
    entry["username"] = "somebody-else"
    entries[1] = json.dumps(entry, sort_keys=True)
    (folder / "audit/entries.jsonl").write_text("\n".join(entries) + "\n")
    _reseal(folder)
    assert archive_verify.check_files(folder) == []
    assert archive_verify.check(folder) == []  # without the site key no seal is checked
    secret = archive_verify.read_key(demo_db.key_file)
    problems = archive_verify.check(folder, secret)
    assert any(f"#{entry['seq']} does not hash" in p for p in problems), problems
    assert cli("archive", "verify", str(folder)).code == 1  # the configured key
    # a chain line removed (the trail's link broken), resealed
    shutil.rmtree(folder)
    shutil.copytree(pristine, folder)
    assert archive_verify.check(folder) == []
    chain = (folder / "audit/chain.txt").read_text().splitlines()
    del chain[len(chain) // 2]
    (folder / "audit/chain.txt").write_text("\n".join(chain) + "\n")
    _reseal(folder)
    assert any("the chain breaks" in p for p in archive_verify.check(folder))


def test_a_record_changed_and_every_hash_recomputed_fails_under_the_key(
    demo_db, cli, tmp_path
) -> None:
    """A record, a SOP or the manifest changed and SHA256SUMS rebuilt: its keyed seal fails."""
    folder = tmp_path / "bank"
    assert archive(cli, demo_db, "EASC-B001", folder).code == 0
    secret = archive_verify.read_key(demo_db.key_file)
    assert archive_verify.check(folder, secret) == []
    pristine = tmp_path / "pristine"
    shutil.copytree(folder, pristine)
    sop = next(p.relative_to(folder).as_posix() for p in (folder / "sops").iterdir())
    for name, old, new in (
        ("record.json", '"released"', '"rejected"'),
        (sop, '"SOP-', '"XOP-'),
        ("manifest.json", '"released"', '"rejected"'),
    ):
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder)
        text = (folder / name).read_text()
        assert old in text, name
        (folder / name).write_text(text.replace(old, new, 1))
        _reseal(folder)
        assert archive_verify.check(folder) == [], name  # no key: only the hashes, which agree
        problems = archive_verify.check(folder, secret)
        assert any("its seal under the site key" in p for p in problems), name
        verified = cli("archive", "verify", str(folder))  # the configured key
        assert verified.code == 1 and "seal" in verified.err, (name, verified.err)
        script = without_cellbatch(folder, "--key", str(demo_db.key_file))
        assert script.returncode == 1 and "seal" in script.stdout, (name, script.stdout)
        # without the key the forgery cannot be told: never "intact", exit non-zero
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CELLBATCH_KEY_FILE", "/nonexistent")
            keyless = cli("archive", "verify", str(folder))
            assert keyless.code == 3, (name, keyless)
            assert "archive intact" not in keyless.out + keyless.err
            assert "the seals were NOT checked (no site key): not proved" in keyless.err
            hashes = cli("archive", "verify", str(folder), "--hashes-only")
            assert hashes.code == 0 and "not proved" in hashes.out, (name, hashes)
            assert "archive intact" not in hashes.out
        script = without_cellbatch(folder)
        assert script.returncode == 3 and "archive intact" not in script.stdout, script
        assert "the seals were NOT checked (no site key): not proved" in script.stdout
        # asked for explicitly, the hash-only check passes and says what it is
        script = without_cellbatch(folder, "--hashes-only")
        assert script.returncode == 0 and "not proved" in script.stdout, script
        assert "archive intact" not in script.stdout
    (folder / "SHA256SUMS.seal").unlink()
    assert any("SHA256SUMS.seal is missing" in p for p in archive_verify.check(folder, secret))


def test_release_archives_automatically(demo_db, cli, tmp_path, monkeypatch) -> None:
    """Release committed, then the archive; a failing archive never undoes the release."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the archive folder should be")
    monkeypatch.setenv("CELLBATCH_ARCHIVE_DIR", str(blocked))
    released = cli(
        "--db", demo_db.url, "release", "EASC-D001", "--decision", "release",
        "--reason", "record reviewed", user="qa1",
    )  # fmt: skip
    assert released.code == 0, released.err
    assert "is now released" in released.out
    assert "IS RELEASED, but its archive was not made" in released.err
    retry = released.err.split("Make it now: ")[1].strip()
    assert retry.startswith("cellbatch archive EASC-D001 -o ")
    # the retry command, as printed, makes it (into the intended place, once it is a folder)
    blocked.unlink()
    blocked.mkdir()
    args = retry.split()[1:-2]  # without "--user qa1": the cli fixture logs in
    again = cli("--db", demo_db.url, *args, user="qa1")
    assert again.code == 0, again.err
    target = Path(args[args.index("-o") + 1])
    assert archive_verify.check(target) == []


def test_release_into_the_archive_folder(demo_db, cli, tmp_path, monkeypatch) -> None:
    archives = tmp_path / "archives"
    monkeypatch.setenv("CELLBATCH_ARCHIVE_DIR", str(archives))
    released = cli(
        "--db", demo_db.url, "release", "EASC-D001", "--decision", "release",
        "--reason", "record reviewed", user="qa1",
    )  # fmt: skip
    assert released.code == 0, released.err
    made = sorted(archives.iterdir())
    assert len(made) == 1 and made[0].name.startswith("EASC-D001-"), made
    assert f"archived to {made[0]}" in released.out
    assert archive_verify.check(made[0]) == []
    manifest = json.loads((made[0] / "manifest.json").read_text())
    assert manifest["status"] == "released" and manifest["made_by"] == "qa1"
    # the release comes first in the trail, then the archive
    actions = [e.action for e in list_entries(demo_db)[-4:]]
    assert actions[-1] == "archive" and "archive" not in actions[:-1]


def test_archive_refusals(demo_db, cli, tmp_path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    result = archive(cli, demo_db, "EASC-B001", taken)
    assert result.code == 2 and "--output" in result.err and "not an empty folder" in result.err
    result = archive(cli, demo_db, "EASC-B001", tmp_path / "t", user="tech1")
    assert result.code == 5 and "archive" in result.err
    assert not (tmp_path / "t").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert cli("archive", "verify", str(tmp_path / "nothing")).code == 2


def test_the_archive_script_hashes_entries_as_the_program_does() -> None:
    from cellbatch.db.audit_chain import MAC_PREFIX, canonical_value, entry_mac

    assert archive_verify.ENTRY_FIELDS == ENTRY_FIELDS
    assert archive_verify.MAC_PREFIX == MAC_PREFIX
    entry = {name: f"value of {name} ü" for name in ENTRY_FIELDS} | {"seq": 7, "batch_id": None}
    canonical = {name: canonical_value(value) for name, value in entry.items()}
    assert archive_verify.entry_seal(canonical, b"k" * 32) == entry_mac(b"k" * 32, entry)


@run_async
async def test_release_in_the_terminal_ui_is_archived(demo_db, tmp_path, monkeypatch) -> None:
    """The same order through the UI's door: released and signed, then archived."""
    archives = tmp_path / "archives"
    monkeypatch.setenv("CELLBATCH_ARCHIVE_DIR", str(archives))
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "qa1")
        await pilot.press(*"EASC-D001", "enter")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        await pilot.press("f9")
        await settle(app, pilot)
        await pilot.press(*"records reviewed", "enter")
        await pilot.press("enter", *"demo-qa1-pass", "enter")
        await settle(app, pilot)
        assert "RELEASED" in text_of(app, "#verdict")
    made = sorted(archives.iterdir())
    assert len(made) == 1 and made[0].name.startswith("EASC-D001-")
    assert archive_verify.check(made[0]) == []
