"""Labels of a bank's cryovials and QC sample tubes, printed at the freeze (ST-001 §7.3.1).

Counted, pinned and reconciled like bag labels (:mod:`cellbatch.services.commands.labels`):
one label event and one printed label per vial or tube. The first print labels every vial in
stock and every QC sample tube the bank's SOP asks for (one per method of its release tests)
that has no label yet; a reprint names the vials (``--vial``), needs a reason, carries flags 05
and supersedes the label it replaces; on a released bank it also needs a QA officer's
signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy import select

from cellbatch.db.database import Database
from cellbatch.db.tables import Vial
from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.domain.text import typed_text
from cellbatch.domain.timeparse import iso_utc
from cellbatch.domain.users import Actor
from cellbatch.services.batch_access import find_batch
from cellbatch.services.commands.labels import (
    approving_signer,
    record_print,
    require_label_role,
)
from cellbatch.services.queries.label_content import vial_label_sources
from cellbatch.services.queries.labels import printed_labels
from cellbatch.services.queries.site_settings import site_settings_in_force
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.vial_label_content import VialLabel, qc_samples, small_label
from cellbatch.services.unit_of_work import UnitOfWork

__all__ = ["print_vial_labels"]


def print_vial_labels(
    db: Database,
    actor: Actor,
    code: str,
    render: Callable[[list[VialLabel]], bytes],
    *,
    reprint: bool = False,
    reason: str | None = None,
    vials: list[int] | None = None,
    approver: tuple[str, str] | None = None,
) -> list[VialLabel]:
    """Print the small labels of a bank: its vials (and, the first time, its QC sample tubes).

    ``render`` draws them and returns the document as written, before anything is counted.
    """
    require_label_role(actor, "print vial labels")
    reason = (reason or "").strip() or None
    if reprint:
        reason = typed_text(reason, "--reason", what="the reason for the reprint (e.g. 'smudged')")
        if not vials:
            raise InvalidInput("--vial", "name the vials whose labels are reprinted (--vial N)")
    elif reason is not None:
        raise InvalidInput("--reason", "a reason is only given with --reprint")
    elif vials:
        raise InvalidInput("--vial", "vials are named only for a reprint; a print labels them all")
    with db.session() as session:
        released = find_batch(session, code).status == "released"
    signer = approving_signer(db, approver, needed=reprint and released)
    with UnitOfWork(db, actor) as uow:
        bank = find_batch(uow.session, code, for_update=True)
        if bank.kind != "expansion":
            raise RuleViolation(f"{bank.code} is a dose batch: vial labels belong to banks")
        if bank.status == "rejected":
            raise RuleViolation(f"{bank.code} is rejected: its vials must not be labelled")
        if (bank.status == "released") != released:
            raise RuleViolation(f"{bank.code} was decided meanwhile: print its labels again")
        rows = list(
            uow.session.execute(
                select(Vial).where(Vial.batch_id == bank.id).order_by(Vial.number)
            ).scalars()
        )
        if not rows:
            raise RuleViolation(f"{bank.code} has no vials yet: vial labels print at the freeze")
        for row in vial_label_sources(uow.session, bank):
            uow.prove(row)  # a label never prints a value edited in the database
        existing = printed_labels(uow.session, bank)
        labelled = {p.vial_id for p in existing if p.kind == "vial"}
        sampled = {p.sample for p in existing if p.kind == "qc-sample"}
        tests = qc_samples(list(sop_of(uow.session, bank).qc))
        if reprint:
            by_number = {v.number: v for v in rows}
            unknown = [n for n in vials or [] if n not in by_number]
            if unknown:
                raise InvalidInput(
                    "--vial", f"{bank.code} has no vial {', '.join(map(str, unknown))}"
                )
            chosen = [by_number[n] for n in dict.fromkeys(vials or [])]
            gone = [v.number for v in chosen if v.thaw_entry_id is not None]
            if gone:
                raise RuleViolation(
                    f"vial {', '.join(map(str, gone))} of {bank.code} was thawed: no label"
                )
            never = [v.number for v in chosen if v.id not in labelled]
            if never:
                raise RuleViolation(
                    f"no label of vial {', '.join(map(str, never))} of {bank.code} was printed "
                    "yet: print the vial labels first (without --reprint)"
                )
            samples = []
        else:
            chosen = [v for v in rows if v.thaw_entry_id is None and v.id not in labelled]
            samples = [(n, t) for n, t in enumerate(tests, start=1) if t.key not in sampled]
            if not chosen and not samples:
                raise RuleViolation(
                    f"the labels of {bank.code}'s vials and QC samples were already printed: "
                    "use --reprint --reason TEXT --vial N"
                )
        site = site_settings_in_force(uow.session)
        common = {
            "reprint": reprint,
            "printed_by": actor.username,
            "printed_at": iso_utc(uow.now) or "",
            "reason": reason,
        }

        def label_of(vial: Vial | None, sample, count: int) -> VialLabel:
            return small_label(
                uow.session, bank, site, vial=vial, sample=sample, count=count, **common
            )

        made = [(v, None, label_of(v, None, len(rows))) for v in chosen]
        made += [(None, t, label_of(None, (n, t), len(tests))) for n, t in samples]
        document = render([label for _v, _t, label in made])
        document_hash = hashlib.sha256(document).hexdigest()
        for vial, test, label in made:
            record_print(
                uow, bank, label, site,
                kind=label.kind, vial_id=vial.id if vial else None,
                sample=test.key if test else None, final=False, reprint=reprint, reason=reason,
                document_hash=document_hash, signer=signer,
                what=f"label of {label.title.lower()}",
            )  # fmt: skip
        uow.commit()
        return [label for _v, _t, label in made]
