"""The browser door (``cellbatch serve``) in a real browser: Debian's Chromium driven by Playwright.

One server on a copy of the demo database; the browser logs in as qa1, opens a batch, reviews
it and takes the screenshot the README shows; a second tab is a session of its own (its own
log-in, its own lock); nothing is fetched from anywhere but the server. Chromium must be
installed (``scripts/test`` installs it as root, as it does PostgreSQL): without it this test
fails, it is never skipped.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from cellbatch.services.demo import demo_password

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",  # the suite runs as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Headless on a machine with no network but loopback (see the machine notes in docs/)."""

REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "docs" / "browser-review.png"
"""The screenshot the README shows (rewritten when CELLBATCH_UPDATE_SCREENSHOTS=1)."""

# textual.js keeps its xterm.js terminal to itself; the test (not the server) adds one
# statement that hands it to the page, so the screen can be read as text.
TERMINAL_MARK = "t.fit(),s||t.connect()"
TERMINAL_HOOK = "t.fit(),(window.cbTerminals=window.cbTerminals||[]).push(t),s||t.connect()"

SCREEN_JS = """() => {
  const t = window.cbTerminals && window.cbTerminals[0] && window.cbTerminals[0].terminal;
  if (!t) return null;
  const b = t.buffer.active, text = [], colours = [];
  for (let y = 0; y < t.rows; y++) {
    const line = b.getLine(y);
    text.push(line.translateToString(true));
    for (let x = 0; x < t.cols; x++) {
      const c = line.getCell(x);
      colours.push(c.getFgColor(), c.getBgColor());
    }
  }
  return [text.join("\\n"), colours.join(",")];
}"""
"""The terminal's screen: its text, and every cell's colours (which show where focus is)."""

WAIT_SECONDS = 60.0
"""The longest a screen may take to show what is expected (a loaded machine is slow)."""


class Tab:
    """One browser tab on the door: read its screen, type into it."""

    def __init__(self, page) -> None:
        self.page = page

    def read(self) -> tuple[str, str]:
        """The screen's text and colours (empty before the terminal exists)."""
        return self.page.evaluate(SCREEN_JS) or ("", "")

    @property
    def text(self) -> str:
        """The screen as text."""
        return self.read()[0]

    def wait_for(self, *texts: str) -> str:
        """Wait until every one of ``texts`` is on the screen; the screen."""
        deadline = time.monotonic() + WAIT_SECONDS
        screen = ""
        while time.monotonic() < deadline:
            screen = self.text
            if all(t in screen for t in texts):
                return screen
            self.page.wait_for_timeout(50)
        raise AssertionError(f"{texts} not on the screen within {WAIT_SECONDS} s:\n{screen}")

    def press_and_wait_for_change(self, key: str) -> None:
        """Press ``key`` and wait until the screen changes (text or colours, e.g. focus)."""
        before = self.read()
        self.page.keyboard.press(key)
        deadline = time.monotonic() + WAIT_SECONDS
        while self.read() == before:
            assert time.monotonic() < deadline, f"{key} changed nothing:\n{before[0]}"
            self.page.wait_for_timeout(30)

    def log_in(self, username: str) -> None:
        """Log in with the demo password, one field at a time."""
        self.wait_for("User ID", "Password", "not logged in")
        self.page.click("#terminal")  # the terminal takes keys once it has focus
        self.page.keyboard.type(username)
        self.wait_for(username)
        self.press_and_wait_for_change("Enter")  # the password field takes focus
        self.page.keyboard.type(demo_password(username))
        self.page.keyboard.press("Enter")
        self.wait_for(f"│ {username}")


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, driven by Playwright (its own browser download is not used)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser door is tested in Debian's chromium "
            "(as root, scripts/test installs it; otherwise: sudo apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def door(_demo_templates, tmp_path):
    """``cellbatch serve`` on a copy of the demo database (SQLite): (base URL, process, db)."""
    path = tmp_path / "demo.db"
    shutil.copy(_demo_templates["sqlite"], path)
    url = f"sqlite:///{path}"
    server = subprocess.Popen(
        [sys.executable, "-m", "cellbatch", "--db", url, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        ready, _, _ = select.select([server.stdout], [], [], WAIT_SECONDS)
        line = server.stdout.readline() if ready else ""
        found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert found, f"cellbatch serve did not start: {line!r}"
        yield found.group(1), server, url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def sessions_of(server: subprocess.Popen) -> int:
    """How many session processes the server runs now (one per open tab)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return len(children)


def wait_until(condition, what: str) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_SECONDS} s: {what}"
        time.sleep(0.05)


def test_qa_reviews_a_batch_in_the_browser_each_tab_its_own_session(chromium, door, tmp_path):
    base, server, _url = door
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))

    def hook_terminal(route) -> None:
        response = route.fetch()
        script = response.text()
        assert TERMINAL_MARK in script, "textual.js changed: update TERMINAL_MARK"
        route.fulfill(response=response, body=script.replace(TERMINAL_MARK, TERMINAL_HOOK))

    context.route("**/static/js/textual.js", hook_terminal)

    first = Tab(context.new_page())
    first.page.goto(base)
    login = first.wait_for("Log in to record GMP work")
    assert "EASC" not in login and "FUC" not in login  # nothing of a record before log-in
    first.log_in("qa1")
    first.wait_for("Batch ▸")  # QA's home, scan field focused
    first.page.keyboard.type("EASC-D001")
    first.page.keyboard.press("Enter")
    first.wait_for("dose EASC-D001", "f6 Review")
    first.page.keyboard.press("F6")
    review = first.wait_for("EASC-D001 (dose) · status", "READY for release", "✓ MET")
    assert "qa1" in review and "demo.db (SQLite)" in review  # the door's own database
    shot = tmp_path / "review.png"
    first.page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("CELLBATCH_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(shot, SCREENSHOT)

    # a second tab is a session of its own: its own log-in, its own lock, its own process
    second = Tab(context.new_page())
    second.page.goto(base)
    assert "not logged in" in second.wait_for("Log in to record GMP work")
    wait_until(lambda: sessions_of(server) == 2, "two tabs, two session processes")
    second.log_in("qa2")
    first.page.bring_to_front()
    first.page.click("#terminal")
    first.page.keyboard.press("Control+l")
    first.wait_for("LOCKED")
    assert "LOCKED" not in second.text and "│ qa2" in second.text
    second.page.close()
    wait_until(lambda: sessions_of(server) == 1, "the closed tab's session ends")

    # everything came from the server itself: no font, script or style from elsewhere
    assert requests and all(r.startswith(base) for r in requests), requests
    context.close()


def test_the_page_holds_no_record_and_only_its_own_page_may_open_a_session(door):
    base, _server, _url = door
    with urllib.request.urlopen(base, timeout=30) as answer:
        page = answer.read().decode()
        headers = answer.headers
    assert "EASC" not in page and "http" not in page  # no record, no outside address
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    with pytest.raises(urllib.error.HTTPError) as listing:
        urllib.request.urlopen(base + "static/", timeout=30)
    assert listing.value.code in (403, 404)

    assert websocket_handshake(base, origin="http://evil.example") == 403
    assert websocket_handshake(base, origin=base.rstrip("/")) == 101


def websocket_handshake(base: str, *, origin: str) -> int:
    """The status a browser page at ``origin`` gets when it opens a session's WebSocket."""
    address = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.request(
            "GET",
            "/ws",
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
                "Origin": origin,
            },
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_serve_refuses_a_network_address_a_taken_port_and_a_missing_database(cli, tmp_path):
    demo = f"sqlite:///{tmp_path / 'none.db'}"
    refused = cli("--db", demo, "serve", "--host", "0.0.0.0")
    assert refused.code == 2 and "--host: expected a loopback address" in refused.err
    assert "reverse proxy" in refused.err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        refused = cli("--db", demo, "serve", "--port", port)
    assert refused.code == 2 and f"--port: cannot listen on 127.0.0.1:{port}" in refused.err
    refused = cli("--db", demo, "serve", "--port", "0")
    assert refused.code != 0 and "--db: no database" in refused.err
    assert not (tmp_path / "none.db").exists()
