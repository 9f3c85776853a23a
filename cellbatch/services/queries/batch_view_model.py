"""The typed read model of one batch (what ``batch_view`` returns), frozen, with ``to_dict()``.

``to_dict()`` gives the JSON of ``batch show --json`` and of the ``batch`` part of the
electronic copy of a record (``cellbatch-batch-record/1``): the kind-specific parts
(:class:`ExpansionPart`, :class:`DosePart`) and a passage's harvest are flattened into their
parent there, as that format always had them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cellbatch.services.queries.deviations import DeviationView
from cellbatch.services.queries.plain import Person, Plain, Quantity, plain
from cellbatch.services.queries.signatures import SignatureView


@dataclass(frozen=True)
class SopRef(Plain):
    """The SOP version a batch is made under, as pinned by its content hash."""

    id: str
    version: str
    content_hash: str
    title: str


@dataclass(frozen=True)
class DonorRef(Plain):
    """The donor of a batch's tissue."""

    code: str
    relationship: str
    eligibility: str


@dataclass(frozen=True)
class TissueLotRef(Plain):
    """The tissue lot (donation) a bank was made from."""

    lot: str
    tissue: str
    amount: str
    collected_at: str
    received_at: str


@dataclass(frozen=True)
class MaterialRef(Plain):
    """A material lot used by a step entry."""

    kind: str
    lot: str
    name: str
    expires: str


@dataclass(frozen=True)
class StepView(Plain):
    """One step entry: its values by SOP parameter name, materials, who, and its QA state."""

    id: str
    kind: str
    passage: int | None
    values: Mapping[str, Any]
    """Recorded values by parameter name: a :class:`Quantity`, a text, a number or a list."""
    materials: tuple[MaterialRef, ...]
    performed_at: str
    recorded_at: str
    recorded_by: Person
    corrected_fields: tuple[str, ...]
    needs_verification: bool
    verification_status: str
    verifications: tuple[SignatureView, ...]
    signatures: tuple[SignatureView, ...]

    @property
    def flags(self) -> tuple[str, ...]:
        """Values recorded outside the SOP range, as flagged when recorded."""
        return tuple(self.values.get("flags") or ())


@dataclass(frozen=True)
class QcView(Plain):
    """One QC result against its specification, with its QA state."""

    id: str
    qc_id: str
    test: str
    name: str
    method: str
    stage: str
    value: str | Quantity
    specification: str
    passed: bool
    out_of_spec: bool
    retest_of: str | None
    performed_at: str
    recorded_at: str
    recorded_by: Person
    corrected: bool
    after_release: bool
    """A late result: recorded after the batch's release (a result after infusion)."""
    needs_verification: bool
    verification_status: str
    verifications: tuple[SignatureView, ...]
    signatures: tuple[SignatureView, ...]

    @property
    def shown(self) -> str:
        """The result as read: a quantity's display text, or the text recorded."""
        return self.value.display if isinstance(self.value, Quantity) else self.value


@dataclass(frozen=True)
class CorrectionView(Plain):
    """A value changed after first entry: old, new, why, who and when."""

    id: int
    entry: str
    field: str
    old_value: str
    new_value: str
    old_display: str
    """The old value as read, with its unit (``37 °C``)."""
    new_display: str
    """The new value as read, with its unit."""
    reason: str
    corrected_at: str
    corrected_by: Person


@dataclass(frozen=True)
class ReleaseDecisionView(Plain):
    """QA's signed decision on a batch."""

    decision: str
    reason: str
    decided_at: str
    decided_by: Person


@dataclass(frozen=True)
class Harvest(Plain):
    """The harvest closing a passage, with the growth computed from it."""

    harvest_entry: str
    total_cells_harvested: Quantity
    viability: Quantity
    confluence: Quantity | None
    viable_cells_harvested: Quantity
    population_doublings: float
    cumulative_population_doublings: float
    culture_hours: float
    doubling_time_hours: float | None
    harvested_at: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Passage(Plain):
    """One passage of an expansion: its seeding and, once harvested, its harvest."""

    passage: int
    seed_entry: str
    vessel: str
    vessels: int
    area: Quantity | None
    viable_cells_seeded: Quantity
    seeding_density: Quantity | None
    seeded_at: str
    harvest: Harvest | None = None

    def to_dict(self) -> dict[str, Any]:
        """The seeding, then the harvest's values in the same object (as the format has it)."""
        out = super().to_dict()
        out.pop("harvest")
        if self.harvest is not None:
            out.update(self.harvest.to_dict())
        return out


@dataclass(frozen=True)
class Limits(Plain):
    """The SOP's limits of an expansion."""

    max_passage: int
    min_bank_passage: int
    max_cumulative_pd: float


@dataclass(frozen=True)
class BankView(Plain):
    """The bank frozen at the end of an expansion."""

    entry: str
    passage: int | None
    vials_frozen: int
    cells_per_vial: Quantity
    volume_per_vial: Quantity
    total_cells_frozen: Quantity
    location: str
    frozen_at: str


@dataclass(frozen=True)
class VialView(Plain):
    """One vial of a bank: where it is, what it holds, and which dose batch thawed it."""

    number: int
    location: str
    viable_cells: Quantity | None
    volume: Quantity | None
    status: str
    thawed_for: str | None


@dataclass(frozen=True)
class ChildBatch(Plain):
    """A dose batch made from a bank."""

    code: str
    status: str


@dataclass(frozen=True)
class ExpansionPart(Plain):
    """What only an expansion batch (a bank) has."""

    passages: tuple[Passage, ...]
    cumulative_population_doublings: float
    limits: Limits
    bank: BankView | None
    vials: tuple[VialView, ...]
    vials_left: int
    children: tuple[ChildBatch, ...]


@dataclass(frozen=True)
class TargetWindow(Plain):
    """The dose's acceptable range of viable cells."""

    low: Quantity
    high: Quantity


@dataclass(frozen=True)
class ThawView(Plain):
    """The thaw of a dose batch."""

    entry: str
    vials: int
    vial_numbers: Any
    total_cells: Quantity
    viability: Quantity
    viable_cells: Quantity
    thawed_at: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class FucosylationView(Plain):
    """The fucosylation of a dose batch: its recorded values, start, end and duration."""

    entry: str
    values: Mapping[str, Any]
    """The step's recorded values other than start and end, by parameter name."""
    start: str
    end: str
    duration: Quantity

    def to_dict(self) -> dict[str, Any]:
        """The entry, its values, then start, end and duration, in one object."""
        return {
            "entry": self.entry,
            **plain(dict(self.values)),
            "start": self.start,
            "end": self.end,
            "duration": self.duration.to_dict(),
        }


@dataclass(frozen=True)
class FillView(Plain):
    """The fill of the bag, with the dose computed from it."""

    entry: str
    volume: Quantity
    viable_cells: Quantity
    concentration: Quantity
    dose_per_kg: Quantity
    deviation_from_target_percent: float
    within_tolerance: bool
    filled_at: str


@dataclass(frozen=True)
class BagView(Plain):
    """The bag of a dose batch."""

    number: int
    din: str
    product_code: str
    expires_at: str


@dataclass(frozen=True)
class DosePart(Plain):
    """What only a dose batch has."""

    parent: str
    recipient: str | None
    body_weight: Quantity
    dose_per_kg: Quantity
    infusion_number: int | None
    infusion_day: int | None
    target_viable_cells: Quantity
    tolerance_percent: float
    target_window: TargetWindow
    thaw: ThawView | None
    fucosylation: FucosylationView | None
    fill: FillView | None
    bag: BagView | None
    expiry: str | None

    def to_dict(self) -> dict[str, Any]:
        """The fields in order; ``expiry`` only once a bag is filled (as the format has it)."""
        out = super().to_dict()
        if self.expiry is None:
            out.pop("expiry")
        return out


@dataclass(frozen=True)
class BatchView(Plain):
    """Everything recorded about a batch, computed values included."""

    code: str
    kind: str
    status: str
    product: str
    sop: SopRef
    started_at: str
    recorded_by: Person
    donor: DonorRef
    tissue_lot: TissueLotRef
    din: str
    steps: tuple[StepView, ...]
    next_steps: tuple[str, ...]
    expansion: ExpansionPart | None
    """Set for an expansion batch (a bank), None for a dose batch."""
    dose: DosePart | None
    """Set for a dose batch, None for a bank."""
    qc: tuple[QcView, ...]
    corrections: tuple[CorrectionView, ...]
    release_decisions: tuple[ReleaseDecisionView, ...]
    signatures: tuple[SignatureView, ...]
    deviations: tuple[DeviationView, ...]

    @property
    def locked(self) -> bool:
        """Released or rejected: nothing more is recorded."""
        return self.status in ("released", "rejected")

    def step(self, ref: str) -> StepView:
        """The step entry ``E12`` of this batch (KeyError if it has none)."""
        for s in self.steps:
            if s.id == ref:
                return s
        raise KeyError(ref)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``batch show``: the kind's part flattened after ``next_steps``."""
        out: dict[str, Any] = {}
        for name, value in super().to_dict().items():
            if name in ("expansion", "dose"):
                if value is not None:
                    out.update(value)
                continue
            out[name] = value
        return out
