"""Real completions from the real Gemma 3 270M model, over HTTP and in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import run_experiment
from tests import servers
from tests.helpers import read_jsonl, write_jsonl

pytestmark = [pytest.mark.integration, pytest.mark.model]


def test_llama_cpp_server_gives_real_completions(
    tmp_path: Path, llama_server: servers.Server
) -> None:
    records = [
        {
            "id": "a",
            "api": "openai",
            "model_name": "gemma-3-270m",
            "prompt": "The capital of France is",
            "parameters": {"max_tokens": 12, "temperature": 0},
        },
        {
            "id": "b",
            "api": "openai",
            "model_name": "gemma-3-270m",
            "prompt": ["Say a colour.", "Say another."],
            "parameters": {"max_tokens": 8},
        },
    ]
    write_jsonl(tmp_path / "experiments" / "real.jsonl", records)
    result = run_experiment(
        "real",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            "max_queries=600",
            "index=false",
        ],
        env={"OPENAI_BASE_URL": llama_server.url, "OPENAI_API_KEY": "unused"},
    )
    assert result.exit_code == 0
    lines = {line["id"]: line for line in read_jsonl(result.folder.completed)}
    first = lines["a"]
    assert first["status"] == "ok"
    assert isinstance(first["response"], str) and first["response"].strip()
    assert first["usage"]["input_tokens"] > 0
    assert 0 < first["usage"]["output_tokens"] <= 12
    assert len(lines["b"]["response"]) == 2
    assert lines["b"]["usage"]["output_tokens"] > 0


def test_embedded_local_model_in_process(tmp_path: Path, gemma_path: Path) -> None:
    records = [
        {
            "id": i,
            "api": "local",
            "model_name": "gemma-3-270m",
            "prompt": f"Count to {i}:",
            "parameters": {"max_tokens": 8},
        }
        for i in range(3)
    ]
    write_jsonl(tmp_path / "experiments" / "loc.jsonl", records)
    result = run_experiment(
        "loc",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            f"apis.local.model_path={gemma_path}",
            "max_queries=600",
            "index=false",
            "csv=true",
        ],
    )
    assert result.exit_code == 0
    frame = result.dataframe()
    assert list(frame["status"]) == ["ok"] * 3
    assert (frame["usage"].map(lambda u: u["output_tokens"]) > 0).all()
    assert result.folder.csv.exists()
