"""Option values checked as the command line is read: before any password is asked.

Click reads every option before a command's body runs, and a command asks for a password only
in its body; an option declared with one of the types here has its value checked by the same
domain rule the service applies (:func:`cellbatch.units.parse`, :mod:`cellbatch.domain.timeparse`),
so a value the service would refuse is refused first, naming the option, and no password is
typed for nothing. The value is handed on as typed: the service checks it again, in its
transaction, and stays the rule (docs/command-line.md).

The measure of each quantity comes from the parameters the service code relies on per step kind
(:data:`cellbatch.domain.sop.REQUIRED_PARAMETERS`), which every SOP is checked against when it
is loaded, so the early check can never refuse what the SOP accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer


def _field(param: Any) -> str:
    """The option's name as the user typed it: ``--cells``."""
    return max(param.opts, key=len)


def quantity_check(
    measures: Callable[[], tuple[str, ...]],
) -> Callable[[Any, Any, str | None], str | None]:
    """A callback accepting text that reads as a value of one of ``measures()`` (units keys).

    The measures are looked up when a value is given, so that ``--help`` loads no rule.
    """

    def check(_ctx: Any, param: Any, value: str | None) -> str | None:
        if value is None:
            return None
        from cellbatch import units
        from cellbatch.domain.errors import InvalidInput

        problem: InvalidInput | None = None
        for measure in measures():
            try:
                units.parse(value, measure, field=_field(param))
            except InvalidInput as exc:
                problem = problem or exc
            else:
                return value
        assert problem is not None
        raise problem

    return check


def step_measure(step: str, parameter: str) -> str:
    """The measure key of ``parameter`` of a ``step`` kind (its SOP must use that measure)."""
    from cellbatch.domain.sop import REQUIRED_PARAMETERS

    return REQUIRED_PARAMETERS[step][parameter]


def _datetime_check(_ctx: Any, param: Any, value: str | None) -> str | None:
    if value is not None:
        from cellbatch.domain.timeparse import parse_datetime

        parse_datetime(value, field=_field(param))
    return value


def _date_check(_ctx: Any, param: Any, value: str | None) -> str | None:
    if value is not None:
        from cellbatch.domain.timeparse import parse_date

        parse_date(value, field=_field(param))
    return value


def Quantity(*measures: str, name: str | None = None, help: str | None = None) -> Any:  # noqa: N802
    """An option of a quantity (``QTY``) in one of ``measures``, checked as it is read."""
    return _quantity(lambda: measures, name, help)


def StepQuantity(step: str, parameter: str, *, name: str | None = None, help: str | None = None):  # noqa: N802
    """An option of the quantity ``parameter`` of a ``step`` kind, in that parameter's measure."""
    return _quantity(lambda: (step_measure(step, parameter),), name, help)


def _quantity(measures: Callable[[], tuple[str, ...]], name: str | None, help: str | None) -> Any:
    names = (name,) if name else ()
    return typer.Option(*names, metavar="QTY", help=help, callback=quantity_check(measures))


def DateTime(name: str | None = None, help: str | None = None) -> Any:  # noqa: N802
    """An option of a date and time (``DATETIME``), checked as it is read."""
    names = (name,) if name else ()
    return typer.Option(*names, metavar="DATETIME", help=help, callback=_datetime_check)


def Date(name: str | None = None, help: str | None = None) -> Any:  # noqa: N802
    """An option of a date (``DATE``), checked as it is read."""
    names = (name,) if name else ()
    return typer.Option(*names, metavar="DATE", help=help, callback=_date_check)


def _words_check(words: tuple[str, ...]) -> Callable[[Any, Any, str | None], str | None]:
    folded = {word.casefold() for word in words}

    def check(_ctx: Any, param: Any, value: str | None) -> str | None:
        if value is not None and value.strip().casefold() not in folded:
            from cellbatch.domain.errors import InvalidInput

            raise InvalidInput(
                _field(param), f"expected one of {', '.join(words)}, got {value.strip()[:40]!r}"
            )
        return value

    return check


def Words(*words: str, name: str | None = None, help: str | None = None) -> Any:  # noqa: N802
    """An option that takes one of ``words`` (shown as ``a|b|c``), checked as it is read.

    Case and surrounding spaces are left to the service (which normalises them), so the
    early check never refuses a word the service accepts; tests/test_cli_values.py holds each
    list equal to the service's own.
    """
    names = (name,) if name else ()
    return typer.Option(*names, metavar="|".join(words), help=help, callback=_words_check(words))


CHECKED_METAVARS = ("QTY", "DATE", "DATETIME")
"""The placeholders whose options are checked as they are read (tests/test_cli_values.py)."""
