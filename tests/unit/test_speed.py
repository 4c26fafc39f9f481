"""Issue 13 item 9: runner's own costs per prompt and per command, kept off the hot path."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from runner import cli


def test_a_limit_that_can_never_bind_is_not_shared(tmp_path: Path) -> None:
    """max_queries=1e9 (no limit) takes no locked file per request; a real limit still does."""
    from runner.limits.clock import FakeClock
    from runner.limits.group_limits import GroupLimits
    from runner.limits.limiter import TokenBucket
    from runner.limits.shared_limits import FileBucket, SharedLimits
    from runner.prompts.grouping import Group
    from runner.prompts.records import PromptRecord

    store = SharedLimits(tmp_path / "limits")
    limits = GroupLimits(store, FakeClock(), key_limits={"openai": 1e9}, credential=lambda _r: "k")
    record = PromptRecord({"id": 1, "api": "openai", "model_name": "m", "prompt": "x"})
    try:
        assert limits.requests(Group("all", 1e9, [], identity="id")) == []
        (key_bucket,) = limits.per_record(record)
        assert isinstance(key_bucket, TokenBucket)
        (shared,) = limits.requests(Group("all", 6000, [], identity="id"))
        assert isinstance(shared, FileBucket)
        assert sorted(p.name for p in (tmp_path / "limits").iterdir()) == ["id.q"]
    finally:
        store.close()


def test_a_command_of_its_own_freezes_its_start_up_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once started, a command's objects leave the collector (a fast exit); a caller's stay."""
    seen: list[int] = []

    def entry(_args: list[str]) -> int:
        cli.started_up()
        seen.append(gc.get_freeze_count())
        cli.started_up()  # once only: a sweep's later jobs free their objects
        return 0

    monkeypatch.setattr(sys, "argv", ["runner"])
    gc.unfreeze()
    try:
        assert cli.main(cli.Command("runner.test"), entry, ["x=1"]) == 0
        assert seen == [0]  # called with arguments (a test, a notebook): nothing frozen
        assert cli.main(cli.Command("runner.test"), entry) == 0
        assert seen[1] > 0
    finally:
        gc.unfreeze()


def test_wire_json_takes_what_the_standard_library_takes() -> None:
    """orjson on the wire; what it refuses goes to the standard library, never an error."""
    import json

    from runner import wire_json

    for value in [{"a": 1, "é": ["x", 2.5, None]}, {1: "int key"}, {"n": 2**70}, {"s": "\ud800"}]:
        assert json.loads(wire_json.dumps(value)) == json.loads(json.dumps(value))
        # The request body as bytes: the same bytes aiohttp sent when it encoded dumps' str.
        assert wire_json.dumps_bytes(value) == wire_json.dumps(value).encode()
    assert wire_json.loads(b'{"usage": {"prompt_tokens": 7}}') == {"usage": {"prompt_tokens": 7}}
    assert wire_json.loads(b'{"x": NaN}')["x"] != 0  # the standard library reads NaN
    with pytest.raises(json.JSONDecodeError):
        wire_json.loads(b"<html>busy</html>")


def test_records_and_result_lines_read_and_write_what_the_standard_library_does() -> None:
    """orjson for records, spool and result lines, exact where it and the stdlib differ."""
    import json
    from datetime import UTC, datetime

    from runner import wire_json

    for text in [
        '{"n": 123456789012345678901234}',
        '{"x": NaN}',
        '{"s": "\\ud83d\\ude00"}',
        "[1e400]",
    ]:
        got, want = wire_json.loads_exact(text), json.loads(text)
        assert repr(got) == repr(want) and repr(wire_json.loads_exact(text.encode())) == repr(want)
    with pytest.raises(json.JSONDecodeError, match="Expecting"):  # the stdlib's own message
        wire_json.loads_exact('{"a": }')
    when = datetime(2026, 12, 2, tzinfo=UTC)
    line = wire_json.json_line({"n": 2**70, "t": when, "x": float("nan"), "é": "ü"})
    assert line.endswith(b"\n") and json.loads(line) == {
        "n": 2**70,
        "t": str(when),
        "x": None,
        "é": "ü",
    }
    assert json.loads(wire_json.json_line({"x": float("inf"), "ok": 1})) == {"x": None, "ok": 1}
    assert json.loads(wire_json.json_line({"s": "half \ud800"})) == {"s": "half \ufffd"}


def test_a_key_is_masked_in_a_result_line_however_it_was_escaped() -> None:
    from runner import redaction, wire_json

    key = 'sk-"quoted"\\key-0123456789'
    redaction.remember([key])
    try:
        for value in [key, f"echo: {key}", {"nested": [key]}]:
            line = redaction.redact_utf8(wire_json.json_line({"v": value}))
            assert b"quoted" not in line and redaction.MASK.encode() in line
        assert redaction.redact_utf8(b'{"v":"clean"}\n') == b'{"v":"clean"}\n'
    finally:
        redaction.forget_all()


def test_the_timelines_kept_interval_is_the_one_a_lookup_finds() -> None:
    """Events mostly land in the interval of the last one: kept, never stale (coarsening too)."""
    import random

    from runner.engine.timeline import Timeline

    timeline, rnd, now = Timeline(bucket_s=0.5, max_buckets=4), random.Random(7), 0.0
    for _ in range(2_000):
        now += rnd.expovariate(20.0)
        timeline.sent("g", now) if rnd.random() < 0.5 else timeline.finished("g", now, "ok", 2.0)
        line = timeline._groups["g"]
        assert timeline._bucket(line, now) is timeline._find_bucket(line, now)[0]
    assert timeline.bucket_s > 0.5  # it coarsened on the way
    rows = timeline.as_dict()["groups"]["g"]["buckets"]
    assert sum(r.get("sent", 0) + r.get("ok", 0) for r in rows) == 2_000
