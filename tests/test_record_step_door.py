"""The generic recording door (``steps.record_step``) records only kinds whose entry is all
they write: a freeze (vials), a thaw (vials taken from stock), a fucosylation (its time is its
incubation's end) or a fill (the bag and its cell-dose result) through it would leave the
record without what the kind's own command writes (issue 11). On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from cellbatch.domain.errors import RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import steps
from tests.lab import snapshot


@pytest.mark.requirement("GMP-08")
def test_a_fill_through_the_generic_door_is_refused(demo_db):
    db = demo_db
    before = snapshot(db)
    with pytest.raises(RuleViolation, match=r"a fill is recorded by its own command"):
        steps.record_step(
            db, authenticate(db, "tech1", "demo-tech1-pass"), "FUC-D001", "fill",
            inputs={"volume": "10 mL", "viable_cells": "40e6 cells"},
            materials=["SAL-HSA-0915"],
        )  # fmt: skip
    assert snapshot(db) == before
