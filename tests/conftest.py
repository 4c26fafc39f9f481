"""Shared fixtures: real servers on free loopback ports, and a tidy logging set-up."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import runner.providers  # noqa: F401 - as the entry points do: each declares its settings block
from runner import logs
from tests import servers

# The helpers moved to tests/helpers.py: re-exported for tests written before the move.
from tests.helpers import ROOT as ROOT
from tests.helpers import USER_CACHE
from tests.helpers import get_json as get_json
from tests.helpers import post_json as post_json
from tests.helpers import read_jsonl as read_jsonl
from tests.helpers import run_cli as run_cli
from tests.helpers import runner_argv as runner_argv
from tests.helpers import runner_env as runner_env
from tests.helpers import write_jsonl as write_jsonl

# The user's XDG_CACHE_HOME, put back at the end of the session.
_USER_XDG = os.environ.get("XDG_CACHE_HOME")


def pytest_configure(config: pytest.Config) -> None:
    """Point runner's cache (shared limits, models) at a temporary folder for the session.

    Set in the environment, so runs in subprocesses use it too: tests never write into
    the user's ~/.cache/runner.
    """
    del config
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="runner-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    del config
    shutil.rmtree(os.environ.pop("XDG_CACHE_HOME"), ignore_errors=True)
    if _USER_XDG is not None:
        os.environ["XDG_CACHE_HOME"] = _USER_XDG


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    logs.configure("WARNING")


@pytest.fixture(autouse=True)
def _own_response_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A response cache per test (runs in subprocesses inherit it): no test answers another's
    prompts from the cache unless it means to (the cache tests share one on purpose)."""
    monkeypatch.setenv("RUNNER_CACHE_DIR", str(tmp_path / "response-cache"))


@pytest.fixture(scope="session")
def llmock_server() -> Iterator[servers.Server]:
    """One llmock (PyPI) process for the session; isolate tests by model name."""
    with servers.llmock() as server:
        yield server


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    """The Gemma 3 270M GGUF file: the one in the user's cache, else assembled into the test's."""
    pytest.importorskip("llama_cpp", reason="needs the 'local' extra (make test installs it)")
    from runner.providers.local import GGUF_NAME, default_model_path

    assembled = USER_CACHE / "runner" / "models" / GGUF_NAME
    return assembled if assembled.is_file() else default_model_path()


@pytest.fixture(scope="session")
def llama_server(gemma_path: Path) -> Iterator[servers.Server]:
    """llama.cpp's OpenAI-compatible server with the real Gemma model."""
    with servers.llama_server(gemma_path) as server:
        yield server
