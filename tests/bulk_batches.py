"""Many batches fast, for tests and benchmarks of scale: copies of a recorded batch's rows.

A copy holds the batch's step entries with their material uses, its QC results, corrections,
deviations and signatures, each pointing at the copy's own rows (so a copied signature is
over another record's id and shows as invalid, as a moved signature must). Bags and vials
are not copied (their DINs and storage positions are unique). The copies are written
straight into the tables, without audit entries: volume for reading, not a record.
"""

from __future__ import annotations

from sqlalchemy import select

from cellbatch.db.tables import (
    Batch,
    Correction,
    Deviation,
    MaterialUse,
    QcResult,
    Signature,
    StepEntry,
)


def _columns(row) -> dict:
    return {c.name: getattr(row, c.name) for c in row.__table__.columns if c.name != "id"}


def clone_batches(db, code: str, copies: int) -> list[str]:
    """Write ``copies`` copies of batch ``code``; their codes, ``<code>-C<n>``."""
    made = []
    with db.session() as session:
        source = session.execute(select(Batch).where(Batch.code == code)).scalar_one()

        def rows(model):
            return list(
                session.execute(
                    select(model).where(model.batch_id == source.id).order_by(model.id)
                ).scalars()
            )

        steps, results, fixes = rows(StepEntry), rows(QcResult), rows(Correction)
        devs, sigs = rows(Deviation), rows(Signature)
        uses = list(
            session.execute(
                select(MaterialUse).where(MaterialUse.step_entry_id.in_([e.id for e in steps]))
            ).scalars()
        )
        for n in range(1, copies + 1):
            batch = Batch(**_columns(source))
            batch.code = f"{code}-C{n}"
            if batch.recipient_id:
                batch.recipient_id = f"{batch.recipient_id}-C{n}"
            session.add(batch)
            session.flush()
            ids: dict[tuple[str, int], int] = {("batch", source.id): batch.id}
            for entity, model, originals in (
                ("step_entry", StepEntry, steps),
                ("qc_result", QcResult, results),
            ):
                for row in originals:
                    copy = model(**{**_columns(row), "batch_id": batch.id})
                    if entity == "qc_result" and row.retest_of_id:
                        copy.retest_of_id = ids[("qc_result", row.retest_of_id)]
                    session.add(copy)
                    session.flush()
                    ids[(entity, row.id)] = copy.id
            for use in uses:
                values = {**_columns(use), "step_entry_id": ids[("step_entry", use.step_entry_id)]}
                session.add(MaterialUse(**values))
            for dev in devs:
                copy = Deviation(**{**_columns(dev), "batch_id": batch.id})
                if dev.qc_result_id:
                    copy.qc_result_id = ids[("qc_result", dev.qc_result_id)]
                session.add(copy)
                session.flush()
                ids[("deviation", dev.id)] = copy.id
            for fix in fixes:
                target = ids.get((fix.entity, fix.entity_id), fix.entity_id)
                session.add(
                    Correction(**{**_columns(fix), "batch_id": batch.id, "entity_id": target})
                )
            for sig in sigs:
                key = (sig.entity, sig.entity_id)
                if key in ids:
                    values = {**_columns(sig), "batch_id": batch.id, "entity_id": ids[key]}
                    session.add(Signature(**values))
            made.append(batch.code)
        session.commit()
    return made
