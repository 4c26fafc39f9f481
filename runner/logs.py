"""Logging, configured in one place: loguru to stderr, and to the run's log file.

Every sink masks key values (:mod:`runner.redaction`) and none shows local variables
(``diagnose=False``): a traceback with locals would print the keys it holds.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from loguru import logger

from runner import redaction
from runner.visible import visible

_STDERR_FORMAT = "<level>{level: <7}</level> {extra[shown]}\n{exception}"
_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {name}:{line} | {message}"

_files: dict[int, _RunLogFile] = {}


def _stderr_format(record: Any) -> str:
    """The terminal's line: the message with its control characters shown, not acted on.

    A name or an error holding ESC (``\\x1b]0;title\\x07``, ``\\x1b[2J``) retitled or
    cleared the terminal; the level's own colour codes are added after, by loguru.
    """
    record["extra"]["shown"] = visible(record["message"])
    return _STDERR_FORMAT


def _to_stderr(message: str) -> None:
    # Looked up per call: a live progress display swaps sys.stderr to keep bars intact.
    # A name with a bidirectional override would read as another on the terminal.
    sys.stderr.write(visible(redaction.scrub(message), controls=False))


class _RunLogFile:
    """The run's log file; a write the disk refuses (full, gone) is dropped, never raised.

    The log is a record of the run, not the run: a full disk is reported by the writer of
    results, and loguru must not print its own "Logging error" traceback about it.
    """

    def __init__(self, path: Path) -> None:
        self._handle: IO[str] | None = path.open("a", encoding="utf-8")

    def write(self, message: str) -> None:
        if self._handle is None:
            return
        try:
            self._handle.write(redaction.scrub(message))
            self._handle.flush()
        except OSError:
            self.close()

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            # A tail the disk refused is lost; the lines before it are on disk.
            with contextlib.suppress(OSError):
                handle.close()


def _redacted_excepthook(
    kind: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    # An unexpected crash still prints its traceback, with every key masked.
    text = "".join(traceback.format_exception(kind, exc, tb))
    sys.stderr.write(redaction.scrub(text))


def _scrub_standard_logging() -> None:
    """Mask the standard library's log records too: Hydra prints a sweep's overrides with it.

    Its "#0 : apis.openai.base_url=http://user:password@..." line is no loguru message, and
    an override holding ESC would act on the terminal: shown as its escape.
    """
    factory = logging.getLogRecordFactory()
    if getattr(factory, "runner_scrubs", False):
        return

    def scrubbing(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        message = record.getMessage()
        clean = visible(redaction.scrub(message))  # a sweep's overrides may hold ESC
        if clean != message:
            record.msg, record.args = clean, None
        return record

    scrubbing.runner_scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(scrubbing)


def configure(level: str = "INFO") -> None:
    """Send runner's logs to stderr at ``level`` (replacing earlier sinks)."""
    redaction.remember_process_keys()
    sys.excepthook = _redacted_excepthook
    _scrub_standard_logging()
    logger.remove()
    _close_files()
    logger.add(
        _to_stderr,
        level=level.upper(),
        format=_stderr_format,
        colorize=sys.stderr.isatty(),
        backtrace=False,
        diagnose=False,
    )


def add_run_log(path: Path) -> int:
    """Also log everything (DEBUG and up) to ``path``; returns the sink id to remove later."""
    sink = _RunLogFile(path)
    sink_id = logger.add(
        sink.write,
        level="DEBUG",
        format=_FILE_FORMAT,
        enqueue=False,
        backtrace=False,
        diagnose=False,
    )
    _files[sink_id] = sink
    return sink_id


def remove_sink(sink_id: int) -> None:
    """Stop logging to a sink added with :func:`add_run_log`."""
    logger.remove(sink_id)
    sink = _files.pop(sink_id, None)
    if sink is not None:
        sink.close()


def _close_files() -> None:
    for sink in _files.values():
        sink.close()
    _files.clear()
