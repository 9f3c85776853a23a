"""A freeze corrected after its vials were made (issue 11, inventory follows a correction):
the vials carry the corrected cells and volume per vial and the corrected storage place; the
number of vials is not corrected (they exist, labelled and stored). On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cellbatch.db.tables import Batch, Vial
from cellbatch.domain.errors import InvalidInput
from cellbatch.services.commands import batches, corrections, steps
from cellbatch.services.queries.batch_view import batch_view
from tests.lab import HARVEST_LOTS, SEED_LOTS, ago, make_lab, snapshot


@pytest.fixture
def frozen(db):
    """An eASC bank grown P0-P3 and frozen into 3 vials, not released: (lab, freeze entry)."""
    lab = make_lab(db)
    batches.start_expansion(
        db, lab.tech1, "BANK-F", lot_number="TL-A", sop_id="SOP-EASC-EXP", at=ago(days=39)
    )
    for p in range(4):
        day = 38 - p * 7
        steps.seed(
            db, lab.tech1, "BANK-F", vessel="CS2", vessels=1, cells="3.0e6 cells",
            materials=SEED_LOTS, at=ago(days=day),
        )  # fmt: skip
        steps.harvest(
            db, lab.tech1, "BANK-F", total_cells="1.6e8 cells", viability="95 %",
            confluence="80 %", materials=HARVEST_LOTS, at=ago(days=day - 6),
        )  # fmt: skip
    entry = steps.freeze(
        db, lab.tech1, "BANK-F", vials=3, cells_per_vial="50e6 cells", volume_per_vial="1.5 mL",
        cryoprotectant="CRYO-1", location="Tank 1 / Box 1", first_position=4, at=ago(days=10),
    )  # fmt: skip
    return lab, entry


def vials(db) -> list[tuple[int, str, float, float]]:
    with db.session() as session:
        rows = session.execute(
            select(Vial).join(Batch, Vial.batch_id == Batch.id).where(Batch.code == "BANK-F")
        ).scalars()
        return sorted((v.number, v.location, v.viable_cells, v.volume_ml) for v in rows)


def fix(lab, entry: int, field: str, value: str, was: str) -> None:
    corrections.correct(
        lab.db, lab.tech1, "BANK-F", f"E{entry}", field=field, value=value, was=was,
        reason="typed wrong at the bench",
    )  # fmt: skip


@pytest.mark.requirement("GMP-06")
def test_the_vials_carry_a_corrected_cells_and_volume_per_vial(frozen):
    lab, entry = frozen
    fix(lab, entry, "cells_per_vial", "45e6 cells", "50e6 cells")
    fix(lab, entry, "volume_per_vial", "1.2 mL", "1.5 mL")
    assert [(n, c, v) for n, _where, c, v in vials(lab.db)] == [
        (1, 45e6, 1.2),
        (2, 45e6, 1.2),
        (3, 45e6, 1.2),
    ]
    shown = batch_view(lab.db, "BANK-F").to_dict()["vials"]
    assert {v["viable_cells"]["value"] for v in shown} == {45e6}


@pytest.mark.requirement("GMP-06")
def test_the_vials_move_with_a_corrected_storage_place_keeping_their_positions(frozen):
    lab, entry = frozen
    fix(lab, entry, "location", "Tank 2 / Box 7", "Tank 1 / Box 1")
    assert [where for _n, where, _c, _v in vials(lab.db)] == [
        "Tank 2 / Box 7 / position 4",
        "Tank 2 / Box 7 / position 5",
        "Tank 2 / Box 7 / position 6",
    ]


@pytest.mark.requirement("GMP-06")
def test_the_number_of_vials_frozen_is_not_corrected(frozen):
    lab, entry = frozen
    before = snapshot(lab.db)
    with pytest.raises(InvalidInput) as refused:
        fix(lab, entry, "vials", "2", "3")
    assert refused.value.field == "--field"
    assert "vials" not in refused.value.message.split("expected one of ")[1].split(" for ")[0]
    assert snapshot(lab.db) == before
    assert len(vials(lab.db)) == 3
