"""A command's stdout and stderr: a reader that left early (``| head``), a closed stream.

Python ignores SIGPIPE, so a write to a pipe nobody reads any more raises
``BrokenPipeError``. That is not the command's failure: a run whose summary found no reader
has still sent and written everything, and keeps its exit status. What is left to print is
dropped; stdout is pointed at the null device, because the interpreter's last flush of it
would raise again. A stream closed before the command started (``2>&-``, ``>&-``) is None
in Python; it is given the null device, so printing and logging go on. A terminal that
cannot show a character (``PYTHONIOENCODING=ascii``, a Latin-1 locale) gets its
``\\xfc`` escape, as Python's stderr already does, instead of stopping the command. A
terminal that hung up (SIGHUP: the SSH session or the window closed) takes no more writes
either: stdout and stderr on it are pointed at the null device, and the run goes on to a
graceful stop, telling ``run.log`` only.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
from collections.abc import Iterator


def reader_left() -> None:
    """Point stdout at the null device: later writes and the last flush go nowhere."""
    with contextlib.suppress(OSError, ValueError):  # stdout closed, or not a file (a test)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def terminal_gone() -> None:
    """Point stdout and stderr at the null device where they were a terminal (it hung up).

    A stream redirected to a file keeps it: a run started with ``> log 2>&1 &`` in a shell
    that then closed still says how it ended there.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # closed, or a test's
            fd = stream.fileno()
            if stat.S_ISCHR(os.fstat(fd).st_mode):  # a hung-up terminal may deny isatty()
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """Print inside: if the reader of stdout leaves, the rest is dropped, quietly."""
    try:
        yield
    except BrokenPipeError:
        reader_left()


def streams_in_place() -> None:
    """Stdout and stderr that take every line: the null device, escapes (module docstring)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
        elif isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")
