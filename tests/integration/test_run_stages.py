"""A run is named stages in order, over one provider per api (issue 25, item 3).

``Run.execute`` calls read, plan, send, write, summarise, index and report, each once; a
resume of a finished run stops after the plan; a send that fails still summarises (run.json
says "failed"). A :class:`ProviderSet` makes each api's provider once and fingerprints each
(api, model) once, for the plan, the key limits and the refused keys alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from runner.errors import RunnerError
from runner.output.run_folder import RunFolder
from runner.run import STAGES, Run, RunResult
from tests import servers
from tests.helpers import write_jsonl
from tests.providers_support import scenario, unique_model
from tests.unit.test_run_stages import count_credentials, count_made


def _run(
    tmp_path: Path, server_url: str, records: list[dict[str, Any]], *overrides: str
) -> RunResult:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    return run_experiment(
        "exp",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            "max_queries=60000",
            "index=false",
            "progress=off",
            "shared_limits=none",
            *overrides,
        ],
        env={"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f"{server_url}/v1"},
    )


def _record_stages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the stages a run calls, in order."""
    called: list[str] = []
    for name in STAGES:
        stage = getattr(Run, name)

        def recorded(self: Run, *, _name: str = name, _stage: Callable[..., Any] = stage) -> Any:
            called.append(_name)
            return _stage(self)

        monkeypatch.setattr(Run, name, recorded)
    return called


def test_a_send_that_fails_still_summarises_and_writes_nothing_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No server: the send stage fails before sending; run.json still records the end."""
    called = _record_stages(monkeypatch)

    def broken(_self: Run) -> None:
        called.append("send")
        raise RunnerError("the disk went away")

    monkeypatch.setattr(Run, "send", broken)
    with pytest.raises(RunnerError, match="the disk went away"):
        _run(tmp_path, "http://127.0.0.1:9", [{"api": "openai", "model_name": "m", "prompt": "x"}])
    assert called == ["read", "plan", "send", "summarise"]
    (folder,) = (tmp_path / "outputs" / "exp").iterdir()
    meta = RunFolder(folder).read_meta()
    assert meta["status"] == "failed" and meta["total"] == 1


@pytest.mark.integration
def test_a_run_calls_every_stage_once_in_order_and_a_finished_resume_only_reads_and_plans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llmock_server: servers.Server
) -> None:
    called = _record_stages(monkeypatch)
    model = unique_model("stages")
    records = [{"api": "openai", "model_name": model, "prompt": f"q {i}"} for i in range(3)]
    result = _run(tmp_path, llmock_server.url, records)
    # index and report run side by side (runner/run/run_end.py): either may be noted first.
    assert result.summary.ok == 3 and called[:5] == list(STAGES[:5])
    assert sorted(called[5:]) == sorted(STAGES[5:])
    called.clear()
    again = _run(tmp_path, llmock_server.url, records, f"resume={result.folder.run_id}")
    assert again.extra == {"already_complete": True} and called == ["read", "plan"]


@pytest.mark.integration
def test_one_provider_and_one_fingerprint_per_model_for_plan_limits_and_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llmock_server: servers.Server
) -> None:
    """200 prompts, two models, a key limit and a 403: the key is hashed once per model.

    Before the ProviderSet the plan, the key limit and the refused-key check each hashed
    it (three times per model).
    """
    calls, made = count_credentials(monkeypatch), count_made(monkeypatch)
    refused, fine = unique_model("refused"), unique_model("fine")
    behavior = {"type": "fail", "status": 403, "times": 1000, "match": {"model": refused}}
    scenario(llmock_server, behavior)
    records = [
        {"id": f"{m}-{i}", "api": "openai", "model_name": m, "prompt": f"q {i}"}
        for i in range(100)
        for m in (refused, fine)
    ]
    result = _run(tmp_path, llmock_server.url, records, "key_max_queries={openai: 60000}")
    assert result.summary.ok == 100 and result.summary.not_sent >= 90
    assert len(made) == 1
    assert calls == {("openai", refused): 1, ("openai", fine): 1}
