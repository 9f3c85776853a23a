"""Files the program writes for people (records, exports, labels): whole or not at all.

One function for every document that leaves the system (:class:`OutputFile`):

- an existing file is never replaced unless the user says so (``--force``), and the files
  the records live in (the database and its companions, the site key) never at all;
- the content goes to a temporary file created exclusively in the target folder, so no
  symlink planted there is ever followed: on Linux an unnamed file (``O_TMPFILE``) that a
  crash leaves nowhere, elsewhere a new random name (``O_CREAT | O_EXCL | O_NOFOLLOW``);
- the file is flushed to disk (fsync) and only then given its name in one step (a hard link
  that fails if the name was taken meanwhile, or a rename with ``--force``), and the folder
  is flushed too, so after a crash the name holds either nothing or the whole document.

A caller that must count something only once the file is in place (labels) publishes first
and commits after; if the commit fails, leaving the ``with`` block by the exception takes
the file away again.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from cellbatch.domain.errors import InvalidInput

FILE_MODE = 0o600
"""Documents hold donor and patient data: readable by their owner only."""

_O_TMPFILE = getattr(os, "O_TMPFILE", 0)


def _same_file(path: Path, protected: Path) -> bool:
    """Whether ``path`` names ``protected`` (by name after resolving links, or by inode)."""
    try:
        if path.resolve() == protected.resolve():
            return True
    except OSError:
        pass
    try:
        return os.path.samefile(path, protected)
    except OSError:
        return False


def check_output_path(
    path: Path, *, force: bool = False, protected: Iterable[Path] = (), field: str = "--output"
) -> Path:
    """Refuse an output path that must not be written; return it as given.

    Refused: a folder, a device or anything not a regular file, a missing folder, a file that
    exists (unless ``force``), and any of ``protected`` (never, not even with ``force``).
    """
    path = Path(path)
    for guarded in protected:
        if _same_file(path, Path(guarded)):
            raise InvalidInput(
                field,
                f"{path} is one of the files the records are kept in "
                f"({Path(guarded).name}): it is never written over; choose another file name",
            )
    if path.is_dir():
        raise InvalidInput(
            field,
            f"{path} is a folder; expected a file name in it, e.g. {path / 'x.pdf'}",
        )
    if os.path.lexists(path):
        mode = os.lstat(path).st_mode
        if not stat.S_ISLNK(mode) and not stat.S_ISREG(mode):
            raise InvalidInput(field, f"{path} is not a regular file; expected a file name")
        if not force:
            raise InvalidInput(
                field,
                f"{path} already exists: choose another file name, or add --force to replace it",
            )
    folder = path.parent
    if not folder.is_dir():
        raise InvalidInput(field, f"folder {folder} does not exist")
    return path


class OutputFile:
    """One document written to ``path`` whole or not at all (see the module's description).

    Construct it early (it checks the path at once, before any work is done), enter it to
    get the temporary file, :meth:`write` the content, then :meth:`publish`. Leaving the
    block unpublished removes the temporary file; leaving it by an exception after
    publishing removes the published file (what it stood for was not recorded).
    """

    def __init__(
        self,
        path: Path,
        *,
        force: bool = False,
        protected: Iterable[Path] = (),
        field: str = "--output",
    ) -> None:
        self.protected = tuple(Path(p) for p in protected)
        self.force = force
        self.field = field
        self.path = check_output_path(path, force=force, protected=self.protected, field=field)
        self.folder = self.path.parent
        self.published = False
        self._dir: int | None = None
        self._fd: int | None = None
        self._temporary: str | None = None
        """The temporary file's name in the folder, when it has one (not with O_TMPFILE)."""

    # ------------------------------------------------------------------ temporary file
    def __enter__(self) -> OutputFile:
        # every step works relative to the folder opened once, so a folder swapped for a
        # link meanwhile cannot redirect the file
        self._dir = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        if _O_TMPFILE:
            try:
                self._fd = os.open(".", _O_TMPFILE | os.O_WRONLY, FILE_MODE, dir_fd=self._dir)
            except OSError:
                self._fd = None  # the file system has no unnamed files: use a named one
        if self._fd is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            self._temporary, self._fd = self._new_name(
                lambda name: os.open(name, flags, FILE_MODE, dir_fd=self._dir)
            )
        return self

    def _new_name(self, make: Callable[[str], Any]) -> tuple[str, Any]:
        """A fresh hidden name beside the target, taken with ``make``.

        ``make`` must refuse an existing name: a name someone planted is skipped, never followed.
        """
        for _ in range(100):
            candidate = f".{self.path.name}.{secrets.token_hex(6)}.partial"
            try:
                return candidate, make(candidate)
            except FileExistsError:
                continue
        raise InvalidInput(self.field, f"cannot create a temporary file in {self.folder}")

    def write(self, data: bytes) -> None:
        """Write the whole content and flush it to disk."""
        assert self._fd is not None, "enter the OutputFile first"
        view = memoryview(data)
        try:
            while view:
                done = os.write(self._fd, view)
                view = view[done:]
            os.fsync(self._fd)
        except OSError as exc:
            raise InvalidInput(
                self.field, f"cannot write {self.path}: {exc.strerror or exc}"
            ) from None

    # ------------------------------------------------------------------ publish
    def publish(self) -> Path:
        """Give the written file its name in one step, and flush the folder."""
        assert self._fd is not None, "write the OutputFile first"
        # checked again: the name may have been taken since the command started
        check_output_path(self.path, force=self.force, protected=self.protected, field=self.field)
        name, folder = self.path.name, self._dir
        try:
            if self._temporary is None:  # an unnamed file: linked in from /proc
                source = f"/proc/self/fd/{self._fd}"
                if self.force:
                    self._temporary, _ = self._new_name(
                        lambda tmp: os.link(source, tmp, dst_dir_fd=folder)
                    )
                else:
                    os.link(source, name, dst_dir_fd=folder)
            if self._temporary is not None:
                if self.force:
                    os.replace(self._temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
                else:  # a link fails if the name exists: no file is ever replaced
                    os.link(
                        self._temporary,
                        name,
                        src_dir_fd=folder,
                        dst_dir_fd=folder,
                        follow_symlinks=False,
                    )
                    os.unlink(self._temporary, dir_fd=folder)
                self._temporary = None
            os.fsync(folder)
        except FileExistsError:
            raise InvalidInput(
                self.field,
                f"{self.path} was created by someone else meanwhile: "
                "choose another file name, or add --force to replace it",
            ) from None
        except OSError as exc:
            raise InvalidInput(
                self.field, f"cannot write {self.path}: {exc.strerror or exc}"
            ) from None
        self.published = True
        return self.path

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._dir is None:
            return
        try:
            if self._temporary is not None:
                os.unlink(self._temporary, dir_fd=self._dir)
                self._temporary = None
            if self.published and exc_type is not None:
                os.unlink(self.path.name, dir_fd=self._dir)
                self.published = False
        except FileNotFoundError:
            pass
        finally:
            os.close(self._dir)
            self._dir = None


def write_output(
    path: Path,
    data: bytes,
    *,
    force: bool = False,
    protected: Iterable[Path] = (),
    field: str = "--output",
) -> Path:
    """Write ``data`` to ``path`` as :class:`OutputFile` does, in one call."""
    with OutputFile(path, force=force, protected=protected, field=field) as out:
        out.write(data)
        return out.publish()
