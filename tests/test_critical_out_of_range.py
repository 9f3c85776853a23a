"""A critical measured value outside its SOP range, where the SOP names no on_out_of_range,
is recorded with a deviation that release needs closed, never only flagged (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches, steps
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.review import review


def who(db, name: str):
    return authenticate(db, name, f"demo-{name}-pass")


def ago(hours: float = 0) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def unmet(db, code: str) -> dict[str, str]:
    return {c["id"]: c["detail"] for c in review(db, code).to_dict()["checklist"] if not c["met"]}


@pytest.mark.requirement("GMP-08")
def test_a_critical_viability_the_sop_says_nothing_about_needs_a_deviation(demo_db):
    """SOP-EASC-DOSE 1.1 names no on_out_of_range: its critical viability is not only flagged."""
    db = demo_db
    tech1 = who(db, "tech1")
    batches.start_dose(
        db, tech1, "EASC-D009", parent="EASC-B001", sop_id="SOP-EASC-DOSE", recipient="RA-P001",
        weight="70 kg", dose="2 x 10^6 cells/kg", infusion=2, at=ago(hours=2),
    )  # fmt: skip
    entry = steps.thaw(
        db, tech1, "EASC-D009", vials=3, total_cells="1.6e8 cells", viability="65 %",
        materials=["DPBS-88812"], at=ago(hours=1),
    )  # fmt: skip
    (dev,) = batch_view(db, "EASC-D009").to_dict()["deviations"]
    assert dev["status"] == "open" and f"E{entry}" in dev["description"]
    assert "Viability after thaw 65 %" in dev["title"]
    assert "no-open-deviation" in unmet(db, "EASC-D009")
