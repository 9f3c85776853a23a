"""Step kinds: one object per kind of process step, with every rule of that kind.

Recording (services/commands/steps), correcting (services/commands/corrections), the entry
form's preview, the home screen's deadlines and the review's window check all ask the kind.
See docs/architecture.md ("Step kinds").
"""

from __future__ import annotations

import importlib
import pkgutil

from cellbatch.domain.steps.base import (
    OUT_OF_RANGE_ACTIONS,
    Deviation,
    Field,
    Outcome,
    OutOfRange,
    Prior,
    Refusal,
    StepContext,
    StepKind,
    Window,
)
from cellbatch.domain.steps.registry import (
    kind_of,
    kinds_of_sop,
    known_kinds,
    register,
    unregister,
)

# Every module of this package that defines KIND is a step kind: adding a kind is adding
# its module (docs/architecture.md, "Adding a step kind").
for _info in pkgutil.iter_modules(__path__):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    if isinstance(getattr(_module, "KIND", None), StepKind):
        register(_module.KIND)

__all__ = [
    "OUT_OF_RANGE_ACTIONS",
    "OutOfRange",
    "Deviation",
    "Field",
    "Outcome",
    "Prior",
    "Refusal",
    "StepContext",
    "StepKind",
    "Window",
    "kind_of",
    "kinds_of_sop",
    "known_kinds",
    "register",
    "unregister",
]
