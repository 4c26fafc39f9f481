"""A ``.env`` read at start-up (python-dotenv) and prompto's ``-mqj`` limits file.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_env_file_and_limits_json.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.config import compose_config, to_settings
from runner.errors import ConfigError


def test_max_queries_json_reads_prompto_limits(tmp_path: Path) -> None:
    limits = tmp_path / "max_queries.json"
    limits.write_text(json.dumps({"ollama": {"default": 20, "gemma2:2b": 5}, "openai": 30}))
    settings = to_settings(
        compose_config(
            [
                f"max_queries_json={limits}",
                "max_queries_dict={ollama: {llama3: 7}}",
                "experiment.file=x.jsonl",
            ]
        )
    )
    assert settings.max_queries_dict == {
        "ollama": {"default": 20, "gemma2:2b": 5, "llama3": 7},
        "openai": 30,
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"openai": 10,', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"openai": {"gpt-4o": -3}}', "'openai'.'gpt-4o' is -3"),
    ],
)
def test_bad_max_queries_json_names_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    limits = tmp_path / "limits.json"
    limits.write_text(text)
    with pytest.raises(ConfigError, match=fragment) as error:
        to_settings(compose_config([f"max_queries_json={limits}", "experiment.file=x.jsonl"]))
    assert str(limits) in str(error.value)
