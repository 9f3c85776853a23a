"""Program settings, each overridable from the environment (``CELLBATCH_*``).

Pure: reads the environment and computes paths; imports no database or UI library.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout the package runs from (holds ``sops/`` and ``labels/``)."""


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:  # a broken setting must say which one
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


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


@dataclass(frozen=True)
class SecuritySettings:
    """Account rules of 21 CFR 11.300: lockout, password length and ageing."""

    max_failed_attempts: int = 5
    """Failed log-ins in a row that lock an account until an admin unlocks it."""
    min_password_length: int = 10
    """Shortest password accepted when one is set or changed."""
    password_max_age_days: int = 0
    """Days after which a password must be changed; 0 means no expiry."""
    scrypt_n: int = 2**15
    """scrypt cost parameter for new password hashes (tests lower it for speed)."""
    idle_lock_seconds: int = 600
    """Idle time after which the terminal UI locks."""


def security_settings() -> SecuritySettings:
    """Security settings from the environment, defaults otherwise."""
    return SecuritySettings(
        max_failed_attempts=_int_env("CELLBATCH_MAX_FAILED_ATTEMPTS", 5),
        min_password_length=_int_env("CELLBATCH_MIN_PASSWORD_LENGTH", 10),
        password_max_age_days=_int_env("CELLBATCH_PASSWORD_MAX_AGE_DAYS", 0),
        scrypt_n=_int_env("CELLBATCH_SCRYPT_N", 2**15),
        idle_lock_seconds=_int_env("CELLBATCH_IDLE_LOCK_SECONDS", 600),
    )


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
