"""The anchor log: the audit trail's head written down outside the database, append-only.

Whoever can write to the database can delete the newest entries and set the head back;
the keyed chain alone cannot show that, because what is left is still a valid chain. An
anchor fixes a head (sequence number, hash, UTC time) in a file beside the site key, out
of the database's reach: ``audit verify`` checks that every anchored entry still exists
with the same hash, so a cut tail is reported naming the anchor it cut.

One line per anchor, appended and flushed to disk (fsync) before the command says done::

    cellbatch-anchor-v1 CHAIN-ID SEQ HASH YYYY-MM-DDTHH:MM:SSZ KEY-FINGERPRINT KIND

``CHAIN-ID`` names the database's trail (``audit_seal.chain_id``), so one log may serve
several databases; ``KEY-FINGERPRINT`` the key the chain was sealed under; ``KIND`` why
it was written (``release``, ``anchor``, ``record``, ``verified``: a verify proved the
trail up to it, where the next incremental verify starts). The log is refused, like the
key, when another account owns it or others may write to it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cellbatch.db.audit_chain_key import SiteKeyProblem

ANCHOR_HEADER = "cellbatch-anchor-v1"
"""First word of every anchor line."""

KINDS = ("release", "anchor", "record", "verified")
"""Why an anchor was written."""


@dataclass(frozen=True)
class Anchor:
    """One head of the audit trail, fixed outside the database."""

    chain_id: str
    seq: int
    hash: str
    at: datetime
    key_fingerprint: str
    kind: str
    line: int = 0
    """Its line in the anchor log (1-based; 0 for one not yet written)."""

    def text(self) -> str:
        """The anchor as a line of the log (without the newline)."""
        return " ".join(
            (
                ANCHOR_HEADER,
                self.chain_id,
                str(self.seq),
                self.hash,
                self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                self.key_fingerprint,
                self.kind,
            )
        )

    @property
    def shown(self) -> str:
        """How a person reads it: ``#seq hash… at time UTC``."""
        return f"#{self.seq} {self.hash[:16]} at {self.at:%Y-%m-%d %H:%M:%S} UTC"


def _refuse(path: Path, what: str) -> SiteKeyProblem:
    return SiteKeyProblem(f"anchor log {path}: {what} (see docs/trust-model.md)")


def _check(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, "is not a regular file")
    if info.st_uid != os.geteuid():
        raise _refuse(
            path,
            f"belongs to another account (uid {info.st_uid}, this program runs as uid "
            f"{os.geteuid()}): an anchor log someone else made is never trusted",
        )
    if info.st_mode & 0o022:
        raise _refuse(
            path,
            f"may be written by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            "chmod 600 it",
        )


def check_anchor_log(path: Path) -> None:
    """Refuse (SiteKeyProblem) an anchor log that cannot be appended to or is unsafe."""
    path = Path(path)
    if not os.path.lexists(path):
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not os.access(folder, os.W_OK):
            raise _refuse(path, f"cannot be made: {folder} is not writable")
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise _refuse(path, f"cannot be written ({exc.strerror or exc})") from None
    try:
        _check(path, os.fstat(fd))
    finally:
        os.close(fd)


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append ``anchor`` to the log at ``path`` (made, mode 0600, if missing) and fsync it."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise _refuse(path, f"cannot be written ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        _check(path, info)
        os.write(fd, (anchor.text() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if info.st_size == 0:  # a new log: its name must survive a crash too
        folder = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


@dataclass
class AnchorLog:
    """The anchors read from a log, and the lines that are not anchors."""

    anchors: list[Anchor]
    malformed: list[int]
    """Line numbers that are not anchor lines (the log was edited)."""


def read_anchors(path: Path) -> AnchorLog:
    """Every anchor in the log at ``path`` (none if there is no log yet)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return AnchorLog([], [])
    except OSError as exc:
        raise _refuse(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        _check(path, os.fstat(fd))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read()
    finally:
        os.close(fd)
    log = AnchorLog([], [])
    for number, raw in enumerate(data.decode("ascii", errors="replace").splitlines(), 1):
        anchor = _parse(raw, number)
        if anchor is None:
            log.malformed.append(number)
        else:
            log.anchors.append(anchor)
    return log


def anchor_of(text: object) -> Anchor | None:
    """The anchor a line of the log (or an audit entry recording one) says; None: not one."""
    return _parse(text, 0) if type(text) is str else None


def _parse(raw: str, number: int) -> Anchor | None:
    words = raw.split(" ")
    if len(words) != 7 or words[0] != ANCHOR_HEADER or words[6] not in KINDS:
        return None
    try:
        at = datetime.strptime(words[4], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        seq = int(words[2])
    except ValueError:
        return None
    if len(words[3]) != 64 or len(words[5]) != 64:
        return None
    return Anchor(words[1], seq, words[3], at, words[5], words[6], number)
