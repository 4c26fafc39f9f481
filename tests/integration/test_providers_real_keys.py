"""One short prompt to each real API whose key is set; skipped without keys.

Models can be changed with ``RUNNER_TEST_<API>_MODEL`` (e.g. RUNNER_TEST_GEMINI_MODEL).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.providers_support import run_records

pytestmark = pytest.mark.real_keys

# api, the variables it needs, its default test model, the parameter capping the reply.
CASES = [
    ("openai", ("OPENAI_API_KEY",), "gpt-4.1-nano", {"max_tokens": 16}),
    ("anthropic", ("ANTHROPIC_API_KEY",), "claude-haiku-4-5", {"max_tokens": 16}),
    ("gemini", ("GEMINI_API_KEY",), "gemini-2.5-flash-lite", {"max_output_tokens": 16}),
    (
        "azure-openai",
        ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_API_ENDPOINT", "RUNNER_TEST_AZURE_OPENAI_MODEL"),
        "",
        {"max_tokens": 16},
    ),
    ("ollama", ("OLLAMA_API_ENDPOINT", "RUNNER_TEST_OLLAMA_MODEL"), "", {"num_predict": 16}),
    ("huggingface-tgi", ("HUGGINGFACE_TGI_API_ENDPOINT",), "tgi", {"max_tokens": 16}),
]


@pytest.mark.parametrize(("api", "needs", "default_model", "params"), CASES)
def test_real_api_answers(
    tmp_path: Path, api: str, needs: tuple[str, ...], default_model: str, params: dict[str, int]
) -> None:
    """The real API answers all three prompt forms, with usage and the model it reports."""
    missing = [name for name in needs if not os.environ.get(name)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    model = os.environ.get(f"RUNNER_TEST_{api.upper().replace('-', '_')}_MODEL", default_model)
    base: dict[str, Any] = {"api": api, "model_name": model, "parameters": params}
    records: list[dict[str, Any]] = [
        {**base, "id": "s", "prompt": "Say hello."},
        {**base, "id": "t", "prompt": ["Say hello.", "Now say goodbye."]},
        {
            **base,
            "id": "m",
            "prompt": [
                {"role": "system", "content": "Answer in one word."},
                {"role": "user", "content": "What colour is the sky?"},
            ],
        },
    ]
    lines, result = run_records(tmp_path, records, os.environ, "max_queries=30")
    assert result.exit_code == 0, [line["error"] for line in lines]
    for line in lines:
        assert line["usage"]["output_tokens"] and line["finish_reason"] and line["response_model"]
