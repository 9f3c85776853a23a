"""The bedside check and the infusion record (GMP-30): two people, the wristband, the bag.

The person logged in and a second person (who re-authenticates) scan the patient's wristband
and the bag's label barcodes (DIN and product code). cellbatch says MATCH only when the bag
belongs to this recipient, is for this recipient's next infusion (the plan's lowest infusion
not yet given), is released, in date, not on hold and received on the ward
(:func:`cellbatch.domain.bedside.mismatches`).
Every attempt, MATCH or NO MATCH, unreadable scans included, is a ``bedside_check`` record in
its own transaction. The infusion record of a bag given (infused, partly infused) needs a MATCH
of that bag; a bag not infused or discarded needs the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import isbt128, units
from cellbatch.db.database import Database
from cellbatch.db.tables import (
    Bag,
    BagCustody,
    Batch,
    BedsideCheck,
    InfusionRecord,
    Recipient,
    RecipientIdentity,
    StepEntry,
)
from cellbatch.domain import bedside as rules
from cellbatch.domain.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from cellbatch.domain.refs import record_number
from cellbatch.domain.text import MAX_TEXT, typed_text
from cellbatch.domain.timeparse import as_utc
from cellbatch.domain.trusted_time import MAX_CLOCK_SKEW_SECONDS
from cellbatch.domain.users import CLINIC_ROLES, Actor
from cellbatch.services.auth import reauthenticate
from cellbatch.services.queries.holds import holds_on
from cellbatch.services.queries.label_content import therapy_coi
from cellbatch.services.queries.label_scan import bag_expiry_differs, label_scan_differences
from cellbatch.services.queries.labels import label_in_force
from cellbatch.services.queries.plans import next_to_give_of, plan_of
from cellbatch.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class BedsideResult:
    """The verdict of one bedside check, as recorded."""

    ref: str
    match: bool
    reasons: list[str]
    recipient: str | None
    batch: str | None
    bag: int | None
    infusion: int | None

    def text(self) -> str:
        """``MATCH (BC3)`` or ``NO MATCH (BC4): reason; reason``."""
        if self.match:
            return f"MATCH ({self.ref}): {self.batch} bag {self.bag}, infusion {self.infusion} "
        return f"NO MATCH ({self.ref}): " + "; ".join(self.reasons)


@dataclass(frozen=True)
class LabelReads:
    """What the scans of a bag's label read: its DIN and product code, the CoIs, the faults."""

    din: str | None
    product: str | None
    cois: tuple[str, ...]
    problems: list[str]
    kept: tuple[str, ...] = ()
    """Each scan as it may be recorded: its ISBT 128 data, a keyed identifier's fault (a wrong
    check character), or :func:`not_isbt128` for it."""
    parsed: tuple[isbt128.Scan, ...] = ()
    """The scans that parsed, as read."""


def not_isbt128(text: str) -> str:
    """What is recorded of a scan that is not ISBT 128: only that it was there, and its length.

    Never its text: a wristband's hospital number, a name typed into the field.
    """
    return f"a scan that is not an ISBT 128 label ({len(text.strip())} characters)"


def read_label_scans(scans: list[str], *, detail: bool = True) -> LabelReads:
    """Read every scan with the one ISBT 128 parser (a bar code, a pair, the Data Matrix).

    A chain-of-identity identifier (``&/CH…``, Data Structure 040) is read from its own bar
    code or from the Data Matrix that carries it; a scan that cannot be read is a problem,
    said with the parser's words when ``detail`` (shown to whoever typed it, not recorded),
    else as :func:`not_isbt128` (what a recorded check keeps), or, for a DIN or CoI keyed
    as printed with a wrong check character, as the parser's fault without the identifier
    (:attr:`cellbatch.isbt128.WrongCheckCharacter.fault`).
    """
    din = product = None
    cois: list[str] = []
    problems = []
    kept = []
    parsed = []
    for text in scans:
        try:
            scan = isbt128.parse_scan(text)
        except InvalidInput as exc:
            what = (
                "chain-of-identity"
                if isbt128.clean_scan(text).upper().startswith((isbt128.COI_IDENTIFIER, "CH"))
                else "bag"
            )
            # a keyed identifier whose check character is wrong is said by its fault, which
            # names no identifier; anything else is kept only as "not an ISBT 128 label"
            said = exc.fault if isinstance(exc, isbt128.WrongCheckCharacter) else not_isbt128(text)
            problems.append(f"unreadable {what} scan: {exc.message if detail else said}")
            kept.append(said)
            continue
        kept.append(scan.text)
        parsed.append(scan)
        din = scan.din.code if scan.din else din
        product = scan.product.eye_readable if scan.product else product
        if scan.coi is not None:
            cois.append(scan.coi)
    return LabelReads(din, product, tuple(cois), problems, tuple(kept), tuple(parsed))


def _label_facts(session: Session, batch: Batch, bag: Bag) -> dict[str, Any]:
    """The content version of the bag's label in force and the CoI it carries."""
    label = label_in_force(session, batch, kind="bag", bag_id=bag.id)
    if label is None:
        return {"label_version": None, "label_coi": None}
    coi = therapy_coi(session, batch) if label.content_version >= 2 else None
    return {"label_version": label.content_version, "label_coi": coi}


def label_problems(
    session: Session, batch: Batch, bag: Bag, scans: tuple[isbt128.Scan, ...]
) -> list[str]:
    """Each scan against the bag's label in force, by the rule of ``label scan``.

    The DIN (with its flags), product code, expiry and CoI of every scan must be the label in
    force's: a superseded label's flags, flags never printed, a forged expiry each say why.
    When a label of the bag was printed, one scan must be of that label in force (its DIN
    with its flags: the Data Matrix, the DIN bar code, or the DIN keyed with the flags printed
    beside it); scans of the accompanying document alone are not, nor a DIN keyed without
    printed flags (type 3 check flags: the document prints the same DIN and check character,
    so only a bar code of the label tells the bag's label from it). A bag with no label printed
    in cellbatch keeps the rule of before (DIN and product code), its expiry still compared.
    """
    found = []
    labelled = True
    of_label = False
    for scan in scans:
        differences = label_scan_differences(session, batch, bag, scan)
        if differences is None:
            labelled = False
            differences = bag_expiry_differs(session, bag, scan)
        found.extend(f"the label scanned is not the bag's label in force: {d}" for d in differences)
        keyed_unflagged = scan.kind == "keyed" and isbt128.flag_type(scan.flags or "") == 3
        if scan.din is not None and not keyed_unflagged and not differences:
            of_label = True
    if labelled and not of_label:
        found.append(
            "the bag's label was not scanned: scan the bag's label in force (its Data Matrix "
            "or its DIN bar code, or key its DIN with the flags printed beside it), not the "
            "accompanying document"
        )
    return found


def _therapy_coi(session: Session, recipient: Recipient) -> str | None:
    try:
        return plan_of(session, recipient).coi
    except NotFound:
        return None


def bag_of_scans(session: Session, scans: list[str]) -> tuple[Bag | None, list[str]]:
    """The bag the label scans name (DIN and product code), and what could not be read."""
    return _bag_read(session, read_label_scans(scans))


def _bag_read(session: Session, reads: LabelReads) -> tuple[Bag | None, list[str]]:
    problems = list(reads.problems)
    if reads.din is None or reads.product is None:
        problems.append("the bag's DIN and product code were not both scanned")
        return None, problems
    bag = session.execute(
        select(Bag).where(Bag.din == reads.din, Bag.product_code == reads.product)
    ).scalar_one_or_none()
    if bag is None:
        problems.append(f"no bag {reads.din} {reads.product} in cellbatch")
    return bag, problems


def _audit_refusal(db: Database, actor: Actor, refused: PermissionDenied) -> None:
    """Audit a bedside check refused for who tried it (no check was made, none is recorded)."""
    with UnitOfWork(db, actor) as uow:
        uow.audit(
            "bedside_refused",
            None,
            entity="bedside_check",
            entity_id="refused",
            reason=f"bedside check refused: {refused}"[:MAX_TEXT],
        )
        uow.commit()


def bedside_check(
    db: Database,
    actor: Actor,
    second_user: str,
    second_password: str,
    wristband: str,
    scans: list[str],
) -> BedsideResult:
    """Two people check the wristband against the bag; the attempt is recorded either way.

    Who may check is decided first: a person without the clinic's role, the same person
    twice, or a wrong second password is refused before anything is scanned. Those are
    refusals of the people, not bedside checks: no BC record, but an audit entry each (the
    wrong password as every failed log-in, ``login_failed``; the others ``bedside_refused``).
    """
    try:
        actor.require(*CLINIC_ROLES, action="check bags at the bedside")
        second = reauthenticate(db, second_user, second_password)
        second.require(*CLINIC_ROLES, action="check bags at the bedside")
        if second.id == actor.id:
            raise PermissionDenied("the bedside check is made by two people: --second is you")
    except PermissionDenied as exc:
        _audit_refusal(db, actor, exc)
        raise
    with UnitOfWork(db, actor) as uow:
        session = uow.session
        reasons: list[str] = []
        band = None
        try:
            band = rules.read_wristband(wristband)
        except InvalidInput as exc:
            reasons.append(f"unreadable wristband: {exc.message}")
        reads = read_label_scans(scans, detail=False)
        bag, problems = _bag_read(session, reads)
        reasons.extend(problems)
        batch = session.get(Batch, bag.batch_id) if bag else None
        if bag is not None and batch is not None:
            reasons.extend(label_problems(session, batch, bag, reads.parsed))
        label = _label_facts(session, batch, bag) if bag and batch else {}
        rule = rules.coi_rule(**label) if label else None
        recipient = None
        if band is not None:
            recipient = session.execute(
                select(Recipient).where(Recipient.code == band.recipient)
            ).scalar_one_or_none()
            if recipient is None:
                reasons.append(f"the wristband names {band.recipient}, who is not registered")
        if band is not None and recipient is not None and bag is not None and batch is not None:
            identity = session.execute(
                select(RecipientIdentity).where(RecipientIdentity.recipient_id == recipient.id)
            ).scalar_one_or_none()
            facts = rules.BagFacts(
                recipient=batch.recipient_id,
                infusion=batch.infusion_number,
                status=batch.status,
                expires_at=as_utc(bag.expires_at),
                holds=[h.text() for h in holds_on(session, [batch.id]).get(batch.id, [])],
                received=session.execute(
                    select(BagCustody.id).where(
                        BagCustody.bag_id == bag.id, BagCustody.kind == "receipt"
                    )
                ).first()
                is not None,
                fate=session.execute(
                    select(InfusionRecord.fate).where(InfusionRecord.bag_id == bag.id)
                ).scalar_one_or_none(),
                **label,
            )
            reasons.extend(
                rules.mismatches(
                    band,
                    identity.patient_hospital_number if identity else None,
                    facts,
                    next_to_give_of(session, recipient),
                    uow.now,
                    reads.cois,
                    _therapy_coi(session, recipient),
                )
            )
        row = uow.add(
            BedsideCheck(
                batch_id=batch.id if batch else None,
                bag_id=bag.id if bag else None,
                wristband_recipient=band.recipient if band else None,
                bag_scans=" | ".join(reads.kept)[:MAX_TEXT],
                match=not reasons,
                reasons="; ".join(reasons)[:MAX_TEXT],
                checked_at=uow.now,
                checked_by=actor.id,
                second_by=second.id,
                coi_rule=rule,
            ),
            batch_id=batch.id if batch else None,
        )
        uow.commit()
        return BedsideResult(
            ref=f"BC{row.id}",
            match=not reasons,
            reasons=reasons,
            recipient=band.recipient if band else None,
            batch=batch.code if batch else None,
            bag=bag.number if bag else None,
            infusion=batch.infusion_number if batch else None,
        )


def _fill_volume(session: Session, bag_id: int) -> float | None:
    """The volume the bag was filled with (mL), from its fill step."""
    bag = session.get(Bag, bag_id)
    fill = session.get(StepEntry, bag.fill_entry_id) if bag else None
    return fill.values.get("volume") if fill is not None else None


def parse_check_ref(ref: str, field: str = "--check") -> int:
    """``BC3`` or ``3`` as the bedside check's id."""
    found = record_number(ref, ("BC", ""), "bedside check")
    if found is None:
        raise InvalidInput(field, f"expected BC<number>, got {ref.strip()[:20]!r}")
    return found[1]


def record_infusion(
    db: Database,
    actor: Actor,
    check: str,
    *,
    fate: str,
    started: datetime | None = None,
    stopped: datetime | None = None,
    volume: str | None = None,
    reaction: str = "none",
    grade: int | None = None,
    reason: str | None = None,
) -> str:
    """Record what became of the bag of a bedside check: the infusion, reactions, its fate."""
    actor.require(*CLINIC_ROLES, action="record infusions")
    if fate not in rules.FATES:
        raise InvalidInput("--fate", f"expected one of {', '.join(rules.FATES)}, got {fate!r}")
    reaction = typed_text(reaction, "--reaction", what="'none' or the reaction's type", limit=200)
    volume_ml = units.parse(volume, "volume", field="--volume") if volume else None
    if reason is not None:
        reason = typed_text(reason, "--reason", what="why")
    started = as_utc(started) if started is not None else None
    stopped = as_utc(stopped) if stopped is not None else None
    check_id = parse_check_ref(check)
    with UnitOfWork(db, actor) as uow:
        row = uow.session.get(BedsideCheck, check_id)
        if row is None or row.bag_id is None:
            raise NotFound(f"--check: no bedside check BC{check_id} of a bag in cellbatch")
        if fate != "not-infused" and not row.match:
            raise RuleViolation(
                f"--check: BC{check_id} said NO MATCH: a bag is given only after a MATCH, and "
                "recorded discarded only after one; a bag that failed its check is recorded "
                "as not-infused, --reason saying what became of it (e.g. returned, destroyed)"
            )
        rules.check_infusion(
            fate,
            started=started,
            stopped=stopped,
            volume_ml=volume_ml,
            bag_volume_ml=_fill_volume(uow.session, row.bag_id),
            reaction=reaction,
            grade=grade,
            reason=reason,
            checked_at=as_utc(row.checked_at),
            latest=uow.now + timedelta(seconds=MAX_CLOCK_SKEW_SECONDS),
        )
        bag = uow.session.get(Bag, row.bag_id)
        if uow.session.execute(
            select(InfusionRecord.id).where(InfusionRecord.bag_id == bag.id)
        ).first():
            raise RuleViolation(f"the bag of BC{check_id} has its infusion record already")
        record = uow.add(
            InfusionRecord(
                batch_id=bag.batch_id,
                bag_id=bag.id,
                check_id=row.id,
                started_at=started,
                stopped_at=stopped,
                volume_ml=volume_ml,
                reaction=reaction,
                reaction_grade=grade,
                fate=fate,
                fate_reason=reason,
                recorded_at=uow.now,
                recorded_by=actor.id,
            ),
            batch_id=bag.batch_id,
        )
        uow.commit()
        return f"IR{record.id}"
