"""Issue 13 item 9: runner's own costs per prompt and per command, kept off the hot path."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from runner import cli


def test_a_limit_that_can_never_bind_is_not_shared(tmp_path: Path) -> None:
    """max_queries=1e9 (no limit) takes no locked file per request; a real limit still does."""
    from runner.engine.clock import FakeClock
    from runner.engine.limiter import TokenBucket
    from runner.engine.limits import GroupLimits
    from runner.engine.shared_limits import FileBucket, SharedLimits
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
