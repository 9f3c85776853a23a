"""The ``cellbatch`` command's entry point: the terminal UI at once, or the command line.

``cellbatch`` alone (or ``cellbatch tui``, each with ``--db URL`` before or after) opens the
terminal UI without loading the command line's parser: Typer and the command modules would
only delay the log-in screen. Everything else, ``--help`` included, goes to the command line
(:mod:`cellbatch.cli.app`), which also explains any mistake in those few words.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class UiRequest:
    """The arguments asked for the terminal UI, on this database (None: the default one)."""

    db_url: str | None


def ui_request(args: Sequence[str]) -> UiRequest | None:
    """The UI request ``args`` make, or None when they are for the command line.

    Only exact forms are recognised: nothing, ``tui``, and either with one ``--db URL`` (or
    ``--db=URL``) before or after ``tui``; any other word (``--help`` too) is not a request.
    """
    rest = list(args)
    db_url: str | None = None
    found = False  # a --db given, to be checked
    for index, word in enumerate(rest):
        if word.startswith("--db="):
            db_url, found = word[len("--db=") :], True
            del rest[index]
            break
        if word == "--db" and index + 1 < len(rest):
            db_url, found = rest[index + 1], True
            del rest[index : index + 2]
            break
    if rest not in ([], ["tui"]):
        return None
    if found and (not db_url or db_url.startswith("-") or not _utf8(db_url)):
        return None  # the command line names the option and what is wrong with it
    return UiRequest(db_url)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def run_ui(db_url: str | None) -> None:
    """Open the terminal UI on ``db_url`` (textual is imported only here)."""
    from cellbatch.tui.app import build_app

    build_app(db_url).run()


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``cellbatch`` with ``argv`` (default: the process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    request = ui_request(args)
    if request is not None:
        run_ui(request.db_url)
        return
    from cellbatch.cli.app import main as command_line

    command_line(args)
