"""Standard operating procedures as versioned data: load, validate and query ``sops/*.toml``.

One TOML file holds one version of one SOP (the master batch record): its steps in the order
they must be done, the parameters of each step with units and allowed ranges, the QC tests with
their specifications and the time windows. Loading validates everything and refuses a bad file
with :class:`~cellbatch.domain.errors.InvalidSop`, naming the file and the field. Quantities are
converted once to canonical magnitudes (see :mod:`cellbatch.units`); the text as written is kept
for display. The content hash is computed here from the parsed document, never read from it.

Pure: standard library, pydantic, :mod:`cellbatch.units` and the domain errors only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cellbatch import units
from cellbatch.domain.errors import InvalidInput, InvalidSop, NotFound, RuleViolation
from cellbatch.domain.steps import OutOfRange, kind_of, kinds_of_sop, known_kinds
from cellbatch.domain.text import MAX_KEY as _MAX_KEY
from cellbatch.domain.text import typed_text
from cellbatch.units import MEASURES, Measure

__all__ = [
    "COMPUTED_PARAMETERS",
    "MATERIAL_KINDS",
    "PARAMETER_MEASURES",
    "PERCENT_OF_TARGET",
    "QC_TEST_MEASURES",
    "REQUIRED_PARAMETERS",
    "REQUIRED_STEPS",
    "STEP_KINDS",
    "STEPS_BY_SOP_KIND",
    "VESSEL_AREAS_CM2",
    "DoseRules",
    "ExpansionRules",
    "Parameter",
    "QcTest",
    "Quantity",
    "Sop",
    "SopFolder",
    "Step",
    "Windows",
    "content_hash",
    "default_sops_dir",
    "find_sop",
    "load_sop_folder",
    "load_sop",
    "load_sops",
    "parse_sop",
]

# --------------------------------------------------------------------------- vocabulary

SopStatus = Literal["draft", "approved", "retired"]
"""Life cycle of an SOP version; only an approved one may be used for a new batch."""
SopKind = Literal["expansion", "dose"]
"""An expansion SOP makes a bank from a tissue lot; a dose SOP makes one bag from a bank."""
Stage = Literal["in-process", "release"]
"""When a QC sample is taken."""
Tissue = Literal["adipose", "bone-marrow"]
"""Tissue lot sources an expansion SOP accepts."""
ExpiryFrom = Literal["fill", "fucosylation_end"]
"""The event the shelf life of a dose is counted from."""
MaterialKind = Literal[
    "medium",
    "supplement",
    "dissociation-reagent",
    "cryoprotectant",
    "fucosyltransferase",
    "gdp-fucose",
    "buffer",
    "wash-solution",
    "excipient",
]
"""Kinds of material lot a step must record as used."""

STEP_KINDS: tuple[str, ...] = tuple(k.name for k in known_kinds())
"""Every built-in step kind, in process order (each is a module of cellbatch.domain.steps)."""
MATERIAL_KINDS: tuple[str, ...] = get_args(MaterialKind)
"""Every material kind a step may list."""

VESSEL_AREAS_CM2: dict[str, float] = {
    "T25": 25.0,
    "T75": 75.0,
    "T175": 175.0,
    "T225": 225.0,
    "CS1": 636.0,
    "CS2": 1272.0,
    "CS5": 3180.0,
    "CS10": 6360.0,
}
"""Growth area of each culture vessel an SOP may allow (CS = CellSTACK, by layers), in cm²."""

STEPS_BY_SOP_KIND: dict[str, tuple[str, ...]] = {
    sop_kind: tuple(k.name for k in kinds_of_sop(sop_kind)) for sop_kind in ("expansion", "dose")
}
"""Built-in step kinds each kind of SOP may have, in the only order allowed (from the kinds)."""

REQUIRED_STEPS: dict[str, tuple[str, ...]] = {
    sop_kind: tuple(k.name for k in kinds_of_sop(sop_kind) if k.required)
    for sop_kind in ("expansion", "dose")
}
"""Built-in step kinds each kind of SOP must have (fucosylation is optional)."""

REQUIRED_PARAMETERS: dict[str, dict[str, str]] = {
    k.name: {f.name: f.measure for f in k.parameters if f.measure} for k in known_kinds()
}
"""Parameters each built-in step kind records or computes: name → measure key (from the kinds)."""

COMPUTED_PARAMETERS: dict[str, frozenset[str]] = {
    k.name: frozenset(f.name for f in k.parameters if f.computed) for k in known_kinds()
}
"""Parameters the program computes and checks (``input = false``), per built-in step kind."""

PARAMETER_MEASURES: dict[str, str] = {
    name: key for params in REQUIRED_PARAMETERS.values() for name, key in params.items()
}
"""Measure key of every parameter name the built-in kinds know, whatever step it is in."""


def parameter_measure(name: str) -> str | None:
    """Measure key of a parameter name any known step kind records (None if none does)."""
    for kind in known_kinds():
        key = kind.measure_of(name)
        if key is not None:
            return key
    return None


PERCENT_OF_TARGET = Measure(
    "percent_of_target",
    "a percentage of the target (%)",
    "percent",
    "%",
    bare_number_ok=True,
    min=0.0,
    example="98 %",
)
"""A result relative to its target (e.g. the cell dose in the bag): may exceed 100 %."""

QC_TEST_MEASURES: dict[str, Measure] = {"cell-dose": PERCENT_OF_TARGET}
"""QC tests whose result is not in the measure its unit suggests, by test key."""

_DURATION_SECONDS = {"duration": 60.0, "duration_hours": 3600.0}
_HASH_KEYS = ("hash", "content_hash", "sha256")

# --------------------------------------------------------------------------- small types


def _fail(field: str, reason: str) -> PydanticCustomError:
    """Build a validation error that names the field (relative to the model it is raised in)."""
    return PydanticCustomError("sop_rule", "{reason}", {"reason": reason, "field": field})


MAX_KEY = _MAX_KEY
"""Longest SOP ID, QC test key or parameter name (their columns are this long): the text rules'
constant, so that the tables need not load the SOP model."""


def _pattern(regex: str, what: str) -> AfterValidator:
    """Validate a key against ``regex`` and :data:`MAX_KEY`, describing the expected form."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if len(value) > MAX_KEY or not compiled.fullmatch(value):
            raise PydanticCustomError(
                "sop_rule",
                "{reason}",
                {"reason": f"{value[:80]!r} is not {what} of at most {MAX_KEY} characters"},
            )
        return value

    return AfterValidator(check)


def _readable(value: str) -> str:
    """Refuse a text the free-text rule refuses (empty, invisible, control codes, too long)."""
    try:
        typed_text(value, "", what="readable text")
    except InvalidInput as error:
        raise PydanticCustomError("sop_rule", "{reason}", {"reason": error.message}) from None
    return value


def _no_bool(value: Any) -> Any:
    """Refuse true/false where a number is expected (pydantic would read it as 1/0)."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "sop_rule", "{reason}", {"reason": f"expected a number, got {str(value).lower()}"}
        )
    return value


Text = Annotated[str, AfterValidator(_readable)]
Flag = Annotated[bool, Strict()]
Whole = Annotated[int, Strict()]
Number = Annotated[float, BeforeValidator(_no_bool)]
SopId = Annotated[str, _pattern(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)*", "an SOP ID such as 'SOP-EASC-EXP'")]
Slug = Annotated[
    str, _pattern(r"[a-z0-9]+(-[a-z0-9]+)*", "lower-case words joined by '-', e.g. 'easc-bank'")
]
ParamName = Annotated[str, _pattern(r"[a-z][a-z0-9_]*", "a parameter name such as 'viable_cells'")]
VesselName = Literal["T25", "T75", "T175", "T225", "CS1", "CS2", "CS5", "CS10"]


class Quantity(BaseModel):
    """A quantity written in the SOP file: the text as written and its canonical magnitude."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    value: float
    measure: str

    def __float__(self) -> float:
        return self.value

    def display(self) -> str:
        """Show the value in the unit technicians use (e.g. ``5 ×10⁶ cells/mL``)."""
        return units.fmt(self.value, self.measure)

    def as_timedelta(self) -> timedelta:
        """Return a duration quantity as a :class:`datetime.timedelta`."""
        seconds = _DURATION_SECONDS.get(self.measure)
        if seconds is None:
            raise TypeError(f"{self.text!r} is not a duration")
        return timedelta(seconds=self.value * seconds)


def _quantity(measure_key: str) -> BeforeValidator:
    """Read a quantity string (e.g. ``"5e6 cell/mL"``) of the given measure into a Quantity."""
    measure = MEASURES[measure_key]

    def convert(value: Any) -> Any:
        if isinstance(value, Quantity):
            return value
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise PydanticCustomError(
                "sop_rule",
                "{reason}",
                {"reason": f'expected {measure.label} as text, e.g. "{measure.example}"'},
            )
        text = str(value).strip()
        try:
            magnitude = units.parse(text, measure, field=measure_key)
        except InvalidInput as error:
            raise PydanticCustomError("sop_rule", "{reason}", {"reason": error.message}) from None
        return Quantity(text=text, value=magnitude, measure=measure_key)

    return BeforeValidator(convert)


CellsPerKg = Annotated[Quantity, _quantity("cells_per_kg")]
CellsPerMl = Annotated[Quantity, _quantity("cells_per_ml")]
Duration = Annotated[Quantity, _quantity("duration")]


def _measure_of_unit(unit: str) -> Measure:
    """Find the measure of a unit, telling a plain count from a percentage."""
    measure = units.measure_for_unit(unit)
    if measure.key == "percent" and units.to_canonical(1.0, unit, measure) != 1.0:
        return MEASURES["count"]
    return measure


def _unit_fits(unit: str, measure: Measure) -> bool:
    """Whether values in ``unit`` are values of ``measure`` (a count is not a percentage)."""
    try:
        factor = units.to_canonical(1.0, unit, measure)
    except ValueError:
        return False
    if measure.canonical in ("dimensionless", "percent"):
        return factor == 1.0
    return True


@lru_cache(maxsize=256)  # parsing a unit is slow, and a screen asks for every result's
def _qc_measure(test: str, unit: str) -> Measure:
    """The measure a QC test's result is read in (ValueError if the unit does not fit)."""
    special = QC_TEST_MEASURES.get(test)
    if special is None:
        return _measure_of_unit(unit)
    if not _unit_fits(unit, special):
        raise ValueError(f"{test} is {special.label}; {unit!r} is not a unit of it")
    return special


def _bound_text(
    low: float | None,
    high: float | None,
    measure: Measure,
    *,
    low_exclusive: bool = False,
    high_exclusive: bool = False,
) -> str:
    """Describe a range of canonical values, e.g. ``≥ 70 %`` or ``40–60 ×10⁶ cells``."""
    suffix = f" {measure.display}" if measure.display else ""

    def number(value: float) -> str:
        return units.fmt(value, measure, digits=6).removesuffix(suffix)

    if low is not None and high is not None:
        if not low_exclusive and not high_exclusive:
            return f"{number(low)}–{number(high)}{suffix}"
        low_sign = ">" if low_exclusive else "≥"
        high_sign = "<" if high_exclusive else "≤"
        return f"{low_sign} {number(low)} and {high_sign} {number(high)}{suffix}"
    if low is not None:
        return f"{'>' if low_exclusive else '≥'} {number(low)}{suffix}"
    if high is not None:
        return f"{'<' if high_exclusive else '≤'} {number(high)}{suffix}"
    return "any value"


def _check_bounds(owner: BaseModel, measure: Measure, unit: str) -> tuple[float | None, ...]:
    """Convert ``owner.min``/``owner.max`` to canonical and check them against the measure."""
    out: list[float | None] = []
    for name in ("min", "max"):
        value = getattr(owner, name)
        if value is None:
            out.append(None)
            continue
        if not math.isfinite(value):
            raise _fail(name, f"{value!r} is not a finite number")
        canonical = units.to_canonical(value, unit, measure)
        if measure.integer and canonical != math.floor(canonical):
            raise _fail(name, f"{value:g} is not a whole number ({measure.label})")
        below = (measure.min is not None and canonical < measure.min) or (
            measure.nonnegative and canonical < 0
        )
        above = measure.max is not None and canonical > measure.max
        if below or above:
            raise _fail(name, f"{value:g} {unit} is impossible for {measure.label}")
        out.append(canonical)
    low, high = out
    if low is not None and high is not None and low > high:
        raise _fail("min", f"min {owner.min:g} is greater than max {owner.max:g}")
    return low, high


# --------------------------------------------------------------------------- models


class Parameter(BaseModel):
    """One value recorded (or computed) in a step, with its unit and allowed range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ParamName
    label: Text
    unit: Text
    min: Number | None = None
    max: Number | None = None
    critical: Flag = False
    input: Flag = True
    on_out_of_range: OutOfRange | None = None
    """What a value outside the range does: refuse, deviation or flag (default: the kind's)."""

    @model_validator(mode="after")
    def _check(self) -> Parameter:
        known = parameter_measure(self.name)
        if known is not None:
            measure = MEASURES[known]
            if not _unit_fits(self.unit, measure):
                raise _fail(
                    "unit",
                    f"{self.name} is {measure.label}; {self.unit!r} is not a unit of it",
                )
        else:
            try:
                measure = _measure_of_unit(self.unit)
            except ValueError as error:
                raise _fail("unit", str(error)) from None
        _check_bounds(self, measure, self.unit)
        return self

    @property
    def measure(self) -> Measure:
        """The measure values of this parameter are parsed and stored in."""
        known = parameter_measure(self.name)
        return MEASURES[known] if known is not None else _measure_of_unit(self.unit)

    @property
    def min_canonical(self) -> float | None:
        """Lower limit in the measure's canonical unit (None when there is none)."""
        return None if self.min is None else units.to_canonical(self.min, self.unit, self.measure)

    @property
    def max_canonical(self) -> float | None:
        """Upper limit in the measure's canonical unit (None when there is none)."""
        return None if self.max is None else units.to_canonical(self.max, self.unit, self.measure)

    def in_range(self, value: float) -> bool:
        """Whether a canonical value lies within the SOP range (limits inclusive)."""
        low, high = self.min_canonical, self.max_canonical
        return (low is None or value >= low) and (high is None or value <= high)

    def range_text(self) -> str:
        """The allowed range for display, e.g. ``1000–4000 cells/cm²`` or ``≥ 85 %``."""
        return _bound_text(self.min_canonical, self.max_canonical, self.measure)


class Step(BaseModel):
    """One step of the procedure: what to do, what to record and which material lots."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    kind: Slug
    title: Text
    instructions: str = ""
    repeats: Flag = False
    parameters: tuple[Parameter, ...] = ()
    materials: tuple[MaterialKind, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Step:
        seen: dict[str, int] = {}
        for j, param in enumerate(self.parameters):
            if param.name in seen:
                raise _fail(
                    f"parameters[{j}].name",
                    f"duplicate parameter {param.name!r} (also parameters[{seen[param.name]}])",
                )
            seen[param.name] = j
        for j, material in enumerate(self.materials):
            if material in self.materials[:j]:
                raise _fail(f"materials[{j}]", f"{material!r} is listed twice")
        return self

    def param(self, name: str) -> Parameter:
        """Return the parameter called ``name``; NotFound if the step has none."""
        for param in self.parameters:
            if param.name == name:
                return param
        known = ", ".join(p.name for p in self.parameters) or "none"
        raise NotFound(f"step {self.id!r} has no parameter {name!r} (parameters: {known})")

    def has_param(self, name: str) -> bool:
        """Whether the step has a parameter called ``name``."""
        return any(param.name == name for param in self.parameters)

    @property
    def inputs(self) -> tuple[Parameter, ...]:
        """The parameters a technician enters (``input = true``), in file order."""
        return tuple(param for param in self.parameters if param.input)

    @property
    def critical_fields(self) -> frozenset[str]:
        """Names of the parameters that need a second person's verification."""
        return frozenset(param.name for param in self.parameters if param.critical)


def _check_kind_parameters(step: Step, where: str, *, history: bool) -> None:
    """Check ``step`` (at path ``where``) against its kind: what it records and computes.

    An input parameter the kind does not record is refused for a version that may be used
    (``history`` false); a retired version, or the copy a batch is pinned to, is read as
    written so that the record made under it stays readable.
    """
    for path, message in kind_of(step.kind).check_sop_step(step):
        if history and path.endswith(".name"):
            continue
        raise _fail(f"{where}.{path}", message)


class ExpansionRules(BaseModel):
    """Limits of an expansion SOP: passages, population doublings, vessels, bank size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_passage: Annotated[Whole, Field(ge=1, le=50)]
    min_bank_passage: Annotated[Whole, Field(ge=0, le=50)]
    max_cumulative_pd: Annotated[Number, Field(gt=0, le=100)]
    vessels: Annotated[tuple[VesselName, ...], Field(min_length=1)]
    target_vials: Annotated[Whole, Field(ge=1)]

    @model_validator(mode="after")
    def _check(self) -> ExpansionRules:
        if self.min_bank_passage > self.max_passage:
            raise _fail(
                "min_bank_passage",
                f"min_bank_passage {self.min_bank_passage} is greater than "
                f"max_passage {self.max_passage}",
            )
        for j, vessel in enumerate(self.vessels):
            if vessel in self.vessels[:j]:
                raise _fail(f"vessels[{j}]", f"{vessel!r} is listed twice")
        return self

    def vessel_area_cm2(self, vessel: str) -> float:
        """Growth area of an allowed vessel in cm²; NotFound if this SOP does not allow it."""
        if vessel not in self.vessels:
            raise NotFound(
                f"vessel {vessel!r} is not allowed by this SOP (allowed: {', '.join(self.vessels)})"
            )
        return VESSEL_AREAS_CM2[vessel]


class DoseRules(BaseModel):
    """Rules of a dose SOP: cohorts, days, tolerance, concentration limit, shelf life."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tolerance_percent: Annotated[Number, Field(gt=0, lt=100)]
    cohort_doses: Annotated[tuple[CellsPerKg, ...], Field(min_length=1)]
    infusion_days: Annotated[tuple[Annotated[Whole, Field(ge=1)], ...], Field(min_length=1)]
    max_concentration: CellsPerMl
    shelf_life: Duration
    expiry_from: ExpiryFrom
    max_vials_per_thaw: Annotated[Whole, Field(ge=1)]

    @model_validator(mode="after")
    def _check(self) -> DoseRules:
        for j, dose in enumerate(self.cohort_doses):
            if dose.value <= 0:
                raise _fail(f"cohort_doses[{j}]", f"{dose.text!r} is not a positive dose")
            if any(other.value == dose.value for other in self.cohort_doses[:j]):
                raise _fail(f"cohort_doses[{j}]", f"{dose.text!r} is listed twice")
        for j in range(1, len(self.infusion_days)):
            if self.infusion_days[j] <= self.infusion_days[j - 1]:
                raise _fail(f"infusion_days[{j}]", "infusion days must be in increasing order")
        if self.max_concentration.value <= 0:
            raise _fail("max_concentration", "must be greater than zero")
        if self.shelf_life.value <= 0:
            raise _fail("shelf_life", "must be greater than zero")
        return self

    def matching_cohort_dose(self, cells_per_kg: float) -> Quantity | None:
        """The cohort dose equal to a canonical dose per kg (relative 1e-9), or None."""
        for dose in self.cohort_doses:
            if math.isclose(dose.value, cells_per_kg, rel_tol=1e-9):
                return dose
        return None

    def target_window(self, target_cells: float) -> tuple[float, float]:
        """Lowest and highest acceptable viable cells for a target, by the tolerance."""
        fraction = self.tolerance_percent / 100.0
        return target_cells * (1.0 - fraction), target_cells * (1.0 + fraction)


class Windows(BaseModel):
    """Maximum times between events of a batch (optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thaw_to_fill_max: Duration | None = None
    fucosylation_end_to_fill_max: Duration | None = None

    @model_validator(mode="after")
    def _check(self) -> Windows:
        for name in ("thaw_to_fill_max", "fucosylation_end_to_fill_max"):
            value = getattr(self, name)
            if value is not None and value.value <= 0:
                raise _fail(name, "must be greater than zero")
        return self


class QcTest(BaseModel):
    """A QC test with its specification: numeric (unit, min/max) or qualitative (expected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    test: Slug
    name: Text
    method: Text
    stage: Stage
    required_for_release: Flag
    critical: Flag = False
    unit: str | None = None
    min: Number | None = None
    max: Number | None = None
    min_exclusive: Flag = False
    max_exclusive: Flag = False
    expected: str | None = None
    allowed: tuple[Text, ...] = ()
    result_after_infusion: Flag = False
    """The result may come after release and infusion (a 7-day sterility test): recorded on a
    released batch as a late result (docs/clinic.md)."""

    @model_validator(mode="after")
    def _check(self) -> QcTest:
        if self.result_after_infusion:
            if self.stage != "release":
                raise _fail("result_after_infusion", "only a release test's result comes late")
            if self.required_for_release:
                raise _fail(
                    "result_after_infusion",
                    "a test required for release cannot have its result after the infusion",
                )
        if self.expected is not None:
            for name in ("unit", "min", "max"):
                if getattr(self, name) is not None:
                    raise _fail(
                        name, f"a qualitative test (expected = {self.expected!r}) has no {name}"
                    )
            for name in ("min_exclusive", "max_exclusive"):
                if getattr(self, name):
                    raise _fail(name, "a qualitative test has no limits")
            if not self.allowed:
                raise _fail("allowed", "list the results a technician may enter")
            folded = [value.strip().casefold() for value in self.allowed]
            for j, value in enumerate(folded):
                if value in folded[:j]:
                    raise _fail(f"allowed[{j}]", f"{self.allowed[j]!r} is listed twice")
            if self.expected.strip().casefold() not in folded:
                raise _fail("expected", f"{self.expected!r} is not one of the allowed results")
            return self
        if self.allowed:
            raise _fail("allowed", "a numeric test has no allowed results (give expected)")
        if self.unit is None or not self.unit.strip():
            raise _fail("unit", "a numeric test needs a unit (or expected for a qualitative one)")
        if self.min is None and self.max is None:
            raise _fail("min", "a numeric test needs min, max or both")
        if self.min_exclusive and self.min is None:
            raise _fail("min_exclusive", "min_exclusive needs min")
        if self.max_exclusive and self.max is None:
            raise _fail("max_exclusive", "max_exclusive needs max")
        try:
            measure = _qc_measure(self.test, self.unit)
        except ValueError as error:
            raise _fail("unit", str(error)) from None
        low, high = _check_bounds(self, measure, self.unit)
        if (
            low is not None
            and high is not None
            and low == high
            and (self.min_exclusive or self.max_exclusive)
        ):
            raise _fail("min", "the range is empty")
        return self

    @property
    def qualitative(self) -> bool:
        """Whether the result is a word (expected/allowed) rather than a number."""
        return self.expected is not None

    @property
    def measure(self) -> Measure | None:
        """The measure a numeric result is parsed in; None for a qualitative test."""
        return None if self.unit is None else _qc_measure(self.test, self.unit)

    @property
    def min_canonical(self) -> float | None:
        """Lower limit in the measure's canonical unit (None when there is none)."""
        if self.min is None or self.unit is None:
            return None
        return units.to_canonical(self.min, self.unit, _qc_measure(self.test, self.unit))

    @property
    def max_canonical(self) -> float | None:
        """Upper limit in the measure's canonical unit (None when there is none)."""
        if self.max is None or self.unit is None:
            return None
        return units.to_canonical(self.max, self.unit, _qc_measure(self.test, self.unit))

    def evaluate(self, value: float | str) -> bool:
        """Pass (True) or fail (False) a result against the specification.

        A numeric result is a canonical magnitude (as :func:`cellbatch.units.parse` returns)
        or text with its unit; a qualitative result is one of ``allowed`` (any case). Anything
        else raises :class:`~cellbatch.domain.errors.InvalidInput`.
        """
        if self.expected is not None:
            if not isinstance(value, str):
                raise InvalidInput(self.id, f"enter one of: {', '.join(self.allowed)}")
            folded = value.strip().casefold()
            if folded not in {allowed.strip().casefold() for allowed in self.allowed}:
                raise InvalidInput(
                    self.id,
                    f"{value!r} is not a result of this test; enter one of: "
                    f"{', '.join(self.allowed)}",
                )
            return folded == self.expected.strip().casefold()
        measure = self.measure
        assert measure is not None  # numeric tests always have a unit (validated)
        if isinstance(value, str):
            magnitude = units.parse(value, measure, field=self.id)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(self.id, f"expected {measure.label}, e.g. {measure.example}")
        else:
            magnitude = float(value)
            if not math.isfinite(magnitude):
                raise InvalidInput(self.id, f"expected {measure.label}, got {value!r}")
        low, high = self.min_canonical, self.max_canonical
        if low is not None and (magnitude <= low if self.min_exclusive else magnitude < low):
            return False
        if high is not None and (magnitude >= high if self.max_exclusive else magnitude > high):
            return False
        return True

    def spec_text(self) -> str:
        """The specification for display, e.g. ``≥ 70 %``, ``< 0.5 EU/mL``, ``negative``."""
        if self.expected is not None:
            return self.expected
        measure = self.measure
        assert measure is not None  # numeric tests always have a unit (validated)
        return _bound_text(
            self.min_canonical,
            self.max_canonical,
            measure,
            low_exclusive=self.min_exclusive,
            high_exclusive=self.max_exclusive,
        )


def _version_key(version: str) -> tuple[int, int]:
    """Sort key of a ``MAJOR.MINOR`` version string."""
    major, minor = version.split(".")
    return int(major), int(minor)


def _check_version(value: str) -> str:
    """Refuse a version that is not ``MAJOR.MINOR``."""
    if not re.fullmatch(r"(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})", value):
        raise PydanticCustomError(
            "sop_rule",
            "{reason}",
            {"reason": f'{value!r} is not a version: write MAJOR.MINOR, e.g. "1.0"'},
        )
    return value


class Sop(BaseModel):
    """One version of one SOP, validated; ``content_hash`` identifies its exact content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SopId
    version: Annotated[str, AfterValidator(_check_version)]
    status: SopStatus
    title: Text
    kind: SopKind
    product: Slug
    product_name: Text
    effective: date
    author: Text
    approved_by: str | None = None
    description: str = ""
    tissues: tuple[Tissue, ...] = ()
    parent_sops: tuple[SopId, ...] = ()
    expansion: ExpansionRules | None = None
    dose: DoseRules | None = None
    windows: Windows = Field(default_factory=Windows)
    steps: Annotated[tuple[Step, ...], Field(min_length=1)]
    qc: Annotated[tuple[QcTest, ...], Field(min_length=1)]

    _content_hash: str = PrivateAttr(default="")
    _source: str | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _hash_document(cls, data: Any, handler: Any) -> Sop:
        sop = handler(data)
        if isinstance(data, Mapping):
            sop._content_hash = content_hash(data)
        return sop

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Sop:
        self._check_header()
        history = self.status == "retired" or bool((info.context or {}).get("history"))
        self._check_steps(history=history)
        self._check_qc()
        self._check_dose()
        return self

    def _check_header(self) -> None:
        if self.status == "approved" and not (self.approved_by or "").strip():
            raise _fail("approved_by", "an approved SOP names who approved it")
        if self.kind == "expansion":
            if self.expansion is None:
                raise _fail("expansion", "an expansion SOP needs an [expansion] table")
            if not self.tissues:
                raise _fail("tissues", "an expansion SOP lists the tissues it accepts")
            for name in ("dose", "parent_sops"):
                if getattr(self, name):
                    raise _fail(name, f"an expansion SOP has no {name}")
        else:
            if self.dose is None:
                raise _fail("dose", "a dose SOP needs a [dose] table")
            if not self.parent_sops:
                raise _fail("parent_sops", "a dose SOP names the bank SOPs it may use")
            for name in ("expansion", "tissues"):
                if getattr(self, name):
                    raise _fail(name, f"a dose SOP has no {name}")
        for j, tissue in enumerate(self.tissues):
            if tissue in self.tissues[:j]:
                raise _fail(f"tissues[{j}]", f"{tissue!r} is listed twice")
        for j, parent in enumerate(self.parent_sops):
            if parent == self.id:
                raise _fail(f"parent_sops[{j}]", "an SOP cannot be its own parent")
            if parent in self.parent_sops[:j]:
                raise _fail(f"parent_sops[{j}]", f"{parent!r} is listed twice")

    def _check_steps(self, *, history: bool = False) -> None:
        kinds = kinds_of_sop(self.kind)
        allowed = tuple(k.name for k in kinds)
        rank = {k.name: k.order for k in kinds}
        ids: dict[str, int] = {}
        where: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.id in ids:
                raise _fail(
                    f"steps[{i}].id", f"duplicate step id {step.id!r} (also steps[{ids[step.id]}])"
                )
            ids[step.id] = i
            if step.kind not in {k.name for k in known_kinds()}:
                known = ", ".join(k.name for k in known_kinds())
                raise _fail(f"steps[{i}].kind", f"unknown step kind {step.kind!r} (kinds: {known})")
            if step.kind not in allowed:
                raise _fail(
                    f"steps[{i}].kind",
                    f"a {self.kind} SOP has no {step.kind} step (allowed: {', '.join(allowed)})",
                )
            if step.kind in where:
                raise _fail(
                    f"steps[{i}].kind",
                    f"a second {step.kind} step (also steps[{where[step.kind]}]); "
                    f"mark a step that is done more than once with repeats = true",
                )
            where[step.kind] = i
        for i, step in enumerate(self.steps):
            _check_kind_parameters(step, f"steps[{i}]", history=history)
        for kind in (k.name for k in kinds if k.required):
            if kind not in where:
                raise _fail("steps", f"a {self.kind} SOP needs a {kind} step")
        order = ", ".join(kind for kind in allowed if kind in where)
        last = len(self.steps) - 1
        if self.kind == "expansion":
            if where["harvest"] < where["seed"]:
                raise _fail(
                    f"steps[{where['harvest']}].kind",
                    f"harvest comes before seed; the order must be {order}",
                )
            if where["freeze"] != last:
                raise _fail(
                    f"steps[{where['freeze']}].kind",
                    f"freeze must be the last step; the order must be {order}",
                )
        else:
            if where["thaw"] != 0:
                raise _fail(
                    f"steps[{where['thaw']}].kind",
                    f"thaw must be the first step; the order must be {order}",
                )
            if "fucosylation" in where and where["fucosylation"] > where["fill"]:
                raise _fail(
                    f"steps[{where['fucosylation']}].kind",
                    f"fucosylation comes after fill; the order must be {order}",
                )
            if where["fill"] != last:
                raise _fail(
                    f"steps[{where['fill']}].kind",
                    f"fill must be the last step; the order must be {order}",
                )
        for i in range(1, len(self.steps)):
            before, this = self.steps[i - 1].kind, self.steps[i].kind
            if rank[before] > rank[this]:
                raise _fail(
                    f"steps[{i - 1}].kind",
                    f"{before} comes before {this}; the order must be {order}",
                )

    def _check_qc(self) -> None:
        ids: dict[str, int] = {}
        tests: dict[tuple[str, str], int] = {}
        for i, test in enumerate(self.qc):
            if test.id in ids:
                raise _fail(f"qc[{i}].id", f"duplicate QC id {test.id!r} (also qc[{ids[test.id]}])")
            ids[test.id] = i
            key = (test.test, test.stage)
            if key in tests:
                raise _fail(
                    f"qc[{i}].test",
                    f"{test.test} is already a {test.stage} test (qc[{tests[key]}])",
                )
            tests[key] = i

    def _check_dose(self) -> None:
        has_fucosylation = self.has_step("fucosylation")
        if self.windows.fucosylation_end_to_fill_max is not None and not has_fucosylation:
            raise _fail(
                "windows.fucosylation_end_to_fill_max",
                "this SOP has no fucosylation step",
            )
        if self.dose is None:
            return
        if self.dose.expiry_from == "fucosylation_end" and not has_fucosylation:
            raise _fail(
                "dose.expiry_from",
                "expiry counted from the end of fucosylation, but the SOP has no fucosylation step",
            )
        i = self.steps.index(self.step("fill"))
        fill = self.steps[i]
        j = fill.parameters.index(fill.param("concentration"))
        limit = fill.parameters[j].max_canonical
        if limit is None or not math.isclose(
            limit, self.dose.max_concentration.value, rel_tol=1e-9
        ):
            raise _fail(
                f"steps[{i}].parameters[{j}].max",
                f"must equal dose.max_concentration ({self.dose.max_concentration.text})",
            )
        for i, step in enumerate(self.steps):
            if step.kind == "thaw":
                j = step.parameters.index(step.param("vials"))
                high = step.parameters[j].max_canonical
                if high is not None and high > self.dose.max_vials_per_thaw:
                    raise _fail(
                        f"steps[{i}].parameters[{j}].max",
                        f"more than dose.max_vials_per_thaw ({self.dose.max_vials_per_thaw})",
                    )

    # ----------------------------------------------------------------- queries

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the parsed document as canonical JSON; computed, never read."""
        return self._content_hash

    @property
    def source(self) -> str | None:
        """The file the SOP was loaded from, if any."""
        return self._source

    @property
    def label(self) -> str:
        """Short name for messages and documents, e.g. ``SOP-EASC-EXP v1.0``."""
        return f"{self.id} v{self.version}"

    @property
    def version_key(self) -> tuple[int, int]:
        """The version as numbers, for sorting (``1.10`` after ``1.9``)."""
        return _version_key(self.version)

    @property
    def is_approved(self) -> bool:
        """Whether this version may be used for a new batch."""
        return self.status == "approved"

    def ensure_approved(self) -> None:
        """Refuse (RuleViolation) use of a draft or retired version for a new batch."""
        if self.status != "approved":
            raise RuleViolation(
                f"{self.label} is {self.status}, not approved: "
                f"a batch can only be made under an approved SOP version"
            )

    def step(self, kind_or_id: str) -> Step:
        """Return the step with this id, or else of this kind; NotFound if there is none."""
        for step in self.steps:
            if step.id == kind_or_id:
                return step
        for step in self.steps:
            if step.kind == kind_or_id:
                return step
        known = ", ".join(f"{s.id} ({s.kind})" for s in self.steps)
        raise NotFound(f"{self.label} has no step {kind_or_id!r} (steps: {known})")

    def has_step(self, kind: str) -> bool:
        """Whether the SOP has a step of this kind."""
        return any(step.kind == kind for step in self.steps)

    def qc_test(self, test_or_id: str, stage: str | None = None) -> QcTest:
        """Return a QC test by id, or by test key (and stage); NotFound if there is none.

        A test key found at both stages with no stage given returns the release test.
        """
        for test in self.qc:
            if test.id == test_or_id and (stage is None or test.stage == stage):
                return test
        matches = [
            t for t in self.qc if t.test == test_or_id and (stage is None or t.stage == stage)
        ]
        if matches:
            release = [t for t in matches if t.stage == "release"]
            return (release or matches)[0]
        where = f" at stage {stage!r}" if stage else ""
        known = ", ".join(t.id for t in self.qc)
        raise NotFound(f"{self.label} has no QC test {test_or_id!r}{where} (tests: {known})")

    def release_qc(self) -> list[QcTest]:
        """The QC tests whose passing result release needs (in-process ones included)."""
        return [test for test in self.qc if test.required_for_release]

    def critical_fields(self, step_kind: str) -> set[str]:
        """Names of a step kind's parameters that need a second person's verification.

        Empty when the SOP has no step of that kind; ValueError for an unknown kind.
        """
        try:
            kind_of(step_kind)
        except NotFound as error:
            raise ValueError(str(error)) from None
        if not self.has_step(step_kind):
            return set()
        return set(self.step(step_kind).critical_fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary: id, version, status, title, kind, hash, then the rest."""
        data = self.model_dump(mode="json")
        head = {key: data.pop(key) for key in ("id", "version", "status", "title", "kind")}
        return {**head, "hash": self.content_hash, **data}


# --------------------------------------------------------------------------- loading


def _json_default(value: Any) -> str:
    """Write TOML dates and times as ISO 8601 in the canonical JSON."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(f"cannot hash a value of type {type(value).__name__}")


def content_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a parsed SOP document as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(
        document,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_json_default,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _field_path(loc: tuple[Any, ...], extra: str | None = None) -> str:
    """Turn a pydantic error location into ``steps[1].parameters[0].min``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    if extra:
        if not path:
            path = extra
        elif extra.startswith("["):
            path += extra
        else:
            path += f".{extra}"
    return path or "document"


def _error_message(error: Mapping[str, Any]) -> str:
    """Word one pydantic error for the SOP author."""
    kind = error["type"]
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        return "is not a field of the SOP schema (misspelt or misplaced?)"
    message = str(error["msg"])
    if kind == "sop_rule":
        return message
    message = message.removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str | int | float | bool) and not isinstance(value, Mapping):
        message += f" (got {value!r})"
    return message


def parse_sop(document: Mapping[str, Any], source: str = "<sop>", *, history: bool = False) -> Sop:
    """Validate a parsed SOP document; refuse it with InvalidSop naming ``source`` and the field.

    ``history`` reads the copy a batch was made under: a parameter its step kind does not
    record is then tolerated (it was approved so), where a file for new use is refused.
    """
    for key in _HASH_KEYS:
        if key in document:
            raise InvalidSop(
                source, key, "the content hash is computed by the program: remove it from the file"
            )
    try:
        sop = Sop.model_validate(document, context={"history": history})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        ctx = first.get("ctx") or {}
        field = _field_path(tuple(first["loc"]), ctx.get("field"))
        raise InvalidSop(source, field, _error_message(first)) from None
    sop._source = source
    return sop


def load_sop(path: Path) -> Sop:
    """Read and validate one SOP file; InvalidSop names the file and the field (or line)."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidSop(name, "file", f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSop(name, "file", "is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if found:
            detail = message[: found.start()].strip()
            raise InvalidSop(
                name, f"line {found[1]}", f"TOML syntax error: {detail} (column {found[2]})"
            ) from None
        raise InvalidSop(name, "file", f"TOML syntax error: {message}") from None
    return parse_sop(document, source=name)


def default_sops_dir() -> Path:
    """The SOP folder: ``CELLBATCH_SOPS_DIR`` if set, else ``sops/`` in the checkout."""
    override = os.environ.get("CELLBATCH_SOPS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "sops"


@dataclass(frozen=True)
class SopFolder:
    """The SOP files of a folder: those that loaded, and each file refused with why.

    A malformed file disables only itself: the other procedures stay usable.
    """

    sops: tuple[Sop, ...]
    """Valid SOPs, by ID then version."""
    problems: tuple[InvalidSop, ...]
    """Each file that was not loaded, naming the file and what is wrong."""


def load_sop_folder(directory: Path | None = None) -> SopFolder:
    """Load every ``*.toml`` in the folder one by one (default: :func:`default_sops_dir`).

    A file that cannot be read or is invalid is set aside with its problem. Two files that
    claim the same ID and version are both set aside: neither can be trusted to be the one.
    """
    folder = Path(directory) if directory is not None else default_sops_dir()
    if not folder.is_dir():
        raise NotFound(f"SOP folder {folder} does not exist")
    loaded: list[Sop] = []
    problems: list[InvalidSop] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            loaded.append(load_sop(path))
        except InvalidSop as problem:
            problems.append(problem)
    files: dict[tuple[str, str], list[Sop]] = {}
    for sop in loaded:
        files.setdefault((sop.id, sop.version), []).append(sop)
    sops = []
    for same in files.values():
        if len(same) == 1:
            sops.append(same[0])
            continue
        for sop in same:
            others = ", ".join(str(o.source) for o in same if o is not sop)
            problems.append(
                InvalidSop(str(sop.source), "version", f"{sop.label} is also defined in {others}")
            )
    sops.sort(key=lambda s: (s.id, s.version_key))
    problems.sort(key=lambda p: p.path)
    return SopFolder(tuple(sops), tuple(problems))


def load_sops(directory: Path | None = None) -> list[Sop]:
    """Every SOP of the folder, by ID then version; InvalidSop for the first bad file.

    For a folder where a bad file must not stop the others, use :func:`load_sop_folder`.
    """
    folder = load_sop_folder(directory)
    if folder.problems:
        raise folder.problems[0]
    return list(folder.sops)


def find_sop(sops: list[Sop], sop_id: str, version: str | None = None) -> Sop:
    """Find an SOP by ID (any case) and version; without a version, the latest approved one.

    NotFound names the known IDs or versions. A draft or retired version is returned when asked
    for by version: call :meth:`Sop.ensure_approved` before starting a batch with it.
    """
    wanted = sop_id.strip().upper()
    candidates = [sop for sop in sops if sop.id == wanted]
    if not candidates:
        known = ", ".join(sorted({sop.id for sop in sops})) or "none"
        raise NotFound(f"no SOP {sop_id!r}; known SOPs: {known}")
    versions = ", ".join(
        f"{sop.version} ({sop.status})" for sop in sorted(candidates, key=lambda s: s.version_key)
    )
    if version is not None:
        number = version.strip().removeprefix("v").removeprefix("V")
        for sop in candidates:
            if sop.version == number:
                return sop
        raise NotFound(f"{wanted} has no version {version!r}; versions: {versions}")
    approved = [sop for sop in candidates if sop.status == "approved"]
    if not approved:
        raise NotFound(f"{wanted} has no approved version; versions: {versions}")
    return max(approved, key=lambda s: s.version_key)
