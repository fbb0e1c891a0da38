"""Output files that are whole or untouched: written beside the target, renamed over it at the end.

A report is what a CI job keeps of a run, so writing one must never destroy the previous one
half-way: every report file (JSON, JUnit, HTML, the event log, an OpenMetrics recording) is
written to a temporary file in the target's directory and renamed over the target only once it
is complete and flushed to disk. A signal, a full disk or a crash while writing leaves the
previous file as it was (and no temporary file behind); a reader never sees a truncated one.

A target that exists and is not a regular file (``/dev/stdout``, a FIFO) is a stream: it is
written in place, since renaming over it would replace the device rather than write to it. A
symbolic link is followed, so the file it points to is replaced and the link stays.

:func:`check_writable` is the check made before a run: it tries a temporary file in the
directory (the rename needs that) and never creates, opens or truncates the target itself.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO, cast


class OutputError(Exception):
    """An output file that cannot be written; the message is one line naming the file."""


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _target(path: Path) -> Path:
    """Where ``path`` really is: a symbolic link's target (the link is kept, its file replaced)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _is_stream(target: Path) -> bool:
    """Whether ``target`` exists and is neither a regular file nor a directory (a device, a
    FIFO, a socket): written in place."""
    try:
        mode = target.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_writable(path: Path) -> None:
    """Raise :class:`OutputError` unless ``path`` can be written as a report, without creating,
    opening or truncating it: a directory is refused, a stream must be writable, and otherwise
    a temporary file is created (and removed at once) in its directory."""
    target = _target(path)
    if target.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    if _is_stream(target):
        if not os.access(target, os.W_OK):
            raise OutputError(f"cannot write {path}: permission denied")
        return
    directory = target.parent
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        raise OutputError(f"cannot write {path}: directory {directory} {what}")
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".probe")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_why(exc)}") from None
    os.close(fd)
    os.unlink(probe)


def _new_file_mode(target: Path) -> int:
    """The mode the finished file gets: the replaced file's, or what ``open`` would create."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(path: Path, buffering: int = -1) -> Iterator[TextIO]:
    """A text file (UTF-8) to write ``path``'s new content to; it replaces ``path`` when the
    block ends normally. If the block raises (an error, a KeyboardInterrupt), ``path`` is left
    as it was. A failed write raises :class:`OutputError`."""
    with _replacing(Path(path), "w", buffering) as out:
        yield cast(TextIO, out)


@contextlib.contextmanager
def _replacing(path: Path, mode: str, buffering: int) -> Iterator[IO[Any]]:
    target = _target(path)
    encoding = "utf-8" if mode == "w" else None
    if _is_stream(target):
        try:
            with open(target, mode, encoding=encoding, buffering=buffering) as out:
                yield out
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {_why(exc)}") from None
        return
    # The name is chosen before the file is created, so a signal landing at any point after
    # the creation (even inside the open call) still finds it to remove; tempfile.mkstemp only
    # tells the name once it has returned.
    temporary = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, mode, encoding=encoding, buffering=buffering) as out:
                yield out
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, _new_file_mode(target))
            os.replace(temporary, target)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {_why(exc)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8), atomically."""
    with atomic_output(path) as out:
        out.write(text)


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, atomically."""
    with _replacing(Path(path), "wb", -1) as out:
        out.write(data)


__all__ = ["OutputError", "atomic_output", "check_writable", "write_bytes", "write_text"]
