"""Site settings for labels: facility, FIN, product codes and the statements labels carry.

The FIN and product description codes are licensed to a facility by ICCBBA, so they are site
configuration, never code. They are written in a TOML file (``labels/site.toml`` is the shipped
example) and take effect only once QA approves that file's content in cellbatch with an
electronic signature (``cellbatch site approve``): labels print from the approved version kept
in the database, never from a file or the environment. This module reads and checks the
content (from a file, or from its approved copy); it is pure: standard library and the pure
core only.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.transport import StorageRange
from cellbatch.isbt128 import ProductCode, validate_fin

__all__ = [
    "EXAMPLE_NOTICE",
    "ProductSettings",
    "SiteSettings",
    "default_site_settings_path",
    "load_site_settings",
    "parse_site_settings",
    "read_site_settings_file",
]

EXAMPLE_NOTICE = "EXAMPLE FIN – NOT FOR CLINICAL USE"
"""Printed on every label when the site settings are example (demo) values."""

_PRODUCT_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TOP_KEYS = ("facility", "labels", "products")
_FACILITY_KEYS = ("name", "address", "fin", "example", "timezone")
_LABEL_KEYS = (
    "statements",
    "statement_set",
    "statement_sets",
    "biohazard_legend",
    "communicable_disease_warning",
    "reactive_test_warning",
)
_SET_KEYS = ("statements",)
DEFAULT_REACTIVE_TEST_WARNING = "WARNING: Reactive test results for {markers}."
"""21 CFR 1271.65(b): the warning of a product whose donor had reactive marker results."""
_PRODUCT_KEYS = ("description_code", "collection_type", "name", "storage")
_OPTIONAL_PRODUCT_KEYS = ("storage_range",)
RANGE_PLACEHOLDER = "{range}"
"""Where a product's storage instruction prints its storage range (``Store at {range}.``)."""


@dataclass(frozen=True)
class ProductSettings:
    """How one kind of product is coded and described on its label."""

    description_code: str
    """ISBT 128 product description code, ``S`` + 4 digits (licensed by ICCBBA)."""
    collection_type: str
    """ISBT 128 collection type character (e.g. ``V`` volunteer allogeneic, ``2`` directed)."""
    name: str
    """Product name printed on the label."""
    storage: str
    """Storage and handling statement as written, :data:`RANGE_PLACEHOLDER` standing for the
    storage range (the label prints :meth:`storage_text`)."""
    storage_range: StorageRange | None = None
    """The temperatures the product is kept in (a dose's bag: on the shelf, in transit, at
    issue and receipt); None for a product that has none written (a bank's vials, or settings
    approved before ranges were kept)."""

    def __post_init__(self) -> None:
        """Refuse a malformed description code or collection type."""
        self.product_code()

    def storage_text(self) -> str:
        """The storage instruction as the label prints it, the range written in."""
        if self.storage_range is None:
            return self.storage
        return self.storage.replace(RANGE_PLACEHOLDER, self.storage_range.text())

    def product_code(self, division: str = "00") -> ProductCode:
        """Return the ISBT 128 product code of this product with the given division code."""
        return ProductCode(self.description_code, self.collection_type, division)


@dataclass(frozen=True)
class SiteSettings:
    """Everything about the site that a bag label prints and that is not in a batch record."""

    facility_name: str
    """Name of the facility that makes and labels the product."""
    facility_address: list[str]
    """Address lines of the facility."""
    fin: str
    """ISBT 128 Facility Identification Number (5 characters) used in every DIN."""
    example: bool
    """True for demo values: labels then print :data:`EXAMPLE_NOTICE`."""
    products: dict[str, ProductSettings]
    """Product settings by product key (e.g. ``easc-dose``)."""
    statements: list[str]
    """Statements every final bag label carries, in order: the site's own (intended recipient
    only, do not irradiate, …), then those of the statement set chosen for its jurisdiction."""
    biohazard_legend: str
    """Legend printed with the biohazard symbol when the donor requires it."""
    communicable_disease_warning: str
    """Warning printed when the donor was not found eligible or evaluation is incomplete."""
    timezone: str = "UTC"
    """IANA time zone of the facility: label expiry dates and times are local to it."""
    reactive_test_warning: str = DEFAULT_REACTIVE_TEST_WARNING
    """Warning printed when a donor marker was reactive; ``{markers}`` names them."""
    statement_set: str | None = None
    """The jurisdiction's statement set this site prints (e.g. ``eu-uk``, ``us``), if any."""
    statement_sets: dict[str, list[str]] = field(default_factory=dict)
    """Every statement set the settings offer, by name."""

    def __post_init__(self) -> None:
        """Refuse a malformed FIN or an unknown time zone."""
        validate_fin(self.fin)
        _zone(self.timezone, "timezone")

    def local_time(self, moment: datetime) -> datetime:
        """Return an aware UTC moment as naive facility-local time (as labels print it)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(_zone(self.timezone, "timezone")).replace(tzinfo=None)

    @property
    def example_notice(self) -> str | None:
        """Return the notice labels must print for example settings, or None for real ones."""
        return EXAMPLE_NOTICE if self.example else None

    def product(self, key: str) -> ProductSettings:
        """Return the settings of product ``key``, refusing a key the site does not define."""
        try:
            return self.products[key]
        except KeyError:
            raise InvalidInput(
                "product",
                f"unknown product {key!r}; the site settings define: "
                + ", ".join(sorted(self.products)),
            ) from None


def _zone(name: str, field: str) -> ZoneInfo:
    """Return the IANA time zone ``name``, refusing an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            field, f"unknown time zone {name!r}; expected an IANA name such as Europe/London"
        ) from None


def default_site_settings_path() -> Path:
    """The shipped example settings file: ``<repo>/labels/site.toml``."""
    return Path(__file__).resolve().parent.parent / "labels" / "site.toml"


class _Reader:
    """Typed access to one TOML file's values; every refusal names the file and the key."""

    def __init__(self, source: str) -> None:
        self.path = source

    def fail(self, key: str, message: str) -> InvalidInput:
        """Return the error for ``key`` (the caller raises it)."""
        return InvalidInput(f"{self.path}: {key}", message)

    def table(self, data: dict[str, Any], key: str, allowed: tuple[str, ...] | None) -> dict:
        """Return the table ``key`` of ``data``, refusing a missing one or unknown keys in it."""
        name = key.rpartition(".")[2]
        if name not in data:
            raise self.fail(key, "missing table")
        value = data[name]
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table ([{key}]), got {_type_name(value)}")
        if allowed is not None:
            self.only(value, key, allowed)
        return value

    def only(self, data: dict[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        """Refuse keys of ``data`` outside ``allowed`` (a misspelt key would silently be lost)."""
        for extra in data:
            if extra not in allowed:
                where = f"{prefix}.{extra}" if prefix else extra
                raise self.fail(where, "unknown setting; expected one of: " + ", ".join(allowed))

    def text(self, data: dict[str, Any], prefix: str, name: str) -> str:
        """Return the non-empty string ``name`` of ``data``."""
        key = f"{prefix}.{name}"
        if name not in data:
            raise self.fail(key, "missing setting")
        value = data[name]
        if not isinstance(value, str):
            raise self.fail(key, f"must be text in quotes, got {_type_name(value)}")
        if not value.strip():
            raise self.fail(key, "must not be empty")
        return value.strip()

    def lines(self, data: dict[str, Any], prefix: str, name: str) -> list[str]:
        """Return the non-empty list of non-empty strings ``name`` of ``data``."""
        key = f"{prefix}.{name}"
        if name not in data:
            raise self.fail(key, "missing setting")
        value = data[name]
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"must be a non-empty list of text lines, got {_type_name(value)}")
        result = []
        for index, item in enumerate(value, start=1):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(key, f"item {index} must be non-empty text, got {item!r}")
            result.append(item.strip())
        return result

    def flag(self, data: dict[str, Any], prefix: str, name: str) -> bool:
        """Return the boolean ``name`` of ``data`` (true or false, unquoted)."""
        key = f"{prefix}.{name}"
        if name not in data:
            raise self.fail(key, "missing setting (true or false)")
        value = data[name]
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false (unquoted), got {value!r}")
        return value


def _type_name(value: object) -> str:
    """Name a TOML value's type the way the file's author would."""
    names = {
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


def read_site_settings_file(path: Path | None = None) -> tuple[dict[str, Any], SiteSettings]:
    """Read a site settings TOML file: its data (as approved and stored) and what it says."""
    path = Path(path) if path is not None else default_site_settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(str(path), "site settings file not found") from None
    except OSError as exc:
        raise InvalidInput(
            str(path), f"cannot read the site settings file: {exc.strerror}"
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(str(path), "the site settings file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(str(path), f"not valid TOML: {exc}") from None
    return data, parse_site_settings(data, str(path))


def load_site_settings(path: Path | None = None) -> SiteSettings:
    """Read and check a site settings file (default: the shipped example, labels/site.toml).

    What labels print comes from the version QA approved in cellbatch, not from a file: this
    is for checking a file before it is approved, and for tests.
    """
    return read_site_settings_file(path)[1]


def _statement_sets(read: _Reader, labels: dict[str, Any]) -> dict[str, list[str]]:
    """The statement sets offered, by name (a name is small letters, digits and hyphens)."""
    if "statement_sets" not in labels:
        return {}
    table = read.table(labels, "labels.statement_sets", None)
    sets: dict[str, list[str]] = {}
    for name in table:
        prefix = f"labels.statement_sets.{name}"
        if not _PRODUCT_KEY.match(name):
            raise read.fail(
                prefix, "a statement set's name is small letters, digits and hyphens (e.g. eu-uk)"
            )
        entry = read.table(table, prefix, _SET_KEYS)
        sets[name] = read.lines(entry, prefix, "statements")
    return sets


def _storage_range(
    read: _Reader, entry: dict[str, Any], prefix: str, storage: str
) -> StorageRange | None:
    """A product's ``storage_range = ["15 degC", "25 degC"]``, printed where ``{range}`` is.

    The range is written once: a storage text naming it must say ``{range}``, and a range
    must be printed by its text (a label saying one range while the checks use another is
    what this refuses).
    """
    key = f"{prefix}.storage_range"
    if "storage_range" not in entry:
        if RANGE_PLACEHOLDER in storage:
            raise read.fail(key, f"missing: {prefix}.storage says {RANGE_PLACEHOLDER}")
        return None
    value = entry["storage_range"]
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise read.fail(
            key, f'must be two temperatures in quotes, e.g. ["15 degC", "25 degC"], got {value!r}'
        )
    try:
        storage_range = StorageRange.parse(value[0], value[1], key)
    except InvalidInput as exc:
        raise read.fail(key, exc.message) from None
    if RANGE_PLACEHOLDER not in storage:
        raise read.fail(
            f"{prefix}.storage",
            f'must print the storage range where it says {RANGE_PLACEHOLDER} (e.g. "Store at '
            f'{RANGE_PLACEHOLDER}."): the range is written once, in {key}',
        )
    return storage_range


def parse_site_settings(data: dict[str, Any], source: str) -> SiteSettings:
    """Check site settings data (a file's, or the approved copy's); refusals name ``source``."""
    read = _Reader(source)
    read.only(data, "", _TOP_KEYS)

    facility = read.table(data, "facility", _FACILITY_KEYS)
    fin = read.text(facility, "facility", "fin")
    try:
        validate_fin(fin)
    except InvalidInput as exc:
        raise read.fail("facility.fin", exc.message) from None

    timezone = read.text(facility, "facility", "timezone") if "timezone" in facility else "UTC"
    try:
        _zone(timezone, "timezone")
    except InvalidInput as exc:
        raise read.fail("facility.timezone", exc.message) from None

    labels = read.table(data, "labels", _LABEL_KEYS)
    reactive = DEFAULT_REACTIVE_TEST_WARNING
    if "reactive_test_warning" in labels:
        reactive = read.text(labels, "labels", "reactive_test_warning")
        if "{markers}" not in reactive:
            raise read.fail(
                "labels.reactive_test_warning",
                "must contain {markers}, where the reactive markers are named",
            )
    sets = _statement_sets(read, labels)
    chosen = None
    if "statement_set" in labels:
        chosen = read.text(labels, "labels", "statement_set")
        if chosen not in sets:
            raise read.fail(
                "labels.statement_set",
                f"no statement set {chosen!r}; the settings offer: "
                + (", ".join(sorted(sets)) or "none ([labels.statement_sets.NAME])"),
            )
    statements = read.lines(labels, "labels", "statements") + (sets[chosen] if chosen else [])

    products_table = read.table(data, "products", None)
    if not products_table:
        raise read.fail("products", "define at least one product ([products.<key>])")
    products: dict[str, ProductSettings] = {}
    for key in products_table:
        prefix = f"products.{key}"
        if not _PRODUCT_KEY.match(key):
            raise read.fail(
                prefix, "a product key is small letters, digits and hyphens (e.g. easc-dose)"
            )
        entry = read.table(products_table, prefix, _PRODUCT_KEYS + _OPTIONAL_PRODUCT_KEYS)
        values = {name: read.text(entry, prefix, name) for name in _PRODUCT_KEYS}
        storage_range = _storage_range(read, entry, prefix, values["storage"])
        try:
            products[key] = ProductSettings(**values, storage_range=storage_range)
        except InvalidInput as exc:
            raise read.fail(f"{prefix}.{exc.field}", exc.message) from None

    return SiteSettings(
        facility_name=read.text(facility, "facility", "name"),
        facility_address=read.lines(facility, "facility", "address"),
        fin=fin,
        example=read.flag(facility, "facility", "example"),
        products=products,
        statements=statements,
        biohazard_legend=read.text(labels, "labels", "biohazard_legend"),
        communicable_disease_warning=read.text(labels, "labels", "communicable_disease_warning"),
        timezone=timezone,
        reactive_test_warning=reactive,
        statement_set=chosen,
        statement_sets=sets,
    )
