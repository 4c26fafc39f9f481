"""Issue 25 item 4: one limits vocabulary, built in runner/limits at the bottom of the graph.

Every limiter the engine gets enforces a ``Limit`` (requests of a group or of a key, tokens,
requests in flight) built in ``runner.limits``; the shared stores name each bucket by its
limit, as before (a running sweep's files keep working); ``runner.limits`` imports nothing
above ``runner.config``; and one rule resolves rates: step beats model beats run.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import runner
from runner.config.schema import ModelConfig, RunConfig
from runner.limits.clock import FakeClock
from runner.limits.from_settings import (
    MAX_IN_FLIGHT,
    chosen_rate,
    in_flight_limit,
    request_limit,
    request_rate,
    request_rates,
    token_limits_of,
)
from runner.limits.group_limits import GroupLimits
from runner.limits.limiter import Limiter, TokenBucket
from runner.limits.quota import Accounting, Counts, Limit, Scope
from runner.limits.shared_limits import SharedLimits, fingerprint
from runner.prompts.grouping import Group, GroupAssigner
from runner.prompts.records import PromptRecord
from tests.unit.test_package_graph import import_edges

RUNNER = Path(runner.__file__).parent
# What runner/limits may import: the utilities and the settings below it.
BELOW_LIMITS = {"config", "errors", "paths", "redaction", "wire_json", "hashing", "processes"}
# Constructors of limits and of the limiters that enforce them.
BUILDERS = {"Limit", "TokenBucket", "FileBucket", "RayBucket", "SharedLimits", "RayLimits"}


def test_runner_limits_imports_nothing_above_config() -> None:
    above = {to: mods for (part, to), mods in import_edges().items() if part == "limits"}
    assert set(above) <= BELOW_LIMITS, above


def test_limits_and_limiters_are_built_in_runner_limits_only() -> None:
    """No module above runner/limits constructs a Limit or a bucket itself."""
    found = []
    for path in sorted(RUNNER.rglob("*.py")):
        if path.is_relative_to(RUNNER / "limits"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in BUILDERS:
                found.append(f"{path.relative_to(RUNNER)}:{node.lineno} {name}(...)")
    assert not found, found


class RecordingStore:
    """A shared store that records which limit each bucket was asked for."""

    def __init__(self, folder: Path) -> None:
        self.files = SharedLimits(folder)
        self.asked: list[tuple[str, Limit]] = []

    def bucket(self, identity: str, limit: Limit) -> Limiter:
        self.asked.append((identity, limit))
        return self.files.bucket(identity, limit)

    def close(self) -> None:
        self.files.close()


def test_every_shared_limiter_enforces_a_limit_under_its_old_name(tmp_path: Path) -> None:
    """Requests of a group (.q) and of a key (.k), tokens (.t, .ti, .to): the same files."""
    store = RecordingStore(tmp_path)
    limits = GroupLimits(
        store, FakeClock(), key_limits={"openai": 30.0}, credential=lambda _record: "k"
    )
    amounts = {Counts.TOTAL_TOKENS: 9e4, Counts.INPUT_TOKENS: 6e4, Counts.OUTPUT_TOKENS: 3e4}
    group = Group("g", 60.0, [], identity="id", token_limits=token_limits_of(amounts))
    record = PromptRecord({"id": 1, "api": "openai", "model_name": "m", "prompt": "x"})
    try:
        assert len(limits.requests(group)) == 1
        assert [m.limit.counts for m in limits.tokens(group)] == list(amounts)
        assert len(limits.per_record(record)) == 1
    finally:
        store.close()
    key = fingerprint("key", "k")
    assert [(i, lim.counts, lim.scope, lim.rate_per_minute) for i, lim in store.asked] == [
        ("id", Counts.REQUESTS, Scope.GROUP, 60.0),
        ("id", Counts.TOTAL_TOKENS, Scope.GROUP, 9e4),
        ("id", Counts.INPUT_TOKENS, Scope.GROUP, 6e4),
        ("id", Counts.OUTPUT_TOKENS, Scope.GROUP, 3e4),
        (key, Counts.REQUESTS, Scope.KEY, 30.0),
    ]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["id.q", "id.t", "id.ti", "id.to", f"{key}.k"])


def test_the_in_flight_cap_is_a_limit() -> None:
    assert in_flight_limit(5) == Limit(Counts.IN_FLIGHT, 5)
    fds = in_flight_limit()
    assert fds.counts is Counts.IN_FLIGHT
    assert 8 <= fds.amount <= MAX_IN_FLIGHT


def test_token_limits_carry_their_accounting() -> None:
    (limit,) = token_limits_of({Counts.OUTPUT_TOKENS: 100.0}, Accounting.ACTUAL)
    assert limit == Limit(Counts.OUTPUT_TOKENS, 100.0, accounting=Accounting.ACTUAL)
    assert limit.store_kind == "to"


async def _send_times(rate_per_minute: float) -> list[float]:
    """When three requests go under a request limit of ``rate_per_minute`` (fake time)."""
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(request_limit(rate_per_minute).rate_per_minute, clock)
    times: list[float] = []

    async def send() -> None:
        for _ in range(3):
            await bucket.acquire()
            times.append(clock.monotonic())

    task = asyncio.create_task(send())
    await clock.advance(60.0)
    await task
    return times


@pytest.mark.parametrize(
    ("levels", "every_s"),
    [
        ({"step": 6, "model": 12, "run": 30}, 10.0),  # the step's own rate
        ({"model": 12, "run": 30}, 5.0),  # the model's
        ({"run": 30}, 2.0),  # the run's
        ({}, 1.0),  # none: the api's default (60 a minute here)
    ],
)
async def test_step_beats_model_beats_run(levels: dict[str, float], every_s: float) -> None:
    rate = request_rate(**levels, default=lambda: 60.0)
    assert await _send_times(rate) == pytest.approx([0.0, every_s, 2 * every_s])


def test_the_default_is_asked_only_when_no_level_sets_a_rate() -> None:
    def refuse() -> float:
        raise AssertionError("asked")

    assert request_rate(run=30, default=refuse) == 30.0
    assert chosen_rate() is None


def test_a_run_s_groups_follow_the_same_rule() -> None:
    """The chosen model's rate beats the run's; a model's dict entry beats its group's."""
    record = PromptRecord({"id": 1, "api": "openai", "model_name": "m", "prompt": "x"})
    model = ModelConfig(api="openai", model_name="m", max_queries=12)
    one_queue = RunConfig(max_queries=30, model=model)
    default, per_group = request_rates(one_queue)
    assigner = GroupAssigner(max_queries=default, parallel=False, max_queries_dict=per_group)
    assert assigner.assign(record)[:2] == ("all", 12.0)
    per_api = {"openai": 20}
    parallel = RunConfig(max_queries=30, parallel=True, max_queries_dict=per_api, model=model)
    default, per_group = request_rates(parallel)
    assigner = GroupAssigner(max_queries=default, parallel=True, max_queries_dict=per_group)
    assert assigner.assign(record)[:2] == ("openai-m", 12.0)
    other = PromptRecord({"id": 2, "api": "openai", "model_name": "n", "prompt": "x"})
    assert assigner.assign(other)[:2] == ("openai", 20.0)
