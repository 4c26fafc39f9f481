"""ESC in a name or an error is shown as ``\\u001b`` on the terminal, never acted on.

An experiment file named ``esc\\x1b]0;TITLE\\x07.jsonl`` retitled the terminal from the
run's first log line and its ``Results:``/``Report:`` lines, and an error naming such a
file (or any text holding ESC) went to stderr raw; the summary already escaped it.
"""

from __future__ import annotations

import io

import pytest
from loguru import logger

from runner import cli, logs

HOSTILE = "name\x1b]0;TITLE\x07\x1b[2J\x9b31m"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_message_shows_escapes_while_the_level_keeps_its_colour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    logs.configure("INFO")
    try:
        logger.warning("file {}", HOSTILE)
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("with a traceback")
    finally:
        logs.configure("INFO")
    shown = terminal.getvalue()
    assert "\\u001b]0;TITLE\\u0007\\u001b[2J\\u009b31m" in shown
    assert "]0;TITLE\x07" not in shown and "\x1b[2J" not in shown and "\x9b" not in shown
    assert "\x1b[33m" in shown or "\x1b[1m" in shown  # WARNING's own colour, from loguru
    assert "Traceback" in shown and "boom" in shown  # the traceback is still printed


def test_the_error_line_shows_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    cli.say_error(f"experiments/{HOSTILE}.jsonl: bad\n  - second line")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\x9b" not in err
    assert "\\u001b]0;TITLE" in err and "\n  - second line\n" in err
