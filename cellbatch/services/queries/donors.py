"""Reading donors (with their marker results) and material lots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import Donor, DonorTest, MaterialLot
from cellbatch.domain.errors import NotFound
from cellbatch.domain.timeparse import iso_utc
from cellbatch.services.queries.plain import Plain


@dataclass(frozen=True)
class MarkerResult(Plain):
    """One infectious-disease marker result on file for a donor."""

    marker: str
    result: str
    """``negative`` or ``reactive``."""
    sampled: str
    """The sample's date, ISO (``2026-03-01``)."""


@dataclass(frozen=True)
class DonorView(Plain):
    """A donor as shown: code, relationship, eligibility and marker results."""

    code: str
    relationship: str
    sex: str
    birth_year: int
    eligibility: str
    tests: tuple[MarkerResult, ...]
    """The marker results on file, in the order recorded."""


def reactive_markers(session: Session, donor: Donor) -> list[str]:
    """The markers for which the donor has a reactive result on file (sorted, each once)."""
    found = session.execute(
        select(DonorTest.marker).where(
            DonorTest.donor_id == donor.id, DonorTest.result == "reactive"
        )
    ).scalars()
    return sorted(set(found))


def donor_view(db: Database, code: str) -> DonorView:
    """A donor with its marker results."""
    with db.session() as session:
        donor = session.execute(
            select(Donor).where(Donor.code == code.strip().upper())
        ).scalar_one_or_none()
        if donor is None:
            raise NotFound(f"no donor {code.strip()!r}")
        tests = session.execute(
            select(DonorTest).where(DonorTest.donor_id == donor.id).order_by(DonorTest.id)
        ).scalars()
        return DonorView(
            donor.code,
            donor.relationship,
            donor.sex,
            donor.birth_year,
            donor.eligibility,
            tuple(MarkerResult(t.marker, t.result, t.sampled_on.isoformat()) for t in tests),
        )


def list_materials(db: Database) -> list[dict[str, Any]]:
    """Every material lot with kind, name and expiry."""
    with db.session() as session:
        return [
            {
                "lot": m.lot_number,
                "kind": m.kind,
                "name": m.name,
                "expires": m.expires_on.isoformat(),
                "recorded_at": iso_utc(m.recorded_at),
            }
            for m in session.execute(select(MaterialLot).order_by(MaterialLot.expires_on)).scalars()
        ]
