"""Whether a scan is of a bag's label in force: one rule for ``label scan`` and the bedside.

A scan is compared with the bag (DIN, product code, expiry, the chain-of-identity identifier
the label in force carries) and then with the label in force itself by its flag characters:
a superseded label (a quarantine label after the release, the original after a reprint) or
flags never printed for the bag fail, each named (docs/labels.md).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import isbt128
from cellbatch.db.tables import Bag, Batch, PrintedLabel
from cellbatch.services.queries.label_content import bag_identity, therapy_coi
from cellbatch.services.queries.labels import (
    label_in_force,
    label_view,
    printed_labels,
    supersession,
)
from cellbatch.services.queries.site_settings import site_settings_in_force, site_settings_version


def scan_differences(
    scan: isbt128.Scan,
    din: isbt128.Din,
    product: isbt128.ProductCode,
    expiry: datetime,
    coi: str | None = None,
) -> list[str]:
    """Say what in one parsed scan differs from the bag (nothing: it matches).

    ``coi`` is the chain-of-identity identifier the bag's label in force carries (None: it
    carries none, e.g. a label printed before labels carried it).
    """
    differences = []
    if scan.coi is not None and scan.coi != coi:
        differences.append(
            f"chain-of-identity identifier is {scan.coi}, the bag's label carries "
            + (coi or "none")
        )
    if scan.din is not None and scan.din.code != din.code:
        differences.append(
            f"DIN is {scan.din.eye_readable}, the bag's is {din.eye_readable} "
            f"(check character {din.check})"
        )
    if scan.product is not None and scan.product.eye_readable != product.eye_readable:
        differences.append(
            f"product code is {scan.product.eye_readable}, the bag's is {product.eye_readable}"
        )
    if scan.expiry is not None and scan.expiry != expiry:
        differences.append(
            f"expiry is {isbt128.expiry_eye_readable(scan.expiry)}, the bag's is "
            f"{isbt128.expiry_eye_readable(expiry)}"
        )
    return differences


def which_label(
    session: Session,
    batch: Batch,
    bag: Bag,
    scan: isbt128.Scan,
    current: PrintedLabel | None,
) -> list[str]:
    """Say why the label scanned is not the bag's label in force (nothing: it is)."""
    if scan.flags is None:
        return []
    if current is None:
        if batch.status == "released":
            return [
                f"the final label of bag {bag.number} is not printed yet: the quarantine label "
                f"is superseded by the release of {batch.code}"
            ]
        if batch.status == "rejected":
            return [f"{batch.code} is rejected: none of its labels may be used"]
        return [f"no label of bag {bag.number} was printed"]
    if scan.flags == current.flags:
        return []
    labels = [p for p in printed_labels(session, batch) if p.bag_id == bag.id]
    earlier = [p for p in labels if p.flags == scan.flags]
    if earlier:
        old = label_view(session, batch, earlier[-1].id)
        gone = supersession(session, batch, labels).get(old.id, "a later label")
        return [
            f"this is {old.title} (flags {old.flags}), superseded by {gone}: it must not be "
            f"used; destroy it and record that (`cellbatch label destroy {batch.code} "
            f"--label {old.ref} --reason TEXT --user USER-ID`)"
        ]
    hint = ""
    if scan.kind == "keyed" and isbt128.flag_type(current.flags) in (1, 2):
        hint = (
            f"; the label in force has flags {current.flags} printed beside the DIN: type "
            "them between the DIN and the check character"
        )
    return [
        f"flag characters {scan.flags} were printed on no label of bag {bag.number}; the "
        f"label in force carries {current.flags}{hint}"
    ]


def label_scan_differences(
    session: Session, batch: Batch, bag: Bag, scan: isbt128.Scan
) -> list[str] | None:
    """What in one parsed scan differs from the bag's label in force (empty: it is that label).

    None when no label of the bag was ever printed in cellbatch: there is no label to compare
    with, only the bag (its expiry is still compared; the caller says which rule it keeps).
    """
    labelled = session.execute(select(PrintedLabel.id).where(PrintedLabel.bag_id == bag.id))
    if labelled.first() is None:
        return None
    current = label_in_force(session, batch, kind="bag", bag_id=bag.id)
    view = (
        site_settings_version(session, current.site_settings_id)
        if current is not None
        else site_settings_in_force(session)
    )
    din, product, expiry = bag_identity(bag, view.settings)
    coi = None
    if current is not None and current.content_version >= 2:
        coi = therapy_coi(session, batch)
    differences = scan_differences(scan, din, product, expiry, coi)
    return differences or which_label(session, batch, bag, scan, current)


def bag_expiry_differs(session: Session, bag: Bag, scan: isbt128.Scan) -> list[str]:
    """The scan's expiry against the bag's (for a bag with no label printed in cellbatch)."""
    din, product, expiry = bag_identity(bag, site_settings_in_force(session).settings)
    return scan_differences(dataclasses.replace(scan, coi=None), din, product, expiry)
