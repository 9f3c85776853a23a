"""What every step kind is made of: its fields, its context, its outcome, its common rules.

A step kind (seed, harvest, …) is one object: it declares the SOP parameters it records and
how each is typed (CLI option, service argument, form field), and it checks a set of values
in its context (the SOP's rules for the step and the batch's entries before it), returning
refusals and flags instead of raising, so that recording, correcting and the entry form's
preview all ask the same question and give the same answer. See docs/architecture.md.

The kinds read the SOP through the small protocols below, so this package does not import
:mod:`cellbatch.domain.sop` (the SOP schema asks the kinds what a step of each kind needs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from cellbatch import units
from cellbatch.domain.errors import CellbatchError, InvalidInput, RuleViolation
from cellbatch.units import Measure

OutOfRange = Literal["refuse", "deviation", "flag"]
"""What happens to a value outside its SOP range: refused, recorded with a deviation opened
in the same transaction (release needs it closed), or recorded and flagged for QA."""
OUT_OF_RANGE_ACTIONS: tuple[str, ...] = ("refuse", "deviation", "flag")
"""Every out-of-range action an SOP parameter may name."""


# --------------------------------------------------------------------------- what is read


class ParameterRule(Protocol):
    """An SOP parameter as the kinds read it (:class:`cellbatch.domain.sop.Parameter`)."""

    name: str
    label: str
    critical: bool
    input: bool
    on_out_of_range: OutOfRange | None

    @property
    def measure(self) -> Measure: ...  # noqa: D102

    def in_range(self, value: float) -> bool: ...  # noqa: D102

    def range_text(self) -> str: ...  # noqa: D102


class StepRule(Protocol):
    """An SOP step as the kinds read it (:class:`cellbatch.domain.sop.Step`)."""

    id: str
    kind: str
    materials: tuple[str, ...]

    @property
    def parameters(self) -> Sequence[ParameterRule]: ...  # noqa: D102

    def has_param(self, name: str) -> bool: ...  # noqa: D102

    def param(self, name: str) -> Any: ...  # noqa: D102


class DurationRule(Protocol):
    """A duration written in the SOP (:class:`cellbatch.domain.sop.Quantity`)."""

    def as_timedelta(self) -> timedelta: ...  # noqa: D102

    def display(self) -> str: ...  # noqa: D102


class ExpansionRule(Protocol):
    """An expansion SOP's limits (:class:`cellbatch.domain.sop.ExpansionRules`)."""

    max_passage: int
    min_bank_passage: int
    max_cumulative_pd: float
    vessels: tuple[str, ...]

    def vessel_area_cm2(self, vessel: str) -> float: ...  # noqa: D102


class DoseRule(Protocol):
    """A dose SOP's rules (:class:`cellbatch.domain.sop.DoseRules`)."""

    tolerance_percent: float
    max_vials_per_thaw: int
    expiry_from: str

    @property
    def shelf_life(self) -> DurationRule: ...  # noqa: D102


class WindowRule(Protocol):
    """The SOP's maximum times between events (:class:`cellbatch.domain.sop.Windows`)."""

    @property
    def thaw_to_fill_max(self) -> DurationRule | None: ...  # noqa: D102

    @property
    def fucosylation_end_to_fill_max(self) -> DurationRule | None: ...  # noqa: D102


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Field:
    """One value of a step kind: the SOP parameter (if any), how it is typed and stored."""

    name: str
    """Name of the stored value and of the SOP parameter it is checked against."""
    option: str
    """The command-line option that types it (``--cells``); errors name it."""
    arg: str
    """The keyword argument of the recording service (and the form's field) that feeds it."""
    measure: str | None = None
    """Key of :data:`cellbatch.units.MEASURES` for an SOP parameter; None for other values."""
    form: str = "quantity"
    """How the entry form asks for it: quantity, count, choice, text, vials or datetime."""
    computed: bool = False
    """Computed by the program from other values (``input = false`` in the SOP)."""
    measured: bool = False
    """A measured outcome: by default recorded and flagged when out of range, never lost."""
    required: bool = True
    """The technician must give it (the SOP must declare it when it is a parameter)."""
    correctable: bool = True
    """A correction may change it (times, vial lists and start/end are not corrected here)."""
    label: str = ""
    """Label of a value that is not an SOP parameter (a parameter's label is the SOP's)."""

    @property
    def is_parameter(self) -> bool:
        """Whether the value is an SOP parameter (with a unit and a range)."""
        return self.measure is not None

    @property
    def default_out_of_range(self) -> OutOfRange:
        """What happens outside the range when the SOP does not say."""
        return "flag" if self.measured else "refuse"

    def out_of_range(self, param: ParameterRule) -> OutOfRange:
        """What happens to this value outside ``param``'s range: the SOP's word, else the kind's.

        A measured outcome the SOP calls critical is never only flagged by default: it is
        recorded with a deviation, which release needs closed (issue 11).
        """
        if param.on_out_of_range is not None:
            return param.on_out_of_range
        if self.measured and param.critical:
            return "deviation"
        return self.default_out_of_range


@dataclass(frozen=True)
class Prior:
    """A recorded step of the batch, as the rules see it."""

    ref: str
    """``E12``."""
    kind: str
    passage: int | None
    values: Mapping[str, Any]
    performed_at: datetime


@dataclass(frozen=True)
class StepContext:
    """Everything the rules of one step need besides its own values; no database."""

    step: StepRule
    sop_label: str
    at: datetime
    """When the work was done (the end, for a step with a start and an end)."""
    started_at: datetime
    """When the batch was started."""
    before: tuple[Prior, ...] = ()
    """The batch's entries before this one, in order."""
    after: tuple[Prior, ...] = ()
    """The batch's entries after this one (a correction checks they still hold)."""
    expansion: ExpansionRule | None = None
    dose: DoseRule | None = None
    windows: WindowRule | None = None
    dose_per_kg: float | None = None
    body_weight_kg: float | None = None
    stock: tuple[int, ...] | None = ()
    """Vial numbers of the parent bank this step may take (a thaw; with its own, if recorded);
    None when not known (a form whose vial list is still loading): stock is not checked."""
    parent_released_at: datetime | None = None
    """When QA released the parent bank (a dose batch): its vials are thawed only after."""
    parent_code: str | None = None
    """The parent bank's code (a dose batch), to name it."""

    def last(self, kind: str) -> Prior | None:
        """The latest entry of that kind before this one."""
        return next((p for p in reversed(self.before) if p.kind == kind), None)

    def param(self, name: str) -> ParameterRule | None:
        """The step's SOP parameter of that name, if the SOP declares it."""
        return self.step.param(name) if self.step.has_param(name) else None


@dataclass(frozen=True)
class Window:
    """A maximum time from an earlier step to this one (an SOP window)."""

    name: str
    """The SOP's name of the window, e.g. ``thaw_to_fill_max``."""
    label: str
    """What is due, as the home screen lists it, e.g. ``fill by (thaw)``."""
    start: Prior
    """The entry the window runs from."""
    due: datetime
    limit: str
    """The SOP's limit as written for display, e.g. ``3 h``."""


@dataclass(frozen=True)
class Refusal:
    """Why a value cannot be recorded: the option it concerns (None for a rule) and why."""

    message: str
    option: str | None = None

    def error(self, option: str | None = None) -> CellbatchError:
        """The error to raise: InvalidInput naming ``option`` (or the refusal's), else a rule."""
        where = option or self.option
        if self.option is None or where is None:
            return RuleViolation(self.message)
        return InvalidInput(where, self.message)


@dataclass(frozen=True)
class Deviation:
    """A value recorded outside its SOP range that needs a deviation (on_out_of_range)."""

    parameter: str
    text: str


@dataclass
class Outcome:
    """What the rules say about a set of values: refusals, flags, deviations, computed values."""

    values: dict[str, Any]
    """The values as they will be stored (counts as whole numbers)."""
    computed: dict[str, float] = field(default_factory=dict)
    """Values computed from them (seeding density, PD, concentration, duration…)."""
    refusals: list[Refusal] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    """Out-of-range measured values recorded for QA's review."""
    deviations: list[Deviation] = field(default_factory=list)
    passage: int | None = None
    """The passage the entry belongs to (expansion)."""
    expires_at: datetime | None = None
    """When the product expires (a fill)."""

    @property
    def ok(self) -> bool:
        """Whether nothing is refused."""
        return not self.refusals

    def refuse(self, message: str, option: str | None = None) -> None:
        """Add a refusal."""
        self.refusals.append(Refusal(message, option))

    def raise_first(self, option: str | None = None) -> None:
        """Raise the first refusal (naming ``option`` instead of the kind's, if given)."""
        if self.refusals:
            raise self.refusals[0].error(option)


# --------------------------------------------------------------------------- the kind


class StepKind:
    """One kind of step. Subclasses set the declarations and implement :meth:`rules`."""

    name: str = ""
    """The kind's name in SOP files (``kind = "seed"``)."""
    sop_kind: str = ""
    """The kind of SOP (expansion or dose) whose steps it may be."""
    order: int = 0
    """Position among the kinds of its SOP kind: the order steps must be done in."""
    required: bool = True
    """Whether every SOP of its kind must have a step of this kind."""
    verb: str = ""
    """What the record says was done, e.g. ``passage seeded``."""
    fields: tuple[Field, ...] = ()
    """Every value the kind records or computes, parameters first, in form order."""
    writes_more: str = ""
    """What the kind's own recording function writes besides the entry (its vials, a bag),
    empty when the entry is all: such a kind is never recorded by the generic door."""

    # ----------------------------------------------------------------- declarations

    @property
    def parameters(self) -> tuple[Field, ...]:
        """The SOP parameters of the kind (entered and computed)."""
        return tuple(f for f in self.fields if f.is_parameter)

    def field(self, name: str) -> Field | None:
        """The field of that name, if the kind has it."""
        return next((f for f in self.fields if f.name == name), None)

    def measure_of(self, name: str) -> str | None:
        """Measure key of a parameter of this kind, if it is one."""
        found = self.field(name)
        return found.measure if found is not None else None

    def check_sop_step(self, step: StepRule) -> list[tuple[str, str]]:
        """What is wrong with an SOP step of this kind: (field path, message) pairs.

        Every parameter the kind records must be declared, with ``input`` as the kind
        computes or records it, and no input parameter may be unknown to the kind: a
        required record that nothing records would silently be missing.
        """
        problems: list[tuple[str, str]] = []
        where = {p.name: j for j, p in enumerate(step.parameters)}
        for f in self.parameters:
            if f.name not in where:
                measure = units.MEASURES[f.measure or "count"]
                problems.append(
                    (
                        "parameters",
                        f"a {self.name} step needs the parameter {f.name!r} ({measure.label})",
                    )
                )
                continue
            j = where[f.name]
            declared = step.parameters[j]
            if f.computed and declared.input:
                problems.append(
                    (
                        f"parameters[{j}].input",
                        f"{f.name} is computed by the program: set input = false",
                    )
                )
            if f.form == "count" and declared.on_out_of_range not in (None, "refuse"):
                problems.append(
                    (
                        f"parameters[{j}].on_out_of_range",
                        f"a {self.name} step always refuses a number of {f.name} outside its "
                        'range: on_out_of_range must be "refuse" or left out',
                    )
                )
            if not f.computed and not declared.input:
                problems.append(
                    (
                        f"parameters[{j}].input",
                        f"{f.name} is entered by the technician: input must be true",
                    )
                )
        known = {f.name for f in self.parameters}
        for j, declared in enumerate(step.parameters):
            if declared.name not in known:
                recorded = ", ".join(f.name for f in self.parameters if not f.computed)
                problems.append(
                    (
                        f"parameters[{j}].name",
                        f"a {self.name} step does not record {declared.name!r}, so it could "
                        f"never be entered (the step records {recorded}); record it as a QC "
                        "result or remove it",
                    )
                )
        return problems

    # ----------------------------------------------------------------- rules

    def check(self, values: Mapping[str, Any], ctx: StepContext) -> Outcome:
        """Every rule of the kind on ``values`` in ``ctx``: ranges, order, time, computed values.

        Never raises for a rule: refusals come back in the outcome, in the order the
        recording service meets them, so the first is the one it reports.
        """
        out = Outcome(dict(values))
        check_time_order(out, ctx)
        self.rules(out, ctx)
        return out

    def rules(self, out: Outcome, ctx: StepContext) -> None:
        """The kind's own rules (subclasses); add refusals, flags and computed values."""

    def preview(self, values: Mapping[str, Any], ctx: StepContext) -> list[str]:
        """Lines that show a technician what the values give (computed values, limits)."""
        out = self.check(values, ctx)
        return [f"{name}: {value:g}" for name, value in out.computed.items()]

    def windows(self, ctx: StepContext) -> list[Window]:
        """The SOP windows this step must be done in, from the entries before it."""
        return []

    def deadlines(self, ctx: StepContext) -> list[tuple[str, datetime]]:
        """What is due while this step is to come: (what, when), its windows first."""
        return [(w.label, w.due) for w in self.windows(ctx)]

    def next_allowed(self, ctx: StepContext) -> bool:
        """Whether the SOP's limits allow this step next (order aside)."""
        return True

    def show(self, values: Mapping[str, Any]) -> str:
        """The stored values of one entry, as a technician reads them."""
        shown = []
        for f in self.fields:
            value = values.get(f.name)
            if value is None or f.computed:
                continue
            if f.measure is not None and isinstance(value, int | float):
                shown.append(f"{f.name} {units.fmt(value, f.measure)}")
            else:
                shown.append(f"{f.name} {value}")
        return ", ".join(shown)


# --------------------------------------------------------------------------- shared rules


def check_range(
    out: Outcome,
    ctx: StepContext,
    f: Field,
    value: float,
    *,
    what: str | None = None,
    option: str | None = None,
) -> None:
    """Hold one value to its SOP range: refuse, flag or ask for a deviation, as the SOP says."""
    p = ctx.param(f.name)
    if p is None or p.in_range(value):
        return
    shown = units.fmt(value, p.measure)
    action = f.out_of_range(p)
    if action == "refuse":
        subject = what or p.label.lower()
        out.refuse(
            f"{subject} {shown} is outside the SOP range {p.range_text()}", option or f.option
        )
    elif action == "flag":
        out.flags.append(f"{p.label} {shown} outside SOP range {p.range_text()}")
    else:
        out.deviations.append(
            Deviation(f.name, f"{p.label} {shown} outside SOP range {p.range_text()}")
        )
        out.flags.append(
            f"{p.label} {shown} outside SOP range {p.range_text()}: deviation required"
        )


def check_inputs(out: Outcome, ctx: StepContext, fields: Sequence[Field]) -> None:
    """Hold every entered parameter value present in ``out.values`` to its SOP range."""
    for f in fields:
        value = out.values.get(f.name)
        if f.is_parameter and not f.computed and isinstance(value, int | float):
            check_range(out, ctx, f, float(value))


def minute(at: datetime) -> datetime:
    """The minute a time falls in (work times are entered to the minute)."""
    return at.replace(second=0, microsecond=0)


def check_time_order(out: Outcome, ctx: StepContext) -> None:
    """A step is done after the batch started and strictly after the step before it.

    Times are typed to the minute: a freeze typed for the minute its harvest was typed for
    has the same time, and one of the two is wrong, so it is refused.
    """
    floor = ctx.before[-1].performed_at if ctx.before else ctx.started_at
    if ctx.at < floor:
        out.refuse(
            f"{ctx.at:%Y-%m-%d %H:%M} UTC is before the batch's previous step or start "
            f"({floor:%Y-%m-%d %H:%M} UTC)",
            "--at",
        )
    elif ctx.before and ctx.at == floor:
        previous = ctx.before[-1]
        out.refuse(
            f"{ctx.at:%Y-%m-%d %H:%M} UTC is the time of {previous.ref} ({previous.kind}): "
            "steps of a batch are done one after the other; give the time this one was done",
            "--at",
        )
