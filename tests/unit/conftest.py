"""The unit tier: in-process only. A test here that starts a process or opens a socket fails.

Fast tests of one part at a time (time from ``FakeClock``, files in ``tmp_path``); what needs
a server, a subprocess, a browser or a cluster belongs in ``tests/integration/``.
"""

from __future__ import annotations

import multiprocessing.process
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

HERE = Path(__file__).parent
# Session fixtures that start servers or load the real model: never in the unit tier.
SERVER_FIXTURES = frozenset({"llmock_server", "llama_server", "gemma_path"})
# Markers of the tests that need something outside this process.
OUTSIDE_MARKERS = frozenset({"integration", "model", "real_keys", "slurm"})


class LeftTheProcess(BaseException):
    """Raised where a unit test reaches outside its process (not an Exception: not swallowed)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse, before anything starts, unit tests that ask for a server or an outside marker."""
    wrong = []
    for item in items:
        if HERE not in Path(str(item.path)).parents:
            continue
        servers = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        markers = OUTSIDE_MARKERS.intersection(m.name for m in item.iter_markers())
        if servers or markers:
            wrong.append(f"{item.nodeid} uses {', '.join(sorted(servers | markers))}")
    if wrong:
        raise pytest.UsageError(
            "unit tests that need something outside the process (move them to "
            "tests/integration/):\n  " + "\n  ".join(wrong)
        )


@pytest.fixture(autouse=True)
def _stay_in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Make subprocesses, child processes and socket connects or binds fail the test."""
    reached: list[str] = []

    def refuse(what: str) -> NoReturn:
        reached.append(what)
        raise LeftTheProcess(f"a unit test {what}: move it to tests/integration/")

    def popen(self: subprocess.Popen[Any], args: Any, *more: Any, **kwargs: Any) -> None:
        refuse(f"started a subprocess {args!r}")

    def connect(self: socket.socket, address: Any, *more: Any) -> Any:
        refuse(f"opened a socket to {address!r}")

    def bind(self: socket.socket, address: Any, *more: Any) -> Any:
        refuse(f"bound a socket to {address!r}")

    def start(self: multiprocessing.process.BaseProcess) -> None:
        refuse("started a child process")

    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(socket.socket, "bind", bind)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", start)
    yield reached
    if reached:  # caught and swallowed by the code under test: still a failure
        pytest.fail(f"a unit test reached outside its process: {reached[0]}")
