"""The pre-flight check, ``python -m runner.check``, and the same refusal by the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from runner.check import main
from runner.errors import BadInputError
from tests import servers
from tests.helpers import write_jsonl
from tests.providers_support import (
    PROVIDER_ENV_PREFIXES,
    llmock_bodies,
    unique_model,
    write_media,
)

ROOT = Path(__file__).resolve().parents[1]


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


def test_usage_and_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No experiment, an unknown one, or a misspelled setting: exit 2 with a message."""
    experiments = f"experiments_dir={tmp_path}"
    assert main([]) == 2
    assert main(["experiment=nope", experiments]) == 2
    assert "No experiment 'nope'" in capsys.readouterr().err
    write_jsonl(tmp_path / "exp.jsonl", [{"api": "openai", "model_name": "m", "prompt": "x"}])
    assert main(["experiment=exp", experiments, "max_qeuries=5"]) == 2
    assert "configuration is invalid" in capsys.readouterr().err


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(PROVIDER_ENV_PREFIXES):
            monkeypatch.delenv(name)


def test_invalid_json_lines_are_listed_with_the_rest_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unreadable lines are problems like any other: all of them, with their lines."""
    _clean_env(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    good = json.dumps({"api": "openai", "model_name": "m", "prompt": "x"})
    lines = [good, '{"api": "openai", "prompt": ', good, "not json", "{'single': 1}", "[1, 2]"]
    lines.append(json.dumps({"prompt": "no api"}))
    path = tmp_path / "exp.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["experiment=exp", f"experiments_dir={tmp_path}"]) == 2
    out = capsys.readouterr().out
    assert "5 problem(s)" in out
    for line, fragment in [
        (2, "not valid JSON"),
        (4, "not valid JSON"),
        (5, "not valid JSON"),
        (6, "must be a JSON object, got list"),
        (7, "missing field 'api'"),
    ]:
        assert any(f"exp.jsonl:{line}: " in r and fragment in r for r in out.splitlines()), line
    # The run lists the same problems before sending anything.
    with pytest.raises(BadInputError) as refused:
        run_experiment("exp", [f"experiments_dir={tmp_path}", "index=false"])
    assert [p.split("exp.jsonl:", 1)[1][:2] for p in refused.value.problems] == [
        "2:",
        "4:",
        "5:",
        "6:",
        "7:",
    ]


def test_problem_listing_stops_at_100_then_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _clean_env(monkeypatch)
    (tmp_path / "exp.jsonl").write_text("oops\n" * 150, encoding="utf-8")
    assert main(["experiment=exp", f"experiments_dir={tmp_path}"]) == 2
    out = capsys.readouterr().out
    assert "150 problem(s)" in out and "exp.jsonl:100: not valid JSON" in out
    assert "exp.jsonl:101:" not in out and "... and 50 more problem(s)" in out
    with pytest.raises(BadInputError) as refused:
        run_experiment("exp", [f"experiments_dir={tmp_path}", "index=false"])
    assert "exp.jsonl:100: not valid JSON" in str(refused.value)
    assert "... and 50 more problem(s)" in str(refused.value)


# api -> (model_name, the variables the code reads for it)
MODEL_VARIABLES = {
    "openai": ("gpt-4o-mini", ["OPENAI_API_KEY_gpt_4o_mini"]),
    "anthropic": ("claude-3.5-haiku", ["ANTHROPIC_API_KEY_claude_3_5_haiku"]),
    "gemini": ("gemini-2.0-flash", ["GEMINI_API_KEY_gemini_2_0_flash"]),
    "ollama": ("llama3.2:1b", ["OLLAMA_API_ENDPOINT_llama3_2_1b"]),
    "azure-openai": (
        "my-deploy",
        ["AZURE_OPENAI_API_KEY_my_deploy", "AZURE_OPENAI_API_ENDPOINT_my_deploy"],
    ),
    "huggingface-tgi": ("tgi-1", ["HUGGINGFACE_TGI_API_ENDPOINT_tgi_1"]),
}


def test_missing_key_messages_name_the_variable_the_code_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _clean_env(monkeypatch)
    records = [{"api": a, "model_name": m, "prompt": "x"} for a, (m, _) in MODEL_VARIABLES.items()]
    write_jsonl(tmp_path / "exp.jsonl", records)
    args = ["experiment=exp", f"experiments_dir={tmp_path}"]
    assert main(args) == 2
    out = capsys.readouterr().out
    for model, variables in MODEL_VARIABLES.values():
        for variable in variables:
            assert variable in out, variable
        assert f"_{model}" not in out  # the name as written, which the code never reads
    # Setting exactly those variables clears every problem.
    for _model, variables in MODEL_VARIABLES.values():
        for variable in variables:
            value = "http://127.0.0.1:9" if "ENDPOINT" in variable else "k"
            monkeypatch.setenv(variable, value)
    assert main(args) == 0, capsys.readouterr()
