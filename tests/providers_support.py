"""Helpers shared by the provider tests: run an experiment, script llmock, read its journal."""

from __future__ import annotations

import base64
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner import run_experiment
from runner.run import RunResult
from tests import servers
from tests.helpers import get_json, post_json, read_jsonl, write_jsonl

# A real 1x1 PNG, so that MIME types and base64 round-trips are checked on a true image.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PNG_B64 = base64.b64encode(PNG_1X1).decode("ascii")

# Every provider variable, so a developer's real keys never leak into a test run.
PROVIDER_ENV_PREFIXES = (
    "OPENAI_",
    "ANTHROPIC_",
    "GEMINI_",
    "OLLAMA_",
    "AZURE_OPENAI_",
    "HUGGINGFACE_TGI_",
    "VERTEXAI_",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


def unique_model(prefix: str) -> str:
    """A model name no other test uses, to scope llmock's global scenarios to one test."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def scenario(server: servers.Server, *behaviors: dict[str, Any]) -> None:
    """Queue scripted behaviours on llmock."""
    post_json(f"{server.url}/_llmock/scenario", {"behaviors": list(behaviors)})


def llmock_bodies(server: servers.Server, model: str) -> list[dict[str, Any]]:
    """The request bodies llmock received for ``model``, oldest first."""
    journal = get_json(f"{server.url}/_llmock/requests")
    return [r["body"] for r in journal["requests"] if r.get("model") == model]


def aimock_journal(server: servers.Server) -> list[dict[str, Any]]:
    """Every request aimock recorded (its bodies are normalised to OpenAI's shape)."""
    with urllib.request.urlopen(f"{server.url}/__aimock/journal", timeout=10) as resp:
        import json

        data: list[dict[str, Any]] = json.loads(resp.read())
    return data


def write_media(tmp_path: Path, name: str = "pixel.png") -> Path:
    """A real PNG in ``tmp_path/media``; returns the media folder."""
    folder = tmp_path / "media"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(PNG_1X1)
    return folder


def run_records(
    tmp_path: Path,
    records: list[dict[str, Any]],
    env: Mapping[str, str],
    *overrides: str,
) -> tuple[list[dict[str, Any]], RunResult]:
    """Run ``records`` as an experiment with fast retries; returns its lines by order and result."""
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    result = run_experiment(
        "exp",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            f"media_dir={tmp_path / 'media'}",
            "max_queries=6000",
            "backoff_base_s=0.05",
            "index=false",
            "progress=off",
            *overrides,
        ],
        env=dict(env),
    )
    lines = read_jsonl(result.folder.completed)
    return sorted(lines, key=lambda line: str(line.get("id"))), result


def by_id(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Result lines keyed by their record's ``id``."""
    return {str(line["id"]): line for line in lines}


def run_one_streamed(
    tmp_path: Path, base_url: str, model: str, *overrides: str, api: str = "openai"
) -> dict[str, Any]:
    """One streamed prompt through ``api`` (openai or anthropic) at ``base_url``; its line."""
    write_jsonl(
        tmp_path / "experiments" / "s.jsonl",
        [{"id": "a", "api": api, "model_name": model, "prompt": "hello there",
          "parameters": {"stream": True, "max_tokens": 30}}],
    )  # fmt: skip
    env = {
        "OPENAI_API_KEY": "k",
        "OPENAI_BASE_URL": f"{base_url}/v1",
        "ANTHROPIC_API_KEY": "k",
        "ANTHROPIC_BASE_URL": f"{base_url}/anthropic",
    }
    result = run_experiment(
        "s",
        [f"experiments_dir={tmp_path / 'experiments'}", f"outputs_dir={tmp_path / 'outputs'}",
         "max_queries=6000", "backoff_base_s=0.05", "index=false", *overrides],
        env=env,
    )  # fmt: skip
    (line,) = read_jsonl(result.folder.completed)
    return line


def openai_env(server: servers.Server) -> dict[str, str]:
    """A run's environment pointed at ``server``'s OpenAI endpoint, with a test key."""
    return {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f"{server.url}/v1"}


def openai_records(model: str, n: int, **params: Any) -> list[dict[str, Any]]:
    """``n`` OpenAI prompts ``p0``.. for ``model``; ``params`` (default max_tokens 64)."""
    return [
        {"id": f"p{i}", "api": "openai", "model_name": model, "prompt": f"hello {i}",
         "parameters": params or {"max_tokens": 64}}
        for i in range(n)
    ]  # fmt: skip
