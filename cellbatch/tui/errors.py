"""How a failure reads on screen: the user's message, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping


def describe_error(error: BaseException, labels: Mapping[str, str] | None = None) -> str:
    """One sentence for the user about ``error`` (a refusal, an outage or a bug).

    ``labels`` maps the services' names of values (``--to``) to the labels of the form on
    screen, so a refusal headed by one names the field the person typed into.
    """
    from cellbatch.services.database import explain_failure
    from cellbatch.tui.field_names import in_form_words

    known = explain_failure(error)
    if known is not None:
        return in_form_words(str(known), labels)
    return f"unexpected {type(error).__name__}. Nothing was saved; please report this."


def field_of(error: BaseException) -> str | None:
    """The field an input error names (``--cells``), if it names one."""
    from cellbatch.domain.errors import InvalidInput

    return error.field if isinstance(error, InvalidInput) else None
