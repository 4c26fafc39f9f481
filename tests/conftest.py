"""Shared fixtures: real servers on free loopback ports, and a tidy logging set-up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner import logs
from tests import servers

# The user's cache folder, read (never written) for the model `make model` assembled there.
_USER_XDG = os.environ.get("XDG_CACHE_HOME")
USER_CACHE = Path(_USER_XDG or Path.home() / ".cache")


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


def post_json(url: str, payload: dict[str, Any]) -> Any:
    """POST JSON with the standard library (for control endpoints of test servers)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def get_json(url: str) -> Any:
    """GET JSON with the standard library."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


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


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """Write ``records`` as an experiment file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The lines of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


ROOT = Path(__file__).resolve().parents[1]


def runner_argv(tmp_path: Path, *args: str) -> list[str]:
    """The command line of a run in ``tmp_path`` (experiments/ and outputs/ there)."""
    import sys

    return [
        sys.executable,
        "-m",
        "runner",
        *args,
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        f"limits_dir={tmp_path / 'limits'}",
        "progress=off",
        "index=false",
    ]


def runner_env(server_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a run: no stray OPENAI_* from the caller, a dummy key."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    if server_url is not None:
        env.update(OPENAI_API_KEY="test-key", OPENAI_BASE_URL=f"{server_url}/v1")
    env.update(extra)
    return env


def run_cli(
    tmp_path: Path, server_url: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the command line in ``tmp_path`` against a test server; its completed process."""
    return subprocess.run(
        runner_argv(tmp_path, *args),
        cwd=ROOT,
        env=runner_env(server_url),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
