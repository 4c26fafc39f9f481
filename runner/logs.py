"""Logging, configured in one place: loguru to stderr, and to the run's log file."""

from __future__ import annotations

import sys
from pathlib import Path

from loguru import logger

_STDERR_FORMAT = "<level>{level: <7}</level> {message}"
_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {name}:{line} | {message}"


def _to_stderr(message: str) -> None:
    # Looked up per call: a live progress display swaps sys.stderr to keep bars intact.
    sys.stderr.write(message)


def configure(level: str = "INFO") -> None:
    """Send runner's logs to stderr at ``level`` (replacing earlier sinks)."""
    logger.remove()
    logger.add(_to_stderr, level=level.upper(), format=_STDERR_FORMAT, colorize=sys.stderr.isatty())


def add_run_log(path: Path) -> int:
    """Also log everything (DEBUG and up) to ``path``; returns the sink id to remove later."""
    return logger.add(path, level="DEBUG", format=_FILE_FORMAT, enqueue=False, encoding="utf-8")


def remove_sink(sink_id: int) -> None:
    """Stop logging to a sink added with :func:`add_run_log`."""
    logger.remove(sink_id)
