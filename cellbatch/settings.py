"""Where the program finds its database and files, from the environment (``CELLBATCH_*``).

Pure: reads the environment and computes paths; imports no database or UI library.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.trusted_time import MAX_CLOCK_SKEW_SECONDS

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout the package runs from (holds ``sops/`` and ``labels/``)."""


def default_data_dir() -> Path:
    """Folder for the default SQLite database and printed documents (platformdirs)."""
    override = os.environ.get("CELLBATCH_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("cellbatch", appauthor=False))


def default_database_url() -> str:
    """``CELLBATCH_DATABASE_URL`` or an SQLite file in the user data directory."""
    url = os.environ.get("CELLBATCH_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{default_data_dir() / 'cellbatch.db'}"


def key_file_path() -> Path:
    """The site key that seals the audit trail (``CELLBATCH_KEY_FILE``).

    By default ``cellbatch.key`` in the data directory, beside the default database.
    Made by ``cellbatch init`` (mode 0600); never kept in the database. See
    docs/trust-model.md for who holds it.
    """
    override = os.environ.get("CELLBATCH_KEY_FILE")
    if override:
        return Path(override).expanduser()
    return default_data_dir() / "cellbatch.key"


def anchor_log_path() -> Path:
    """The append-only anchor log (``CELLBATCH_ANCHOR_LOG``).

    By default ``cellbatch.anchors`` in the data directory, beside the default site key,
    and never moved by ``CELLBATCH_KEY_FILE``: a key file named by a hostile environment
    is still checked against the anchors made with the real key. Each line fixes the audit
    trail's head (sequence number, hash, UTC time) outside the database, so that cutting
    the trail's tail is seen by ``cellbatch audit verify``.
    """
    override = os.environ.get("CELLBATCH_ANCHOR_LOG")
    if override:
        return Path(override).expanduser()
    return default_data_dir() / "cellbatch.anchors"


def requested_idle_lock_seconds() -> int | None:
    """A terminal's request for a shorter idle lock (``CELLBATCH_IDLE_LOCK_SECONDS``), if any.

    The security policy in the database decides the idle lock; this request can only
    shorten it (see :func:`cellbatch.domain.security_policy.idle_lock_in_force`). Lockout,
    password rules and hash cost are never read from the environment.
    """
    raw = os.environ.get("CELLBATCH_IDLE_LOCK_SECONDS", "").strip()
    try:
        return int(raw) if raw else None
    except ValueError:
        return None  # a request that is not a number shortens nothing


def requested_max_clock_skew_seconds() -> float | None:
    """A site's request for a tighter clock-skew limit (``CELLBATCH_MAX_CLOCK_SKEW_SECONDS``).

    It can only tighten the program's limit (see
    :func:`cellbatch.domain.trusted_time.skew_limit`). A value that is not a number of
    seconds above 0 and at most that limit is refused, naming the variable: a mistyped
    tighter limit must not pass unnoticed, and a looser one must not look as if it applied.
    """
    raw = os.environ.get("CELLBATCH_MAX_CLOCK_SKEW_SECONDS", "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= MAX_CLOCK_SKEW_SECONDS:  # also false for nan
        raise InvalidInput(
            "CELLBATCH_MAX_CLOCK_SKEW_SECONDS",
            f"expected a number of seconds above 0 and at most {MAX_CLOCK_SKEW_SECONDS:g} "
            f"(it may only tighten the limit), got {raw[:40]!r}: "
            "nothing is recorded until it is corrected or unset",
        )
    return seconds


def archive_dir() -> Path | None:
    """Where released batches are archived automatically (``CELLBATCH_ARCHIVE_DIR``), if set.

    A deployment setting of the service (docs/deployment.md): each release writes a new
    folder ``BATCH-TIMESTAMP`` there; nothing is archived automatically when it is not set.
    """
    raw = os.environ.get("CELLBATCH_ARCHIVE_DIR", "").strip()
    return Path(raw).expanduser() if raw else None


def nightly_status_file() -> Path | None:
    """Where the nightly check writes its result and the QA home screen reads it, if set.

    ``CELLBATCH_NIGHTLY_STATUS``, set in a deployment's service environment; without it the
    home screen shows no nightly line.
    """
    raw = os.environ.get("CELLBATCH_NIGHTLY_STATUS", "").strip()
    return Path(raw).expanduser() if raw else None


def ntp_sources() -> tuple[str, ...]:
    """The NTP sources to check the clocks against (``CELLBATCH_NTP_SERVER``), if any.

    A comma-separated list of ``HOST`` or ``HOST:PORT`` (port 123 by default); the first
    that answers is used. In a deployment the service's environment sets it, not the user.
    """
    raw = os.environ.get("CELLBATCH_NTP_SERVER", "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Paths:
    """Where the program finds its procedures and label settings."""

    sops_dir: Path = field(default_factory=lambda: REPO_ROOT / "sops")
    """Folder of SOP files (``CELLBATCH_SOPS_DIR``)."""
    labels_dir: Path = field(default_factory=lambda: REPO_ROOT / "labels")
    """Folder of label layouts and site settings (``CELLBATCH_LABELS_DIR``)."""


def paths() -> Paths:
    """Folders from the environment, the checkout's own otherwise."""
    sops = os.environ.get("CELLBATCH_SOPS_DIR")
    labels = os.environ.get("CELLBATCH_LABELS_DIR")
    return Paths(
        sops_dir=Path(sops) if sops else REPO_ROOT / "sops",
        labels_dir=Path(labels) if labels else REPO_ROOT / "labels",
    )
