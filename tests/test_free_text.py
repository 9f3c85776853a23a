"""Every free-text field of every write goes through the one text rule; identifiers through
their narrow pattern (issue 10 point 10): a refusal names the field and changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import corrections, deviations, donors, qc, steps
from cellbatch.services.commands.batches import start_expansion
from cellbatch.services.queries.deviations import list_deviations
from tests.lab import snapshot

ESCAPE = "ok\x1b[2J\x1b[1;1Hall clear"
"""A text that clears a reviewer's terminal and writes over it."""
LONG = "x" * 10_000


def ago(days: float = 0, hours: float = 0) -> datetime:
    return datetime.now(UTC) - timedelta(days=days, hours=hours)


def bank_at_freeze(db, code: str) -> int:
    """A BM-MSC bank grown P0–P2 from the demo's marrow lot, its freeze still to come.

    Returns the id of its first seed entry.
    """
    tech2 = authenticate(db, "tech2", "demo-tech2-pass")
    start_expansion(db, tech2, code, lot_number="TL-BM-0001", sop_id="SOP-BMMSC-EXP", at=ago(9))
    plan = [("CS1", 1, "1.0e7 cells", "2.6e7 cells"), ("CS5", 2, "1.9e7 cells", "1.5e8 cells")]
    plan.append(("CS5", 4, "5.0e7 cells", "4.4e8 cells"))
    first = None
    for n, (vessel, vessels, seeded, total) in enumerate(plan):
        entry = steps.seed(
            db,
            tech2,
            code,
            vessel=vessel,
            vessels=vessels,
            cells=seeded,
            materials=["AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"],
            at=ago(8 - 3 * n),
        )
        first = first or entry
        steps.harvest(
            db,
            tech2,
            code,
            total_cells=total,
            viability="95 %",
            confluence="80 %",
            materials=["TRYPLE-3320", "DPBS-88812"],
            at=ago(6 - 3 * n),
        )
    return first


def test_free_text_and_identifiers_of_every_write_are_checked(demo_db) -> None:
    db = demo_db
    tech1 = authenticate(db, "tech1", "demo-tech1-pass")
    sup1 = authenticate(db, "sup1", "demo-sup1-pass")
    seed = bank_at_freeze(db, "BMMSC-TXT")
    oos = next(d for d in list_deviations(db, "FUC-D001") if d.status == "open")
    freeze = dict(vials=4, cells_per_vial="25e6 cells", volume_per_vial="1.0 mL")
    freeze["cryoprotectant"] = "CS10-5561"
    refused = {
        "--method": lambda text: qc.record_qc(
            db, tech1, "FUC-D001", test="gram-stain-release", value="negative", method=text
        ),
        "--name": lambda text: donors.add_material(
            db, tech1, "NEW-1", kind="medium", name=text, expires=date.today() + timedelta(400)
        ),
        "--relationship": lambda text: donors.add_donor(
            db, tech1, "DN-NEW", relationship=text, sex="F", birth_year=1980
        ),
        "--marker": lambda text: donors.record_donor_test(
            db, tech1, "DN-2026-0001", marker=text, result="negative", sampled=date.today()
        ),
        "--reason": lambda text: donors.set_eligibility(db, sup1, "DN-2026-0001", "pending", text),
        "--location": lambda text: steps.freeze(db, tech1, "BMMSC-TXT", location=text, **freeze),
        "--value": lambda text: corrections.correct(
            db, tech1, "BMMSC-TXT", f"E{seed}", field="vessel", value=text, reason="typo"
        ),
    }
    before = snapshot(db)
    for field, write in refused.items():
        for text in (ESCAPE, LONG, "mother\u202e", "\u200b", "bad byte \udcff"):
            with pytest.raises(InvalidInput) as info:
                write(text)
            assert info.value.field == field, (field, text[:20], str(info.value))
    with pytest.raises(InvalidInput, match="--reason: .*control character U\\+001B"):
        deviations.close_deviation(db, "qa1", "demo-qa1-pass", oos.id, reason=ESCAPE)
    with pytest.raises(InvalidInput, match="--value: expected one of T75, .* got 'NOT-A-VESSEL'"):
        corrections.correct(
            db, tech1, "BMMSC-TXT", f"E{seed}", field="vessel", value="not-a-vessel", reason="r"
        )
    expires = date.today() + timedelta(days=400)
    # a zero-width space, a soft hyphen, a Cyrillic А: look-alikes of AMEM-24K118
    for lot in ("AMEM\u200b-24K118", "AMEM-24K118\u00ad", "\u0410MEM-24K118"):
        with pytest.raises(InvalidInput, match="^LOT: expected the supplier's lot number"):
            donors.add_material(db, tech1, lot, kind="medium", name="alpha-MEM", expires=expires)
    with pytest.raises(RuleViolation, match="exists already as AMEM-24K118"):
        donors.add_material(db, tech1, "amem-24k118", kind="medium", name="x", expires=expires)
    assert snapshot(db) == before


def test_a_freeze_refuses_a_position_taken_whatever_its_case_or_spacing(demo_db) -> None:
    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    bank_at_freeze(demo_db, "BMMSC-POS")
    before = snapshot(demo_db)

    def freeze(location: str, first_position: int = 1) -> None:
        steps.freeze(
            demo_db,
            tech1,
            "BMMSC-POS",
            vials=4,
            cells_per_vial="25e6 cells",
            volume_per_vial="1.0 mL",
            cryoprotectant="CS10-5561",
            location=location,
            first_position=first_position,
        )

    with pytest.raises(InvalidInput, match="--first-position: LN2 tank 1 / rack 5 / box 3 / pos"):
        freeze("  LN2 TANK 1  / Rack 5 / box 3 ")
    with pytest.raises(InvalidInput, match="--first-position: expected a position from 1 to 9996"):
        freeze("LN2 tank 9", first_position=10**30)
    assert snapshot(demo_db) == before
