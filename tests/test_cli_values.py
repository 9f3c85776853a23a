"""Option values are checked before the password is asked (issue 18, point 5).

One mechanism (cellbatch/cli/values.py): an option of a quantity, a date or a date and time
carries its check, which runs as the command line is read, before any command body (where
passwords are asked). The test walks the whole command tree, so a new command's option that
forgets the mechanism fails here.
"""

from __future__ import annotations

import pytest

from tests.test_cli_hints import command_tree
from tests.test_cli_newcomer import typed  # noqa: F401  (the fixture)

BAD = {"QTY": "five", "DATE": "2026-13-45", "DATETIME": "yesterday"}
"""A value no option of that placeholder accepts."""
NO_WORD = "no-such-word"
"""What no option that lists its words accepts."""


def checkable(metavar: str | None) -> bool:
    """Whether an option shown with ``metavar`` can be checked before the password."""
    from cellbatch.cli.help_style import CHOICES

    return metavar in BAD or (metavar is not None and CHOICES.fullmatch(metavar) is not None)


def leaf_commands(command, path=()):
    """(words, command) of every command of the tree, hidden or not."""
    for name, sub in getattr(command, "commands", {}).items():
        if hasattr(sub, "commands"):
            yield from leaf_commands(sub, (*path, name))
        else:
            yield (*path, name), sub


def checked_options() -> list[tuple[tuple[str, ...], str, str]]:
    """(command words, option, placeholder) of every option whose value can be checked early."""
    return [
        (words, max(param.opts, key=len), param.metavar)
        for words, command in leaf_commands(command_tree())
        for param in command.params
        if param.param_type_name == "option" and checkable(param.metavar)
    ]


def test_every_quantity_date_and_time_option_carries_its_check():
    options = checked_options()
    assert len(options) >= 25, options
    tree = command_tree()
    unchecked = [
        (" ".join(words), name)
        for words, command in leaf_commands(tree)
        for param in command.params
        if param.param_type_name == "option"
        and checkable(param.metavar)
        and (name := max(param.opts, key=len))
        and param.callback is None
    ]
    assert unchecked == []


@pytest.mark.parametrize(
    ("words", "option", "placeholder"),
    checked_options(),
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v,
)
def test_a_wrong_value_is_refused_before_the_password_is_asked(typed, words, option, placeholder):  # noqa: F811
    arguments = [
        "EX-1"
        for param in dict(leaf_commands(command_tree()))[words].params
        if param.param_type_name == "argument" and param.required
    ]
    bad = BAD.get(placeholder, NO_WORD)
    result, prompts = typed(
        *words, *arguments, option, bad, "--user", "tech1", answer=lambda _: "x"
    )
    assert prompts == [], (words, option, result)
    assert result.code == 2 and result.err.startswith(f"error: {option}: expected"), result


def test_bag_fill_says_the_unit_of_cells_before_asking_the_password(typed):  # noqa: F811
    result, prompts = typed(
        "bag", "fill", "FUC-D001", "--volume", "10 mL", "--cells", "5 mL", "--user", "tech1",
        answer=lambda _: "demo-tech1-pass",
    )  # fmt: skip
    assert prompts == []
    assert result.code == 2
    assert result.err == "error: --cells: expected a cell count (cells), got a volume (5 mL)\n"


def test_the_words_an_option_lists_are_the_services_own():
    from typing import get_args

    from cellbatch.domain.bedside import FATES
    from cellbatch.domain.sop import Tissue
    from cellbatch.domain.users import ROLE_NAMES
    from cellbatch.services.commands.donors import ELIGIBILITY, MARKER_RESULTS
    from cellbatch.services.commands.release import DECISIONS

    services = {
        ("release", "--decision"): tuple(DECISIONS),
        ("user add", "--role"): tuple(ROLE_NAMES),
        ("donor test", "--result"): MARKER_RESULTS,
        ("donor eligibility", "--status"): ELIGIBILITY,
        ("lot receive", "--tissue"): get_args(Tissue),
        ("donor add", "--sex"): ("F", "M"),
        ("infusion record", "--fate"): FATES,
    }
    listed = {
        (" ".join(words), option): set(metavar.split("|"))
        for words, option, metavar in checked_options()
        if metavar not in BAD
    }
    assert listed == {key: set(words) for key, words in services.items()}
