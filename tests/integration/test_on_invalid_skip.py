"""on_invalid=skip: the valid lines are sent, each invalid line gets an error result line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.errors import BadInputError
from tests import servers
from tests.providers_support import llmock_bodies, run_records, unique_model

pytestmark = pytest.mark.integration


def _records(model: str) -> list[dict[str, Any]]:
    return [
        {"id": 0, "api": "openai", "model_name": model, "prompt": "good one"},
        {
            "id": 1,
            "api": "openai",
            "model_name": model,
            "prompt": [{"role": "robot", "content": "x"}],
        },
        {"id": 2, "api": "nope", "model_name": model, "prompt": "unknown api"},
        {"id": 3, "api": "openai", "model_name": model, "prompt": "good two"},
    ]


def test_skip_sends_the_valid_lines_and_records_the_invalid(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("gpt-skip")
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    lines, result = run_records(tmp_path, _records(model), env, "on_invalid=skip")
    assert result.exit_code == 1  # some lines ended in error
    by_id = {line["id"]: line for line in lines}
    assert [by_id[i]["status"] for i in range(4)] == ["ok", "error", "error", "ok"]
    assert by_id[1]["error_kind"] == "invalid" and "has role 'robot'" in by_id[1]["error"]
    assert by_id[2]["error_kind"] == "invalid" and "unknown api 'nope'" in by_id[2]["error"]
    assert by_id[1]["attempts"] == 0 and by_id[1]["line"] == 2
    assert len(llmock_bodies(llmock_server, model)) == 2
    summary = result.summary
    assert (summary.total, summary.ok, summary.error, summary.invalid) == (4, 2, 2, 2)
    assert "2 invalid line(s) not sent" in summary.format()


def test_the_default_still_refuses_everything(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("gpt-stop")
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    with pytest.raises(BadInputError) as refused:
        run_records(tmp_path, _records(model), env)
    assert len(refused.value.problems) == 2
    assert llmock_bodies(llmock_server, model) == []
