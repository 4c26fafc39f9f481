"""The pre-flight check, ``python -m runner.check``, and the same refusal by the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from runner.errors import BadInputError
from tests import servers
from tests.helpers import write_jsonl
from tests.providers_support import (
    PROVIDER_ENV_PREFIXES,
    llmock_bodies,
    unique_model,
    write_media,
)

ROOT = Path(__file__).resolve().parents[2]


def _env(server: servers.Server, **extra: str) -> dict[str, str]:
    """This process's environment without provider keys, plus llmock as OpenAI and Gemini."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_ENV_PREFIXES)}
    env.update(
        OPENAI_BASE_URL=f"{server.url}/v1",
        GEMINI_BASE_URL=f"{server.url}/gemini/v1beta",
        OLLAMA_API_ENDPOINT_llama_ok="http://127.0.0.1:9",
        **extra,
    )
    return env


def _check(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.check",
            "experiment=exp",
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            f"media_dir={tmp_path / 'media'}",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def _user(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(parts)}]


def _bad_records(gpt: str, gem: str) -> list[dict[str, Any]]:
    """One record per problem; line 10 is the only good one."""
    return [
        {"api": "anthropic", "model_name": "claude-x", "prompt": "no key"},
        {
            "api": "gemini",
            "model_name": gem,
            "prompt": [{"role": "user", "content": "a"}, {"role": "system", "content": "late"}],
        },
        {"api": "openai", "model_name": gpt, "prompt": [{"role": "robot", "content": "x"}]},
        {"api": "openai", "model_name": gpt, "prompt": _user({"type": "image", "media": "no.png"})},
        {
            "api": "ollama",
            "model_name": "llama-ok",
            "prompt": _user({"type": "image", "url": "https://example.org/a.png"}),
        },
        {"api": "ollama", "model_name": "llama-none", "prompt": "no endpoint"},
        {"api": "azure-openai", "model_name": "dep", "prompt": "no key, no endpoint"},
        {
            "api": "openai",
            "model_name": gpt,
            "prompt": [
                {"role": "system", "content": [{"type": "image", "media": "pixel.png"}]},
                {"role": "user", "content": "hi"},
            ],
        },
        {"api": "openai", "model_name": gpt, "prompt": {"not": "a prompt"}},
        {
            "api": "openai",
            "model_name": gpt,
            "prompt": _user({"type": "image", "media": "pixel.png"}),
        },
        {
            "api": "gemini",
            "model_name": gem,
            "prompt": _user({"type": "image", "url": "https://example.org/picture"}),
        },
        {"api": "openai", "model_name": gpt, "prompt": _user({"type": "audio", "media": "a.wav"})},
    ]


EXPECTED = {
    1: "no Anthropic API key: set ANTHROPIC_API_KEY",
    2: "a system message must come first",
    3: "has role 'robot'",
    4: "media file 'no.png' not found",
    5: "api 'ollama' takes no image URLs",
    6: "no Ollama endpoint: set OLLAMA_API_ENDPOINT",
    7: "no Azure OpenAI endpoint",
    8: "an image in a system message",
    9: "'prompt' must be a string",
    11: "Gemini needs the type of image url",
    12: "part 0 must be",
}


def test_check_names_every_problem_and_sends_nothing(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """Every bad record is named with file:line; exit 2; no request, no run folder."""
    write_media(tmp_path)
    gpt, gem = unique_model("gpt-check"), unique_model("gemini-check")
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", _bad_records(gpt, gem))
    out = _check(tmp_path, _env(llmock_server))
    assert out.returncode == 2, out.stderr
    for line, fragment in EXPECTED.items():
        assert any(
            f"exp.jsonl:{line}: " in row and fragment in row for row in out.stdout.splitlines()
        ), (line, fragment, out.stdout)
    assert "no Azure OpenAI API key" in out.stdout
    assert "exp.jsonl:10:" not in out.stdout
    assert not (tmp_path / "outputs").exists()
    assert llmock_bodies(llmock_server, gpt) == [] and llmock_bodies(llmock_server, gem) == []

    # The run refuses the same records with the same problems, before sending anything.
    env = _env(llmock_server)
    with pytest.raises(BadInputError) as refused:
        run_experiment(
            "exp",
            [
                f"experiments_dir={tmp_path / 'experiments'}",
                f"outputs_dir={tmp_path / 'outputs'}",
                f"media_dir={tmp_path / 'media'}",
                "index=false",
            ],
            env=env,
        )
    assert refused.value.exit_code == 2
    assert [p.split("exp.jsonl:", 1)[1] for p in refused.value.problems] == [
        row.split("exp.jsonl:", 1)[1] for row in out.stdout.splitlines() if "exp.jsonl:" in row
    ][1:]  # the first row is the header naming the file
    assert llmock_bodies(llmock_server, gpt) == []


def test_clean_experiment_passes_and_sends_nothing(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """A sendable experiment exits 0 with a summary, and still nothing is sent."""
    write_media(tmp_path)
    gpt = unique_model("gpt-clean")
    records: list[dict[str, Any]] = [
        {"api": "openai", "model_name": gpt, "prompt": "hello"},
        {
            "api": "openai",
            "model_name": gpt,
            "prompt": _user({"type": "image", "media": "pixel.png"}),
        },
        {"api": "anthropic", "model_name": "claude-x", "prompt": ["a", "b"]},
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    out = _check(tmp_path, _env(llmock_server, ANTHROPIC_API_KEY_claude_x="k"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("OK: ") and "3 prompt(s)" in out.stdout
    assert f"openai/{gpt} (2)" in out.stdout and "Nothing was sent" in out.stdout
    assert llmock_bodies(llmock_server, gpt) == []
    assert not (tmp_path / "outputs").exists()
