"""A reader that leaves early (``| head``) is no failure: the command keeps its status.

Python ignores SIGPIPE, so printing to a pipe whose reader left raises BrokenPipeError. It
once made a finished run print "unexpected BrokenPipeError ... please report it" (exit 1,
a crash log), and ``python -m runner --help | head`` say "cannot make the run's folder".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import cli
from runner.std_streams import reader_may_leave, streams_in_place


def _write_to_a_closed_pipe() -> int:
    raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_is_status_0_with_nothing_said_and_no_crash_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cli.guarded(_write_to_a_closed_pipe, "runner") == 0
    assert capsys.readouterr().err == ""
    assert not (tmp_path / "runner" / "errors").exists()


def test_printing_to_a_reader_that_left_drops_the_rest_and_goes_on() -> None:
    went_on: list[bool] = []
    with reader_may_leave():
        raise BrokenPipeError(32, "Broken pipe")
    went_on.append(True)  # the caller's next step runs: a run returns its own status
    assert went_on == [True]


def test_other_errors_pass_through() -> None:
    with pytest.raises(OSError, match="disk full"), reader_may_leave():
        raise OSError(28, "disk full")


def test_an_error_line_for_a_closed_stderr_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed:
        def write(self, _text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stderr", Closed())
    cli.say_error("bad input")  # no exception: there is no one to tell


def test_a_stream_closed_at_the_start_is_given_the_null_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stderr", None)
    streams_in_place()
    import sys

    assert sys.stderr is not None
    print("dropped", file=sys.stderr)  # no error: the line goes nowhere
    sys.stderr.close()
