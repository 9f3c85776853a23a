"""A log-in at the terminal proves the password once: one scrypt hash, not two (issue 15).

The log-in screen used to authenticate twice (once allowing an expired password, once not),
paying the policy's scrypt cost twice before the home showed.
"""

from __future__ import annotations

import asyncio

import cellbatch.services.auth as auth
from cellbatch.tui.app import build_app
from tests.test_tui_workflows import log_in


def test_a_log_in_at_the_terminal_hashes_the_password_once(demo_db, monkeypatch) -> None:
    hashed: list[str] = []
    check = auth.check_password

    def counting(password: str, stored: str) -> bool:
        hashed.append(stored)
        return check(password, stored)

    monkeypatch.setattr(auth, "check_password", counting)

    async def run() -> None:
        app = build_app(demo_db.url, idle_lock_seconds=3600)
        async with app.run_test(size=(100, 40)) as pilot:
            await log_in(app, pilot, "tech1")
            assert type(app.screen).__name__ == "HomeScreen"
            assert app.actor is not None and app.actor.username == "tech1"

    asyncio.run(run())
    assert len(hashed) == 1
