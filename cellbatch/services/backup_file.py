"""The backup file: a plain tar archive that any byte changed in makes unusable (GMP-33).

Members, in this order: ``manifest.json``, the parts it lists (the database), and
``SHA256SUMS`` (``sha256sum -c`` format, covering the manifest and every part), so IT can
check a backup with standard tools (``tar xf FILE && sha256sum -c SHA256SUMS``).

The archive is written the same way every time (USTAR headers, owner 0, mode 0600, the
manifest's time), so reading it back can rebuild it byte for byte: a change in a header,
in the padding between members or after the end is caught as surely as one in a part.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cellbatch.domain.backup_manifest import BackupManifest, BackupRefused
from cellbatch.services.output_files import OutputFile

MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
CHUNK = 4 * 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def checksums(manifest_bytes: bytes, manifest: BackupManifest) -> bytes:
    """The ``SHA256SUMS`` member: the manifest's hash and every part's, as sha256sum writes."""
    lines = [f"{hashlib.sha256(manifest_bytes).hexdigest()}  {MANIFEST}"]
    lines += [f"{part.sha256}  {part.name}" for part in manifest.parts]
    return ("\n".join(lines) + "\n").encode()


class _Sink(io.RawIOBase):
    """A write-only stream handing full blocks to ``emit``."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self.emit = emit
        self.buffer = bytearray()

    def writable(self) -> bool:  # noqa: D102
        return True

    def write(self, data) -> int:  # noqa: D102
        self.buffer += data
        if len(self.buffer) >= CHUNK:
            self.emit(bytes(self.buffer))
            self.buffer.clear()
        return len(data)

    def drain(self) -> None:
        """Hand over what is left."""
        if self.buffer:
            self.emit(bytes(self.buffer))
            self.buffer.clear()


def _mtime(manifest: BackupManifest) -> int:
    try:
        return int(datetime.fromisoformat(manifest.made_at).timestamp())
    except ValueError:
        raise BackupRefused("manifest.json is damaged (made_at is not a time)") from None


def _stream(
    emit: Callable[[bytes], None],
    manifest_bytes: bytes,
    manifest: BackupManifest,
    parts: dict[str, Path],
) -> None:
    """Write the archive, always the same bytes for the same content, to ``emit``."""
    sink = _Sink(emit)
    mtime = _mtime(manifest)

    def info(name: str, size: int) -> tarfile.TarInfo:
        member = tarfile.TarInfo(name)
        member.size, member.mtime, member.mode = size, mtime, 0o600
        member.uid = member.gid = 0
        member.uname = member.gname = ""
        return member

    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.USTAR_FORMAT) as archive:
        archive.addfile(info(MANIFEST, len(manifest_bytes)), io.BytesIO(manifest_bytes))
        for part in manifest.parts:
            with open(parts[part.name], "rb") as handle:
                archive.addfile(info(part.name, part.bytes), handle)
        sums = checksums(manifest_bytes, manifest)
        archive.addfile(info(CHECKSUMS, len(sums)), io.BytesIO(sums))
    sink.drain()


def write_backup(
    out: OutputFile, manifest: BackupManifest, parts: dict[str, Path]
) -> tuple[str, int]:
    """Write the backup through ``out`` (entered, not yet published); its SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0

    def emit(block: bytes) -> None:
        nonlocal size
        digest.update(block)
        size += len(block)
        out.write(block)

    _stream(emit, manifest.to_json(), manifest, parts)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class OpenedBackup:
    """A backup file checked whole, its parts unpacked into a working folder."""

    path: Path
    sha256: str
    manifest: BackupManifest
    parts: dict[str, Path]


def read_backup(path: Path, workdir: Path) -> OpenedBackup:
    """Check the backup at ``path`` and unpack its parts into ``workdir``.

    BackupRefused, naming what is wrong, unless the file is exactly the archive cellbatch
    wrote: every member present in order, the manifest, every part and ``SHA256SUMS``
    agreeing, and every other byte (headers, padding) as written.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupRefused(f"{path}: no such backup file")
    whole = file_sha256(path)
    try:
        archive = tarfile.open(path, mode="r:")
    except (tarfile.TarError, OSError) as exc:
        raise BackupRefused(
            f"{path} is not a cellbatch backup, or its beginning is damaged ({exc})"
        ) from None
    try:
        with archive:
            members = archive.getmembers()
            names = [m.name for m in members]
            if not names or names[0] != MANIFEST or not members[0].isfile():
                raise BackupRefused(f"{path} is damaged: it does not begin with {MANIFEST}")
            if members[0].size > MAX_MANIFEST_BYTES:
                raise BackupRefused(f"{path} is damaged: {MANIFEST} is far too large")
            manifest_bytes = archive.extractfile(members[0]).read()
            manifest = BackupManifest.from_json(manifest_bytes)
            expected = [MANIFEST, *(p.name for p in manifest.parts), CHECKSUMS]
            if names != expected:
                raise BackupRefused(
                    f"{path} is damaged: it holds {', '.join(names)}; its manifest lists "
                    f"{', '.join(expected)}"
                )
            parts: dict[str, Path] = {}
            for member, part in zip(members[1:-1], manifest.parts, strict=True):
                target = workdir / part.name
                digest = hashlib.sha256()
                with archive.extractfile(member) as source, open(target, "wb") as handle:
                    while block := source.read(CHUNK):
                        digest.update(block)
                        handle.write(block)
                if member.size != part.bytes or digest.hexdigest() != part.sha256:
                    raise BackupRefused(
                        f"{path} is damaged: part {part.name} has SHA-256 "
                        f"{digest.hexdigest()[:16]}… ({member.size} bytes), its manifest says "
                        f"{part.sha256[:16]}… ({part.bytes} bytes)"
                    )
                parts[part.name] = target
            sums = archive.extractfile(members[-1]).read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupRefused(f"{path} is damaged or cut short ({exc})") from None
    if sums != checksums(manifest_bytes, manifest):
        raise BackupRefused(
            f"{path} is damaged: {CHECKSUMS} does not match the manifest and parts "
            "(one of them, or the list itself, was changed)"
        )
    rebuilt = hashlib.sha256()
    _stream(rebuilt.update, manifest_bytes, manifest, parts)
    if rebuilt.hexdigest() != whole:
        raise BackupRefused(
            f"{path} is damaged: its manifest and parts are intact, but other bytes of the "
            "file (a tar header, the padding or the end) differ from what cellbatch wrote"
        )
    return OpenedBackup(path, whole, manifest, parts)
