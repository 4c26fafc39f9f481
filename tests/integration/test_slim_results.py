"""Result lines leave out the runner's fields at their defaults (issue 22, item 4).

A plain ok answer's line carried ``"error":null``, ``"error_kind":null``, ``"cached":false``,
``"cost_usd":null`` and three null token counts: 140 of its ~615 bytes, 1.4 GB at ten million
prompts. Lines now leave them out (an absent key means null; ``cached``, false), and every
reader reads such a line exactly as it read the full one: ``full_line`` puts them back.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from aiohttp.test_utils import TestClient, TestServer

from runner.errors import ProviderError
from runner.index import update_index
from runner.index.db import read_connection
from runner.output.export import export_csv, read_results
from runner.output.results import Outcome, full_line, result_line
from runner.output.resume import repair_and_collect
from runner.output.run_folder import RunFolder
from runner.prompts.records import PromptRecord
from runner.providers.base import Completion
from runner.report.data import load_run
from runner.report.digest import digest_lines
from runner.report.table import Table
from runner.view import queries
from runner.view.app import make_app
from runner.view.live import live_state
from runner.wire_json import json_line
from tests.helpers import read_jsonl

SENT = datetime(2026, 12, 6, 20, 0, 0, 123000, tzinfo=UTC)
BENCH_RECORD = {
    "id": "p0",
    "api": "openai",
    "model_name": "gpt-bench",
    "prompt": "Say ok to prompt number 0.",
    "parameters": {"max_tokens": 8},
}


def _ok(record: dict[str, Any], line: int, **more: Any) -> Outcome:
    completion = Completion("ok", 7, 1, finish_reason="stop", model="gpt-bench")
    for name, value in more.pop("completion", {}).items():
        setattr(completion, name, value)
    return Outcome(
        _record(record, line),
        "all",
        1,
        completion=completion,
        sent_at=SENT,
        received_at=SENT + timedelta(milliseconds=13),
        latency_s=0.01361,
        **more,
    )


def _record(data: dict[str, Any], line: int) -> PromptRecord:
    record = PromptRecord(dict(data), "exp.jsonl", line)
    return record


def _outcomes() -> list[Outcome]:
    """One of each kind of line a run writes."""
    rec = {**BENCH_RECORD, "expected_response": None, "notes": ""}  # the user's nulls stay
    return [
        _ok({**rec, "id": "a"}, 1),
        _ok({**rec, "id": "b"}, 2, cached=True, cost_usd=0.0, priced=True),
        _ok({**rec, "id": "c"}, 3, cost_usd=1.5e-6, priced=True),
        _ok(
            {**rec, "id": "d", "status": "mine", "cached": "user's"},  # kept as input_<key>
            4,
            completion={"cached_input_tokens": 3, "reasoning_tokens": 0, "other_tokens": {"a": 1}},
        ),
        _ok({**rec, "id": "e"}, 5, completion={"thinking": "hm", "tool_calls": [{"name": "f"}]}),
        _ok({**rec, "id": "f"}, 6, structured=True, parsed={"x": 1}, batch_id="batch-1"),
        Outcome(
            _record({**rec, "id": "g"}, 7),
            "all",
            3,
            error=ProviderError("HTTP 500 from http://user:pw@host/v1"),
            error_kind="retryable",
            sent_at=SENT,
            received_at=SENT,
            latency_s=0.5,
        ),
        Outcome(
            _record({**rec, "id": "h"}, 8),
            "all",
            0,
            error=ProviderError("bad"),
            error_kind="invalid",
        ),
        Outcome(
            _record({**rec, "id": "i"}, 9),
            "all",
            1,
            completion=Completion("not json", 5, 2),  # an answer the schema refused
            error=ProviderError("not JSON"),
            error_kind="invalid_output",
            structured=True,
            rejected=[{"error": "x", "cost_usd": None}],
        ),
    ]


def _old_iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


def _before(outcome: Outcome) -> dict[str, Any]:
    """The line as runner wrote it before item 4 (runner.output.results at 9a6de0c)."""
    completion, error = outcome.completion, outcome.error
    data = outcome.record.data
    renamed = {"status", "cached"}
    inputs = {(f"input_{k}" if k in renamed else k): v for k, v in data.items()}
    usage: dict[str, Any] = dict.fromkeys(
        (
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
        )
    )
    if completion is not None:
        usage = {
            "input_tokens": completion.input_tokens,
            "output_tokens": completion.output_tokens,
            "cached_input_tokens": completion.cached_input_tokens,
            "cache_write_tokens": completion.cache_write_tokens,
            "reasoning_tokens": completion.reasoning_tokens,
        }
        if completion.other_tokens:
            usage["other"] = completion.other_tokens
    line = {
        **inputs,
        "response": None if completion is None else completion.text,
        "status": "ok" if outcome.ok else "error",
        "error": None if error is None else str(error).replace("user:pw@", ""),
        "error_kind": outcome.error_kind,
        "attempts": outcome.attempts,
        "timestamp_sent": _old_iso(outcome.sent_at),
        "timestamp_received": _old_iso(outcome.received_at),
        "latency_s": None if outcome.latency_s is None else round(outcome.latency_s, 4),
        "usage": usage,
        "finish_reason": None if completion is None else completion.finish_reason,
        "response_model": None if completion is None else completion.model,
        "cached": outcome.cached,
        "cost_usd": None if outcome.cost_usd is None else round(outcome.cost_usd, 10),
        "run_id": "r1",
        "experiment": "exp",
        "rate_group": outcome.group,
        "prompt_key": outcome.record.key,
        "line": outcome.record.line,
    }
    if outcome.batch_id is not None:
        line["batch_id"] = outcome.batch_id
    if completion is not None:
        if completion.thinking is not None:
            line["thinking"] = completion.thinking
        if completion.tool_calls is not None:
            line["tool_calls"] = completion.tool_calls
    if outcome.structured:
        line["parsed"] = outcome.parsed
        if outcome.rejected:
            line["rejected_outputs"] = outcome.rejected
    return line


def _line(outcome: Outcome) -> dict[str, Any]:
    return result_line(outcome, run_id="r1", experiment="exp")


def test_a_plain_ok_line_is_small_and_has_no_nulls() -> None:
    line = json_line(_line(_ok(BENCH_RECORD, 1)))
    runner_part = len(line) - len(json_line(BENCH_RECORD))
    assert runner_part <= 345, (runner_part, line)  # was 479
    assert b"null" not in line and b"false" not in line, line
    assert len(json_line(_before(_ok(BENCH_RECORD, 1)))) - len(line) == 139


def test_full_line_is_the_line_as_it_was_key_for_key_in_order() -> None:
    for outcome in _outcomes():
        slim, before = _line(outcome), _before(outcome)
        assert list(full_line(slim).items()) == list(before.items()), before["id"]
        assert full_line(before) is before  # a full (older) line is read as it is
    prompto = {"id": 1, "prompt": "x", "response": None, "error": None, "cached": False}
    assert full_line(dict(prompto)) == prompto  # not runner's: untouched


def _run_folder(outputs: Path, lines: list[dict[str, Any]]) -> Path:
    run_dir = outputs / "exp" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "completed.jsonl").write_bytes(b"".join(json_line(x) for x in lines))
    meta = {"run_id": "r1", "experiment": "exp", "status": "completed", "counts": {}}
    (run_dir / "run.json").write_text(json.dumps(meta))
    return run_dir


def _tables(value: Any) -> Any:
    if isinstance(value, Table):
        return value.records()
    return value


async def _pages(outputs: Path) -> list[str]:
    async with TestClient(TestServer(make_app(outputs))) as client:
        found = []
        for url in (
            "/results",
            "/results?status=error",
            "/results?cached=no",
            "/prompt?experiment=exp&key=a",
            "/prompt?experiment=exp&key=d",
            "/prompt?experiment=exp&key=g",
        ):
            resp = await client.get(url)
            assert resp.status == 200, url
            found.append(re.sub(r'(csrf"? value=")[^"]*', r"\1", await resp.text()))
        return found


def _read_everything(outputs: Path) -> dict[str, Any]:
    """What every reader of results makes of the run in ``outputs``."""
    run_dir = outputs / "exp" / "r1"
    export_csv(run_dir / "completed.jsonl", outputs / "out.csv")
    report = load_run(run_dir)
    update_index(outputs)
    with read_connection(outputs) as con:
        rows = con.execute(
            "SELECT CAST(COLUMNS(* EXCLUDE (record)) AS VARCHAR) FROM responses ORDER BY line"
        ).fetchall()
        records = con.execute(
            "SELECT record->>'error', record->'usage'->>'cached_input_tokens', "
            "coalesce(record->>'cached', 'false') FROM responses ORDER BY line"
        ).fetchall()
    live = live_state(run_dir)
    return {
        "csv": (outputs / "out.csv").read_text(),
        "frame": read_results(run_dir / "completed.jsonl"),
        "test helper": read_jsonl(run_dir / "completed.jsonl"),
        "report": {k: _tables(v) for k, v in vars(report).items() if k != "run_dir"},
        "digest": digest_lines(run_dir, 0),
        "index": rows,
        "index records": records,
        "viewer rows": queries.results(outputs, {}, "", 1, 50).rows,
        "viewer pages": asyncio.run(_pages(outputs)),
        "live": {k: v for k, v in live.items() if k != "groups"}
        | {"groups": [{k: v for k, v in g.items() if k != "rate"} for g in live["groups"]]},
        "resume": bytes(repair_and_collect(RunFolder(run_dir))),
        "after resume": (run_dir / "completed.jsonl").read_bytes().count(b"\n"),
    }


def test_every_reader_reads_slim_lines_as_it_read_full_ones(tmp_path: Path) -> None:
    outcomes = _outcomes()
    slim = tmp_path / "slim"
    full = tmp_path / "full"
    _run_folder(slim, [_line(o) for o in outcomes])
    _run_folder(full, [_before(o) for o in outcomes])
    got, want = _read_everything(slim), _read_everything(full)
    for name in want:
        if name == "frame":
            pd.testing.assert_frame_equal(got[name], want[name])
        else:
            assert got[name] == want[name], name
    assert got["after resume"] == 6  # the ok lines


def test_timestamps_are_written_as_isoformat_writes_them() -> None:
    """Lines of one second share the text up to the second (a CPU saving): never stale."""
    from datetime import timezone

    moments = [SENT + timedelta(microseconds=n * 7919) for n in range(600)]
    moments += [SENT.replace(year=2027), SENT.replace(month=1), SENT.replace(microsecond=999999)]
    moments += [
        SENT.astimezone(timezone(timedelta(hours=2))),
        datetime.fromisoformat("2026-12-06T20:00:00.123+00:00"),
    ]
    for moment in moments:
        outcome = _ok(BENCH_RECORD, 1)
        outcome.sent_at = outcome.received_at = moment
        line = _line(outcome)
        want = moment.isoformat(timespec="milliseconds")
        assert line["timestamp_sent"] == line["timestamp_received"] == want, moment
