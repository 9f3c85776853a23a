"""The site key that seals the audit trail: a secret file outside the database.

Every audit entry carries an HMAC-SHA256 under this key (see :mod:`cellbatch.db.audit_chain`),
so whoever can write to the database but does not hold the key cannot recompute the chain
after editing, adding or removing an entry. The database keeps only the key's fingerprint,
so a wrong key is told apart from a forged trail.

The file is made by ``cellbatch init`` (:func:`create_key`) with mode 0600 and is used only
if it is a regular file (no symlink), owned by the account running the program and
readable by nobody else: a key file another account made or can read is refused.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cellbatch.domain.errors import CellbatchError

KEY_HEADER = "cellbatch-site-key-v1"
"""First word of a key file: tells it apart from any other file."""

KEY_BYTES = 32
"""Length of the secret (256 bits, the size of SHA-256's block-reduced key)."""


class SiteKeyProblem(CellbatchError):
    """The site key is missing, unsafe, malformed, or not the key of this database."""

    exit_code = 9


@dataclass(frozen=True)
class SiteKey:
    """The secret that seals the audit trail, where it was read from, and its fingerprint."""

    path: Path
    secret: bytes
    fingerprint: str
    """Hex SHA-256 of a label and the secret: names the key without revealing it."""

    @property
    def short(self) -> str:
        """The fingerprint's first 16 characters, for messages."""
        return self.fingerprint[:16]

    def __repr__(self) -> str:  # never print the secret
        return f"SiteKey({str(self.path)!r}, fingerprint={self.short})"


def fingerprint_of(secret: bytes) -> str:
    """The public name of a secret (not the hash of the secret alone, not reversible)."""
    return hashlib.sha256(b"cellbatch site key fingerprint\x00" + secret).hexdigest()


def _refuse(path: Path, what: str) -> SiteKeyProblem:
    return SiteKeyProblem(f"site key {path}: {what} (see docs/trust-model.md)")


def load_key(path: Path) -> SiteKey:
    """Read the key at ``path`` after checking it is safe to trust.

    Refused: a missing file, a symlink or anything not a regular file, a file owned by
    another account, one that group or others may read or write, and one that is not a
    cellbatch key.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise _refuse(
            path,
            "no such file. `cellbatch init` makes it for a new database; for an existing "
            "database restore the key from its backup, or set CELLBATCH_KEY_FILE to where it is",
        ) from None
    except OSError as exc:
        if os.path.islink(path):
            raise _refuse(path, "is a symbolic link; the key must be the file itself") from None
        raise _refuse(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(path, "is not a regular file")
        if info.st_uid != os.geteuid():
            raise _refuse(
                path,
                f"belongs to another account (uid {info.st_uid}, this program runs as uid "
                f"{os.geteuid()}): a key someone else made is never trusted",
            )
        if info.st_mode & 0o077:
            raise _refuse(
                path,
                f"may be read or written by group or others (mode {stat.S_IMODE(info.st_mode):04o}"
                "); it must be readable by its owner only: chmod 600 it, and treat the key as "
                "disclosed if others could read it",
            )
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    words = data.decode("ascii", errors="replace").split()
    try:
        if len(words) != 2 or words[0] != KEY_HEADER:
            raise ValueError
        secret = bytes.fromhex(words[1])
        if len(secret) != KEY_BYTES:
            raise ValueError
    except ValueError:
        raise _refuse(
            path, f"is not a cellbatch site key (expected '{KEY_HEADER} <64 hex>')"
        ) from None
    return SiteKey(path, secret, fingerprint_of(secret))


def create_key(path: Path) -> SiteKey:
    """Make a new random key at ``path`` (mode 0600), never replacing an existing file.

    The folder is made (mode 0700) if missing. The file is written and flushed to disk
    before it is used, so a crash never leaves a database sealed under a lost key.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_bytes(KEY_BYTES)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise _refuse(path, "already exists: an existing key is never replaced") from None
    except OSError as exc:
        raise _refuse(path, f"cannot be created ({exc.strerror or exc})") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, f"{KEY_HEADER} {secret.hex()}\n".encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    _sync_folder(path.parent)
    return SiteKey(path, secret, fingerprint_of(secret))


def load_or_create_key(path: Path) -> tuple[SiteKey, bool]:
    """The key at ``path``, made first if there is none; and whether it was made now."""
    if os.path.lexists(path):
        return load_key(path), False
    try:
        return create_key(path), True
    except SiteKeyProblem:
        if os.path.lexists(path):  # another terminal's init made it meanwhile
            return load_key(path), False
        raise


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
