"""Recipients: the pseudonymous ID, trial and cohort, body weight, and identifying data.

The recipient ID is the only name of a patient the cleanroom ever sees: it is checked against
one narrow pattern (``EB-P001``: the trial's letters, ``-P`` and three digits), so a typo such
as ``EB-P01`` is refused as it is typed, and a well-formed ID must also be registered. The
identifying data (name, date of birth, hospital number) are checked here and kept apart
(``RecipientIdentity``), for the clinic and QA only.
"""

from __future__ import annotations

import re
from datetime import date

from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.text import MAX_NAME, IdentifierRule, typed_text

MAX_RECIPIENT_ID = 14
"""Longest recipient ID: 8 letters, ``-P``, 3 digits, with room to spare."""

RECIPIENT_ID = IdentifierRule(
    "a pseudonymous recipient ID",
    re.compile(r"[A-Z]{2,8}-P[0-9]{3}"),
    MAX_RECIPIENT_ID,
    "the trial's 2–8 capital letters, '-P' and exactly 3 digits, e.g. EB-P001",
    upper=True,
)
"""A recipient's pseudonymous ID: ``RA-P001``, ``EB-P001``."""

MAX_HOSPITAL_NUMBER = 20
"""Longest hospital (medical record) number."""

HOSPITAL_NUMBER = IdentifierRule(
    "the hospital number",
    re.compile(r"[A-Z0-9][A-Z0-9-]*"),
    MAX_HOSPITAL_NUMBER,
    f"1–{MAX_HOSPITAL_NUMBER} capital letters, digits or '-'",
    upper=True,
)
"""The hospital's number of the patient, as on the wristband's hospital barcode."""

MIN_BODY_WEIGHT_KG = 0.5
MAX_BODY_WEIGHT_KG = 400.0


def recipient_id(text: str | None, field: str = "RECIPIENT") -> str:
    """A recipient ID as kept (capitals), else InvalidInput naming ``field``."""
    return RECIPIENT_ID.check(text, field)


def body_weight(kg: float, field: str = "--weight") -> float:
    """A plausible body weight in kg (0.5 to 400 kg), else InvalidInput naming ``field``."""
    if not MIN_BODY_WEIGHT_KG <= kg <= MAX_BODY_WEIGHT_KG:
        raise InvalidInput(
            field,
            f"expected a body weight between {MIN_BODY_WEIGHT_KG:g} and "
            f"{MAX_BODY_WEIGHT_KG:g} kg, got {kg:g} kg",
        )
    return kg


def cohort(number: int, field: str = "--cohort") -> int:
    """A cohort number (1 to 99)."""
    if not 1 <= number <= 99:
        raise InvalidInput(field, f"expected a cohort number from 1 to 99, got {number}")
    return number


def not_future(day: date, today: date, field: str, what: str) -> date:
    """A date that is not after ``today`` (a weighing, a birth)."""
    if day > today:
        raise InvalidInput(field, f"expected {what} on or before today ({today}), got {day}")
    return day


def patient_name(text: str | None, field: str = "--name") -> str:
    """The patient's full name as the hospital writes it (one line)."""
    return typed_text(text, field, what="the patient's full name", limit=MAX_NAME, one_line=True)


def birth_date(day: date, today: date, field: str = "--born") -> date:
    """A date of birth: not in the future, not before 1900."""
    if day.year < 1900:
        raise InvalidInput(field, f"expected a date of birth from 1900 on, got {day}")
    return not_future(day, today, field, "a date of birth")
