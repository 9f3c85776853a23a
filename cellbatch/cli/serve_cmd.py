"""Command: serve (the terminal UI in a web browser, one session per tab)."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from typing import Annotated

import typer

from cellbatch.cli.common import STATE, database
from cellbatch.domain.errors import InvalidInput


def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Loopback address to listen on; the TLS reverse proxy in front of it "
            "is what browsers reach (docs/deployment.md).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", min=0, max=65535, help="TCP port to listen on (0: any free port, printed)."
        ),
    ] = 8080,
    max_sessions: Annotated[
        int,
        typer.Option(
            "--max-sessions", min=1, max=500, help="Browser tabs that may be open at once."
        ),
    ] = 20,
) -> None:
    """Serve the terminal UI to web browsers: each tab its own session with its own log-in."""
    from cellbatch.services.trusted_time import clock_report
    from cellbatch.tui.browser import DoorSettings
    from cellbatch.tui.browser import serve as run_door

    listener = _listen(host, port)
    # fail here, with the database's own message, rather than in every tab
    db = database(read_only=True)
    try:
        clocks = clock_report(db)
    finally:
        db.dispose()
    if not clocks.ok:
        typer.echo(
            f"warning: recording is refused until the clocks agree: {clocks.problem}", err=True
        )
    if STATE.db_url:
        # the sessions read it from their environment: a password in the URL stays out of
        # the process list
        os.environ["CELLBATCH_DATABASE_URL"] = STATE.db_url
    port = listener.getsockname()[1]
    typer.echo(
        f"cellbatch serve: the terminal UI on http://{_url_host(host)}:{port}/ "
        f"(each browser tab its own session; Ctrl+C stops)",
    )
    sys.stdout.flush()
    run_door(
        DoorSettings(
            command=(sys.executable, "-m", "cellbatch", "tui"),
            listener=listener,
            max_sessions=max_sessions,
        )
    )


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``; refuses an address that is not loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidInput(
            "--host", f"expected an IP address such as 127.0.0.1, got {host!r}"
        ) from None
    if not address.is_loopback:
        raise InvalidInput(
            "--host",
            f"expected a loopback address (127.0.0.1 or ::1), got {host}: the browser door "
            "speaks plain HTTP, so browsers reach it only through the TLS reverse proxy "
            "(docs/deployment.md)",
        )
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise InvalidInput(
            "--port",
            f"cannot listen on {_url_host(host)}:{port} ({exc.strerror}); expected a free port",
        ) from None
    listener.listen(128)
    return listener


def _url_host(host: str) -> str:
    """``[::1]`` for an IPv6 address, the address itself otherwise."""
    return f"[{host}]" if ":" in host else host


def register(app: typer.Typer) -> None:
    """Add this command to the root app."""
    app.command("serve")(serve)
