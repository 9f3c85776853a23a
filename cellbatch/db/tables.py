"""SQLModel tables: the stored records. Services convert them to plain read models.

Text columns take their lengths from the rules that check the text on its way in
(``cellbatch.domain.text``, the SOP's keys in ``cellbatch.domain.sop``): whatever a rule
accepts fits its column, on SQLite and on PostgreSQL. Times are timezone-aware UTC.
Quantities are stored as canonical magnitudes (see ``cellbatch.units``): cells, mL, %, °C,
minutes, kg. Every table except the audit
trail itself is audited: each row's state is hashed into the audit chain.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, func, text
from sqlmodel import Field, SQLModel

from cellbatch.domain.recipients import MAX_HOSPITAL_NUMBER, MAX_RECIPIENT_ID
from cellbatch.domain.text import (
    MAX_CODE,
    MAX_KEY,
    MAX_NAME,
    MAX_SUPPLIER_LOT,
    MAX_TEXT,
    MAX_VIAL_LOCATION,
)


def unique_where(name: str, *columns: Any, where: str) -> Index:
    """A partial unique index: ``columns`` are unique among the rows where ``where`` holds.

    The process's uniqueness rules are held by the database too, so that two terminals
    writing at once can never both pass them (see docs/concurrency.md).
    """
    condition = text(where)
    return Index(name, *columns, unique=True, sqlite_where=condition, postgresql_where=condition)


def measure(key: str) -> dict[str, Any]:
    """Column options saying which measure (``units.MEASURES``) a number is stored in.

    The value is stored in that measure's canonical unit; whoever shows it (the audit
    appendix of the record) reads the measure from the column instead of guessing it from the
    column's name. It is metadata only: the table's definition in the database is unchanged.
    """
    return {"info": {"measure": key}}


class User(SQLModel, table=True):
    """A person who uses the program; deactivated, never deleted."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(max_length=MAX_NAME)
    role: str = Field(max_length=20)
    password_hash: str = Field(max_length=300)
    active: bool = True
    must_change_password: bool = False
    failed_attempts: int = 0
    locked: bool = False
    password_changed_at: datetime
    created_at: datetime


# user IDs are unique whatever their case ("QA1" is not a second "qa1")
Index("ux_app_user_username_folded", func.lower(User.__table__.c.username), unique=True)


class SopVersion(SQLModel, table=True):
    """The exact procedure version a batch was made under, with its content."""

    __tablename__ = "sop_version"
    __table_args__ = (UniqueConstraint("sop_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    sop_id: str = Field(max_length=MAX_KEY, index=True)
    version: str = Field(max_length=20)
    status: str = Field(max_length=20)
    title: str = Field(max_length=MAX_TEXT)
    kind: str = Field(max_length=20)
    content_hash: str = Field(max_length=64)
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    registered_at: datetime


class SopApproval(SQLModel, table=True):
    """QA's electronic signature approving one SOP version, bound to its content hash."""

    __tablename__ = "sop_approval"

    id: int | None = Field(default=None, primary_key=True)
    sop_version_id: int = Field(foreign_key="sop_version.id", index=True, unique=True)
    content_hash: str = Field(max_length=64)
    signer_id: int = Field(foreign_key="app_user.id")
    signer_name: str = Field(max_length=MAX_NAME)
    signed_at: datetime


class SopAuthorship(SQLModel, table=True):
    """The author's electronic signature submitting one SOP version for QA's approval.

    The author is a user of cellbatch; the QA officer who approves the version must be
    another person (see ``cellbatch.services.commands.sops``).
    """

    __tablename__ = "sop_authorship"

    id: int | None = Field(default=None, primary_key=True)
    sop_version_id: int = Field(foreign_key="sop_version.id", index=True, unique=True)
    content_hash: str = Field(max_length=64)
    author_id: int = Field(foreign_key="app_user.id")
    author_name: str = Field(max_length=200)
    signed_at: datetime


class SecurityPolicyVersion(SQLModel, table=True):
    """One version of the security policy, signed by the admin who set it (never edited).

    The newest version is in force. Version 1 is the program's default, installed with the
    schema (no signer); every later one carries an admin's electronic signature and reason.
    """

    __tablename__ = "security_policy"

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True, index=True)
    max_failed_attempts: int
    min_password_length: int
    password_max_age_days: int
    scrypt_n: int
    idle_lock_seconds: int
    reason: str = Field(max_length=2000)
    content_hash: str = Field(max_length=64)
    signer_id: int | None = Field(default=None, foreign_key="app_user.id")
    signer_name: str = Field(max_length=200)
    signed_at: datetime


class SiteSettingsVersion(SQLModel, table=True):
    """One approved version of the label site settings, signed by QA (never edited).

    The newest version is in force; a label printed under an older one keeps naming it.
    ``content`` is the settings file's data as QA approved it, bound to ``content_hash``.
    """

    __tablename__ = "site_settings"

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True, index=True)
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    source: str = Field(max_length=300)
    reason: str = Field(max_length=MAX_TEXT)
    signer_id: int = Field(foreign_key="app_user.id")
    signer_name: str = Field(max_length=200)
    signed_at: datetime


class Donor(SQLModel, table=True):
    """A donor, known only by a pseudonymous code."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=MAX_CODE, unique=True, index=True)
    relationship: str = Field(max_length=MAX_TEXT)
    sex: str = Field(max_length=1)
    birth_year: int
    eligibility: str = Field(default="pending", max_length=30)
    created_at: datetime


class Recipient(SQLModel, table=True):
    """A patient of a trial, known to the cleanroom only by a pseudonymous ID.

    ``donor_id`` links a related (directed) donation's donor to the one recipient it is for.
    Identifying data are in :class:`RecipientIdentity`, never here.
    """

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=MAX_RECIPIENT_ID, unique=True, index=True)
    trial: str = Field(max_length=MAX_CODE)
    cohort: int
    donor_id: int | None = Field(default=None, foreign_key="donor.id", index=True)
    registered_at: datetime
    registered_by: int = Field(foreign_key="app_user.id")


class RecipientWeight(SQLModel, table=True):
    """A recipient's body weight on a date (the newest is the one a dose is made for)."""

    __tablename__ = "recipient_weight"

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    weight_kg: float
    measured_on: date
    recorded_at: datetime
    recorded_by: int = Field(foreign_key="app_user.id")


class RecipientIdentity(SQLModel, table=True):
    """Who a recipient is: for the clinic and QA only, redacted in the audit trail.

    The column names are this table's own (``patient_...``): the audit trail redacts
    them by name (``REDACTED_FIELDS``), and no other table has them.
    """

    __tablename__ = "recipient_identity"
    __table_args__ = (
        # one patient, one recipient
        Index("ux_recipient_identity_hospital_number", "patient_hospital_number", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="recipient.id", unique=True, index=True)
    patient_name: str = Field(max_length=MAX_NAME)
    patient_birth_date: date
    patient_hospital_number: str = Field(max_length=MAX_HOSPITAL_NUMBER)
    recorded_at: datetime
    recorded_by: int = Field(foreign_key="app_user.id")


class TreatmentPlan(SQLModel, table=True):
    """A recipient's treatment: the dose SOP, the cohort's dose, day 1, the window, the lead.

    One plan per recipient; its infusions are :class:`PlannedInfusion` rows.
    """

    __tablename__ = "treatment_plan"
    __table_args__ = (Index("ux_treatment_plan_coi", "coi", unique=True),)  # one therapy, one CoI

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="recipient.id", unique=True, index=True)
    sop_id: str = Field(max_length=MAX_KEY)
    dose_per_kg: float
    day_one: date
    window_days: int
    lead_minutes: int
    # the ISBT 128 chain-of-identity identifier of this therapy (Data Structure 040, as scanned)
    coi: str | None = Field(default=None, max_length=17)
    created_at: datetime
    created_by: int = Field(foreign_key="app_user.id")


class PlannedInfusion(SQLModel, table=True):
    """One infusion of a plan: its number, the SOP's day, and when it is planned (UTC)."""

    __tablename__ = "planned_infusion"
    __table_args__ = (UniqueConstraint("plan_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="treatment_plan.id", index=True)
    number: int
    day: int
    planned_at: datetime


class DonorTest(SQLModel, table=True):
    """An infectious-disease marker result of a donor."""

    __tablename__ = "donor_test"

    id: int | None = Field(default=None, primary_key=True)
    donor_id: int = Field(foreign_key="donor.id", index=True)
    marker: str = Field(max_length=MAX_TEXT)
    result: str = Field(max_length=20)
    sampled_on: date
    recorded_at: datetime
    recorded_by: int = Field(foreign_key="app_user.id")


class DinCounter(SQLModel, table=True):
    """The last DIN sequence used for a facility and year; sequences never repeat."""

    __tablename__ = "din_counter"
    __table_args__ = (UniqueConstraint("fin", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    fin: str = Field(max_length=5)
    year: int
    last_sequence: int = 0


class TissueLot(SQLModel, table=True):
    """A donation as received: it carries the ISBT 128 DIN to every product made from it."""

    __tablename__ = "tissue_lot"

    id: int | None = Field(default=None, primary_key=True)
    lot_number: str = Field(max_length=MAX_CODE, unique=True, index=True)
    donor_id: int = Field(foreign_key="donor.id", index=True)
    tissue: str = Field(max_length=30)
    amount: float
    amount_unit: str = Field(max_length=4)
    collected_at: datetime
    received_at: datetime
    receipt_temperature: float | None = Field(default=None, sa_column_kwargs=measure("temperature"))
    din: str = Field(max_length=13, unique=True, index=True)
    recorded_at: datetime
    recorded_by: int = Field(foreign_key="app_user.id")


class MaterialLot(SQLModel, table=True):
    """A lot of a reagent or consumable, with its expiry."""

    __tablename__ = "material_lot"

    id: int | None = Field(default=None, primary_key=True)
    lot_number: str = Field(max_length=MAX_SUPPLIER_LOT, unique=True, index=True)
    kind: str = Field(max_length=40)
    name: str = Field(max_length=MAX_TEXT)
    expires_on: date
    recorded_at: datetime
    recorded_by: int = Field(foreign_key="app_user.id")


class Batch(SQLModel, table=True):
    """An expansion batch (a bank) or a dose batch for one recipient and infusion."""

    __table_args__ = (
        # the batch list and the home screen read batches newest first, a page at a time
        Index("ix_batch_started_at_id", "started_at", "id"),
        Index("ix_batch_status_started_at_id", "status", "started_at", "id"),
        # a bank's screen lists the dose batches made from it (without it: every batch read)
        Index("ix_batch_parent_batch_id_id", "parent_batch_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=MAX_CODE, unique=True, index=True)
    kind: str = Field(max_length=20, index=True)
    status: str = Field(default="in-process", max_length=20, index=True)
    sop_version_id: int = Field(foreign_key="sop_version.id")
    tissue_lot_id: int | None = Field(default=None, foreign_key="tissue_lot.id")
    parent_batch_id: int | None = Field(default=None, foreign_key="batch.id")
    recipient_id: str | None = Field(default=None, max_length=MAX_CODE)
    body_weight_kg: float | None = Field(default=None, sa_column_kwargs=measure("mass_body"))
    dose_per_kg: float | None = Field(default=None, sa_column_kwargs=measure("cells_per_kg"))
    infusion_number: int | None = None
    infusion_day: int | None = None
    started_at: datetime
    recorded_at: datetime
    recorded_by: int = Field(foreign_key="app_user.id")


class DoseAttempt(SQLModel, table=True):
    """Which start of a recipient's infusion a dose batch is: 1, then 2 for its replacement, ….

    A dose is made again for an infusion whose dose was not given (docs/clinic.md); the services
    refuse a second dose that may still be given, and the database holds one batch per attempt
    (``ux_dose_attempt``), so two terminals starting the same dose at once cannot both write.
    Not an audited table (``AUDITED_TABLES``): its content follows from the batches, which the
    chain vouches for (the attempt counts them), and a downgrade past its migration drops it;
    its creation is still written to the trail with the dose start.
    """

    __tablename__ = "dose_attempt"
    __table_args__ = (
        Index("ux_dose_attempt", "recipient_id", "infusion_number", "attempt", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", unique=True, index=True)
    recipient_id: str = Field(max_length=MAX_CODE)
    infusion_number: int
    attempt: int
    """One more than the dose batches of this recipient and infusion started before it."""


class StepEntry(SQLModel, table=True):
    """One recorded step of a batch (seed, harvest, freeze, thaw, fucosylation, fill).

    ``values`` holds the typed inputs as canonical magnitudes keyed by SOP parameter
    name; computed values are derived on reading, so a correction flows through them.
    """

    __tablename__ = "step_entry"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    kind: str = Field(max_length=20)
    passage: int | None = None
    values: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    performed_at: datetime
    recorded_at: datetime
    recorded_by: int = Field(foreign_key="app_user.id")


class MaterialUse(SQLModel, table=True):
    """A material lot used in a step."""

    __tablename__ = "material_use"

    id: int | None = Field(default=None, primary_key=True)
    step_entry_id: int = Field(foreign_key="step_entry.id", index=True)
    material_lot_id: int = Field(foreign_key="material_lot.id")
    role: str = Field(max_length=40)


class Vial(SQLModel, table=True):
    """A frozen vial of a bank: inventory that a thaw consumes once."""

    __table_args__ = (
        UniqueConstraint("batch_id", "number"),
        # one vial in stock per storage position, whatever the case it was typed in
        unique_where(
            "ux_vial_position_in_stock", text("lower(location)"), where="thaw_entry_id IS NULL"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    number: int
    location: str = Field(max_length=MAX_VIAL_LOCATION)
    viable_cells: float = Field(sa_column_kwargs=measure("cells"))
    volume_ml: float = Field(sa_column_kwargs=measure("volume"))
    freeze_entry_id: int = Field(foreign_key="step_entry.id")
    thaw_entry_id: int | None = Field(default=None, foreign_key="step_entry.id")


class QcResult(SQLModel, table=True):
    """A QC result; a retest is a new row pointing at the one it retests."""

    __tablename__ = "qc_result"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    qc_id: str = Field(max_length=MAX_KEY)
    test: str = Field(max_length=MAX_KEY)
    name: str = Field(max_length=MAX_TEXT)
    method: str = Field(max_length=MAX_TEXT)
    stage: str = Field(max_length=20)
    value_num: float | None = None
    value_text: str | None = Field(default=None, max_length=MAX_TEXT)
    unit: str | None = Field(default=None, max_length=30)
    spec: str = Field(max_length=MAX_TEXT)
    passed: bool
    retest_of_id: int | None = Field(default=None, foreign_key="qc_result.id")
    performed_at: datetime
    recorded_at: datetime
    recorded_by: int = Field(foreign_key="app_user.id")


class Bag(SQLModel, table=True):
    """The final product unit of a dose batch, identified by DIN and product code."""

    __table_args__ = (
        UniqueConstraint("din", "product_code"),
        Index("ux_bag_number", "batch_id", "number", unique=True),  # `--bag N` names one bag
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    number: int
    fill_entry_id: int = Field(foreign_key="step_entry.id")
    din: str = Field(max_length=13)
    product_code: str = Field(max_length=8)
    expires_at: datetime


class BedsideCheck(SQLModel, table=True):
    """One bedside check, MATCH or NO MATCH, by two people (GMP-30); every attempt is kept.

    The wristband's hospital number is not stored (it would reach the audit trail): only
    the recipient ID it named and whether the hospital number agreed with the record.
    """

    __tablename__ = "bedside_check"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int | None = Field(default=None, foreign_key="batch.id", index=True)
    bag_id: int | None = Field(default=None, foreign_key="bag.id", index=True)
    wristband_recipient: str | None = Field(default=None, max_length=MAX_RECIPIENT_ID)
    bag_scans: str = Field(max_length=MAX_TEXT)
    match: bool
    reasons: str = Field(max_length=MAX_TEXT)
    checked_at: datetime
    checked_by: int = Field(foreign_key="app_user.id")
    second_by: int = Field(foreign_key="app_user.id")
    coi_rule: str | None = Field(default=None, max_length=200)
    """Which chain-of-identity rule the check was made under (``domain.bedside.coi_rule``);
    None for checks made before it was recorded, or when no bag was found."""


class BagCustody(SQLModel, table=True):
    """One hand-over of a bag: its issue from the cleanroom, each hand-over, its receipt.

    Each is a scan of the bag's label and the log-in of both people: the one handing over
    (the bag's holder) and the one taking it.
    """

    __tablename__ = "bag_custody"
    __table_args__ = (
        # a bag is issued once and received on the ward once (docs/clinic.md)
        unique_where("ux_bag_custody_issue", "bag_id", where="kind = 'issue'"),
        unique_where("ux_bag_custody_receipt", "bag_id", where="kind = 'receipt'"),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    bag_id: int = Field(foreign_key="bag.id", index=True)
    kind: str = Field(max_length=20)
    from_user: int = Field(foreign_key="app_user.id")
    to_user: int = Field(foreign_key="app_user.id")
    container: str | None = Field(default=None, max_length=MAX_TEXT)
    temperature_c: float | None = Field(default=None, sa_column_kwargs=measure("temperature"))
    at: datetime
    logger_id: str | None = Field(default=None, max_length=100)
    """The temperature logger packed with the bag (at its issue)."""
    condition: str | None = Field(default=None, max_length=MAX_TEXT)
    """The transport container's condition on arrival (at its receipt)."""
    readings: int | None = None
    """How many logger readings of the transport were read at the receipt."""
    temperature_min_c: float | None = Field(default=None, sa_column_kwargs=measure("temperature"))
    """The lowest temperature in transit (the logger's, or the one reading)."""
    temperature_max_c: float | None = Field(default=None, sa_column_kwargs=measure("temperature"))
    """The highest temperature in transit."""
    excursion: str | None = Field(default=None, max_length=MAX_TEXT)
    """What left the transport range, if anything (the bag is then on hold)."""


class InfusionRecord(SQLModel, table=True):
    """What happened to a bag at the bedside: the infusion, reactions, the bag's fate."""

    __tablename__ = "infusion_record"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    bag_id: int = Field(foreign_key="bag.id", unique=True, index=True)
    check_id: int | None = Field(default=None, foreign_key="bedside_check.id")
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    volume_ml: float | None = None
    reaction: str = Field(max_length=MAX_TEXT)
    reaction_grade: int | None = None
    fate: str = Field(max_length=20)
    fate_reason: str | None = Field(default=None, max_length=MAX_TEXT)
    recorded_at: datetime
    recorded_by: int = Field(foreign_key="app_user.id")


class AdverseEventReport(SQLModel, table=True):
    """A report that a recipient may have been harmed, linked to the recipient and the batch.

    Opened by the program with the information that calls for it (a failing result after
    infusion), for the clinic and QA to follow up.
    """

    __tablename__ = "adverse_event_report"

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    qc_result_id: int | None = Field(default=None, foreign_key="qc_result.id")
    description: str = Field(max_length=MAX_TEXT)
    status: str = Field(default="open", max_length=20)
    opened_at: datetime
    opened_by: int = Field(foreign_key="app_user.id")
    # the follow-up (cellbatch.domain.adverse_events): assessed by the clinic or QA, closed by QA
    severity_grade: int | None = None
    relatedness: str | None = Field(default=None, max_length=20)
    action_taken: str | None = Field(default=None, max_length=MAX_TEXT)
    physician_notified: str | None = Field(default=None, max_length=MAX_NAME)
    physician_notified_at: datetime | None = None
    assessed_at: datetime | None = None
    assessed_by: int | None = Field(default=None, foreign_key="app_user.id")
    closed_at: datetime | None = None
    closed_by: int | None = Field(default=None, foreign_key="app_user.id")
    closure: str | None = Field(default=None, max_length=MAX_TEXT)
    # a report opened by a recall: which recall (its hold) and which infused bag; a second
    # recall reaching the bag while this report is open names it instead of opening another
    hold_id: int | None = Field(default=None, foreign_key="product_hold.id")
    bag_id: int | None = Field(default=None, foreign_key="bag.id")


class Correction(SQLModel, table=True):
    """A change to a recorded value: old and new value and the mandatory reason."""

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    entity: str = Field(max_length=40)
    entity_id: int
    field: str = Field(max_length=60)
    old_value: str = Field(max_length=MAX_TEXT)
    new_value: str = Field(max_length=MAX_TEXT)
    reason: str = Field(max_length=MAX_TEXT)
    corrected_at: datetime
    corrected_by: int = Field(foreign_key="app_user.id")


class ReleaseDecision(SQLModel, table=True):
    """QA's decision on a batch: release, reject or quarantine."""

    __tablename__ = "release_decision"
    __table_args__ = (
        # one decision that locks the batch: a batch is released or rejected once
        unique_where(
            "ux_release_decision_final", "batch_id", where="decision IN ('release', 'reject')"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    decision: str = Field(max_length=20)
    reason: str = Field(max_length=MAX_TEXT)
    decided_at: datetime
    decided_by: int = Field(foreign_key="app_user.id")


class ReleaseChecklist(SQLModel, table=True):
    """The release criteria as QA saw them when deciding a batch, kept with the decision.

    The checklist is computed from the batch's records; after the decision, later events (a
    label destroyed, a hold lifted, a dose batch thawing the bank's vials) would change what it
    computes, so the record shows the one that stood at the decision.
    """

    __tablename__ = "release_checklist"

    id: int | None = Field(default=None, primary_key=True)
    release_decision_id: int = Field(foreign_key="release_decision.id", unique=True)
    criteria: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    """Each criterion: id, description, met, detail."""


class Signature(SQLModel, table=True):
    """A Part 11 electronic signature bound to the hash of exactly what was signed."""

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    entity: str = Field(max_length=40)
    entity_id: int
    meaning: str = Field(max_length=20)
    content_hash: str = Field(max_length=64)
    signer_id: int = Field(foreign_key="app_user.id")
    signer_name: str = Field(max_length=MAX_NAME)
    signed_at: datetime


class Deviation(SQLModel, table=True):
    """A departure from the SOP or specification, investigated and closed by QA."""

    # the home screen reads the newest open deviations and counts them
    __table_args__ = (Index("ix_deviation_status_id", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    title: str = Field(max_length=MAX_TEXT)
    description: str = Field(max_length=MAX_TEXT)
    classification: str | None = Field(default=None, max_length=20)
    status: str = Field(default="open", max_length=20)
    investigation: str | None = Field(default=None, max_length=MAX_TEXT)
    root_cause: str | None = Field(default=None, max_length=MAX_TEXT)
    capa: str | None = Field(default=None, max_length=MAX_TEXT)
    qc_result_id: int | None = Field(default=None, foreign_key="qc_result.id")
    opened_at: datetime
    opened_by: int = Field(foreign_key="app_user.id")
    closed_at: datetime | None = None
    closed_by: int | None = Field(default=None, foreign_key="app_user.id")


class LabelEvent(SQLModel, table=True):
    """A bag label printed, reprinted or scanned back, for label reconciliation."""

    __tablename__ = "label_event"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    bag_id: int | None = Field(default=None, foreign_key="bag.id")
    action: str = Field(max_length=20)
    final: bool = False
    copies: int = 1
    ok: bool | None = None
    reason: str | None = Field(default=None, max_length=MAX_TEXT)
    detail: str | None = None
    at: datetime
    by: int = Field(foreign_key="app_user.id")


class PrintedLabel(SQLModel, table=True):
    """One physical label as printed, and what became of it (label reconciliation).

    Printed (under a pinned site settings version, with the hash of what it carries), applied
    (verified by scan on its container), destroyed (once superseded by release or a reprint).
    """

    __tablename__ = "printed_label"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    print_event_id: int = Field(foreign_key="label_event.id", unique=True)
    bag_id: int | None = Field(default=None, foreign_key="bag.id", index=True)
    vial_id: int | None = Field(default=None, foreign_key="vial.id", index=True)
    sample: str | None = Field(default=None, max_length=60)
    kind: str = Field(max_length=20)
    final: bool = False
    reprint: bool = False
    flags: str = Field(max_length=2)
    site_settings_id: int = Field(foreign_key="site_settings.id")
    content_hash: str = Field(max_length=64)
    document_hash: str = Field(max_length=64)
    printed_at: datetime
    printed_by: int = Field(foreign_key="app_user.id")
    applied_at: datetime | None = None
    applied_by: int | None = Field(default=None, foreign_key="app_user.id")
    destroyed_at: datetime | None = None
    destroyed_by: int | None = Field(default=None, foreign_key="app_user.id")
    destroy_reason: str | None = Field(default=None, max_length=MAX_TEXT)
    content_version: int = 1
    """The version of the label's content (docs/labels.md): 1 before bag labels carried the
    chain-of-identity identifier, 2 since; the archive rebuilds the label at this version."""


class ProductHold(SQLModel, table=True):
    """Products put on hold at once for one reason: new donor information, a recall.

    Which batches it holds (and so their vials and bags) are its :class:`HeldBatch` rows;
    each is lifted on its own, by QA, with an electronic signature.
    """

    __tablename__ = "product_hold"

    id: int | None = Field(default=None, primary_key=True)
    cause: str = Field(max_length=30)
    reason: str = Field(max_length=MAX_TEXT)
    donor_id: int | None = Field(default=None, foreign_key="donor.id")
    placed_at: datetime
    placed_by: int = Field(foreign_key="app_user.id")
    origin: str | None = Field(default=None, max_length=MAX_NAME)
    """A recall's origin as the look-back names it (``bank EASC-B001``); None for other causes."""


class HeldBatch(SQLModel, table=True):
    """One batch held by a :class:`ProductHold`, with the deviation it opened; lifted by QA."""

    __tablename__ = "held_batch"
    __table_args__ = (UniqueConstraint("hold_id", "batch_id"),)

    id: int | None = Field(default=None, primary_key=True)
    hold_id: int = Field(foreign_key="product_hold.id", index=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    deviation_id: int = Field(foreign_key="deviation.id")
    lifted_at: datetime | None = None
    lifted_by: int | None = Field(default=None, foreign_key="app_user.id")
    lift_reason: str | None = Field(default=None, max_length=MAX_TEXT)


class AuditEntry(SQLModel, table=True):
    """One link of the append-only, hash-chained audit trail."""

    __tablename__ = "audit_entry"
    # the entry that recorded each of a batch's records, found by kind and id at once: with
    # two single-column indexes PostgreSQL ANDed the id's few rows with every signature's
    __table_args__ = (Index("ix_audit_entry_entity_entity_id", "entity", "entity_id"),)

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime
    user_id: int | None = None
    username: str = Field(max_length=64)
    action: str = Field(max_length=40)
    entity: str = Field(max_length=40, index=True)
    entity_id: str = Field(max_length=40, index=True)
    batch_id: int | None = Field(default=None, index=True)
    field: str | None = Field(default=None, max_length=80)
    old_value: str | None = None
    new_value: str | None = None
    reason: str | None = None
    row_hash: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The last link of the audit chain; its row lock serialises writers."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = 0
    hash: str = Field(max_length=64)


class AuditSeal(SQLModel, table=True):
    """Which site key seals this database's audit trail (its fingerprint, never the key).

    One row, written once when the trail is sealed (docs/trust-model.md). ``chain_id`` names
    this trail in the anchor log, which may hold the anchors of several databases.
    """

    __tablename__ = "audit_seal"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    chain_id: str = Field(max_length=32)
    key_fingerprint: str = Field(max_length=64)
    sealed_at: datetime
    entries_sealed: int
    """How many entries the trail had when it was sealed (checked with the unkeyed hash)."""
    legacy_head_hash: str = Field(max_length=64)
    """The unkeyed hash of the last of those entries, as it was before sealing."""


AUDITED_TABLES: dict[str, type[SQLModel]] = {
    model.__tablename__: model  # type: ignore[misc]
    for model in (
        User,
        AuditSeal,
        SopVersion,
        SopApproval,
        SopAuthorship,
        SecurityPolicyVersion,
        SiteSettingsVersion,
        Donor,
        Recipient,
        RecipientWeight,
        RecipientIdentity,
        TreatmentPlan,
        PlannedInfusion,
        DonorTest,
        DinCounter,
        TissueLot,
        MaterialLot,
        Batch,
        StepEntry,
        MaterialUse,
        Vial,
        QcResult,
        Bag,
        Correction,
        BedsideCheck,
        BagCustody,
        InfusionRecord,
        AdverseEventReport,
        ReleaseDecision,
        ReleaseChecklist,
        Signature,
        Deviation,
        LabelEvent,
        PrintedLabel,
        ProductHold,
        HeldBatch,
    )
}
"""Every table whose rows the audit chain vouches for, by table name."""
