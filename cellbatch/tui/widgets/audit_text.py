"""An audit entry as people read it: what was done to which record, old → new, and why.

The audit trail stores each change as the service wrote it (a row as JSON, a column's old and
new value). On screen that reads as words: ``created step entry E19 (thaw)`` and its values
one per line, lists as ``1, 2, 3``, times without their microseconds, and none of the
database's internal numbers (row ids, user ids), which mean nothing to a reader. The printed
record and ``cellbatch audit show`` keep every stored value exactly.
"""

from __future__ import annotations

import json
from typing import Any

MAX_VALUE = 240
"""Longest single value shown in full on screen."""

REFS = {"step_entry": "E", "qc_result": "Q", "deviation": "D", "correction": "C"}
"""Records people know by a lettered number."""

HIDDEN = {"id", "recorded_by", "recorded_at", "password_hash", "content_json"}
"""Stored columns that are the database's bookkeeping (the user and time head the entry)."""

VERBS = {"create": "created", "update": "changed", "delete": "deleted"}


def words(name: str) -> str:
    """``thaw_entry_id`` → ``thaw entry``; ``vial_numbers`` → ``vial numbers``."""
    return name.removesuffix("_id").replace("_", " ")


def record_name(entity: str, entity_id: str | None, row: dict[str, Any] | None = None) -> str:
    """``step entry E19 (thaw)``, ``batch FUC-D001``, ``vial``."""
    name = words(entity)
    if entity in REFS and entity_id:
        name += f" {REFS[entity]}{entity_id}"
    elif row and row.get("code"):
        name += f" {row['code']}"
    elif row and row.get("username"):
        name += f" {row['username']}"
    elif row and row.get("number") is not None:
        name += f" {row['number']}"
    kind = (row or {}).get("kind") or (row or {}).get("name") or (row or {}).get("role")
    return f"{name} ({kind})" if kind else name


def value_text(value: Any, key: str = "") -> str:
    """One stored value as read: lists joined, times shortened, entry ids as E-numbers."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{words(k)} {value_text(v, k)}" for k, v in value.items())
    text = str(value)
    if key.endswith("entry_id") and text.isdigit():
        return f"E{text}"
    if len(text) >= 19 and text[4] == "-" and text[10] == "T":  # an ISO time
        return text[:16].replace("T", " ")
    if text.endswith(".0") and text[:-2].lstrip("-").isdigit():
        return text[:-2]
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _row(text: str | None) -> dict[str, Any] | None:
    if not text or not text.startswith("{"):
        return None
    try:
        row = json.loads(text)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def _shown(key: str, value: Any) -> bool:
    if value is None or key in HIDDEN or key.endswith("_id"):
        return False
    return not (key.endswith("_by") and isinstance(value, int))  # a user's internal number


def audit_lines(entry: Any) -> list[str]:
    """The entry as lines: the action on its record, then its values or old → new, the reason."""
    new_row, old_row = _row(entry.new_value), _row(entry.old_value)
    verb = VERBS.get(entry.action, entry.action)
    lines = [f"{verb} {record_name(entry.entity, entry.entity_id, new_row or old_row)}"]
    if entry.field:
        if entry.field.endswith("_id") and not entry.field.endswith("entry_id"):
            lines.append(f"{words(entry.field)} set")  # a link between records
        else:
            old = value_text(old_row if old_row is not None else entry.old_value, entry.field)
            new = value_text(new_row if new_row is not None else entry.new_value, entry.field)
            lines.append(f"{words(entry.field)}: {old} → {new}")
    else:
        for row in (new_row, old_row):
            if row is None:
                continue
            values = row.pop("values", None)
            shown = [f"{words(k)}: {value_text(v, k)}" for k, v in row.items() if _shown(k, v)]
            if isinstance(values, dict):
                shown += [f"{words(k)}: {value_text(v, k)}" for k, v in values.items()]
            lines.append(" · ".join(shown))
            break
        else:
            text = entry.new_value or entry.old_value
            if text:
                lines.append(value_text(text))
    if entry.reason:
        lines.append(f"reason: {entry.reason}")
    return [line for line in lines if line]
