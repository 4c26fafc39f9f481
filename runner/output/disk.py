"""Writing the run's files safely: atomic replacement, and a clear stop when the disk is full."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from loguru import logger

from runner.errors import DiskFullError

_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _free_space(path: Path) -> str:
    for folder in (path, *path.parents):
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(folder).free
            return f"{free:,} bytes free"
    return "free space unknown"


def write_failed(exc: OSError, path: Path, what: str) -> DiskFullError:
    """The error to raise when writing ``path`` failed; the traceback goes to the run log only.

    The run log sink is DEBUG and the console INFO, so the traceback is recorded in
    ``run.log`` (when it can still be written) and the console gets one clear line.
    """
    logger.opt(exception=exc).debug("Writing {} failed", path)
    reason = "the disk is full" if exc.errno in _NO_SPACE else (exc.strerror or str(exc))
    return DiskFullError(
        f"could not write {what} {path}: {reason} ({_free_space(path.parent)} there). "
        "What was written before is intact; free some space (or set outputs_dir to a disk "
        "with room) and resume the run"
    )


def atomic_write_text(path: Path, text: str, what: str) -> None:
    """Replace ``path`` with ``text`` whole: write a temporary file, fsync it, rename it.

    On failure the temporary file is removed and the old ``path`` stays as it was: a reader
    never sees an empty or half-written file.

    Raises:
        DiskFullError: the file could not be written.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two processes never share one
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_failed(exc, path, what) from None


def copy_file(source: Path, target: Path, what: str) -> None:
    """Copy ``source`` to ``target``; on failure remove the partial copy.

    Raises:
        DiskFullError: the copy could not be written.
    """
    try:
        shutil.copy2(source, target)
    except OSError as exc:
        unreadable = exc.filename2 is None and exc.filename == str(source)
        if unreadable and exc.errno not in _NO_SPACE:
            raise  # the source cannot be read: not a problem of this run's disk
        with contextlib.suppress(OSError):
            target.unlink()
        raise write_failed(exc, target, what) from None
