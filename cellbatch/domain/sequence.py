"""The order of steps an SOP allows: what may be recorded next.

Steps are done in the SOP's order. A run of consecutive repeating steps (seed, harvest)
forms a cycle that may be done again (the next passage) before moving on.
"""

from __future__ import annotations

from collections.abc import Sequence

from cellbatch.domain.errors import RuleViolation


def _cycle_start(kinds: Sequence[str], repeats: Sequence[bool], index: int) -> int | None:
    """Index of the first step of the repeating run that ends at ``index``, if it does."""
    if not repeats[index]:
        return None
    if index + 1 < len(kinds) and repeats[index + 1]:
        return None
    start = index
    while start > 0 and repeats[start - 1]:
        start -= 1
    return start


def allowed_next(kinds: Sequence[str], repeats: Sequence[bool], done: Sequence[str]) -> list[str]:
    """Step kinds that may be recorded next, given the kinds recorded so far, in order."""
    if not done:
        return [kinds[0]]
    last = done[-1]
    # position of the last recorded step in the SOP
    index = max(i for i, k in enumerate(kinds) if k == last)
    options: list[str] = []
    if index + 1 < len(kinds):
        options.append(kinds[index + 1])
    start = _cycle_start(kinds, repeats, index)
    if start is not None:
        options.insert(0, kinds[start])
    return options


def require_next(
    kinds: Sequence[str], repeats: Sequence[bool], done: Sequence[str], kind: str
) -> None:
    """Refuse recording ``kind`` now unless the SOP's order allows it."""
    if kind not in kinds:
        raise RuleViolation(f"this batch's SOP has no {kind} step (its steps: {', '.join(kinds)})")
    options = allowed_next(kinds, repeats, done)
    if kind in options:
        return
    if not options:
        raise RuleViolation(
            f"step out of order: {kind} cannot be recorded; the batch's "
            f"last step ({done[-1]}) is the SOP's last"
        )
    after = f"after {done[-1]}" if done else "first"
    raise RuleViolation(
        f"step out of order: {kind} cannot be recorded {after}; "
        f"the SOP's next step is {' or '.join(options)}"
    )
