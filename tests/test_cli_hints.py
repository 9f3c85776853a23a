"""Every command a message suggests runs as printed (issue 18, point 2).

The suggestions are collected from the package itself: every backticked ``cellbatch …`` in a
string a message is built from (docstrings use double backticks and are not messages). Each is
parsed by the real command line: the command exists, every option it names exists, every
required value is given. The only words a reader replaces are placeholders of the help's
vocabulary (``--user USER-ID``). Then the refusals of a new SOP version are met for real and
each command they print is run, its placeholder filled in, until the batch starts.
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil

import pytest
import typer

from tests.conftest import REPO

HINT = re.compile(r"(?<!`)`(cellbatch(?: [^`]*)?)`(?!`)")
HOLE = "value"  # the value an f-string's {…} takes in a collected hint


def suggested_commands() -> dict[str, str]:
    """Every command a message of the package suggests, with where it is written."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "cellbatch").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                parts = node.values
                text = "".join(p.value if isinstance(p, ast.Constant) else HOLE for p in parts)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            else:
                continue
            for match in HINT.finditer(text):
                found.setdefault(match.group(1), f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def command_tree():
    from cellbatch.cli.app import accept_db_after_commands, app
    from cellbatch.cli.help_style import uniform_help

    return uniform_help(accept_db_after_commands(typer.main.get_command(app)))


@pytest.fixture(autouse=True)
def _a_fresh_command_line(monkeypatch):
    """Parse each hint as a new process would: no ``--db`` left by an earlier in-process run."""
    from cellbatch.cli.common import STATE

    monkeypatch.setattr(STATE, "db_url", None)


def parse(tree, words: list[str]) -> None:
    """Parse ``cellbatch WORDS`` as the command line would; raise its usage error if any."""
    command, name = tree, "cellbatch"
    while hasattr(command, "commands") and words and words[0] in command.commands:
        name = words[0]
        command, words = command.commands[name], words[1:]
    assert not hasattr(command, "commands"), f"{name} is a group: no command named"
    if "--help" in words:
        return
    command.make_context(name, list(words))


def test_the_package_suggests_commands_and_the_known_cases_are_among_them():
    hints = suggested_commands()
    assert len(hints) >= 10, hints
    assert any(h.startswith("cellbatch sop approve") for h in hints)
    assert any(h.startswith("cellbatch init --admin") for h in hints)


@pytest.mark.parametrize("hint", sorted(suggested_commands()))
def test_a_suggested_command_parses_with_every_required_value(hint):
    from cellbatch.cli.help_style import known_placeholder

    words = shlex.split(hint)[1:]
    parse(command_tree(), words)  # a usage error fails the test, naming what is missing
    capitals = [w for w in words if re.fullmatch(r"[A-Z][A-Z0-9<>-]*", w)]
    assert all(known_placeholder(w) for w in capitals), (hint, capitals)


@pytest.fixture
def sop_1_2(tmp_path, monkeypatch) -> str:
    """A new SOP version 1.2 of SOP-EASC-EXP, approved in its file, not yet in cellbatch."""
    folder = tmp_path / "sops"
    shutil.copytree(REPO / "sops", folder)
    text = (folder / "SOP-EASC-EXP_v1.0.toml").read_text(encoding="utf-8")
    text = text.replace('version = "1.0"', 'version = "1.2"', 1)
    assert 'version = "1.2"' in text
    (folder / "SOP-EASC-EXP_v1.2.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("CELLBATCH_SOPS_DIR", str(folder))
    return "1.2"


def printed_command(message: str, user: str) -> list[str]:
    """The one command ``message`` suggests, its ``USER-ID`` filled in with ``user``."""
    found = HINT.findall(message)
    assert len(found) == 1, message
    return [user if w == "USER-ID" else w for w in shlex.split(found[0])[1:]]


def test_the_refusals_of_an_unapproved_sop_print_commands_that_run(cli, demo_db, sop_1_2):
    def run_as_printed(words: list[str], user: str):
        """The printed command and nothing else: only the password comes on stdin."""
        return cli("--db", demo_db.url, *words, "--password-stdin", input=f"demo-{user}-pass\n")

    start = ["--db", demo_db.url, "batch", "start", "EASC-B009", "--lot", "TL-ADI-0001"]
    start += ["--sop", "SOP-EASC-EXP", "--sop-version", sop_1_2]
    refused = cli(*start, user="tech1")
    assert refused.code != 0 and "is not approved in cellbatch" in refused.err, refused
    approve = printed_command(refused.err, "qa1")
    assert approve[:2] == ["sop", "approve"]
    no_author = run_as_printed(approve, "qa1")
    assert no_author.code != 0 and "has no author in cellbatch" in no_author.err, no_author
    submit = printed_command(no_author.err, "sup1")
    assert run_as_printed(submit, "sup1").code == 0
    approved = run_as_printed(approve, "qa1")
    assert approved.code == 0 and f"v{sop_1_2} approved by" in approved.out, approved
    refused_again = cli(*start, user="tech1")
    assert "is not approved" not in refused_again.err, refused_again
