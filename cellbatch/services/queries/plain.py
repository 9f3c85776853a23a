"""The base of the typed read model: frozen values that turn into JSON in one place.

Screens, documents and commands read the read model's attributes; only ``to_dict()`` (for
``--json`` and the electronic copy of a record) turns it into plain dictionaries and lists.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


def plain(value: Any) -> Any:
    """``value`` as JSON data: read-model values by their ``to_dict()``, tuples as lists."""
    to_dict = getattr(value, "to_dict", None)
    if to_dict is not None:
        return to_dict()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class Plain:
    """A frozen dataclass of the read model whose JSON form is its fields, in order."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Quantity(Plain):
    """A value with its canonical unit and as technicians read it (``2.5 × 10⁶ cells``)."""

    value: float
    unit: str
    display: str


@dataclass(frozen=True)
class Person(Plain):
    """Who did something: user ID and printed name."""

    username: str
    full_name: str

    def shown(self) -> str:
        """As printed everywhere: ``Full Name (username)``."""
        return f"{self.full_name} ({self.username})"
