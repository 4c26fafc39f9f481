"""Start real third-party servers on free loopback ports, for integration tests and benches.

Nothing here is a fake: ``llmock`` (PyPI), ``@copilotkit/aimock`` (npm) and llama.cpp's
OpenAI-compatible server run as their own processes, and are stopped when done.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AIMOCK_BIN = ROOT / ".tools" / "node_modules" / ".bin" / "llmock"


@dataclass
class Server:
    """A running server: where it listens, and its process."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    """A port nobody holds now on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status < 500:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready at {url} after {timeout} s: {log.read_text()[-2000:]}")


@contextmanager
def _serve(
    argv: Sequence[str], health_path: str, port: int, timeout: float, base_path: str = ""
) -> Iterator[Server]:
    log = Path(tempfile.mkstemp(prefix="server-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base + health_path, process, log, timeout)
        yield Server(base + base_path, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def llmock_bin() -> str:
    """The ``llmock`` command of the PyPI package, installed beside this Python."""
    candidate = Path(sys.executable).parent / "llmock"
    return str(candidate) if candidate.exists() else (shutil.which("llmock") or "llmock")


@contextmanager
def llmock(*extra: str) -> Iterator[Server]:
    """llmock (PyPI) serving OpenAI, Anthropic and Gemini routes; ``url`` is its root."""
    port = free_port()
    argv = [
        llmock_bin(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra,
    ]
    with _serve(argv, "/health", port, timeout=30) as server:
        yield server


@contextmanager
def aimock(fixtures: Path) -> Iterator[Server]:
    """@copilotkit/aimock (npm), serving the fixture files in ``fixtures``."""
    if not AIMOCK_BIN.exists():
        raise RuntimeError(f"{AIMOCK_BIN} is missing: run make test (it installs aimock)")
    port = free_port()
    argv = [str(AIMOCK_BIN), "--host", "127.0.0.1", "-p", str(port), "-f", str(fixtures)]
    with _serve(argv, "/health", port, timeout=30) as server:
        yield server


@contextmanager
def llama_server(model_path: Path, alias: str = "gemma-3-270m") -> Iterator[Server]:
    """llama.cpp's OpenAI-compatible server with a GGUF model; ``url`` ends in /v1."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--chat_format",
        "gemma",
        "--model_alias",
        alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    env_threads = os.environ.get("RUNNER_TEST_LLAMA_THREADS")
    if env_threads:
        argv += ["--n_threads", env_threads]
    with _serve(argv, "/v1/models", port, timeout=120, base_path="/v1") as server:
        yield server
