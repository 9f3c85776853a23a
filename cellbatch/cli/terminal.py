"""The command line's two boundaries with the terminal: what comes in, what goes out.

In: every text argument and option must be UTF-8. Bytes that are not arrive as lone
surrogates, which no database can store; they are refused naming the option, before any
command runs. Out: everything the command line writes to standard output and standard error
goes through :func:`cellbatch.domain.text.visible`, so no stored value (typed before the text
rule existed, or planted in the database) can move the cursor, clear the screen, retitle the
window or reorder a line a reviewer reads. The terminal UI draws through its own stream and is
not affected.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.text import encoding_error, steers, visible


class TerminalSafeStream:
    """A text stream that shows stored control characters instead of obeying them."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` with anything that could steer a terminal made visible."""
        self._stream.write(visible(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def terminal_safe_output() -> Iterator[None]:
    """Standard output and error made terminal-safe for the duration of one command."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalSafeStream(sys.stdout), TerminalSafeStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def json_text(data: Any) -> str:
    """``data`` as indented JSON whose strings escape every character a terminal acts on.

    The data is unchanged for a JSON reader (an escaped U+009B is still the one-byte CSI);
    the terminal sees only the escape. Lone surrogates are escaped too.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if text.isascii():
        return text
    return "".join(f"\\u{ord(ch):04x}" if ch != "\n" and steers(ch) else ch for ch in text)


def _option_names(command: Any) -> dict[str, str]:
    """How each parameter of a click command is named to the user: ``--method``, ``BATCH``."""
    names = {}
    for param in command.params:
        if param.param_type_name == "option":
            names[param.name] = max(param.opts, key=len)
        else:
            names[param.name] = param.metavar or param.name.upper()
    return names


def _check_arguments(callback: Callable[..., Any], names: dict[str, str]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for name, value in kwargs.items():
            values = value if isinstance(value, list | tuple) else [value]
            for text in values:
                problem = encoding_error(text) if isinstance(text, str) else None
                if problem is not None:
                    raise InvalidInput(names.get(name, name), problem)
        return callback(*args, **kwargs)

    return checked


def check_text_arguments(command: Any) -> Any:
    """``command`` (a click command tree) with every callback refusing non-UTF-8 text first."""
    if command.callback is not None:
        command.callback = _check_arguments(command.callback, _option_names(command))
    for sub in getattr(command, "commands", {}).values():
        check_text_arguments(sub)
    return command
