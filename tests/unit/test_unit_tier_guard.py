"""The unit tier's guard (tests/unit/conftest.py): no subprocess, no socket, no child process."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.unit.conftest import LeftTheProcess


@pytest.fixture
def reached(_stay_in_process: list[str]) -> Iterator[list[str]]:
    """What the guard caught; emptied at the end, since these tests reach out on purpose."""
    yield _stay_in_process
    _stay_in_process.clear()


def test_a_subprocess_is_refused(reached: list[str]) -> None:
    with pytest.raises(LeftTheProcess, match="subprocess"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    assert reached


def test_a_socket_connect_or_bind_is_refused(reached: list[str]) -> None:
    with socket.socket() as sock, pytest.raises(LeftTheProcess, match="socket"):
        sock.connect(("127.0.0.1", 9))
    with socket.socket() as sock, pytest.raises(LeftTheProcess, match="socket"):
        sock.bind(("127.0.0.1", 0))
    assert len(reached) == 2


async def test_asyncio_connections_and_servers_are_refused(reached: list[str]) -> None:
    with pytest.raises(LeftTheProcess):
        await asyncio.open_connection("127.0.0.1", 9)
    with pytest.raises(LeftTheProcess):
        await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    assert len(reached) == 2


def test_a_child_process_is_refused(reached: list[str]) -> None:
    with pytest.raises(LeftTheProcess, match="child process"):
        multiprocessing.Process(target=print).start()
    assert reached
