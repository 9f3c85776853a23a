"""A bag's storage range and instruction: from the approved site settings its label says.

The range is held once, in the approved site settings (``products.<key>.storage_range``):
the label prints it, and the accompanying document, the issue and the receipt check it. A
bag's range is the one of the settings version its newest printed label was made under (what
the bag's label says), else of the version in force (a bag with no label printed in
cellbatch, or a label made under settings that kept no range).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.tables import Bag, PrintedLabel
from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.transport import StorageRange
from cellbatch.services.queries.site_settings import (
    SiteSettingsView,
    site_settings_in_force,
    site_settings_version,
)
from cellbatch.site import ProductSettings


@dataclass(frozen=True)
class BagStorage:
    """How one bag is kept: its storage range and the instruction its label prints."""

    range: StorageRange
    instruction: str
    """The label's storage text, the range written in."""
    source: str
    """Where the range was read: ``site settings v2, products.easc-dose``."""


def _product(view: SiteSettingsView, product_code: str) -> tuple[str, ProductSettings] | None:
    return next(
        (
            (key, p)
            for key, p in view.settings.products.items()
            if product_code.startswith(p.description_code)
        ),
        None,
    )


def bag_storage(session: Session, bag: Bag) -> BagStorage:
    """The storage range of ``bag``; refused when no approved settings give its product one."""
    label = session.execute(
        select(PrintedLabel.site_settings_id)
        .where(PrintedLabel.bag_id == bag.id)
        .order_by(PrintedLabel.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    views = [site_settings_version(session, label)] if label is not None else []
    views.append(site_settings_in_force(session))
    for view in views:
        found = _product(view, bag.product_code)
        if found is not None and found[1].storage_range is not None:
            key, product = found
            return BagStorage(
                range=product.storage_range,
                instruction=product.storage_text(),
                source=f"{view.label}, products.{key}",
            )
    raise RuleViolation(
        f"{views[-1].label} give product {bag.product_code} no storage range "
        "(products.<key>.storage_range): QA approves site settings that do (docs/clinic.md, "
        '"Storage range") before the bag is issued or received'
    )
