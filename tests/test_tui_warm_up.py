"""A log-in typed while the warm-up thread still imports the services waits for it.

Two threads importing the same circularly-linked modules at once can each find the other's
module half made, and Python raises ImportError: in CI a second browser tab showed
"unexpected ImportError" at log-in. The log-in must start only when the warm-up is done.
"""

from __future__ import annotations

import threading
import time

import cellbatch.services.auth as auth
import cellbatch.services.trusted_time as trusted_time
from cellbatch.tui.app import build_app
from tests.test_tui_burst import run_async, settle


@run_async
async def test_log_in_waits_for_the_warm_up_imports(demo_db, monkeypatch):
    events: list[str] = []
    warming, logging_in = threading.Event(), threading.Event()
    real_report, real_authenticate = trusted_time.clock_report, auth.authenticate

    def slow_report(db):
        warming.set()
        logging_in.wait(5.0)  # still busy when the user presses Enter (or 5 s if the log-in waits)
        events.append("warm-up done")
        return real_report(db)

    def authenticate(*args, **kwargs):
        events.append("log-in checked")
        logging_in.set()
        return real_authenticate(*args, **kwargs)

    monkeypatch.setattr(trusted_time, "clock_report", slow_report)
    monkeypatch.setattr(auth, "authenticate", authenticate)
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 10
        while not warming.is_set() and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await pilot.press(*"tech1", "enter", *"demo-tech1-pass", "enter")
        while "log-in checked" not in events and time.monotonic() < deadline + 10:
            await pilot.pause(0.1)
        await settle(app, pilot)
        assert type(app.screen).__name__ == "HomeScreen"
    assert events[0] == "warm-up done", events
    assert "log-in checked" in events, events
