"""Bag labels: printing (counted, pinned, signed when it must be), scan verification, destruction.

Every print is one :class:`~cellbatch.db.tables.LabelEvent` and one
:class:`~cellbatch.db.tables.PrintedLabel` per label, written with their audit entries in one
unit of work; the printed label pins the approved site settings version it was made under and
stores the hash of its content and of the rendered document. Final labels print only for a
released batch; before release the label is a quarantine label that says so in large letters.
The PDF itself is drawn by :mod:`cellbatch.documents.labels`, called back inside the
transaction before anything is counted.

Each label of a bag carries its own flag characters, so that a superseded label never passes
for the one in force: a quarantine label the facility's flags 20–59 (one more per reprint), the
final label the check flags (60 + check value, not printed), a final reprint 05 ("second or
repeated demand-printed label", ST-001 Table 3).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import isbt128
from cellbatch.db.database import Database
from cellbatch.db.tables import Bag, Batch, LabelEvent, PrintedLabel
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.text import MAX_TEXT, encoding_error, typed_text
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.domain.users import Actor, Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.batch_access import find_batch
from cellbatch.services.commands.signatures import add_signature
from cellbatch.services.queries.holds import batch_holds, refuse_if_held
from cellbatch.services.queries.label_content import (
    BAG_LABEL_VERSION,
    BagLabel,
    bag_identity,
    bag_label,
    bag_label_sources,
    therapy_coi,
)
from cellbatch.services.queries.label_scan import scan_differences as _compare
from cellbatch.services.queries.label_scan import which_label as _which_label
from cellbatch.services.queries.labels import (
    PrintedLabelView,
    label_in_force,
    label_view,
    parse_label_ref,
    printed_labels,
    supersession,
)
from cellbatch.services.queries.site_settings import (
    SiteSettingsView,
    site_settings_in_force,
    site_settings_version,
)
from cellbatch.services.unit_of_work import UnitOfWork

LABEL_ROLES = (Role.TECHNICIAN, Role.SUPERVISOR, Role.QA)
"""Roles that print and verify bag labels."""

REPRINT_FLAGS = "05"
"""DIN flag characters of a reprinted final label: "second (or repeated) demand-printed label"."""

QUARANTINE_FLAGS = isbt128.LOCAL_FLAGS
"""Flag characters of quarantine labels, defined by the facility (type 2): 20, then 21, 22, …
for each reprint, so that every quarantine label of a bag reads differently."""

__all__ = [
    "LABEL_ROLES",
    "QUARANTINE_FLAGS",
    "REPRINT_FLAGS",
    "BagLabel",
    "ScanCheck",
    "ScanReport",
    "approving_signer",
    "destroy_label",
    "print_labels",
    "record_print",
    "require_label_role",
    "verify_scans",
]


@dataclass(frozen=True)
class ScanCheck:
    """One scanned barcode compared with the bag and its label in force."""

    scan: str
    kind: str | None
    ok: bool
    differences: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScanReport:
    """The outcome of scanning a bag's label back: each scan, and whether the label is verified."""

    batch: str
    bag_number: int
    ok: bool
    checks: list[ScanCheck]
    missing: list[str]
    status: str = "released"
    """The batch status when scanned."""
    label: str | None = None
    """The label in force on the bag (what it is, when printed, under which site settings)."""
    holds: list[str] = field(default_factory=list)
    """The holds in force on the bag: a held product's label is never accepted."""

    def summary(self) -> str:
        """One line saying what was verified or what is wrong."""
        if self.ok:
            line = (
                f"label of {self.batch} bag {self.bag_number} verified: DIN, product code, expiry"
            )
            if self.status != "released":
                line += f"; the product is NOT released (batch status: {self.status})"
            return line
        problems = [
            f"scan {n}: " + "; ".join(c.differences)
            for n, c in enumerate(self.checks, start=1)
            if not c.ok
        ]
        if self.missing:
            problems.append("not scanned: " + ", ".join(self.missing))
        if self.holds:
            problems.append("the product is ON HOLD: " + "; ".join(self.holds))
        return f"label of {self.batch} bag {self.bag_number} NOT verified: " + " | ".join(problems)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def require_label_role(actor: Actor, action: str) -> None:
    """Only technicians, supervisors and QA print, scan and destroy labels."""
    actor.require(*LABEL_ROLES, action=action)


def _bags(session: Session, batch: Batch) -> list[Bag]:
    """The batch's bags in order of their number."""
    query = select(Bag).where(Bag.batch_id == batch.id).order_by(Bag.number)
    return list(session.execute(query).scalars())


def _bag(session: Session, batch: Batch, number: int | None = None) -> Bag:
    """The batch's bag (number ``number`` if given); refuse a batch with no bag."""
    if batch.kind != "dose":
        raise RuleViolation(f"{batch.code} is a bank: bag labels belong to dose batches")
    bags = _bags(session, batch)
    if not bags:
        raise RuleViolation(f"{batch.code} has no bag yet: labels print after the fill")
    if number is None:
        return bags[0]
    for bag in bags:
        if bag.number == number:
            return bag
    raise NotFound(
        f"{batch.code} has no bag {number} (bags: {', '.join(str(b.number) for b in bags)})"
    )


def _flags(din: isbt128.Din, final: bool, reprint: bool, earlier: int, where: str) -> str:
    """The flag characters of the next label of a bag (see the module's docstring)."""
    if final:
        return REPRINT_FLAGS if reprint else din.type3_flags()
    flags = QUARANTINE_FLAGS.start + earlier
    if flags not in QUARANTINE_FLAGS:
        raise RuleViolation(
            f"{where}: {earlier} quarantine labels were printed already; the facility's flag "
            f"characters {QUARANTINE_FLAGS.start}–{QUARANTINE_FLAGS.stop - 1} are used up"
        )
    return f"{flags:02d}"


def approving_signer(
    db: Database, approval: tuple[str, str] | None, *, needed: bool
) -> Actor | None:
    """The QA officer who signs a reprint of a released label (user ID and password again)."""
    if approval is None:
        if needed:
            raise InvalidInput(
                "--approver",
                "a reprint of a released batch's label needs a QA officer's electronic "
                "signature: give --approver QA-USER (their password is asked)",
            )
        return None
    if not needed:
        raise InvalidInput(
            "--approver", "only the reprint of a released batch's label is approved by QA"
        )
    username, password = approval
    signer = reauthenticate(db, username, password)
    signer.require(Role.QA, action="approve the reprint of a released label")
    return signer


def print_labels(
    db: Database,
    actor: Actor,
    code: str,
    render: Callable[[list[BagLabel]], bytes],
    *,
    reprint: bool = False,
    reason: str | None = None,
    approver: tuple[str, str] | None = None,
) -> list[BagLabel]:
    """Print the labels of a dose batch's bags: one counted, audited, pinned label per bag.

    ``render`` draws the labels and returns the document as written (e.g. the PDF put in
    place); it runs inside the transaction, before anything is counted, so if it fails
    nothing is. A released batch gets final labels, any other open batch a quarantine label;
    a rejected batch gets none. A second print of the same kind of label is refused unless it
    is a reprint, which needs a reason, is marked on the label and supersedes the label it
    replaces; the reprint of a final label also needs a QA officer's signature (``approver``:
    user ID and password).
    """
    require_label_role(actor, "print bag labels")
    reason = (reason or "").strip() or None
    if reprint:
        reason = typed_text(reason, "--reason", what="the reason for the reprint (e.g. 'smudged')")
    if not reprint and reason is not None:
        raise InvalidInput("--reason", "a reason is only given with --reprint")
    with db.session() as session:
        released = find_batch(session, code).status == "released"
    signer = approving_signer(db, approver, needed=reprint and released)
    with UnitOfWork(db, actor) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        _bag(uow.session, batch)
        if batch.status == "rejected":
            raise RuleViolation(f"{batch.code} is rejected: its bag must not be labelled")
        refuse_if_held(uow.session, batch, "labelled")
        final = batch.status == "released"
        if final != released:
            raise RuleViolation(f"{batch.code} was decided meanwhile: print its labels again")
        expired = [b for b in _bags(uow.session, batch) if as_utc(b.expires_at) <= uow.now]
        if expired:
            when = as_utc(expired[0].expires_at).strftime("%Y-%m-%d %H:%M UTC")
            raise RuleViolation(
                f"{batch.code} bag {expired[0].number} expired at {when}: an expired product "
                "is not labelled for infusion"
            )
        site = site_settings_in_force(uow.session)
        for bag in _bags(uow.session, batch):
            for row in bag_label_sources(uow.session, batch, bag):
                uow.prove(row)
        labels: list[tuple[Bag, BagLabel]] = []
        existing = printed_labels(uow.session, batch)
        kind = "final" if final else "quarantine"
        for bag in _bags(uow.session, batch):
            earlier = [p for p in existing if p.bag_id == bag.id and p.final == final]
            where = f"{batch.code} bag {bag.number}"
            if reprint and not earlier:
                raise RuleViolation(
                    f"no {kind} label of {where} was printed yet: print it first (without "
                    "--reprint)"
                )
            if not reprint and earlier:
                raise RuleViolation(
                    f"the {kind} label of {where} was already printed: use --reprint --reason "
                    "TEXT, and the label is marked as a reprint"
                )
            din = isbt128.Din.from_code(bag.din)
            flags = _flags(din, final, reprint, len(earlier), where)
            label = bag_label(
                uow.session, batch, bag, site,
                final=final, reprint=reprint, flags=flags, printed_by=actor.username,
                printed_at=iso_utc(uow.now) or "", reason=reason,
                content_version=BAG_LABEL_VERSION,
            )  # fmt: skip
            labels.append((bag, label))
        document = render([label for _bag_row, label in labels])
        document_hash = hashlib.sha256(document).hexdigest()
        for bag, label in labels:
            record_print(
                uow, batch, label, site,
                kind="bag", bag_id=bag.id, final=final, reprint=reprint, reason=reason,
                document_hash=document_hash, signer=signer,
                what=f"{kind} label of bag {bag.number}", content_version=label.content_version,
            )  # fmt: skip
        uow.commit()
        return [label for _bag_row, label in labels]


def record_print(
    uow: UnitOfWork,
    batch: Batch,
    label: Any,
    site: SiteSettingsView,
    *,
    kind: str,
    final: bool,
    reprint: bool,
    reason: str | None,
    document_hash: str,
    signer: Actor | None,
    what: str,
    bag_id: int | None = None,
    vial_id: int | None = None,
    sample: str | None = None,
    content_version: int = 1,
) -> PrintedLabel:
    """Count one printed label: its event and its printed-label row, and QA's approval.

    The printed-label row is pinned to ``site`` and holds the hash of the label's content (of
    ``content_version``) and of the document it was rendered in; ``signer`` signs (approves)
    a reprint that needs it.
    """
    event = uow.add(
        LabelEvent(
            batch_id=batch.id,
            bag_id=bag_id,
            action="reprint" if reprint else "print",
            final=final,
            copies=1,
            reason=reason,
            detail=json.dumps(label.barcodes(), sort_keys=True),
            at=uow.now,
            by=uow.actor.id,
        ),
        batch_id=batch.id,
        reason=reason,
    )
    printed = uow.add(
        PrintedLabel(
            batch_id=batch.id,
            print_event_id=event.id,
            bag_id=bag_id,
            vial_id=vial_id,
            sample=sample,
            kind=kind,
            final=final,
            reprint=reprint,
            flags=label.flags,
            site_settings_id=site.id,
            content_hash=label.content_hash(),
            content_version=content_version,
            document_hash=document_hash,
            printed_at=uow.now,
            printed_by=uow.actor.id,
        ),
        batch_id=batch.id,
        reason=f"{what} printed under {site.label}",
    )
    if signer is not None:
        add_signature(uow, signer, batch, "printed_label", printed.id, "approved")
    return printed


def verify_scans(
    db: Database, actor: Actor, code: str, bag_number: int, scans: list[str]
) -> ScanReport:
    """Compare what the scanner read from a bag's label with the bag; record the outcome.

    The label is verified when every scan parses as ISBT 128, matches the bag and the bag's
    label in force (a superseded label fails: its flag characters tell it apart), and together
    the scans cover the DIN, product code and expiry (the Data Matrix alone covers all three).
    A verified label in force is marked applied. A failed verification is recorded too,
    saying exactly what differs.
    """
    require_label_role(actor, "verify bag labels")
    for scan in scans:
        problem = encoding_error(scan)
        if problem is not None:  # no database stores it; what a scanner types is UTF-8
            raise InvalidInput("--scan", problem)
    if not scans:
        raise InvalidInput("--scan", "scan at least one barcode of the label")
    with UnitOfWork(db, actor) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        bag = _bag(uow.session, batch, bag_number)
        current = label_in_force(uow.session, batch, kind="bag", bag_id=bag.id)
        view = (
            site_settings_version(uow.session, current.site_settings_id)
            if current is not None
            else site_settings_in_force(uow.session)
        )
        din, product, expiry = bag_identity(bag, view.settings)
        label_coi = (
            therapy_coi(uow.session, batch)
            if current is not None and current.content_version >= 2
            else None
        )
        checks: list[ScanCheck] = []
        covered: set[str] = set()
        for text in scans:
            try:
                parsed = isbt128.parse_scan(text)
            except InvalidInput as exc:
                checks.append(
                    ScanCheck(text, None, False, [f"not a valid ISBT 128 barcode: {exc.message}"])
                )
                continue
            differences = _compare(parsed, din, product, expiry, label_coi)
            if not differences:
                differences = _which_label(uow.session, batch, bag, parsed, current)
            checks.append(ScanCheck(parsed.text, parsed.kind, not differences, differences))
            if parsed.din is not None:
                covered.add("DIN")
            if parsed.product is not None:
                covered.add("product code")
            if parsed.expiry is not None:
                covered.add("expiry")
        missing = [n for n in ("DIN", "product code", "expiry") if n not in covered]
        holds = [h.text() for h in batch_holds(uow.session, batch)]
        ok = all(c.ok for c in checks) and not missing and not holds
        described = None
        if current is not None:
            described = (
                f"{label_view(uow.session, batch, current.id).describe()}; {view.describe()}"
            )
        report = ScanReport(
            batch.code, bag.number, ok, checks, missing, batch.status, described, holds
        )
        uow.add(
            LabelEvent(
                batch_id=batch.id,
                bag_id=bag.id,
                action="scan",
                final=batch.status == "released",
                copies=0,
                ok=ok,
                reason=None if ok else report.summary()[:MAX_TEXT],
                detail=json.dumps(report.to_dict(), sort_keys=True, ensure_ascii=False),
                at=uow.now,
                by=actor.id,
            ),
            batch_id=batch.id,
            reason=None if ok else report.summary()[:MAX_TEXT],
        )
        if ok and current is not None and current.applied_at is None:
            _mark(uow, batch, current, "applied", "verified by scan on its container")
        uow.commit()
        return report


def _mark(uow: UnitOfWork, batch: Batch, label: PrintedLabel, what: str, reason: str) -> None:
    """Record that a label was applied or destroyed: when and by whom, one audit entry."""
    setattr(label, f"{what}_at", uow.now)
    setattr(label, f"{what}_by", uow.actor.id)
    uow.session.add(label)
    uow.session.flush()
    uow.session.refresh(label)
    uow.audit(
        "update",
        label,
        field=what,
        old_value=None,
        new_value=f"{what} {iso_utc(uow.now)} by {uow.actor.username}",
        reason=reason,
        batch_id=batch.id,
    )


def destroy_label(
    db: Database, actor: Actor, code: str, label_ref: str, reason: str
) -> PrintedLabelView:
    """Record that a superseded label was destroyed (label reconciliation), with a reason.

    Only a superseded label is destroyed: the label in force is superseded by a reprint first.
    """
    require_label_role(actor, "record the destruction of labels")
    label_id = parse_label_ref(label_ref)
    why = typed_text(reason, "--reason", what="how the label was destroyed")
    with UnitOfWork(db, actor) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        label = uow.session.get(PrintedLabel, label_id)
        if label is None or label.batch_id != batch.id:
            raise NotFound(f"{batch.code} has no printed label L{label_id}")
        if label.destroyed_at is not None:
            raise RuleViolation(f"L{label_id} of {batch.code} was already recorded destroyed")
        gone = supersession(uow.session, batch, printed_labels(uow.session, batch))
        if label.id not in gone:
            raise RuleViolation(
                f"L{label_id} is the label in force on its container: a label is destroyed "
                "once superseded (by the release or by a reprint)"
            )
        label.destroy_reason = why
        _mark(uow, batch, label, "destroyed", why)
        view = label_view(uow.session, batch, label.id)
        uow.commit()
        return view
