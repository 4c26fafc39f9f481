"""Batch mode where real batches misbehave: expiry, error files, missing ids, deadlines.

llmock's batches always end with every line answered, so these cases run against the small
in-test server of tests/batch_server.py, which speaks the same OpenAI endpoints.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from runner.api import run_experiment
from runner.batch.adapter import BatchLimits
from runner.batch.openai import OpenAIBatches
from runner.config import CONF_DIR
from runner.errors import BadInputError, ConfigError
from tests.batch_server import BatchServer, batch_server
from tests.helpers import read_jsonl, write_jsonl


def _experiment(tmp_path: Path, n: int, *, extra: Sequence[dict[str, Any]] = ()) -> None:
    records = [
        {"id": f"p{i}", "api": "openai", "model_name": "m", "prompt": f"q{i}"} for i in range(n)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [*records, *extra])


def _run(
    tmp_path: Path,
    server: BatchServer,
    *overrides: str,
    env: dict[str, str] | None = None,
    conf_dir: Path = CONF_DIR,
) -> list[dict[str, Any]]:
    result = run_experiment(
        "exp",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            "shared_limits=none",
            "progress=off",
            "index=false",
            "mode=batch",
            "batch_poll_s=0.05",
            "backoff_base_s=0.01",
            "max_queries=6000",
            *overrides,
        ],
        env=env or {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{server.url}/v1"},
        conf_dir=conf_dir,
    )
    return read_jsonl(result.run_dir / "completed.jsonl")


def _by_id(lines: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    by_id = {line["id"]: line for line in lines}
    assert len(by_id) == len(lines), "a prompt has two result lines"
    return by_id


def test_an_expired_batch_keeps_its_results_and_requeues_the_rest(tmp_path: Path) -> None:
    _experiment(tmp_path, 8)
    with batch_server(["expire"]) as server:
        lines = _by_id(_run(tmp_path, server))
    assert {line["status"] for line in lines.values()} == {"ok"} and len(lines) == 8
    first, second = (b["id"] for b in server.batches)
    # The first half came from the expired batch; the rest (expired items and absent
    # ones alike) went in a second batch. Nothing was asked twice.
    assert sorted(k for k, v in lines.items() if v["batch_id"] == first) == [
        f"p{i}" for i in range(4)
    ]
    assert all(v["batch_id"] == second and v["attempts"] == 2 for k, v in lines.items()
               if k not in {"p0", "p1", "p2", "p3"})  # fmt: skip
    assert server.chat_requests == 0


def test_error_file_lines_are_classified_and_missing_ids_sent_again(tmp_path: Path) -> None:
    _experiment(tmp_path, 5)
    with batch_server(["errors"], poll_failures=2) as server:
        lines = _by_id(_run(tmp_path, server))
    assert lines["p0"]["status"] == "error" and lines["p0"]["error_kind"] == "fatal"
    assert "400" in str(lines["p0"]["error"]) and lines["p0"]["attempts"] == 1
    # p1 (a 500 in the error file) and p2 (no line at all) went in the next batch.
    assert len(server.batches) == 2
    for key in ("p1", "p2"):
        assert lines[key]["status"] == "ok" and lines[key]["batch_id"] == server.batches[1]["id"]
    assert all(lines[f"p{i}"]["batch_id"] == server.batches[0]["id"] for i in (3, 4))


def test_fallback_online_sends_what_a_batch_left_out_online(tmp_path: Path) -> None:
    _experiment(tmp_path, 5)
    with batch_server(["errors"]) as server:
        lines = _by_id(_run(tmp_path, server, "batch_fallback=online"))
    assert len(server.batches) == 1 and server.chat_requests == 2
    for key in ("p1", "p2"):
        assert lines[key]["status"] == "ok" and "batch_id" not in lines[key]  # sent online


def test_deadline_cancels_and_records_the_rest_as_errors(tmp_path: Path) -> None:
    _experiment(tmp_path, 3)
    with batch_server(["never"]) as server:
        lines = _by_id(_run(tmp_path, server, "batch_deadline_s=0.3"))
    assert server.batches[0]["status"] == "cancelled" and len(server.batches) == 1
    assert lines["p0"]["status"] == "ok"  # finished before the cancel: kept
    for key in ("p1", "p2"):
        assert lines[key]["status"] == "error" and lines[key]["error_kind"] == "batch_deadline"
    assert server.chat_requests == 0


def test_deadline_with_fallback_online_sends_the_rest_online(tmp_path: Path) -> None:
    _experiment(tmp_path, 3)
    with batch_server(["never"]) as server:
        lines = _by_id(_run(tmp_path, server, "batch_deadline_s=0.3", "batch_fallback=online"))
    assert {v["status"] for v in lines.values()} == {"ok"} and server.chat_requests == 2
    assert lines["p0"]["batch_id"] == server.batches[0]["id"]


def test_a_multi_turn_prompt_goes_online(tmp_path: Path) -> None:
    chat = {"id": "chat", "api": "openai", "model_name": "m", "prompt": ["hi", "and then?"]}
    _experiment(tmp_path, 2, extra=[chat])
    with batch_server([]) as server:
        lines = _by_id(_run(tmp_path, server))
    assert lines["chat"]["status"] == "ok" and "batch_id" not in lines["chat"]
    assert server.chat_requests == 2  # one request per turn
    assert lines["p0"]["batch_id"] == lines["p1"]["batch_id"] == server.batches[0]["id"]


def test_unknown_mode_and_api_without_batches_exit_2_nothing_sent(tmp_path: Path) -> None:
    ollama = {"id": "o", "api": "ollama", "model_name": "llama3", "prompt": "hi"}
    _experiment(tmp_path, 1, extra=[ollama])
    with batch_server([]) as server:
        with pytest.raises(ConfigError, match="mode must be online or batch"):
            _run(tmp_path, server, "mode=sometimes")
        with pytest.raises(BadInputError, match="api 'ollama' has no batch endpoint") as info:
            _run(tmp_path, server, "apis.ollama.endpoint=http://127.0.0.1:9")
        assert "exp.jsonl:2" in str(info.value)
    assert server.batches == [] and server.chat_requests == 0
    assert info.value.exit_code == 2


def test_a_manifest_from_another_run_exits_2(tmp_path: Path) -> None:
    _experiment(tmp_path, 2)
    with batch_server([]) as server:
        first = _run(tmp_path, server)
        run_dir = next((tmp_path / "outputs" / "exp").iterdir())
        manifest = run_dir / "batches.jsonl"
        head, *rest = manifest.read_text().splitlines()
        foreign = json.loads(head) | {"run_id": "20260101-000000-aaaaaa"}
        manifest.write_text("\n".join([json.dumps(foreign), *rest]) + "\n")
        (run_dir / "completed.jsonl").write_text("")  # so the resume has work to do
        with pytest.raises(BadInputError, match="belongs to run '20260101-000000-aaaaaa'"):
            _run(tmp_path, server, f"resume={run_dir.name}")
    assert len(first) == 2 and len(server.batches) == 1


def test_chunks_are_cut_by_the_adapters_count_and_byte_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _experiment(tmp_path, 7)
    with batch_server([]) as server:
        monkeypatch.setattr(OpenAIBatches, "limits", BatchLimits(max_requests=3, max_bytes=10**6))
        lines = _by_id(_run(tmp_path, server))
        assert server.lines_per_batch == [3, 3, 1]
        # Room for two request lines (as the engine counts them: JSON plus a newline).
        one = next(x for x in server.files.values() if '"method": "POST"' in x and "q6" in x)
        two = 2 * len(one.splitlines()[0].encode()) + 2
        monkeypatch.setattr(OpenAIBatches, "limits", BatchLimits(max_requests=100, max_bytes=two))
        _run(tmp_path, server, "run_id=bytes")
        assert server.lines_per_batch[3:] == [2, 2, 2, 1]
    assert {v["status"] for v in lines.values()} == {"ok"} and len(lines) == 7


def test_a_models_own_mode_sends_its_prompts_in_batches(tmp_path: Path) -> None:
    _experiment(tmp_path, 2)
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "batched.yaml").write_text("api: openai\nmodel_name: m2\nmode: batch\n")
    with batch_server([]) as server:
        lines = _by_id(_run(tmp_path, server, "model=batched", "mode=online", conf_dir=conf))
    assert {v["batch_id"] for v in lines.values()} == {server.batches[0]["id"]}
    assert server.chat_requests == 0


def test_azure_openai_batches_use_its_urls_version_and_key(tmp_path: Path) -> None:
    records = [{"id": f"a{i}", "api": "azure-openai", "model_name": "dep", "prompt": f"q{i}"}
               for i in range(3)]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    with batch_server([]) as server:
        env = {"AZURE_OPENAI_API_KEY": "azure-key", "AZURE_OPENAI_API_ENDPOINT": server.url}
        lines = _by_id(_run(tmp_path, server, env=env))
    assert {v["status"] for v in lines.values()} == {"ok"}
    assert {v["batch_id"] for v in lines.values()} == {server.batches[0]["id"]}
    assert server.azure_calls[0] == "POST /openai/files?api-version=2024-10-21"
    assert server.azure_calls[1] == "POST /openai/batches?api-version=2024-10-21"
    (uploaded,) = [f for f in server.files.values() if '"method": "POST"' in f]
    first = json.loads(uploaded.splitlines()[0])
    assert first["url"] == "/chat/completions" and first["body"]["model"] == "dep"


def test_a_result_line_over_512_kib_is_read(tmp_path: Path) -> None:
    # aiohttp's readline refuses a line over 512 KiB: one long answer must not send a
    # whole batch again.
    long = "x" * 700_000
    _experiment(tmp_path, 2, extra=[{"id": "big", "api": "openai", "model_name": "m",
                                     "prompt": long}])  # fmt: skip
    with batch_server(["ok"]) as server:
        lines = _by_id(_run(tmp_path, server))
    assert len(server.batches) == 1 and server.chat_requests == 0
    assert lines["big"]["status"] == "ok" and lines["big"]["response"] == f"re: {long}"
    assert lines["big"]["attempts"] == 1


def test_batch_answers_go_into_the_response_cache(tmp_path: Path) -> None:
    _experiment(tmp_path, 3)
    cache = ["cache=on", f"cache_dir={tmp_path / 'cache'}"]
    with batch_server(["ok", "ok"]) as server:
        first = _by_id(_run(tmp_path, server, *cache))
        again = _by_id(_run(tmp_path, server, *cache))
    assert all(not v["cached"] and v["batch_id"] for v in first.values())
    assert len(server.batches) == 1 and server.chat_requests == 0  # the rerun sent nothing
    assert all(v["cached"] and v["response"] == first[k]["response"] for k, v in again.items())
