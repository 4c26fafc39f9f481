"""The run's last two steps: the index beside the report, and a stop while they are written."""

from __future__ import annotations

import threading

import pytest

from runner.run.run_end import index_beside_report


def test_the_index_runs_beside_the_report_and_its_failure_is_raised_after() -> None:
    seen: list[str] = []

    def update() -> None:
        seen.append(threading.current_thread().name)
        raise OSError("index busy")

    with pytest.raises(OSError, match="index busy"):
        index_beside_report(update, lambda: seen.append("report"))
    assert sorted(seen) == ["report", "runner-index"]


def test_a_stop_while_the_report_is_written_says_so_then_stops() -> None:
    # SIGTERM or Ctrl-C here ended with "Interrupted: results written so far are in ..."
    # alone, for a run whose run.json said completed: nothing said the run was whole, nor
    # how to make its report and index.
    told: list[str] = []
    index_done = threading.Event()

    def report() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index_beside_report(index_done.set, report, lambda: told.append("stopped"))
    assert told == ["stopped"] and index_done.is_set()  # the index was waited for
