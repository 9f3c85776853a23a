"""Adverse-event reports: the rules of their follow-up, one place for every door.

A report (AE<n>) is opened by the program when a recipient may have been harmed (a failing
result after infusion). The clinic or QA then *assesses* it: the severity grade (1 to 5, as
CTCAE grades), how related to the product it is, the action taken and the named physician who
was told, and when. An assessment may be revised (with a reason) until the report is closed.
QA *closes* it with a re-authenticated signature (meaning ``approved``), as QA closes a
deviation: only an assessed report, by a QA officer who did not write its assessment. A closed
report is never changed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cellbatch.domain.errors import InvalidInput, PermissionDenied, RuleViolation
from cellbatch.domain.refs import record_number
from cellbatch.domain.text import MAX_NAME, typed_text
from cellbatch.domain.timeparse import as_utc

GRADES = (1, 2, 3, 4, 5)
"""Severity grades (CTCAE: 1 mild, 2 moderate, 3 severe, 4 life-threatening, 5 death)."""

GRADE_WORDS = {1: "mild", 2: "moderate", 3: "severe", 4: "life-threatening", 5: "death"}
"""What each grade means, as shown beside it."""

RELATEDNESS = ("not related", "unlikely", "possible", "probable", "definite")
"""How related to the product the event is judged (the usual causality scale)."""

STATUSES = ("open", "closed")
"""A report is open (on the clinic's and QA's home screens) until QA closes it."""

ASSESSMENT_FIELDS = (
    "severity_grade",
    "relatedness",
    "action_taken",
    "physician_notified",
    "physician_notified_at",
)
"""The columns an assessment writes (each one audited with its reason)."""

OPTION_OF = {
    "severity_grade": "--grade",
    "relatedness": "--relatedness",
    "action_taken": "--action",
    "physician_notified": "--physician",
    "physician_notified_at": "--notified-at",
}
"""The option (and form field) that gives each assessed value."""


@dataclass(frozen=True)
class Assessment:
    """A checked assessment of a report, ready to be written."""

    severity_grade: int
    relatedness: str
    action_taken: str
    physician_notified: str
    physician_notified_at: datetime

    def values(self) -> dict[str, object]:
        """The assessed values by column."""
        return {name: getattr(self, name) for name in ASSESSMENT_FIELDS}


def parse_report_ref(ref: str) -> int:
    """``AE3`` or ``3`` as the report's id, refused naming ``REPORT-ID``."""
    found = record_number(ref, ("AE", ""), "adverse-event report")
    if found is None:
        raise InvalidInput("REPORT-ID", f"expected AE<number>, got {ref.strip()[:20]!r}")
    return found[1]


def grade(value: int | str | None) -> int:
    """A severity grade 1–5, refused naming ``--grade``."""
    text = "" if value is None else str(value).strip()
    if not text.isdigit() or int(text) not in GRADES:
        shown = text[:20] if text else "nothing"
        raise InvalidInput(
            "--grade",
            "expected a severity grade from 1 to 5 (1 mild, 2 moderate, 3 severe, "
            f"4 life-threatening, 5 death), got {shown!r}",
        )
    return int(text)


def relatedness(value: str | None) -> str:
    """One of :data:`RELATEDNESS` (case and hyphens forgiven), refused naming ``--relatedness``."""
    text = " ".join((value or "").replace("-", " ").lower().split())
    if text not in RELATEDNESS:
        raise InvalidInput(
            "--relatedness",
            f"expected one of {', '.join(RELATEDNESS)}, got {(value or '').strip()[:40]!r}",
        )
    return text


def assess(
    *,
    severity_grade: int | str | None,
    related: str | None,
    action_taken: str | None,
    physician: str | None,
    notified_at: datetime | None,
    opened_at: datetime,
    now: datetime,
) -> Assessment:
    """Check an assessment: every part is required; the physician told after the report opened.

    Refusals name the option (the form names its field from it) and what was expected.
    """
    checked_grade = grade(severity_grade)
    checked_related = relatedness(related)
    if not (action_taken or "").strip():
        raise InvalidInput("--action", "expected the action taken (e.g. 'antibiotics started')")
    action = typed_text(action_taken, "--action", what="the action taken")
    if not (physician or "").strip():
        raise InvalidInput("--physician", "expected the name of the physician who was told")
    name = typed_text(
        physician, "--physician", what="the physician's name", limit=MAX_NAME, one_line=True
    )
    if notified_at is None:
        raise InvalidInput(
            "--notified-at", "expected when the physician was told (YYYY-MM-DD HH:MM)"
        )
    told = as_utc(notified_at)
    if told > as_utc(now):
        raise InvalidInput(
            "--notified-at", f"expected a time not in the future, got {told:%Y-%m-%d %H:%M} UTC"
        )
    if told < as_utc(opened_at).replace(second=0, microsecond=0):  # typed to the minute
        raise InvalidInput(
            "--notified-at",
            f"expected a time after the report was opened ({as_utc(opened_at):%Y-%m-%d %H:%M} "
            f"UTC), got {told:%Y-%m-%d %H:%M} UTC",
        )
    return Assessment(checked_grade, checked_related, action, name, told)


def ensure_open(ref: str, status: str) -> None:
    """A closed report is never changed again."""
    if status == "closed":
        raise RuleViolation(f"{ref} is closed: it cannot be changed any more")


def ensure_closable(
    ref: str, *, status: str, assessed: bool, by_assessor: bool, signer: str
) -> None:
    """Closing needs an open, assessed report and a QA officer who did not assess it."""
    ensure_open(ref, status)
    if not assessed:
        raise RuleViolation(
            f"{ref} cannot be closed before it is assessed (cellbatch adverse-event assess: "
            "grade, relatedness, action taken, physician told)"
        )
    if by_assessor:
        raise PermissionDenied(
            f"{signer} assessed {ref}: the report is closed by another QA officer, who did not "
            "write its assessment"
        )
