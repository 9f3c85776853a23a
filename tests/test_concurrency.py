"""Several terminals writing at once: every write lands, the audit chain stays intact."""

from __future__ import annotations

import threading
from datetime import date

from cellbatch.services.audit import verify_trail
from cellbatch.services.auth import authenticate
from cellbatch.services.donors import add_material, list_materials
from cellbatch.services.users import add_user
from tests.conftest import ADMIN_PASSWORD


def test_concurrent_writers_serialise_on_the_audit_chain(admin_db):
    admin = authenticate(admin_db, "admin", ADMIN_PASSWORD)
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    tech = authenticate(admin_db, "tech1", "tech1-password")
    errors: list[BaseException] = []

    def terminal(n: int) -> None:
        try:
            for i in range(8):
                add_material(
                    admin_db,
                    tech,
                    f"LOT-{n}-{i}",
                    kind="medium",
                    name="alpha-MEM",
                    expires=date(2030, 1, 1),
                )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=terminal, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(list_materials(admin_db)) == 32
    report = verify_trail(admin_db)
    assert report.ok, report.problems
    assert report.entries_checked == 2 + 32
