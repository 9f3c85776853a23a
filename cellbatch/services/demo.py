"""Demo data: the two clinical cases of docs/architecture.md, recorded through the real services.

Everything is written by the same use cases a technician, QA officer or nurse runs, with work
times in the recent past, so the demo is a faithful, audited record. What happened days or
weeks ago is told at the story's time (:func:`~cellbatch.services.trusted_time.told_time`):
the banks' QC and release decisions, the clinic's enrolment of the recipients, and the whole
first infusion of RA-P002 six days ago (dose EASC-D000: made, verified, released, labelled,
issued, received on the ward, checked at the bedside and given). Today's work of the
cleanroom is in production and unreleased: RA-P001's dose EASC-D001 (filled) and EB-P001's
FUC-D001 (fucosylated), both for day 1 in about three hours (docs/clinic.md, "The demo").
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, User
from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.users import Actor
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches, donors, labels, qc, release, steps
from cellbatch.services.commands.bedside import bedside_check, record_infusion
from cellbatch.services.commands.custody import issue_bag, receive_bag
from cellbatch.services.commands.plans import create_plan
from cellbatch.services.commands.recipients import register_recipient, set_identity
from cellbatch.services.commands.site_settings import approve_site_settings
from cellbatch.services.commands.sops import approve_sop, submit_sop
from cellbatch.services.commands.users import add_user, create_first_admin
from cellbatch.services.commands.verification import verify
from cellbatch.services.queries.label_content import BagLabel
from cellbatch.services.queries.sops import available_sops
from cellbatch.services.queries.verification import verification_status
from cellbatch.services.trusted_time import told_time

DEMO_USERS = (
    ("tech1", "Tomás Herrera", "technician"),
    ("tech2", "Ingrid Larsen", "technician"),
    ("sup1", "Sofia Moretti", "supervisor"),
    ("qa1", "Quentin Okafor", "qa"),
    ("qa2", "Grace Liu", "qa"),
    ("clin1", "Clara Nilsen", "clinic"),
    ("clin2", "Maja Holm", "clinic"),
)
"""Demo accounts besides ``admin``: user ID, printed name, role."""

MARKERS = (
    "HIV-1/2 Ab",
    "HIV-1 NAT",
    "HBsAg",
    "anti-HBc",
    "HBV NAT",
    "HCV Ab",
    "HCV NAT",
    "HTLV-I/II Ab",
    "Syphilis (TPHA)",
)
"""Infectious-disease markers tested on each donor."""


def demo_password(username: str) -> str:
    """The demo password of a demo user: ``demo-`` + user ID + ``-pass`` (``demo-qa1-pass``)."""
    return f"demo-{username}-pass"


def is_empty(db: Database) -> bool:
    """True when the database has no users and no batches."""
    with db.session() as session:
        users = session.execute(select(func.count()).select_from(User)).scalar_one()
        count = session.execute(select(func.count()).select_from(Batch)).scalar_one()
    return users == 0 and count == 0


def verify_all(db: Database, code: str, verifiers: list[Actor]) -> None:
    """Have each entry needing it verified by the first listed person who did not record it."""
    for state in verification_status(db, code):
        if state.status in ("pending", "invalid"):
            who = next(v for v in verifiers if v.id != state.recorded_by)
            verify(db, who.username, demo_password(who.username), code, state.ref)


DEMO_RECIPIENTS = (
    # ID, trial, cohort, kg, related donor, name, born, hospital number
    ("RA-P001", "EASC-RA", 2, "70 kg", None, "Marta Lindqvist", date(1968, 4, 12), "H0481516"),
    ("RA-P002", "EASC-RA", 2, "70 kg", None, "Jonas Berg", date(1975, 9, 3), "H0481522"),
    ("EB-P001", "FUC-EB", 2, "20 kg", "DN-2026-0002", "Elin Sorensen", date(2019, 2, 7), "H07742"),
)
"""The demo's recipients: two rheumatoid-arthritis patients, and the mother's child with EB."""


DEMO_PLANS = {"RA-P001": ("SOP-EASC-DOSE", 0), "RA-P002": ("SOP-EASC-DOSE", -6),
              "EB-P001": ("SOP-FUC-BMMSC-DOSE", 0)}  # fmt: skip
"""Each demo recipient's dose SOP and day 1 (days from today)."""

ENROLLED_DAYS_AGO = 9
"""When the clinic registered, weighed, identified the demo recipients and made their plans."""


def demo_day_one(now: datetime) -> datetime:
    """Today's day-1 infusion time: about three hours after ``now``, on the half hour.

    Within the shelf life of the demo's doses filled or fucosylated within the last hour;
    every demo plan's infusions are at this time of day.
    """
    soon = now + timedelta(hours=3)
    return soon.replace(minute=0 if soon.minute < 30 else 30, second=0, microsecond=0)


def register_demo_recipients(db: Database, clinic: Actor, now: datetime) -> None:
    """Register the demo recipients with weights, identities and plans, nine days ago.

    Day 1 of RA-P001 and EB-P001 is today, in about three hours (:func:`demo_day_one`);
    RA-P002's day 1 was six days ago (given: :func:`give_first_infusion`), so its day 8 is
    tomorrow and day 15 a week later. All three were enrolled at one told time, before any
    day 1: their chain-of-identity identifiers are of one year and numbered in this order.
    """
    enrolled = now - timedelta(days=ENROLLED_DAYS_AGO)
    with told_time(enrolled):
        for code, trial, cohort, weight, donor, name, born, hospital in DEMO_RECIPIENTS:
            register_recipient(
                db, clinic, code, trial=trial, cohort=cohort, weight=weight,
                weighed_on=enrolled.date(), donor=donor,
            )  # fmt: skip
            set_identity(db, clinic, code, name=name, born=born, hospital_number=hospital)
            sop, days = DEMO_PLANS[code]
            create_plan(
                db, clinic, code, sop_id=sop,
                first_infusion=demo_day_one(now) + timedelta(days=days),
            )  # fmt: skip


RenderLabels = Callable[[list[BagLabel]], bytes]
"""Draws bag labels into the printed document (``cellbatch.documents.labels.render``)."""


def give_first_infusion(
    db: Database, who: dict[str, Actor], now: datetime, render_labels: RenderLabels
) -> None:
    """RA-P002's day 1, six days ago: dose EASC-D000 made, released, issued and given.

    Every step is the service a person runs, told at its time of the story (hours before and
    after the planned infusion ``day_one``): the dose is started, thawed, filled and tested
    (SOP-EASC-DOSE), each entry verified by a second person, released by QA (qa1, uninvolved),
    its final label (content version 2, with the chain-of-identity identifier) printed and
    scanned onto the bag, the bag issued with a temperature logger to the nurse who fetches it
    (clin2) and received on the ward (clin1) with the logger's readings, checked at the bedside
    by both (wristband, and the label's Data Matrix: DIN, product code, expiry and CoI) and
    infused without reaction.

    The 7-day sterility test of the bag (a result after infusion) is not recorded: its seven
    days end tomorrow, and a result is never told before it exists (docs/clinic.md).
    """
    tech1, tech2, qa1, clin1 = (who[u] for u in ("tech1", "tech2", "qa1", "clin1"))
    day_one = demo_day_one(now) + timedelta(days=DEMO_PLANS["RA-P002"][1])

    def at(hours: float = 0, minutes: float = 0) -> datetime:
        return day_one + timedelta(hours=hours, minutes=minutes)

    code = "EASC-D000"  # made before today's EASC-D001; tests start EASC-D002 and later
    with told_time(at(-3)):
        batches.start_dose(db, tech1, code, parent="EASC-B001", sop_id="SOP-EASC-DOSE",
                           recipient="RA-P002", infusion=1, at=at(-3))  # fmt: skip
    with told_time(at(-2, -40)):
        # vials 13-16, the box's last row (today's EASC-D001 thawed 1-4; 5-12 stay in stock)
        steps.thaw(db, tech1, code, vials=4, total_cells="1.92e8 cells", viability="89 %",
                   vial_numbers=[13, 14, 15, 16], materials=["DPBS-88812"],
                   at=at(-2, -45))  # fmt: skip
    with told_time(at(-2)):
        steps.fill(db, tech1, code, volume="40 mL", cells="1.41e8 cells",
                   materials=["SAL-HSA-0915"], at=at(-2, -5))  # fmt: skip
    for test, value in (("viability", "88 %"), ("gram-stain", "negative"),
                        ("endotoxin", "0.10 EU/mL")):  # fmt: skip
        with told_time(at(-1, -50)):
            qc.record_qc(db, tech2, code, test=test, value=value, stage="release",
                         at=at(-1, -55))  # fmt: skip
    with told_time(at(-1, -45)):
        verify_all(db, code, [tech2, tech1])
    with told_time(at(-1, -35)):
        release.decide(db, qa1, code, "release",
                       "dose record reviewed: every criterion met; sterility follows in 7 days",
                       password=demo_password("qa1"))  # fmt: skip
    with told_time(at(-1, -30)):
        (label,) = labels.print_labels(db, tech1, code, render_labels)
    scan = [label.datamatrix]  # the label's Data Matrix: DIN, product code, expiry, CoI
    with told_time(at(-1, -28)):
        labels.verify_scans(db, tech2, code, 1, scan)
    with told_time(at(-1, -20)):
        issue_bag(db, tech1, "clin2", demo_password("clin2"), scan,
                  container="validated shipper no. 2 (15-25 °C)", logger="TL-0423")  # fmt: skip
    received = at(minutes=-30)
    with tempfile.TemporaryDirectory() as folder:  # what the logger's software exported
        readings = Path(folder) / "TL-0423.csv"
        times = [at(-1, -20) + timedelta(minutes=10 * n) for n in range(6)]
        celsius = ("20.4", "19.8", "19.5", "20.1", "20.9", "21.3")
        readings.write_text(
            "# logger TL-0423, EASC-D000 bag 1\ntime,temperature [degC]\n"
            + "".join(f"{t:%Y-%m-%dT%H:%M:%SZ},{c}\n" for t, c in zip(times, celsius, strict=True)),
            encoding="utf-8",
        )
        with told_time(received):
            receive_bag(db, clin1, scan, condition="intact, sealed", logger_file=readings)
    with told_time(at(0, -5)):
        check = bedside_check(db, clin1, "clin2", demo_password("clin2"), "H0481522^RA-P002",
                              scan)  # fmt: skip
    if not check.match:
        raise RuleViolation(f"the demo's bedside check of {code} said {check.text()}")
    with told_time(at(0, 40)):
        record_infusion(db, clin1, check.ref, fate="infused", started=at(0), stopped=at(0, 30),
                        volume="40 mL", reaction="none")  # fmt: skip


def load_demo(
    db: Database, now: datetime | None = None, *, render_labels: RenderLabels
) -> list[tuple[str, str, str]]:
    """Fill an empty database with the demo; returns (user, role, password) for printing.

    ``render_labels`` draws the bag label the demo prints (for RA-P002's given dose): the
    document layer's :func:`cellbatch.documents.labels.render`, which this layer cannot import.
    """
    if not is_empty(db):
        raise RuleViolation("the database is not empty: the demo only fills an empty database")
    now = now or datetime.now(UTC)
    create_first_admin(db, "admin", "Alex Admin", demo_password("admin"))
    admin = authenticate(db, "admin", demo_password("admin"))
    for username, name, role in DEMO_USERS:
        add_user(db, admin, username, name, role, password=demo_password(username))
    who = {u: authenticate(db, u, demo_password(u)) for u, _n, _r in DEMO_USERS}
    tech1, tech2, sup1, qa1, qa2 = (who[u] for u in ("tech1", "tech2", "sup1", "qa1", "qa2"))
    clin1 = who["clin1"]
    # the head of production signs every SOP version whose file is approved as its author;
    # QA approves each with a signature
    for sop in available_sops():
        if sop.is_approved:
            submit_sop(db, "sup1", demo_password("sup1"), sop.id, sop.version)
            approve_sop(db, "qa1", demo_password("qa1"), sop.id, sop.version)
    # and the shipped (example) site settings, from which DINs, product codes and labels come
    approve_site_settings(
        db, "qa1", demo_password("qa1"), reason="example site settings for the demonstration"
    )

    def ago(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
        return now - timedelta(days=days, hours=hours, minutes=minutes)

    next_year = date(now.year + 1, now.month, min(now.day, 28))
    for lot, kind, name, expires in (
        ("AMEM-24K118", "medium", "alpha-MEM without nucleosides", next_year),
        ("HPL-2611-07", "supplement", "Human platelet lysate, 5 %, pathogen-reduced", next_year),
        ("TRYPLE-3320", "dissociation-reagent", "TrypLE Select (recombinant trypsin)", next_year),
        ("DPBS-88812", "wash-solution", "DPBS without Ca/Mg", next_year),
        ("CS10-5561", "cryoprotectant", "CryoStor CS10 (10 % DMSO)", next_year),
        ("FTVII-0042", "fucosyltransferase", "Recombinant human FTVII, GMP grade", next_year),
        ("GDPF-1187", "gdp-fucose", "GDP-fucose, 100 mM stock", next_year),
        ("HBSS-HSA-220", "buffer", "HBSS with 1 % human serum albumin", next_year),
        ("SAL-HSA-0915", "excipient", "0.9 % NaCl with 1 % human albumin", next_year),
        (
            "HPL-2604-02",
            "supplement",
            "Human platelet lysate, 5 % (old lot)",
            (now - timedelta(days=20)).date(),
        ),
        (
            "TRYPLE-3371",
            "dissociation-reagent",
            "TrypLE Select (recombinant trypsin)",
            (now + timedelta(days=12)).date(),
        ),
    ):
        donors.add_material(db, tech1, lot, kind=kind, name=name, expires=expires)

    # --- the two donors ---------------------------------------------------------------
    donors.add_donor(db, tech1, "DN-2026-0001", relationship="unrelated", sex="F", birth_year=1991)
    donors.add_donor(db, tech1, "DN-2026-0002", relationship="mother", sex="F", birth_year=1989)
    for marker in MARKERS:
        donors.record_donor_test(
            db, tech1, "DN-2026-0001", marker=marker, result="negative", sampled=ago(days=62).date()
        )
        result = "reactive" if marker == "anti-HBc" else "negative"
        donors.record_donor_test(
            db, tech1, "DN-2026-0002", marker=marker, result=result, sampled=ago(days=49).date()
        )
    donors.set_eligibility(
        db,
        sup1,
        "DN-2026-0001",
        "eligible",
        "all markers negative; donor history questionnaire acceptable",
    )
    donors.set_eligibility(
        db,
        sup1,
        "DN-2026-0002",
        "ineligible-related",
        "anti-HBc reactive (HBV NAT negative); related directed donation "
        "allowed with biohazard labelling",
    )

    donors.receive_tissue_lot(
        db,
        tech1,
        "TL-ADI-0001",
        donor_code="DN-2026-0001",
        tissue="adipose",
        amount=152.0,
        collected=ago(days=60, hours=3),
        received=ago(days=60, hours=1),
        receipt_temperature=6.5,
    )
    donors.receive_tissue_lot(
        db,
        tech2,
        "TL-BM-0001",
        donor_code="DN-2026-0002",
        tissue="bone-marrow",
        amount=58.0,
        collected=ago(days=47, hours=4),
        received=ago(days=47, hours=2),
        receipt_temperature=19.0,
    )

    # --- the recipients, registered by the clinic --------------------------------------
    register_demo_recipients(db, clin1, now)

    seed_lots = ["AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"]
    harvest_lots = ["TRYPLE-3320", "DPBS-88812"]

    # --- eASC bank: P0-P3, frozen, QC, released ---------------------------------------
    batches.start_expansion(
        db, tech1, "EASC-B001", lot_number="TL-ADI-0001", sop_id="SOP-EASC-EXP", at=ago(days=60)
    )
    plan = [  # vessel, n, seeded, total harvested, viability, confluence, day seeded
        ("CS2", 1, "3.8 x 10^6 cells", "4.1e7 cells", "95 %", "85 %", 60),
        ("CS5", 2, "1.9e7 cells", "1.62e8 cells", "94 %", "82 %", 53),
        ("CS10", 2, "3.8e7 cells", "3.2e8 cells", "93 %", "80 %", 46),
        ("CS10", 5, "9.5e7 cells", "8.8e8 cells", "94 %", "84 %", 39),
    ]
    for vessel, n, seeded, total, via, conf, day in plan:
        steps.seed(
            db,
            tech1,
            "EASC-B001",
            vessel=vessel,
            vessels=n,
            cells=seeded,
            materials=seed_lots,
            at=ago(days=day),
        )
        steps.harvest(
            db,
            tech2,
            "EASC-B001",
            total_cells=total,
            viability=via,
            confluence=conf,
            materials=harvest_lots,
            at=ago(days=day - 6, hours=2),
        )
    steps.freeze(
        db,
        tech1,
        "EASC-B001",
        vials=16,
        cells_per_vial="50 x 10^6 cells",
        volume_per_vial="1.5 mL",
        cryoprotectant="CS10-5561",
        location="LN2 tank 2 / rack 3 / box 12",
        at=ago(days=33, hours=1),
    )
    bank_qc = [
        ("viability", "94 %"),
        ("sterility", "no growth"),
        ("mycoplasma", "negative"),
        ("endotoxin", "0.08 EU/mL"),
        ("cd105", "99.1 %"),
        ("cd73", "99.6 %"),
        ("cd90", "98.7 %"),
        ("cd45", "0.4 %"),
        ("cd34", "0.9 %"),
        ("cd14", "0.3 %"),
        ("cd19", "0.2 %"),
        ("hla-dr", "0.6 %"),
        ("karyotype", "normal"),
        ("post-thaw-viability", "88 %"),
    ]
    for test, value in bank_qc:
        stage = "in-process" if test == "viability" else "release"
        # the in-process viability is counted just before freezing; bank QC results come later
        when = ago(days=33, hours=1.5) if stage == "in-process" else ago(days=25)
        with told_time(when):  # recorded before the told release: not a late result
            qc.record_qc(db, sup1, "EASC-B001", test=test, value=value, stage=stage, at=when)
    verify_all(db, "EASC-B001", [tech2, tech1])
    with told_time(ago(days=24)):  # released the day after its QC, weeks before its doses
        release.decide(
            db,
            qa1,
            "EASC-B001",
            "release",
            "bank QC complete and within specification; records reviewed",
            password=demo_password("qa1"),
        )

    # --- eASC dose for RA patient 1, infusion 1, 70 kg at 2 x 10^6 cells/kg, filled ----
    batches.start_dose(
        db,
        tech1,
        "EASC-D001",
        parent="EASC-B001",
        sop_id="SOP-EASC-DOSE",
        recipient="RA-P001",
        weight="70 kg",
        dose="2 x 10^6 cells/kg",
        infusion=1,
        at=ago(hours=1, minutes=30),
    )
    steps.thaw(
        db,
        tech1,
        "EASC-D001",
        vials=4,
        total_cells="1.9e8 cells",
        viability="88 %",
        materials=["DPBS-88812"],
        at=ago(hours=1, minutes=15),
    )
    steps.fill(
        db,
        tech1,
        "EASC-D001",
        volume="40 mL",
        cells="1.42e8 cells",
        materials=["SAL-HSA-0915"],
        at=ago(minutes=40),
    )
    for test, value in (
        ("viability", "87 %"),
        ("gram-stain", "negative"),
        ("endotoxin", "0.12 EU/mL"),
    ):
        qc.record_qc(
            db,
            tech2,
            "EASC-D001",
            test=test,
            value=value,
            stage="release",
            at=ago(minutes=20),
        )
    # fully verified and ready for release by an uninvolved QA officer (qa1); qa2 verified
    # one entry, so qa2 may not release it
    ra_viability = next(
        s.ref for s in verification_status(db, "EASC-D001") if s.what.startswith("Viability")
    )
    verify(db, "qa2", demo_password("qa2"), "EASC-D001", ra_viability)
    verify_all(db, "EASC-D001", [tech2, tech1])

    # --- BM-MSC bank from the mother: P0-P2, frozen, QC, released ---------------------
    batches.start_expansion(
        db, tech2, "BMMSC-B001", lot_number="TL-BM-0001", sop_id="SOP-BMMSC-EXP", at=ago(days=47)
    )
    plan = [
        ("CS1", 1, "1.0e7 cells", "2.6e7 cells", "95 %", "80 %", 47),
        ("CS5", 2, "1.9e7 cells", "1.5e8 cells", "93 %", "85 %", 37),
        ("CS5", 4, "5.0e7 cells", "4.4e8 cells", "94 %", "86 %", 30),
    ]
    for vessel, n, seeded, total, via, conf, day in plan:
        steps.seed(
            db,
            tech2,
            "BMMSC-B001",
            vessel=vessel,
            vessels=n,
            cells=seeded,
            materials=seed_lots,
            at=ago(days=day),
        )
        steps.harvest(
            db,
            tech1,
            "BMMSC-B001",
            total_cells=total,
            viability=via,
            confluence=conf,
            materials=harvest_lots,
            at=ago(days=day - 7, hours=2),
        )
    steps.freeze(
        db,
        tech2,
        "BMMSC-B001",
        vials=16,
        cells_per_vial="25 x 10^6 cells",
        volume_per_vial="1.0 mL",
        cryoprotectant="CS10-5561",
        location="LN2 tank 1 / rack 5 / box 3",
        at=ago(days=23, hours=1),
    )
    for test, value in bank_qc:
        stage = "in-process" if test == "viability" else "release"
        when = ago(days=23, hours=1.5) if stage == "in-process" else ago(days=15)
        with told_time(when):  # recorded before the told release: not a late result
            qc.record_qc(db, sup1, "BMMSC-B001", test=test, value=value, stage=stage, at=when)
    verify_all(db, "BMMSC-B001", [tech1, tech2])
    with told_time(ago(days=14)):
        release.decide(
            db,
            qa2,
            "BMMSC-B001",
            "release",
            "bank QC complete and within specification; related donor: biohazard labelling "
            "required",
            password=demo_password("qa2"),
        )

    # --- fucosylated dose for the child (EB), 20 kg at 2 x 10^6 cells/kg ---------------
    batches.start_dose(
        db,
        tech1,
        "FUC-D001",
        parent="BMMSC-B001",
        sop_id="SOP-FUC-BMMSC-DOSE",
        recipient="EB-P001",
        weight="20 kg",
        dose="2 x 10^6 cells/kg",
        infusion=1,
        at=ago(hours=2, minutes=30),
    )
    steps.thaw(
        db,
        tech1,
        "FUC-D001",
        vials=3,
        total_cells="7.0e7 cells",
        viability="86 %",
        materials=["DPBS-88812"],
        at=ago(hours=2),
    )
    steps.fucosylation(
        db,
        tech2,
        "FUC-D001",
        enzyme_lot="FTVII-0042",
        enzyme="60 ug/mL",
        gdp_fucose_lot="GDPF-1187",
        gdp_fucose="1 mM",
        cells="2.0 x 10^7 cells/mL",
        volume="3 mL",
        temperature="37 degC",
        start=ago(minutes=75),
        end=ago(minutes=15),
        materials=["HBSS-HSA-220"],
    )
    qc.record_qc(
        db,
        tech2,
        "FUC-D001",
        test="viability",
        value="82 %",
        stage="in-process",
        at=ago(minutes=10),
    )
    qc.record_qc(
        db, tech2, "FUC-D001", test="heca452", value="42 %", stage="in-process", at=ago(minutes=5)
    )

    # --- RA patient 2's day 1, six days ago: given (recorded last, so that today's
    # records keep their numbers) -----------------------------------------------------------
    give_first_infusion(db, who, now, render_labels)

    return [("admin", "admin", demo_password("admin"))] + [
        (u, r, demo_password(u)) for u, _n, r in DEMO_USERS
    ]
