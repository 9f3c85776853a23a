"""A small laboratory for process-record tests: users, materials, donors, lots, batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from cellbatch.db.audit_chain import row_hash
from cellbatch.db.tables import AUDITED_TABLES
from cellbatch.domain.users import Actor
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches, donors, release, steps
from cellbatch.services.commands.users import add_user, create_first_admin
from cellbatch.services.queries.audit import count_entries
from cellbatch.services.trusted_time import told_time

PASSWORD = "lab-password-1"
NOW = datetime.now(UTC)
SEED_LOTS = ["MED-1", "SUP-1", "DIS-1"]
HARVEST_LOTS = ["DIS-1", "WASH-1"]


def ago(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours, minutes=minutes)


@dataclass
class Lab:
    db: object
    tech1: Actor
    tech2: Actor
    sup1: Actor
    qa1: Actor


def approve_sops(db, user: str = "qa1", password: str = PASSWORD, author: str = "sup1") -> None:
    """``author`` signs and QA approves every SOP version whose file is approved (not yet)."""
    from cellbatch.services.commands.sops import approve_sop, submit_sop
    from cellbatch.services.queries.sops import approvals, authorships, available_sops

    done, written = approvals(db), authorships(db)
    for sop in available_sops():
        if sop.is_approved and (sop.id, sop.version) not in done:
            if (sop.id, sop.version) not in written:
                submit_sop(db, author, PASSWORD, sop.id, sop.version)
            approve_sop(db, user, password, sop.id, sop.version)


def approve_site(db, user: str = "qa1", password: str = PASSWORD) -> None:
    """QA approves the shipped example site settings (DINs, product codes and labels)."""
    from cellbatch.services.commands.site_settings import approve_site_settings

    approve_site_settings(db, user, password, reason="example site settings for the tests")


def make_lab(db) -> Lab:
    create_first_admin(db, "admin", "Ada Admin", PASSWORD)
    admin = authenticate(db, "admin", PASSWORD)
    for name, full, role in (
        ("tech1", "Tess Tech", "technician"),
        ("tech2", "Tod Tech", "technician"),
        ("sup1", "Sam Super", "supervisor"),
        ("qa1", "Quinn QA", "qa"),
        ("clin1", "Cleo Clinic", "clinic"),
    ):
        add_user(db, admin, name, full, role, password=PASSWORD)
    lab = Lab(db, *(authenticate(db, n, PASSWORD) for n in ("tech1", "tech2", "sup1", "qa1")))
    approve_sops(db)
    approve_site(db)
    year = date(NOW.year + 1, 1, 1)
    for lot, kind in (
        ("MED-1", "medium"),
        ("SUP-1", "supplement"),
        ("DIS-1", "dissociation-reagent"),
        ("WASH-1", "wash-solution"),
        ("CRYO-1", "cryoprotectant"),
        ("FT-1", "fucosyltransferase"),
        ("GDP-1", "gdp-fucose"),
        ("BUF-1", "buffer"),
        ("EXC-1", "excipient"),
    ):
        donors.add_material(db, lab.tech1, lot, kind=kind, name=f"{kind} lot", expires=year)
    donors.add_material(
        db,
        lab.tech1,
        "SUP-OLD",
        kind="supplement",
        name="old platelet lysate",
        expires=(NOW - timedelta(days=3)).date(),
    )
    donors.add_donor(db, lab.tech1, "DN-1", relationship="unrelated", sex="F", birth_year=1990)
    donors.add_donor(db, lab.tech1, "DN-2", relationship="mother", sex="F", birth_year=1985)
    donors.set_eligibility(db, lab.sup1, "DN-1", "eligible", "all markers negative")
    donors.set_eligibility(db, lab.sup1, "DN-2", "ineligible-related", "anti-HBc reactive")
    donors.receive_tissue_lot(
        db,
        lab.tech1,
        "TL-A",
        donor_code="DN-1",
        tissue="adipose",
        amount=150,
        collected=ago(days=40, hours=2),
        received=ago(days=40),
    )
    donors.receive_tissue_lot(
        db,
        lab.tech1,
        "TL-B",
        donor_code="DN-2",
        tissue="bone-marrow",
        amount=50,
        collected=ago(days=40, hours=2),
        received=ago(days=40),
    )
    # the clinic's recipients: two unrelated, and the child of DN-2's directed donation
    recipient(db, "RA-P001", cohort=1)
    recipient(db, "RA-P002", cohort=3)
    recipient(db, "EB-P001", weight="20 kg", donor="DN-2", sop="SOP-FUC-BMMSC-DOSE")
    return lab


def recipient(
    db,
    code: str,
    *,
    weight: str = "70 kg",
    donor: str | None = None,
    trial: str = "TRIAL",
    cohort: int = 2,
    sop: str = "SOP-EASC-DOSE",
    password: str = PASSWORD,
) -> str:
    """Register recipient ``code`` with a plan (by the clinic's ``clin1``), unless registered.

    The plan's day 1 is today; ``cohort`` picks the SOP's dose (eASC: 1, 2, 4 ×10⁶ cells/kg).
    ``password`` is clin1's: the lab's by default, ``demo-clin1-pass`` on the demo data.
    """
    from cellbatch.services.commands.plans import create_plan
    from cellbatch.services.commands.recipients import register_recipient
    from cellbatch.services.queries.recipients import recipient_list

    if any(r.code == code for r in recipient_list(db)):
        return code
    clinic = authenticate(db, "clin1", password)
    register_recipient(
        db, clinic, code, trial=trial, cohort=cohort, weight=weight,
        weighed_on=(NOW - timedelta(days=1)).date(), donor=donor,
    )  # fmt: skip
    create_plan(db, clinic, code, sop_id=sop, first_infusion=NOW + timedelta(hours=2))
    return code


def demo_recipient(db, code: str, **kwargs) -> str:
    """:func:`recipient` on the demo data (clin1's demo password)."""
    return recipient(db, code, password="demo-clin1-pass", **kwargs)


def released_easc_bank(lab: Lab, code: str = "BANK-1", vials: int = 2) -> str:
    """An eASC bank grown P0-P3, frozen and released (simple release)."""
    db = lab.db
    batches.start_expansion(
        db, lab.tech1, code, lot_number="TL-A", sop_id="SOP-EASC-EXP", at=ago(days=39)
    )
    seeded = 3.0e6
    for p in range(4):
        day = 38 - p * 7
        steps.seed(
            db,
            lab.tech1,
            code,
            vessel="CS2",
            vessels=1,
            cells=f"{seeded} cells",
            materials=SEED_LOTS,
            at=ago(days=day),
        )
        steps.harvest(
            db,
            lab.tech1,
            code,
            total_cells=f"{seeded * 40} cells",
            viability="95 %",
            confluence="80 %",
            materials=HARVEST_LOTS,
            at=ago(days=day - 6),
        )
    steps.freeze(
        db,
        lab.tech1,
        code,
        vials=vials,
        cells_per_vial="50e6 cells",
        volume_per_vial="1.5 mL",
        cryoprotectant="CRYO-1",
        location="Tank 1 / Box 1",
        at=ago(days=10),
    )
    release_fully(lab, code)
    return code


PASSING = {
    "viability": "95 %",
    "post-thaw-viability": "85 %",
    "sterility": "no growth",
    "mycoplasma": "negative",
    "endotoxin": "0.1 EU/mL",
    "gram-stain": "negative",
    "karyotype": "normal",
    "heca452": "80 %",
    "cd105": "99 %",
    "cd73": "99 %",
    "cd90": "99 %",
    "cd45": "0.5 %",
    "cd34": "0.5 %",
    "cd14": "0.5 %",
    "cd19": "0.5 %",
    "hla-dr": "0.5 %",
}
"""A passing result of every QC test the shipped SOPs have."""


def release_fully(lab: Lab, code: str) -> None:
    """QC recorded, entries verified by a second person, then released by an uninvolved QA."""
    from cellbatch.services.commands import qc
    from cellbatch.services.commands.verification import verify
    from cellbatch.services.queries.batch_view import batch_view
    from cellbatch.services.queries.sops import available_sops
    from cellbatch.services.queries.verification import verification_status

    view = batch_view(lab.db, code).to_dict()
    sop = next(
        s
        for s in available_sops()
        if s.id == view["sop"]["id"] and s.version == view["sop"]["version"]
    )
    done = {q["qc_id"] for q in view["qc"]}
    for test in sop.release_qc():
        if test.id not in done:
            if view["kind"] == "expansion":  # recorded before the bank's told release
                when = ago(days=1)
                with told_time(when):
                    qc.record_qc(
                        lab.db, lab.sup1, code, test=test.id, value=PASSING[test.test], at=when
                    )
                continue
            qc.record_qc(lab.db, lab.sup1, code, test=test.id, value=PASSING[test.test])
    for state in verification_status(lab.db, code):
        if state.status in ("pending", "invalid"):
            who = lab.tech2 if state.recorded_by != lab.tech2.id else lab.tech1
            verify(lab.db, who.username, PASSWORD, code, state.ref)
    if view["kind"] == "expansion":  # a bank is released before its doses are thawed
        with told_time(ago(hours=12)):
            release.decide(lab.db, lab.qa1, code, "release", "test batch", password=PASSWORD)
        return
    release.decide(lab.db, lab.qa1, code, "release", "test batch", password=PASSWORD)


def snapshot(db) -> tuple[int, dict]:
    """The audit-entry count and the content hash of every audited row."""
    rows = {}
    with db.session() as session:
        for name, model in AUDITED_TABLES.items():
            for row in session.execute(select(model)).scalars():
                rows[(name, row.id)] = row_hash(row)
    return count_entries(db), rows


def next_demo_dose(db, actor: Actor, code: str = "EASC-D002", at: datetime | None = None) -> str:
    """Start RA-P002's next planned dose (infusion 2) from the demo's bank EASC-B001.

    Its day 1 was given six days ago (the demo's EASC-D000), so infusion 2 is the plan's next.
    """
    return batches.start_dose(
        db,
        actor,
        code,
        parent="EASC-B001",
        sop_id="SOP-EASC-DOSE",
        recipient="RA-P002",
        weight="70 kg",
        dose="2 x 10^6 cells/kg",
        infusion=2,
        at=at,
    )
