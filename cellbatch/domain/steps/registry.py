"""The step kinds the program knows, by name: the built-in six and any registered later."""

from __future__ import annotations

from cellbatch.domain.errors import NotFound
from cellbatch.domain.steps.base import StepKind

_KINDS: dict[str, StepKind] = {}


def register(kind: StepKind) -> StepKind:
    """Make a step kind known (SOP files may then use it); returns it."""
    if not kind.name or kind.sop_kind not in ("expansion", "dose"):
        raise ValueError(f"a step kind needs a name and an SOP kind, got {kind!r}")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Forget a step kind (a test's own kind, when the test is done)."""
    _KINDS.pop(name, None)


def kind_of(name: str) -> StepKind:
    """The step kind of that name; NotFound names the known kinds."""
    try:
        return _KINDS[name]
    except KeyError:
        raise NotFound(f"no step kind {name!r} (kinds: {', '.join(_KINDS)})") from None


def known_kinds() -> tuple[StepKind, ...]:
    """Every known kind, expansion first, each SOP kind's in process order."""
    return tuple(
        sorted(_KINDS.values(), key=lambda k: (k.sop_kind != "expansion", k.order, k.name))
    )


def kinds_of_sop(sop_kind: str) -> tuple[StepKind, ...]:
    """The kinds an SOP of that kind may have, in the only order allowed."""
    return tuple(k for k in known_kinds() if k.sop_kind == sop_kind)
