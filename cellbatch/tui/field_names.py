"""The one place where the services' names for a value become the names on the form.

The services name a refused value as the command line does (``--weight``, ``CODE``, ``LOT``),
because the command line is one of their doors. On screen the person typed into a field with
a label: every message the UI shows goes through :func:`in_form_words`, with the labels of
the form on screen when there is one, and through :func:`field_for` to find the field to put
the cursor in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

OPTION = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)\b")
"""A command-line option named in a message (``--at``, ``--birth-year``)."""
ARGUMENT = re.compile(r"^([A-Z][A-Z-]{1,20}): ")
"""A command-line argument heading a message (``CODE: expected …``)."""
COMMAND = re.compile(r"\s*\(`?cellbatch ([a-z][a-z-]*)[^)]*\)")
"""A command-line command a message points to (``(cellbatch recipient weight)``)."""
PLACES = {
    "recipient": "Recipients (F10 on the home screen)",
    "plan": "Recipients (F10 on the home screen), F8: Plan",
    "passwd": "Ctrl+P: Change my password",
}
"""Where on screen the UI does what a command does; a command not here is left unnamed."""


def option_names(arg: str) -> tuple[str, ...]:
    """The names a service may use for the keyword argument ``arg`` of its function."""
    flag = "--" + arg.replace("_", "-")
    return (flag, arg, arg.upper().replace("_", "-"))


def in_form_words(text: str, labels: Mapping[str, str] | None = None) -> str:
    """``--weight: expected …`` → ``Body weight: expected …``.

    A command the message points to (``(cellbatch recipient weight)``) becomes the place on
    screen that does it, or is dropped: at the screen nobody types commands.

    ``labels`` maps the services' names (``--weight``, ``CODE``) to the form's labels; a name
    the form does not have is written as plain words (``--birth-year`` → ``birth year``).
    """
    labels = labels or {}

    def option(match: re.Match[str]) -> str:
        return labels.get(match.group(0)) or match.group(1).replace("-", " ")

    def argument(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{labels.get(name) or name.lower().replace('-', ' ')}: "

    def command(match: re.Match[str]) -> str:
        place = PLACES.get(match.group(1))
        return f" ({place})" if place else ""

    return OPTION.sub(option, ARGUMENT.sub(argument, COMMAND.sub(command, text)))


def field_for(error: BaseException, names: Mapping[str, str]) -> str | None:
    """The form field a refusal is about, if it names one the form has.

    ``names`` maps the services' names to the form's field names. An input error carries its
    field; a rule's refusal may start with it (``--parent: bank … is not released``).
    """
    from cellbatch.domain.errors import InvalidInput

    if isinstance(error, InvalidInput) and error.field in names:
        return names[error.field]
    text = str(error)
    head = OPTION.match(text) or ARGUMENT.match(text)
    if head is not None:
        return names.get(head.group(0).rstrip(": "))
    return None
