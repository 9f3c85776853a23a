"""Physical quantities typed by technicians: parse once at the boundary, store floats.

Every value is read from text exactly once, here, and stored as a plain float in the
canonical unit of its :class:`Measure` (cells, mL, °C, ...). Everything downstream works on
floats; :func:`fmt` shows them again in the unit technicians use, :func:`fmt_plain` writes
them unambiguously for the audit trail.

pint is imported lazily inside :func:`registry`, so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cellbatch.domain.errors import InvalidInput

if TYPE_CHECKING:
    import pint

__all__ = [
    "MAX_INPUT_LENGTH",
    "MEASURES",
    "Measure",
    "fmt",
    "fmt_plain",
    "measure_for_unit",
    "parse",
    "registry",
    "to_canonical",
]

MAX_INPUT_LENGTH = 200
"""Longest text :func:`parse` reads; anything longer is refused."""


@dataclass(frozen=True)
class Measure:
    """What a field expects: dimension, canonical stored unit, display unit, range rules."""

    key: str
    """Name of the measure, e.g. ``"cells"``."""
    label: str
    """Human name of the expected quantity and unit, e.g. ``"a cell count (cells)"``."""
    canonical: str
    """pint unit the float is stored in, e.g. ``"cell"``."""
    display: str
    """Unit text shown to technicians after the number, e.g. ``"×10⁶ cells"``."""
    nonnegative: bool = True
    """Refuse values below zero."""
    bare_number_ok: bool = False
    """A number typed without a unit is read in the canonical unit."""
    min: float | None = None
    """Inclusive lower hard limit, in canonical units."""
    max: float | None = None
    """Inclusive upper hard limit, in canonical units."""
    scale: float = 1.0
    """How many canonical units one display unit is (1e6 for ``×10⁶ cells``)."""
    example: str = ""
    """A value as a technician would type it, quoted in refusals."""
    integer: bool = False
    """Only whole numbers are accepted."""
    plain: bool = False
    """The number is a plain decimal (:data:`PLAIN_DECIMAL`): no exponent, no power of ten."""

    @property
    def noun(self) -> str:
        """The label without its unit in parentheses, e.g. ``"a cell count"``."""
        return self.label.split(" (", 1)[0]


_MEASURE_LIST = [
    Measure(
        "cells",
        "a cell count (cells)",
        "cell",
        "×10⁶ cells",
        scale=1e6,
        example="280 x 10^6 cells",
    ),
    Measure(
        "cells_per_kg",
        "a dose per body mass (cells/kg)",
        "cell/kg",
        "×10⁶ cells/kg",
        scale=1e6,
        example="2 x 10^6 cells/kg",
    ),
    Measure(
        "cells_per_ml",
        "a cell concentration (cells/mL)",
        "cell/mL",
        "×10⁶ cells/mL",
        scale=1e6,
        example="1.5 x 10^6 cells/mL",
    ),
    Measure(
        "cells_per_cm2",
        "a seeding density (cells/cm²)",
        "cell/cm**2",
        "cells/cm²",
        example="3000 cells/cm²",
    ),
    Measure("mass", "a mass (g)", "g", "g", example="1.5 g"),
    Measure("mass_body", "a body mass (kg)", "kg", "kg", example="70 kg"),
    Measure("volume", "a volume (mL)", "mL", "mL", example="56 mL"),
    Measure(
        "percent",
        "a percentage (%)",
        "percent",
        "%",
        bare_number_ok=True,
        min=0.0,
        max=100.0,
        example="94 %",
    ),
    Measure(
        "temperature",
        "a temperature (°C)",
        "degC",
        "°C",
        nonnegative=False,
        min=-273.15,
        example="37 °C",
        plain=True,
    ),
    Measure("duration", "a duration (min)", "min", "min", example="30 min"),
    Measure("duration_hours", "a duration (h)", "h", "h", example="48 h"),
    Measure("molar", "a molar concentration (mM)", "mM", "mM", example="2 mM"),
    Measure("mass_conc", "a mass concentration (µg/mL)", "ug/mL", "µg/mL", example="10 µg/mL"),
    Measure(
        "endotoxin_conc",
        "an endotoxin concentration (EU/mL)",
        "EU/mL",
        "EU/mL",
        example="0.3 EU/mL",
    ),
    Measure(
        "endotoxin_per_kg",
        "an endotoxin dose per body mass (EU/kg)",
        "EU/kg",
        "EU/kg",
        example="5 EU/kg",
    ),
    Measure("area", "an area (cm²)", "cm**2", "cm²", example="75 cm²"),
    Measure(
        "count",
        "a whole number (count)",
        "dimensionless",
        "",
        bare_number_ok=True,
        integer=True,
        example="12",
    ),
]

MEASURES: dict[str, Measure] = {m.key: m for m in _MEASURE_LIST}
"""Every measure a field can expect, by key."""

# What a wrong unit is called in refusals, by a unit of that dimension (checked lazily).
_KINDS = [
    ("cell", "a cell count"),
    ("cell/kg", "a dose per body mass"),
    ("cell/mL", "a cell concentration"),
    ("cell/cm**2", "a seeding density"),
    ("cell/s", "a cell rate"),
    ("g", "a mass"),
    ("mL", "a volume"),
    ("m", "a length"),
    ("cm**2", "an area"),
    ("s", "a duration"),
    ("1/s", "a frequency"),
    ("K", "a temperature"),
    ("mM", "a molar concentration"),
    ("mol", "an amount of substance"),
    ("g/mL", "a mass concentration"),
    ("EU", "an endotoxin amount"),
    ("EU/mL", "an endotoxin concentration"),
    ("EU/kg", "an endotoxin dose per body mass"),
    ("dimensionless", "a percentage or plain number"),
    ("C", "an electric charge"),
    ("A", "an electric current"),
    ("V", "a voltage"),
    ("N", "a force"),
    ("J", "an energy"),
    ("W", "a power"),
    ("Pa", "a pressure"),
    ("m/s", "a speed"),
    ("g/s", "a mass flow"),
    ("mL/s", "a flow rate"),
]


# --------------------------------------------------------------------------- registry

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUPERSCRIPT_RUN = re.compile(r"\^?([⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)")
_SPACES = re.compile(r"[\u00a0\u2000-\u200b\u202f\u205f\u3000\t]")
_DEGREES = re.compile(r"(?:[°º˚]|\bdeg)\s*([CF])\b")
_AREA_VOLUME = re.compile(r"(?<![A-Za-z_])([kcmdun]?m)([23])(?![0-9A-Za-z_])")
_TIMES_TEN = re.compile(r"(?<=[0-9.])\s*[xX*]\s*(?=10\s*(?:\^|\*\*))")


def _normalize(text: str) -> str:
    """Rewrite what people type into what pint reads (idempotent)."""
    s = _SPACES.sub(" ", text)
    s = s.replace("\u2212", "-").replace("\u2011", "-")
    s = s.replace("℃", "degC").replace("℉", "degF")
    s = _DEGREES.sub(r"deg\1", s)
    s = s.replace("µ", "u").replace("μ", "u")
    s = s.replace("×", "*").replace("·", "*").replace("⋅", "*").replace("∙", "*")
    s = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group(1).translate(_SUPERSCRIPTS), s)
    s = _AREA_VOLUME.sub(r"\1^\2", s)
    return _TIMES_TEN.sub("*", s)


def _build_registry(cache_folder: str | None) -> pint.UnitRegistry:
    """Build a registry with the cell and endotoxin units and the typing preprocessor."""
    import pint

    ureg = pint.UnitRegistry(cache_folder=cache_folder)
    ureg.define("cell = [cell]")
    ureg.define("endotoxin_unit = [endotoxin] = EU")
    ureg.preprocessors.insert(0, _normalize)
    return ureg


@functools.cache
def _registry() -> pint.UnitRegistry:
    """Build the registry once, with pint's definition cache if it can be written."""
    try:
        return _build_registry(":auto:")
    except Exception:  # unwritable or corrupt cache folder: build without it
        return _build_registry(None)


_REGISTRY_LOCK = threading.Lock()


def registry() -> pint.UnitRegistry:
    """Return the one process-wide pint registry (built on first use)."""
    with _REGISTRY_LOCK:
        return _registry()


@functools.cache
def _canonical_units(canonical: str) -> Any:
    """Parse a canonical unit string once."""
    return registry().parse_units(canonical)


@functools.cache
def _kinds() -> dict[Any, str]:
    """Map a dimensionality to the name of that kind of quantity."""
    ureg = registry()
    kinds: dict[Any, str] = {}
    for unit, noun in _KINDS:
        kinds.setdefault(ureg.parse_units(unit).dimensionality, noun)
    return kinds


# --------------------------------------------------------------------------- parsing

# ASCII digits only: ``\d`` also takes other scripts' digits (``٢٠``, ``２０``), which
# float() reads as 20 while the text does not show 20 to a reader of the record.
_NUMBER = re.compile(
    r"""\s*
    (?:
        (?P<sign>[+-]?)10\s*(?:\^|\*\*)\s*(?P<pow>[+-]?[0-9]{1,6})
      |
        (?P<mantissa>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
        (?:\s*\*\s*10\s*(?:\^|\*\*)\s*(?P<exp>[+-]?[0-9]{1,6}))?
    )
    \s*(?P<unit>.*?)\s*$""",
    re.VERBOSE | re.DOTALL,
)
_UNIT_CHARS = re.compile(r"[A-Za-z0-9_%/*^(). \-]*")

PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
"""A number as a temperature is written, typed or in a logger's file: an optional sign, ASCII
digits, an optional decimal point followed by digits. Not ``2_0``, ``nan``, ``inf``, ``1e1``,
``20.``, ``.5`` or other scripts' digits, all of which Python's ``float`` reads."""
PLAIN_DECIMAL_WORDS = (
    "an optional sign, digits, an optional decimal point and digits (e.g. 20, -0.5 or +37.25)"
)
"""What :data:`PLAIN_DECIMAL` expects, as a refusal says it."""


def plain_decimal(text: str) -> float | None:
    """``text`` read as a :data:`PLAIN_DECIMAL` (the whole text, no spaces), else None."""
    if not isinstance(text, str) or PLAIN_DECIMAL.fullmatch(text) is None:
        return None
    return float(Decimal(text)) + 0.0  # no negative zero


def _measure(measure: str | Measure) -> Measure:
    """Look a measure up by key, or pass a Measure through."""
    if isinstance(measure, Measure):
        return measure
    try:
        return MEASURES[measure]
    except KeyError:
        raise ValueError(f"unknown measure {measure!r}") from None


def _shown(text: str) -> str:
    """Shorten the user's text for quoting back in a refusal."""
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown_unit(m: Measure, unit_text: str) -> str:
    """Word the refusal of a unit pint does not know."""
    return f"expected {m.label}, e.g. {m.example}; '{_shown(unit_text)}' is not a known unit"


def _unit_string(m: Measure) -> str:
    """Return the ASCII unit fmt_plain writes after the number."""
    if m.canonical == "dimensionless":
        return ""
    if m.canonical == "percent":
        return "%"
    return m.canonical


def _number(v: float, digits: int, *, plain: bool = False) -> str:
    """Format a float with ``digits`` significant digits, integer part kept.

    Very small and very large values are written with an exponent, unless ``plain`` (a
    :data:`PLAIN_DECIMAL`, as a temperature is typed).
    """
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    magnitude = abs(v)
    if not plain and (magnitude < 1e-4 or magnitude >= 1e15):
        return f"{v:.{digits}g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(magnitude)))
    s = f"{v:.{decimals}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def _limit_text(m: Measure) -> str:
    """Describe the hard limits of a measure, e.g. ``between 0 and 100 %``."""
    lo = None if m.min is None else _number(m.min / m.scale, 6)
    hi = None if m.max is None else _number(m.max / m.scale, 6)
    unit = f" {m.display}" if m.display else ""
    if m.nonnegative and (m.min is None or m.min < 0):
        lo = "0"
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}{unit}"
    if lo is not None:
        return f"of at least {lo}{unit}"
    return f"of at most {hi}{unit}"


def parse(text: str, measure: str | Measure, *, field: str) -> float:
    """Read typed text as a value of ``measure``; return it in the canonical unit."""
    m = _measure(measure)

    def refuse(message: str) -> InvalidInput:
        return InvalidInput(field, message)

    if text is None:
        text = ""
    if not isinstance(text, str):
        raise TypeError(f"parse() needs text, got {type(text).__name__}")
    raw = text.strip()
    if not raw:
        raise refuse(f"expected {m.label}, e.g. {m.example}; nothing was entered")
    if len(raw) > MAX_INPUT_LENGTH:
        raise refuse(
            f"expected {m.label}, e.g. {m.example}; the text is too long "
            f"({len(raw)} characters, at most {MAX_INPUT_LENGTH})"
        )
    shown = _shown(raw)
    if "," in raw or "'" in raw:
        raise refuse(
            f"expected {m.label}, got {shown}: write decimals with a point and no thousands "
            f"separators (e.g. 1000 or 1.5, not 1,000 or 1,5)"
        )
    normalized = _normalize(raw)
    if not normalized.isprintable():
        raise refuse(f"expected {m.label}, e.g. {m.example}; got text with control characters")
    other_digit = next((c for c in normalized if c.isdigit() and not "0" <= c <= "9"), None)
    if other_digit is not None:
        raise refuse(
            f"expected {m.label}, e.g. {m.example}; got {shown}, which is not a number: "
            f"write its digits as 0-9 (not {other_digit})"
        )
    match = _NUMBER.fullmatch(normalized)
    if match is None:
        raise refuse(f"expected {m.label}, e.g. {m.example}; got {shown}, which is not a number")

    unit_text = match["unit"]
    if m.plain and (
        match["exp"] or plain_decimal(match["mantissa"] or "") is None or unit_text[:1] == "_"
    ):
        raise refuse(f"expected {m.label}, got {shown}: write the number as {PLAIN_DECIMAL_WORDS}")
    try:
        if match["mantissa"] is not None:
            value = Decimal(match["mantissa"])
            exponent = int(match["exp"] or 0)
        else:
            value = Decimal(f"{match['sign']}1")
            exponent = int(match["pow"])
        magnitude = float(value.scaleb(exponent))
    except (ArithmeticError, ValueError):
        magnitude = math.inf
    if not math.isfinite(magnitude):
        raise refuse(f"expected {m.label}, got {shown}, which is not a finite number")

    if not unit_text:
        if not m.bare_number_ok:
            raise refuse(f"expected {m.noun} with its unit, e.g. {m.example}")
        unit_text = m.canonical
    elif unit_text[0].isdigit() or unit_text[0] == ".":
        raise refuse(
            f"expected {m.label}, got {shown}: write a number without spaces or thousands "
            f"separators (e.g. 1000, not 1 000)"
        )
    elif _UNIT_CHARS.fullmatch(unit_text) is None:
        raise refuse(_unknown_unit(m, unit_text))

    value_canonical = _convert(magnitude, unit_text, m, field=field, shown=shown)
    if not math.isfinite(value_canonical):
        raise refuse(f"expected {m.label}, got {shown}, which is not a finite number")
    value_canonical = float(value_canonical) + 0.0  # no negative zero

    if m.integer and value_canonical != math.floor(value_canonical):
        raise refuse(f"expected {m.noun} without a fraction, got {shown}")
    below = (m.min is not None and value_canonical < m.min) or (
        m.nonnegative and value_canonical < 0
    )
    above = m.max is not None and value_canonical > m.max
    if below or above:
        if m.max is None and m.min is None:
            raise refuse(f"expected {m.label} that is not negative, got {shown}")
        raise refuse(f"expected {m.noun} {_limit_text(m)}, got {shown}")
    return value_canonical


def _convert(magnitude: float, unit_text: str, m: Measure, *, field: str, shown: str) -> float:
    """Convert a magnitude in typed units to the measure's canonical unit, or refuse."""
    try:
        ureg = registry()
        units = ureg.parse_units(unit_text)
        target = _canonical_units(m.canonical)
        unit_dims = units.dimensionality
        target_dims = target.dimensionality
    except Exception:
        raise InvalidInput(field, _unknown_unit(m, unit_text)) from None
    if unit_dims != target_dims:
        if unit_text.strip() in ("C", "F") and m.canonical == "degC":
            raise InvalidInput(
                field,
                f"expected {m.label}, got {shown}: write °C or degC "
                f"(C alone is the coulomb, F the farad)",
            )
        try:
            kind = _kinds().get(unit_dims, f"a quantity in {_shown(unit_text)}")
        except Exception:
            kind = f"a quantity in {_shown(unit_text)}"
        raise InvalidInput(field, f"expected {m.label}, got {kind} ({shown})")
    if units == target:
        return magnitude
    try:
        return float(ureg.Quantity(magnitude, units).to(target).magnitude)
    except Exception:
        raise InvalidInput(
            field, f"expected {m.label}, got {shown}, which cannot be converted to {m.display}"
        ) from None


def to_canonical(value: float, unit: str, measure: str | Measure) -> float:
    """Convert a magnitude in any compatible unit (an SOP value) to the canonical unit."""
    m = _measure(measure)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    unit_text = _normalize(unit.strip()) if unit.strip() else m.canonical
    try:
        return _convert(value, unit_text, m, field="unit", shown=f"{value:g} {unit}")
    except InvalidInput as error:
        raise ValueError(error.message) from None


def measure_for_unit(unit: str) -> Measure:
    """Find the measure whose canonical unit has the dimension of ``unit`` (exact unit first)."""
    try:
        units = registry().parse_units(_normalize(unit.strip()))
        dims = units.dimensionality
    except Exception:
        raise ValueError(f"{unit!r} is not a known unit") from None
    for m in MEASURES.values():
        if _canonical_units(m.canonical) == units:
            return m
    for m in MEASURES.values():
        if _canonical_units(m.canonical).dimensionality == dims:
            return m
    raise ValueError(f"no measure takes values in {unit!r}")


# --------------------------------------------------------------------------- formatting


def fmt(value: float, measure: str | Measure, *, digits: int = 3) -> str:
    """Show a canonical value in the unit technicians use, e.g. ``280 ×10⁶ cells``."""
    if digits < 1:
        raise ValueError("digits must be at least 1")
    m = _measure(measure)
    number = _number(float(value) / m.scale, digits, plain=m.plain)
    return f"{number} {m.display}" if m.display else number


def fmt_plain(value: float, measure: str | Measure) -> str:
    """Write a canonical value as exact ASCII text that :func:`parse` reads back."""
    m = _measure(measure)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    number = repr(value)
    if m.plain and "e" in number:  # a temperature is written as a plain decimal
        number = format(Decimal(number), "f")
    if number.endswith(".0"):
        number = number[:-2]
    unit = _unit_string(m)
    return f"{number} {unit}" if unit else number
