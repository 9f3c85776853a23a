"""The browser door: the terminal UI served to a web browser (``cellbatch serve``).

Each browser tab that connects starts its own ``cellbatch tui`` process (textual-serve's
``AppService``), so every tab is its own session: its own log-in screen, its own idle lock,
and nothing of another tab's. The page itself holds no record: everything a user sees comes
from that process, after log-in. The page and its script, styles and fonts are served from
here (textual-serve's bundled ``textual.js``, ``xterm.css`` and Roboto Mono, and the page of
``browser_page/``); nothing is fetched from another address, so the door works offline.

Hardening on top of textual-serve's own server: a WebSocket from a page of another origin is
refused (another site open in the same browser cannot drive a session); the number of
sessions is bounded; no folder listing; every answer carries a content security policy that
allows only this server's own scripts, styles, fonts and WebSocket, and forbids framing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import textual_serve
from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

log = logging.getLogger("cellbatch.serve")

PAGE_DIR = Path(__file__).with_name("browser_page")
"""The page (``index.html``) and its own script and styles."""

TEXTUAL_STATIC_DIR = Path(textual_serve.__file__).parent / "static"
"""textual-serve's bundled terminal script, styles and fonts."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""Only this server's own files and WebSocket (xterm.js sets inline styles as it draws)."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Sent with every answer."""

STOP_TIMEOUT_SECONDS = 10.0
"""How long a session's process may take to quit before it is killed."""


@dataclass(frozen=True)
class DoorSettings:
    """What ``cellbatch serve`` was asked for."""

    command: tuple[str, ...]
    """The program each session runs (``python -m cellbatch tui``)."""
    listener: socket.socket
    """The bound socket to serve on (a loopback address behind the TLS reverse proxy)."""
    max_sessions: int
    """Browser tabs that may have a session at the same time."""


@dataclass
class BrowserDoor:
    """The web server: the page, its files and one UI process per WebSocket."""

    settings: DoorSettings
    """What to serve, where."""
    sessions: set[web.WebSocketResponse] = field(default_factory=set)
    """The WebSockets of the running sessions."""

    def application(self) -> web.Application:
        """The aiohttp application: ``/``, ``/ws``, ``/static/…`` and ``/page/…``."""
        app = web.Application(middlewares=[security_headers])
        app.add_routes(
            [
                web.get("/", self.handle_index),
                web.get("/ws", self.handle_websocket),
                web.static("/static", TEXTUAL_STATIC_DIR, show_index=False),
                web.static("/page", PAGE_DIR, show_index=False),
            ]
        )
        app.on_shutdown.append(self.close_sessions)
        return app

    async def handle_index(self, request: web.Request) -> web.FileResponse:
        """The page: a terminal that connects to its own session."""
        return web.FileResponse(PAGE_DIR / "index.html")

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """Start a session (a UI process) for this tab and relay its screen and keys."""
        if not same_origin(request):
            log.warning("refused a session from origin %s", request.headers.get("Origin"))
            raise web.HTTPForbidden(text="a session may only be opened from this server's page")
        if len(self.sessions) >= self.settings.max_sessions:
            log.warning("refused a session: %d sessions are open", len(self.sessions))
            raise web.HTTPServiceUnavailable(
                text=f"{self.settings.max_sessions} sessions are open: close a tab or try later"
            )
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        self.sessions.add(websocket)
        peer = request.remote or "?"
        service = AppService(
            shlex.join(self.settings.command),
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=DownloadManager(),
        )
        log.info("session started for %s (%d open)", peer, len(self.sessions))
        try:
            await service.start(
                _size(request.query.get("width"), 80), _size(request.query.get("height"), 24)
            )
            await relay(websocket, service)
        finally:
            self.sessions.discard(websocket)
            await stop(service)
            log.info("session ended for %s (%d open)", peer, len(self.sessions))
        return websocket

    async def close_sessions(self, app: web.Application) -> None:
        """On shutdown: close every tab's WebSocket, which ends its session's process."""
        for websocket in list(self.sessions):
            await websocket.close(code=1001, message=b"server shutdown")


@web.middleware
async def security_headers(request: web.Request, handler) -> web.StreamResponse:
    """Add :data:`SECURITY_HEADERS` to every answer (errors included)."""
    try:
        response = await handler(request)
    except web.HTTPException as refused:
        response = refused
        response.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


def same_origin(request: web.Request) -> bool:
    """Whether the WebSocket comes from this server's own page (or from no page at all).

    A browser always sends ``Origin`` with a WebSocket; it names the page's scheme, host and
    port, which must be the address the browser reached this server by (``Host``, which a
    reverse proxy passes on). A client that is no browser sends none, and no other site's
    page can ride on it.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == request.host.lower()


async def relay(websocket: web.WebSocketResponse, service: AppService) -> None:
    """Pass the tab's keys, size and focus to the session until the tab goes away."""
    async for message in websocket:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            kind, *rest = message.json()
        except (ValueError, TypeError):
            continue  # not a message of the page's script: ignored
        data = rest[0] if rest else None
        if kind == "stdin" and isinstance(data, str):
            await service.send_bytes(data.encode("utf-8"))
        elif kind == "resize" and isinstance(data, dict):
            await service.set_terminal_size(
                _size(data.get("width"), 80), _size(data.get("height"), 24)
            )
        elif kind == "ping":
            await websocket.send_json(["pong", data])
        elif kind == "blur":
            await service.blur()
        elif kind == "focus":
            await service.focus()


async def stop(service: AppService) -> None:
    """Ask the session's process to quit; kill it if it has not within the timeout."""
    try:
        await asyncio.wait_for(service.stop(), STOP_TIMEOUT_SECONDS)
    except (TimeoutError, ConnectionError):
        process = service._process  # textual-serve keeps it private; only to end it
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()


def _size(value: object, default: int) -> int:
    """A terminal width or height from the page, kept within 10…1000 cells."""
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return min(max(number, 10), 1000)


def serve(settings: DoorSettings) -> None:
    """Run the browser door until interrupted (Ctrl+C or SIGTERM)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    door = BrowserDoor(settings)
    web.run_app(
        door.application(),
        sock=settings.listener,
        print=None,
        access_log=None,
    )
