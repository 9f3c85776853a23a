"""The README's new installation, run as written: from the first admin to a started batch.

Issue 18, point 1: the commands are read from the README's "A new installation" block and
typed at a (simulated) terminal on a new database of each backend; each password is typed at
its prompt, and the one-time passwords ``user add`` prints are the ones ``passwd`` is given.
"""

from __future__ import annotations

import re
import shlex

from tests.conftest import REPO
from tests.test_cli_newcomer import typed  # noqa: F401  (the fixture)

SECTION = "## A new installation"


def new_installation_commands() -> list[list[str]]:
    """The ``cellbatch`` commands of the README's new-installation block, as its words."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the new-installation section has no sh block"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0] == "cellbatch", line
            commands.append(words[1:])
    return commands


class People:
    """Each person's password, as the README's reader would type it at each prompt."""

    def __init__(self) -> None:
        self.current: dict[str, str] = {"admin": "admin-first-password"}
        self.changing: str | None = None  # whose passwd runs

    def answer(self, prompt: str) -> str:
        """The password ``prompt`` asks for."""
        if prompt.startswith("Password for "):
            return self.current[prompt.removeprefix("Password for ").split()[0].rstrip(":")]
        if prompt.startswith("Repeat the password"):
            return self.current["admin"]
        assert self.changing is not None, prompt
        if prompt.startswith("Current password"):
            return self.current[self.changing]
        return f"{self.changing}-own-password"  # New password, Repeat the new password


def test_the_readme_new_installation_runs_as_written_to_a_started_batch(
    typed,  # noqa: F811
    empty_db_url,
    monkeypatch,
):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("CELLBATCH_DATABASE_URL", empty_db_url)
    commands = new_installation_commands()
    assert commands[0][:1] == ["init"] and "--name" in commands[0]
    assert commands[-1][:2] == ["batch", "start"]
    people = People()
    for words in commands:
        people.changing = words[words.index("--user") + 1] if words[0] == "passwd" else None
        result, _prompts = typed(*words, answer=people.answer)
        assert result.code == 0, (words, result)
        if words[:2] == ["user", "add"]:
            initial = re.search(r"one-time password .*: (\S+)$", result.out, re.M)
            assert initial is not None, result
            people.current[words[2]] = initial.group(1)
        if words[0] == "passwd":
            people.current[people.changing] = f"{people.changing}-own-password"
    assert "batch EASC-B001 started" in result.out
    listing, _ = typed("batch", "list", "--json", "--user", "tech1", answer=people.answer)
    assert '"code": "EASC-B001"' in listing.out and '"status": "in-process"' in listing.out
