"""Label reconciliation of a batch: what was printed, reprinted and verified by scan."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from cellbatch.db.database import Database
from cellbatch.db.tables import (
    Bag,
    LabelEvent,
    User,
)
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.services.batch_access import find_batch


def label_history(db: Database, code: str) -> dict[str, Any]:
    """Label reconciliation of a batch: counts of printed, reprinted, verified, and each event."""
    with db.session() as session:
        batch = find_batch(session, code)
        rows = session.execute(
            select(LabelEvent, User, Bag)
            .join(User, User.id == LabelEvent.by)
            .outerjoin(Bag, Bag.id == LabelEvent.bag_id)
            .where(LabelEvent.batch_id == batch.id)
            .order_by(LabelEvent.id)
        ).all()
        events = []
        for event, user, bag in rows:
            detail = json.loads(event.detail) if event.detail else None
            events.append(
                {
                    "id": event.id,
                    "action": event.action,
                    "bag": bag.number if bag else None,
                    "final": event.final,
                    "copies": event.copies,
                    "ok": event.ok,
                    "reason": event.reason,
                    "detail": detail,
                    "at": iso_utc(as_utc(event.at)),
                    "by": {"username": user.username, "full_name": user.full_name},
                }
            )
    prints = [e for e in events if e["action"] in ("print", "reprint")]
    scans = [e for e in events if e["action"] == "scan"]
    return {
        "printed": sum(e["copies"] for e in prints if e["action"] == "print"),
        "reprinted": sum(e["copies"] for e in prints if e["action"] == "reprint"),
        "final_printed": sum(e["copies"] for e in prints if e["final"]),
        "quarantine_printed": sum(e["copies"] for e in prints if not e["final"]),
        "verified": sum(1 for e in scans if e["ok"]),
        "failed_scans": sum(1 for e in scans if not e["ok"]),
        "events": events,
    }
