"""The bill and the cap against hostile servers: answers that are billed yet unreadable,
conversations whose turns are each billed on their own.

aimock's malformed chaos answers HTTP 200 with a body that is not JSON: the model ran, so a
provider bills it. llmock's Gemini route counts a prompt's tokens as its characters / 4, so
a long conversation reaches a model's long-context tier on the sum of its turns but not on
any one request.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import run_experiment
from tests import servers
from tests.budget_support import DEAR, USD_PER_TOKEN, budget_of, overrides
from tests.helpers import read_jsonl, runner_env, write_jsonl
from tests.providers_support import aimock_journal

pytestmark = pytest.mark.integration


@pytest.fixture
def malformed_aimock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    """aimock answering every request HTTP 200 with a body that is not JSON."""
    folder = tmp_path_factory.mktemp("fixtures")
    catch_all = {"fixtures": [{"match": {}, "response": {"content": "ok from aimock"}}]}
    (folder / "zz-catch-all.json").write_text(json.dumps(catch_all))
    with servers.aimock(folder) as server:
        request = urllib.request.Request(
            f"{server.url}/__aimock/chaos",
            data=json.dumps({"malformedRate": 1.0}).encode(),
            headers={"content-type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        yield server


def test_an_unreadable_200_answer_is_charged_its_reservation(
    tmp_path: Path, malformed_aimock: servers.Server
) -> None:
    # Each of the 150 attempts below was answered 200 (billed, ~5 tokens: $0.005 at DEAR's
    # rate); runner charged each $0, so the run's bill reached ~$0.75 under a $0.20 cap while
    # run.json said $0 spent and the budget never stopped sending.
    records = [
        {"id": f"m{i}", "api": "openai", "model_name": "dear-model", "prompt": f"hi {i}",
         "parameters": {"max_tokens": 10}}
        for i in range(50)
    ]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 0.2
    result = run_experiment(
        "exp",
        overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "max_attempts=3", "cache=off"),
        env=runner_env(malformed_aimock.url),
    )
    answered = [e for e in aimock_journal(malformed_aimock) if e["response"]["status"] == 200]
    budget = budget_of(result.folder.path)
    assert budget["charged_unanswered"] == len(answered) > 0
    # Each attempt held at least what it is billed (aimock's answer: 5 tokens or more).
    assert budget["spent_usd"] >= len(answered) * 5 * USD_PER_TOKEN
    assert budget["spent_usd"] <= cap and budget["exhausted"]
    assert len(answered) < 150  # today: every prompt sent 3 times
    lines = read_jsonl(result.folder.completed)
    assert any(x["error_kind"] == "budget" for x in lines)
