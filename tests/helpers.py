"""Helpers the tests share: files, command lines and HTTP calls (fixtures are in conftest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from runner.output.results import full_line

ROOT = Path(__file__).resolve().parents[1]
# The user's cache folder, read (never written) for the model `make model` assembled there
# (read at import, before conftest points XDG_CACHE_HOME at the session's own folder).
USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


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


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """Write ``records`` as an experiment file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The lines of a JSONL file; result lines with their default fields (``full_line``)."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [full_line(x) if isinstance(x, dict) else x for x in lines]


def runner_argv(tmp_path: Path, *args: str) -> list[str]:
    """The command line of a run in ``tmp_path`` (experiments/ and outputs/ there)."""
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
