"""When the reader of a command's output leaves early (``| head``, ``| grep -m1``).

Python ignores SIGPIPE, so a write to a pipe nobody reads any more raises
``BrokenPipeError``. That is not the command's failure: a run whose summary found no reader
has still sent and written everything, and keeps its exit status. What is left to print is
dropped; stdout is pointed at the null device, because the interpreter's last flush of it
would raise again.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


def reader_left() -> None:
    """Point stdout at the null device: later writes and the last flush go nowhere."""
    with contextlib.suppress(OSError, ValueError):  # stdout closed, or not a file (a test)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """Print inside: if the reader of stdout leaves, the rest is dropped, quietly."""
    try:
        yield
    except BrokenPipeError:
        reader_left()
