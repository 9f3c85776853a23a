"""The README and the command line as a newcomer meets them (issue 18)."""

from __future__ import annotations

import getpass
import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, REPO, CliResult

README = REPO / "README.md"
PASSWORD = "a-long-enough-secret-1"


class Terminal(io.StringIO):
    """Standard input that is a terminal: passwords are typed at their prompts."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def typed(capsys, monkeypatch):
    """Run ``cellbatch ARGS`` as typed at a terminal; ``answer(prompt)`` types each password.

    Returns the result and the prompts the command asked, in order.
    """
    from cellbatch.cli.app import main

    def run(*args: str, answer: Callable[[str], str]) -> tuple[CliResult, list[str]]:
        prompts: list[str] = []

        def ask(prompt: str = "") -> str:
            prompts.append(prompt)
            return answer(prompt)

        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", Terminal())
        monkeypatch.setattr(getpass, "getpass", ask)
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        assert code != 70, f"cellbatch {' '.join(args)} crashed: {out.err}"
        return CliResult(code, out.out, out.err), prompts

    return run


def nothing_at(url: str) -> bool:
    """Whether the database at ``url`` is missing or has no tables (nothing was created)."""
    if url.startswith("sqlite:///"):
        return not Path(url.removeprefix("sqlite:///")).exists()
    from tests.test_database_faults import tables

    return tables(url) == set()


# -- point 3: --db before or after the command --------------------------------------------


def test_db_is_accepted_after_the_command_too(cli, empty_db_url):
    result = cli(
        "init", "--admin", "boss", "--name", "Bo Boss", "--password-stdin", "--db", empty_db_url,
        input=f"{PASSWORD}\n",
    )  # fmt: skip
    assert result.code == 0, result
    assert "created admin boss (Bo Boss)" in result.out
    listing = cli("user", "list", "--json", "--db", empty_db_url, user="boss", password=PASSWORD)
    assert [u["username"] for u in json.loads(listing.out)] == ["boss"]
    twice = cli("--db", "sqlite:///other.db", "user", "list", "--db", empty_db_url, user="boss")
    assert twice.code == 2 and twice.err.startswith("error: --db: given twice"), twice
    assert "--db URL" in cli("batch", "list", "--help").out


# -- point 4: init checks everything before changing anything -----------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--admin", "Jane Doe", "--name", "Jane Doe"], "error: --admin: expected a user ID"),
        (["--admin", "jdoe"], "error: --name: expected the first admin's printed full name"),
        (["--admin", "jdoe", "--name", "   "], "error: --name: expected"),
        (["--name", "Jane Doe"], "error: --name: is the first admin's name"),
    ],
)
def test_init_refuses_a_wrong_admin_before_asking_or_creating_anything(
    typed, empty_db_url, args, says
):
    result, prompts = typed("--db", empty_db_url, "init", *args, answer=lambda _: PASSWORD)
    assert result.code == 2 and result.err.startswith(says), result
    assert prompts == [] and nothing_at(empty_db_url)


def test_init_says_a_short_password_at_once_and_creates_nothing(typed, empty_db_url):
    result, prompts = typed(
        "--db", empty_db_url, "init", "--admin", "jdoe", "--name", "Jane Doe",
        answer=lambda _: "short-pw",
    )  # fmt: skip
    assert result.code == 2, result
    assert result.err.startswith("error: password: expected at least 12 characters, got 8")
    assert prompts == ["Password for jdoe: "]  # not asked to repeat a password already refused
    assert nothing_at(empty_db_url)


def test_init_with_an_admin_on_a_database_with_users_asks_nothing_and_changes_nothing(
    typed, demo_db
):
    from cellbatch.services.queries.audit import list_entries

    before = len(list_entries(demo_db))
    result, prompts = typed(
        "--db", demo_db.url, "init", "--admin", "boss", "--name", "Bo Boss",
        answer=lambda _: PASSWORD,
    )  # fmt: skip
    assert result.code == 4 and "the database already has users" in result.err, result
    assert prompts == [] and len(list_entries(demo_db)) == before


def test_init_at_a_terminal_asks_twice_and_records_the_printed_name(typed, empty_db_url):
    result, prompts = typed(
        "--db", empty_db_url, "init", "--admin", "jdoe", "--name", "Jane Doe",
        answer=lambda _: PASSWORD,
    )  # fmt: skip
    assert result.code == 0, result
    assert prompts == ["Password for jdoe: ", "Repeat the password: "]
    assert "created admin jdoe (Jane Doe)" in result.out


# -- point 6: passwd --password-stdin reads two lines -------------------------------------


def test_passwd_says_it_reads_two_lines_and_asks_for_the_second(cli, admin_db):
    assert "(two lines)" in cli("passwd", "--help").out
    result = cli(
        "--db", admin_db.url, "passwd", "--user", "admin", "--password-stdin",
        input=f"{ADMIN_PASSWORD}\n",
    )  # fmt: skip
    assert result.code == 2, result
    assert result.err.startswith(
        "error: new password: expected two lines (the current password, then the new one)"
    )


# -- point 8: sop list names the file's status as the file's ------------------------------


def test_sop_list_names_the_status_of_the_file_as_such(cli, admin_db):
    listing = cli("--db", admin_db.url, "sop", "list", user="admin", password=ADMIN_PASSWORD)
    header = listing.out.splitlines()[0]
    columns = re.split(r"\s{2,}", header.strip())
    assert "file status" in columns and "status" not in columns
    assert "approved in cellbatch" in columns


# -- point 9: a database without users says so --------------------------------------------


def test_log_in_to_a_database_without_users_says_how_to_make_the_first_admin(cli, db):
    result = cli(
        "--db", db.url, "user", "add", "tech1", "--name", "Tess Tech", "--role", "technician",
        "--user", "admin", "--password-stdin", input=f"{PASSWORD}\n",
    )  # fmt: skip
    assert result.code == 6, result
    assert result.err.startswith("error: the database has no users yet: create the first admin")
    assert '`cellbatch init --admin USER-ID --name "NAME"`' in result.err


# -- point 10: the tour writes where git does not see it ------------------------------------


def readme_blocks() -> list[str]:
    """The README's ``sh`` code blocks."""
    return re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_tours_output_files_are_ignored_by_git():
    outputs = [
        path for block in readme_blocks() for path in re.findall(r"(?:-o|--output)\s+(\S+)", block)
    ]
    assert len(outputs) >= 3, outputs
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", *outputs],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert sorted(checked.stdout.split()) == sorted(outputs), checked
    folders = {Path(p).parent for p in outputs}
    assert all(f"mkdir -p {folder}" in "".join(readme_blocks()) for folder in folders)
