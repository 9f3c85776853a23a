"""How every command's help reads: one vocabulary of placeholders, flags without a value.

An option that takes a value shows what to type as one capitalised placeholder from
:data:`PLACEHOLDERS` (``--cells QTY``, ``--user USER-ID``), or the few words it accepts
(``--sex F|M``); a flag shows nothing after its name. A command declares its placeholders
where the word is specific (a quantity, a user ID); anything it leaves unsaid gets the word
for its type here (free text, a whole number, a file), so no ``<str>`` ever reaches a user.
The vocabulary is explained in docs/command-line.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from typer.core import TyperArgument

PLACEHOLDERS: dict[str, str] = {
    "BATCH": "a batch code, e.g. EASC-B001",
    "DONOR": "a pseudonymous donor code",
    "RECIPIENT": "a pseudonymous recipient ID, e.g. EB-P001",
    "REF": "the code or lot number of what the look-back starts from",
    "CHECK-ID": "a bedside check: BC<n>",
    "LOT": "a tissue or material lot number",
    "SOP-ID": "an SOP's ID, e.g. SOP-EASC-EXP",
    "VERSION": "an SOP version, e.g. 1.0",
    "USER-ID": "a user ID (the log-in name), e.g. tech1",
    "NAME": "a person's printed full name, as signatures show it",
    "ENTRY-ID": "a recorded entry: E<n> (a step) or Q<n> (a QC result)",
    "RESULT-ID": "a QC result: Q<n>",
    "DEVIATION-ID": "a deviation: D<n>",
    "HOLD-ID": "a hold: H<n>",
    "REPORT-ID": "an adverse-event report: AE<n>",
    "LABEL-ID": "a printed label: L<n>",
    "FIELD": "the name of a recorded value, as the command's help lists them",
    "QTY": "a number with its unit, e.g. '5 mL', '2.5e7 cells', '37 degC'",
    "N": "a whole number",
    "TEXT": "free text (one line unless said otherwise)",
    "DATE": "a date, YYYY-MM-DD",
    "DATETIME": "a date and time, YYYY-MM-DD HH:MM (local time, or with Z / +01:00)",
    "FILE": "a path of a file to write",
    "DIR": "a path of a folder",
    "VIAL": "a vial of a bank, by its number (N) or as its label's barcode says",
    "URL": "a database URL: sqlite:///PATH or postgresql://USER@HOST/DB",
    "SCAN": "what a barcode scanner typed",
    "LOGGER-ID": "a temperature logger's ID, as on its case",
}
"""Every placeholder the help uses, with what it stands for."""

CHOICES = re.compile(r"[a-z0-9][a-z0-9-]*(\|[a-z0-9][a-z0-9-]*)+", re.IGNORECASE)
"""A placeholder that lists the accepted words: ``release|reject|quarantine``."""


class _Argument(TyperArgument):
    """An argument shown as its placeholder alone: ``BATCH``, ``[BATCH]`` when optional."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return name if self.nargs == 1 else f"{name}..."

    def display_type_rich(self, ctx: Any) -> str | None:
        """No ``<str>`` beside the placeholder."""
        return None


def _type_placeholder(annotation: Any) -> str:
    """The placeholder of a value of ``annotation`` (a list: of its items)."""
    items = get_args(annotation)
    if items and annotation is not str:
        annotation = items[0]
    if annotation is int:
        return "N"
    if annotation is Path:
        return "FILE"
    return "TEXT"


def uniform_help(command: Any) -> Any:
    """``command`` (the click tree) with every parameter's placeholder from the vocabulary."""
    for param in command.params:
        if param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = param.name.upper().replace("_", "-")
            if type(param) is TyperArgument:
                param.__class__ = _Argument
        elif not getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = _type_placeholder(param.type_descriptor.annotation)
    for sub in getattr(command, "commands", {}).values():
        uniform_help(sub)
    return command


def known_placeholder(word: str) -> bool:
    """Whether ``word`` is a placeholder of the vocabulary or a list of accepted words."""
    return word in PLACEHOLDERS or CHOICES.fullmatch(word) is not None
