"""The audit trail as a reviewer reads it: names, references and units, not database ids.

An audit entry stores what the database holds: a created row's content as JSON
(``"material_lot_id": 3``, ``"recorded_by": 2``, ``"viable_cells": "3800000.0"``) and a changed
column's old and new value. The record's appendix shows each entry in the words the rest of the
record uses: the lot number, the person's printed name and user ID, ``vial 5 of EASC-B001``,
``E12`` and ``Q3``, and every quantity in the unit technicians use. The reference a column
holds is read from the table's foreign keys; a number's measure from the SOP (a step's
parameter, a QC test), the domain's parameter measures, or the column's own
:func:`~cellbatch.db.tables.measure`. The raw entry stays in the JSON export.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, SQLModel

from cellbatch import isbt128, units
from cellbatch.db.tables import (
    AUDITED_TABLES,
    Bag,
    Batch,
    Correction,
    Donor,
    LabelEvent,
    MaterialLot,
    MaterialUse,
    QcResult,
    ReleaseDecision,
    Signature,
    SiteSettingsVersion,
    SopVersion,
    StepEntry,
    TissueLot,
    User,
    Vial,
)
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.sop import Sop
from cellbatch.services.queries.audit import AuditRecord
from cellbatch.services.queries.shown_values import measure_of, shown_time, shown_value

__all__ = ["ReadableEntry", "readable_trail"]

_REFS = {
    "step_entry": "E",
    "qc_result": "Q",
    "deviation": "D",
    "printed_label": "L",
    "product_hold": "H",
}
"""Tables whose rows the record itself names by a letter and the id (E12, Q3, D1, L4, H2)."""

_ORDINALS = {
    "passage": "P{}",
    "infusion_number": "infusion {}",
    "infusion_day": "day {}",
    "content_version": "v{}",
    "attempt": "attempt {}",  # a dose made again for an infusion not given: 1, 2, …
}
"""Whole numbers that are a place in a sequence, as the record writes them."""

_COUNTED = {"copies": ("copy", "copies")}
"""Whole numbers that count things, with the thing's name (singular, plural)."""

_SKIPPED = frozenset({"id"})
"""Content keys not shown: the row itself is named in the entry's Record column."""


@dataclass(frozen=True)
class ReadableEntry:
    """One audit entry in the words of the record."""

    seq: int
    at: str
    who: str
    """``Full Name (user ID)``."""
    action: str
    record: str
    """What the entry is about: ``E12 (seed)``, ``vial 5 of EASC-B001``, ``batch EASC-B001``."""
    field: str | None
    """The changed column, in words."""
    old: str | None
    new: str | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def _words(name: str) -> str:
    """A column name in words: ``material_lot_id`` → ``material lot``, ``value_num`` → ``value``.

    A unit symbol at the end of the name (``volume_ml``, ``body_weight_kg``; not ``dose_per_kg``)
    is left out: the value is shown with its unit.
    """
    stem, _sep, last = name.rpartition("_")
    symbol = len(last) <= 3 and not stem.endswith("per") and _is_unit(last)
    if stem and (last in ("id", "num") or symbol):
        name = stem
    return name.replace("_", " ")


def _is_unit(word: str) -> bool:
    """Whether ``word`` names a unit of a measure cellbatch knows (``ml``, ``kg``)."""
    try:
        units.measure_for_unit(word)
    except Exception:  # noqa: BLE001 (any refusal of pint's or ours: not a unit)
        return False
    return True


class _Names:
    """The printed name of any row an entry refers to, read once per table."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[tuple[str, int], str] = {}

    def load(self, wanted: Iterable[tuple[str, int]]) -> None:
        by_table: dict[str, set[int]] = {}
        for table, row_id in wanted:
            if (table, row_id) not in self.cache:
                by_table.setdefault(table, set()).add(row_id)
        for table, ids in by_table.items():
            loader = _LOADERS.get(table)
            if loader is not None:
                self.cache.update(((table, i), name) for i, name in loader(self.session, ids))

    def of(self, table: str, row_id: Any) -> str:
        """The row's name; the table in words (never its bare id) when it cannot be named."""
        try:
            number = int(row_id)
        except (TypeError, ValueError):
            return str(row_id)
        if table in _REFS:
            return f"{_REFS[table]}{number}"
        return self.cache.get((table, number), _words(table))


_Loader = Callable[[Session, set[int]], list[tuple[int, str]]]
"""Reads the names of many rows of one table at once: (id, name) pairs."""


def _named(model: Any, *columns: Any, template: str = "{}", of_batch: bool = False) -> _Loader:
    """A loader naming each row by ``template`` filled with ``columns`` (and its batch's code)."""

    def load(session: Session, ids: set[int]) -> list[tuple[int, str]]:
        query = select(model.id, *columns)
        if of_batch:
            query = query.add_columns(Batch.code).join(Batch, Batch.id == model.batch_id)
        rows = session.execute(query.where(model.id.in_(ids))).all()
        return [(row[0], template.format(*row[1:])) for row in rows]

    return load


_LOADERS: dict[str, _Loader] = {
    "app_user": _named(User, User.full_name, User.username, template="{} ({})"),
    "batch": _named(Batch, Batch.code),
    "material_lot": _named(MaterialLot, MaterialLot.lot_number),
    "tissue_lot": _named(TissueLot, TissueLot.lot_number),
    "donor": _named(Donor, Donor.code),
    "sop_version": _named(SopVersion, SopVersion.sop_id, SopVersion.version, template="{} v{}"),
    "site_settings": _named(
        SiteSettingsVersion, SiteSettingsVersion.version, template="site settings v{}"
    ),
    "vial": _named(Vial, Vial.number, template="vial {} of {}", of_batch=True),
    "bag": _named(Bag, Bag.number, template="bag {} of {}", of_batch=True),
    "release_decision": _named(
        ReleaseDecision, ReleaseDecision.decision, template="{} decision on {}", of_batch=True
    ),
    "label_event": _named(LabelEvent, LabelEvent.action, template="label {} of {}", of_batch=True),
    "material_use": lambda session, ids: [
        (i, f"lot {lot} used in E{entry}")
        for i, lot, entry in session.execute(
            select(MaterialUse.id, MaterialLot.lot_number, MaterialUse.step_entry_id)
            .join(MaterialLot, MaterialLot.id == MaterialUse.material_lot_id)
            .where(MaterialUse.id.in_(ids))
        )
    ],
    "signature": lambda session, ids: _signature_names(session, ids),
    "correction": lambda session, ids: [
        (i, f"correction of {_REFS[entity]}{entity_id} {field}")
        for i, entity, entity_id, field in session.execute(
            select(Correction.id, Correction.entity, Correction.entity_id, Correction.field).where(
                Correction.id.in_(ids)
            )
        )  # fmt: skip
    ],
}
"""How each kind of row is named, read for many rows at once."""


def _signature_names(session: Session, ids: set[int]) -> list[tuple[int, str]]:
    """Each signature by its meaning, signer and the record signed.

    The signed record is named as the record names it (``of batch EASC-B001``, ``of E12``),
    never by its row's id.
    """
    rows = session.execute(
        select(
            Signature.id, Signature.meaning, Signature.signer_name, Signature.entity,
            Signature.entity_id,
        ).where(Signature.id.in_(ids))
    ).all()  # fmt: skip
    signed = _Names(session)
    signed.load(
        (entity, number) for *_r, entity, e_id in rows if (number := _int(e_id)) is not None
    )
    out = []
    for i, meaning, name, entity, entity_id in rows:
        what = signed.of(entity, entity_id)
        what = f"batch {what}" if entity == "batch" else what
        out.append((i, f"signature ({meaning}) by {name} of {what}"))
    return out


def _references(entity: str) -> dict[str, str]:
    """Column → the table its value refers to (the table's foreign keys).

    Any table written to the trail, audited or not (a dose attempt's batch is named too).
    """
    table = SQLModel.metadata.tables.get(entity)
    if table is None:
        return {}
    return {
        column.name: next(iter(column.foreign_keys)).column.table.name
        for column in table.columns
        if column.foreign_keys
    }


def _column_measure(entity: str, name: str) -> units.Measure | None:
    """The measure a column's number is stored in, as the column declares it."""
    model = AUDITED_TABLES.get(entity)
    if model is None or name not in model.__table__.columns:  # type: ignore[attr-defined]
        return None
    key = model.__table__.columns[name].info.get("measure")  # type: ignore[attr-defined]
    return units.MEASURES[key] if key else None


class _Reader:
    """Turns stored values into the record's words, for the entries of one batch."""

    def __init__(self, names: _Names, sop: Sop | None) -> None:
        self.names, self.sop = names, sop

    def wanted(self, entry: AuditRecord) -> list[tuple[str, int]]:
        """The rows an entry names (itself, what it refers to), to be read in one go."""
        out = [(entry.entity, _int(entry.entity_id))]
        refs = _references(entry.entity)
        content = _json(entry.new_value) if entry.action == "create" else None
        if isinstance(content, dict):
            out += [(refs[k], _int(v)) for k, v in content.items() if k in refs and v is not None]
            if "entity" in content and "entity_id" in content:
                out.append((content["entity"], _int(content["entity_id"])))
        if entry.field in refs:
            for value in (entry.old_value, entry.new_value):
                if value not in (None, "None"):
                    out.append((refs[entry.field], _int(value)))
        return [(t, i) for t, i in out if i is not None]

    def record(self, entry: AuditRecord) -> str:
        """What the entry is about, in words."""
        name = self.names.of(entry.entity, entry.entity_id)
        if entry.entity == "batch":
            return f"batch {name}"
        if entry.entity in _REFS:
            return f"{_words(entry.entity)} {name}"
        return name

    def value(
        self, entry: AuditRecord, text: str | None, *, step_kind: str | None, qc_id: str | None
    ) -> str | None:
        """A stored old or new value in words (``step_kind``, ``qc_id``: of the entry's row)."""
        if text is None:
            return None
        content = _json(text)
        if entry.field is None and isinstance(content, dict):
            return self.content(entry.entity, content)
        if entry.field == "values" and isinstance(content, dict):
            return self.step_values(content, step_kind)
        if entry.field is None:
            return text
        if entry.field.startswith("values."):  # one step value corrected, as fmt_plain wrote it
            return shown_value(text, measure_of(self.sop, step_kind, entry.field[7:]))
        return self.scalar(entry.entity, entry.field, text, {"qc_id": qc_id}, step_kind)

    def content(self, entity: str, content: dict[str, Any]) -> str:
        """A created row's content, field by field: ``key: value; …`` (empty fields left out)."""
        parts = []
        for key, value in content.items():
            if key in _SKIPPED or value is None or key.endswith("_unit") or key == "unit":
                continue
            if key == "entity" and "entity_id" in content:
                continue
            if key == "entity_id" and "entity" in content:
                parts.append(f"of: {self.names.of(content['entity'], value)}")
                continue
            if key == "values" and isinstance(value, dict):
                parts.append(self.step_values(value, content.get("kind")))
                continue
            shown = self.scalar(entity, key, value, content, content.get("kind"))
            parts.append(f"{_words(key)}: {shown}")
        return "; ".join(part for part in parts if part)

    def step_values(self, values: dict[str, Any], step_kind: str | None) -> str:
        """A step entry's recorded values, each with its unit (from the batch's SOP)."""
        parts = []
        for key, value in values.items():
            if key in ("start", "end") and isinstance(value, str):
                parts.append(f"{_words(key)}: {shown_time(value)}")
            elif key == "vial_numbers" and isinstance(value, list):
                parts.append(f"vials: {', '.join(str(v) for v in value)}")
            elif isinstance(value, list):
                parts.append(f"{_words(key)}: {', '.join(str(v) for v in value)}")
            else:
                measure = measure_of(self.sop, step_kind, key)
                parts.append(f"{_words(key)}: {shown_value(value, measure)}")
        return "; ".join(parts)

    def scalar(
        self, entity: str, key: str, value: Any, content: dict[str, Any], step_kind: str | None
    ) -> str:
        """One column's value: a reference named, a time in UTC, a number with its unit."""
        if value is None or value == "None":
            return "—"
        refs = _references(entity)
        if key in refs:
            return self.names.of(refs[key], value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        if key in _ORDINALS and _int(value) is not None:
            return _ORDINALS[key].format(value)
        if key in _COUNTED and _int(value) is not None:
            one, many = _COUNTED[key]
            return f"{value} {one if _int(value) == 1 else many}"
        if isinstance(value, list | dict):  # a JSON column (a kept checklist)
            return _nested(value)
        if key == "flags" and isinstance(value, str):  # ISBT 128 flag characters: a code
            return _flags(value)
        nested = _json(value) if isinstance(value, str) and value.startswith("{") else None
        if isinstance(nested, dict):  # a column holding JSON (a label's barcodes): in words
            return _nested(nested)
        if isinstance(value, str) and _looks_like_time(value):
            return shown_time(value)
        if key == "number" and entity in ("vial", "bag"):
            return f"{entity} {value}"
        if key == "value_num":
            test = self._qc_measure(content)
            return shown_value(value, test)
        if key == "amount" and content.get("amount_unit"):
            return f"{float(value):g} {content['amount_unit']}"
        measure = _column_measure(entity, key) or measure_of(self.sop, step_kind, key)
        return shown_value(value, measure) if measure else str(value)

    def _qc_measure(self, content: dict[str, Any]) -> units.Measure | None:
        if self.sop is not None:
            test = next((t for t in self.sop.qc if t.id == content.get("qc_id")), None)
            if test is not None:
                return test.measure
        unit = content.get("unit")
        return units.measure_for_unit(unit) if unit else None


def _nested(value: Any) -> str:
    """A value inside a column holding JSON, in words: ``key value, …``, lists joined."""
    if isinstance(value, dict):
        return ", ".join(f"{_words(k)} {_nested(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return "(" + "; ".join(_nested(v) for v in value) + ")" if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value):  # a kind: product_code
        return _words(value)
    return "—" if value is None else str(value)


_IDENTIFIER = re.compile(r"[a-z]+(_[a-z]+)+")
"""A program's name for a kind of thing (``product_code``), shown in words."""


def _flags(flags: str) -> str:
    """A DIN's flag characters with their meaning: ``05 (reprint)``."""
    try:
        return f"{flags} ({isbt128.flag_meaning(flags)})"
    except InvalidInput:
        return f"{flags} (flag characters)"


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _looks_like_time(text: str) -> bool:
    """``2026-10-03T13:17:38.565670`` or ``…Z``: a stored time, not free text."""
    return len(text) >= 19 and text[4] == "-" and text[10] == "T" and text[13] == ":"


def readable_trail(
    session: Session, entries: list[AuditRecord], sop: Sop | None
) -> list[ReadableEntry]:
    """The entries of one batch's trail in the words of its record (``sop``: the batch's)."""
    names = _Names(session)
    reader = _Reader(names, sop)
    names.load(pair for entry in entries for pair in reader.wanted(entry))
    users = _users_by_name(session, entries)
    step_ids = [_int(e.entity_id) for e in entries if e.entity == "step_entry"]
    kinds = dict(
        session.execute(
            select(StepEntry.id, StepEntry.kind).where(StepEntry.id.in_(step_ids or [-1]))
        ).all()
    )
    qc_ids = [_int(e.entity_id) for e in entries if e.entity == "qc_result"]
    tests = dict(
        session.execute(
            select(QcResult.id, QcResult.qc_id).where(QcResult.id.in_(qc_ids or [-1]))
        ).all()
    )
    out = []
    for entry in entries:
        row_id = _int(entry.entity_id)
        kind = kinds.get(row_id) if entry.entity == "step_entry" else None
        test = tests.get(row_id) if entry.entity == "qc_result" else None
        out.append(
            ReadableEntry(
                seq=entry.seq,
                at=entry.at,
                who=users.get(entry.username, entry.username),
                action=entry.action,
                record=reader.record(entry),
                field=_words(entry.field.removeprefix("values.")) if entry.field else None,
                old=reader.value(entry, entry.old_value, step_kind=kind, qc_id=test),
                new=_label_mark(entry, users)
                or reader.value(entry, entry.new_value, step_kind=kind, qc_id=test),
                reason=entry.reason,
            )
        )
    return out


_MARK = re.compile(r"^(applied|destroyed) (\S+) by (\S+)$")
"""A label applied or destroyed, as stored: ``applied 2026-12-02T14:41:38Z by tech2``."""


def _label_mark(entry: AuditRecord, users: dict[str, str]) -> str | None:
    """A label applied or destroyed, in words: the time in UTC and the person's printed name."""
    if entry.entity != "printed_label" or entry.new_value is None:
        return None
    found = _MARK.match(entry.new_value)
    if found is None:
        return None
    what, at, user = found.groups()
    return f"{what} {shown_time(at)} by {users.get(user, user)}"


def _users_by_name(session: Session, entries: list[AuditRecord]) -> dict[str, str]:
    """``Full Name (user ID)`` of each user ID that wrote an entry."""
    usernames = {e.username for e in entries}
    rows = session.execute(
        select(User.username, User.full_name).where(User.username.in_(usernames or {""}))
    )
    return {user: f"{name} ({user})" for user, name in rows}
