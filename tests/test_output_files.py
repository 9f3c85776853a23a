"""Documents written to disk: never over the records, never through a planted link, whole or not
at all, and a label counted only once its file is in place (issue 10 point 6, issue 17 point 7)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pypdfium2
import pytest

from cellbatch.domain.errors import InvalidInput
from cellbatch.services.output_files import write_output
from cellbatch.services.queries.labels import label_history
from cellbatch.settings import anchor_log_path
from tests.conftest import REPO


@pytest.fixture
def demo_file(_demo_templates, tmp_path) -> Path:
    """The demo data in an SQLite file (what is tested here is the file system, not the SQL)."""
    path = tmp_path / "db" / "demo.db"
    path.parent.mkdir()
    shutil.copy(_demo_templates["sqlite"], path)
    # the trail records the anchors the demo wrote: its copy comes with the demo's anchor log
    shutil.copy2(_demo_templates["sqlite.anchors"], anchor_log_path())
    return path


def run_export(cli, database: Path, target: Path, *extra: str):
    url = f"sqlite:///{database}"
    return cli("--db", url, "export", "EASC-B001", "-o", str(target), *extra, user="qa1")


def test_export_never_writes_over_the_database_file(demo_file, cli, tmp_path) -> None:
    database = demo_file
    before = database.read_bytes()
    for extra in ((), ("--force",)):
        result = run_export(cli, database, database, *extra)
        assert result.code == 2, result
        assert "is one of the files the records are kept in" in result.err
    link = tmp_path / "innocent.json"
    link.symlink_to(database)
    result = run_export(cli, database, link, "--force")
    assert result.code == 2 and "never written over" in result.err
    assert database.read_bytes() == before
    assert cli("--db", f"sqlite:///{database}", "audit", "verify").code == 0


def test_an_existing_file_is_kept_unless_forced(demo_file, cli, tmp_path) -> None:
    target = tmp_path / "record.json"
    target.write_text("an earlier copy", encoding="utf-8")
    result = run_export(cli, demo_file, target)
    assert result.code == 2 and "--output" in result.err and "already exists" in result.err
    assert "--force" in result.err
    assert target.read_text(encoding="utf-8") == "an earlier copy"
    result = run_export(cli, demo_file, target, "--force")
    assert result.code == 0, result.err
    assert target.read_text(encoding="utf-8").startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "record.json"]


def test_a_planted_symlink_is_never_followed(demo_file, cli, tmp_path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    # where the old program put its temporary file, and the target itself
    (tmp_path / ".record.json.partial").symlink_to(victim)
    result = run_export(cli, demo_file, tmp_path / "record.json")
    assert result.code == 0, result.err
    (tmp_path / "link.json").symlink_to(victim)
    result = run_export(cli, demo_file, tmp_path / "link.json")
    assert result.code == 2 and "already exists" in result.err
    result = run_export(cli, demo_file, tmp_path / "link.json", "--force")
    assert result.code == 0, result.err
    assert victim.read_text(encoding="utf-8") == "precious"
    assert not (tmp_path / "link.json").is_symlink()
    assert (tmp_path / "link.json").read_text(encoding="utf-8").startswith("{")


def test_a_failed_write_leaves_no_file_behind(tmp_path) -> None:
    """A full disk (here: a file size limit) is a message, and nothing is left in the folder."""
    code = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from cellbatch.domain.errors import InvalidInput\n"
        "from cellbatch.services.output_files import write_output\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))\n"
        "try:\n"
        "    write_output(Path(sys.argv[1]), b'x' * 100_000)\n"
        "except InvalidInput as exc:\n"
        "    print(exc)\n"
    )
    target = tmp_path / "out.pdf"
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith(f"--output: cannot write {target}: File too large"), done
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("unnamed", [True, False], ids=["O_TMPFILE", "named temporary"])
def test_a_write_is_whole_or_absent_and_protected_files_stay(
    tmp_path, monkeypatch, unnamed
) -> None:
    from cellbatch.services import output_files

    if not unnamed:  # a file system without unnamed files
        monkeypatch.setattr(output_files, "_O_TMPFILE", 0)
    database = tmp_path / "cellbatch.db"
    database.write_bytes(b"records")
    with pytest.raises(InvalidInput, match="never written over"):
        write_output(database, b"x", force=True, protected=[database])
    with pytest.raises(InvalidInput, match="never written over"):
        write_output(tmp_path / "cellbatch.db-wal", b"x", protected=[tmp_path / "cellbatch.db-wal"])
    with pytest.raises(InvalidInput, match="does not exist"):
        write_output(tmp_path / "nowhere" / "x.pdf", b"x")
    assert write_output(tmp_path / "x.pdf", b"%PDF") == tmp_path / "x.pdf"
    assert (tmp_path / "x.pdf").stat().st_mode & 0o777 == 0o600
    with pytest.raises(InvalidInput, match="already exists"):
        write_output(tmp_path / "x.pdf", b"other")
    write_output(tmp_path / "x.pdf", b"%PDF-2", force=True)
    assert (tmp_path / "x.pdf").read_bytes() == b"%PDF-2"
    with pytest.raises(RuntimeError), output_files.OutputFile(tmp_path / "y.pdf") as out:
        out.write(b"half")
        raise RuntimeError("the renderer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cellbatch.db", "x.pdf"]
    assert database.read_bytes() == b"records"


CRASHING_CLI = """
import os, signal, sys
from sqlalchemy.orm import Session

kill_at, seen = int(sys.argv[1]), []


def crash_before(name, real):
    def step(*args, **kwargs):
        seen.append(name)
        if len(seen) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    return step


for name in ("fsync", "link", "replace", "rename"):
    setattr(os, name, crash_before(name, getattr(os, name)))
Session.commit = crash_before("commit", Session.commit)
from cellbatch.services import passwords

passwords.TEST_SCRYPT_N = 1024  # the suite's in-process seam, in this process too
from cellbatch.cli.app import main

main(sys.argv[2:])
"""


def test_a_kill_at_any_step_never_leaves_a_counted_label_without_its_file(
    demo_db, tmp_path
) -> None:
    """``labels`` killed (SIGKILL) before each file and database step in turn, then let run."""
    outcomes = []
    for kill_at in range(1, 20):
        counted = label_history(demo_db, "EASC-D001")
        before = counted.printed + counted.reprinted
        target = tmp_path / f"labels-{kill_at}.pdf"
        args = ["--db", demo_db.url, "labels", "EASC-D001", "-o", str(target), "--user", "tech1"]
        if before:
            args += ["--reprint", "--reason", "crash test"]
        done = subprocess.run(
            [sys.executable, "-c", CRASHING_CLI, str(kill_at), *args, "--password-stdin"],
            cwd=REPO,
            input="demo-tech1-pass\n",
            capture_output=True,
            text=True,
        )
        counted = label_history(demo_db, "EASC-D001")
        after = counted.printed + counted.reprinted
        if after > before:
            assert target.exists(), f"killed at step {kill_at}: label counted, no file"
            pdf = pypdfium2.PdfDocument(target.read_bytes())
            assert len(pdf) == 1
            pdf.close()
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
        assert leftovers == [], f"killed at step {kill_at}"
        outcomes.append((done.returncode, after > before, target.exists()))
        if done.returncode == 0:
            break
    else:
        pytest.fail("the command never got to the end")
    assert outcomes[-1] == (0, True, True)
    assert any(code == -9 for code, _, _ in outcomes)
    assert os.path.exists(tmp_path / f"labels-{len(outcomes)}.pdf")
