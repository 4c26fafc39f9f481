"""The engine with a test provider fed from a queue, on a clock the test controls."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import deque
from dataclasses import replace
from typing import Any

import pytest

from runner.config.schema import RunConfig
from runner.engine.engine import Engine, EngineSettings
from runner.engine.retry import Backoff
from runner.errors import ErrorKind, ProviderError
from runner.limits.clock import FakeClock
from runner.limits.group_limits import Limits
from runner.limits.quota import Accounting, Metered, TokenEstimate
from runner.output.results import Outcome
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord
from runner.providers.base import Completion, Provider, ProviderContext


class ScriptedProvider(Provider):
    """Answers from a script: each item is a Completion or a ProviderError to raise."""

    api = "scripted"

    def __init__(self, script: list[Completion | ProviderError], clock: FakeClock) -> None:
        super().__init__(ProviderContext(RunConfig()))
        self.script: deque[Completion | ProviderError] = deque(script)
        self.clock = clock
        self.sent: list[tuple[float, Any]] = []

    async def complete(self, record: PromptRecord) -> Completion:
        self.sent.append((self.clock.monotonic(), record.data["id"]))
        item = self.script.popleft() if self.script else Completion("ok")
        if isinstance(item, ProviderError):
            raise item
        return item


def _records(n: int) -> list[PromptRecord]:
    return [PromptRecord({"id": i, "api": "scripted", "prompt": f"p{i}"}) for i in range(n)]


async def _drive(
    engine: Engine,
    groups: dict[str, Group],
    clock: FakeClock,
    step: float = 0.05,
    until: float = 600,
) -> asyncio.Task[dict[str, Any]]:
    """Run ``engine`` on ``groups``, moving the fake clock until it is done (or ``until``)."""
    task = asyncio.create_task(engine.run(groups))
    waited = 0.0
    while not task.done() and waited < until:
        await clock.advance(step)
        waited += step
    return task


def _engine(
    providers: dict[str, Provider],
    clock: FakeClock,
    sink: Any,
    attempts: int = 3,
    concurrency: int = 4,
    **options: Any,
) -> Engine:
    """An engine with a seeded backoff (1 s base, 8 s cap)."""
    return Engine(
        providers,
        EngineSettings(max_attempts=attempts, max_concurrency=concurrency),
        clock,
        Backoff(1.0, 8.0, random.Random(0)),
        sink,
        **options,
    )


async def _run(
    provider: ScriptedProvider,
    groups: dict[str, Group],
    clock: FakeClock,
    max_attempts: int = 3,
    until: float = 600,
) -> tuple[list[Outcome], dict[str, Any]]:
    outcomes: list[Outcome] = []
    engine = Engine(
        {"scripted": provider},
        EngineSettings(max_attempts=max_attempts, max_concurrency=4),
        clock,
        Backoff(1.0, 8.0, random.Random(0)),
        outcomes.append,
    )
    task = asyncio.create_task(engine.run(groups))
    step = 0.05
    waited = 0.0
    while not task.done() and waited < until:
        await clock.advance(step)
        waited += step
    assert task.done(), f"the engine did not finish within {until} s of fake time"
    return outcomes, await task


async def test_paces_at_the_limit() -> None:
    clock = FakeClock()
    provider = ScriptedProvider([], clock)
    outcomes, stats = await _run(provider, {"g": Group("g", 120, _records(10))}, clock)
    assert len(outcomes) == 10 and all(o.ok for o in outcomes)
    times = [t for t, _ in provider.sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(abs(g - 0.5) < 0.06 for g in gaps), gaps
    assert abs(stats["g"].achieved_per_minute() - 120) < 12


async def test_retry_goes_back_to_the_queue_while_others_flow() -> None:
    clock = FakeClock()
    retryable = ProviderError("HTTP 503", ErrorKind.RETRYABLE, 503, retry_after=5.0)
    provider = ScriptedProvider([retryable], clock)
    outcomes, stats = await _run(provider, {"g": Group("g", 600, _records(5))}, clock)
    by_id = {o.record.data["id"]: o for o in outcomes}
    assert by_id[0].ok and by_id[0].attempts == 2
    retry_time = [t for t, i in provider.sent if i == 0][1]
    first_time = provider.sent[0][0]
    assert retry_time - first_time >= 5.0  # Retry-After honoured
    # The other prompts did not wait for the retry.
    assert all(t < first_time + 1 for t, i in provider.sent if i != 0)
    assert [o.record.data["id"] for o in outcomes][-1] == 0
    assert stats["g"].retries == 1


async def test_fatal_errors_are_not_retried_and_attempts_are_capped() -> None:
    clock = FakeClock()
    fatal = ProviderError("HTTP 400: bad", ErrorKind.FATAL, 400)
    flaky = [ProviderError("HTTP 503", ErrorKind.RETRYABLE, 503) for _ in range(3)]
    provider = ScriptedProvider([fatal, *flaky], clock)
    outcomes, _ = await _run(
        provider,
        {"a": Group("a", 6000, _records(1)), "b": Group("b", 6000, _records(1)[:0])},
        clock,
        max_attempts=2,
    )
    assert outcomes[0].attempts == 1 and outcomes[0].error_kind == "fatal"
    provider2 = ScriptedProvider(list(flaky), clock)
    outcomes2, _ = await _run(provider2, {"a": Group("a", 6000, _records(1))}, clock, 2)
    assert outcomes2[0].attempts == 2 and not outcomes2[0].ok


async def test_groups_run_concurrently_at_their_own_limits() -> None:
    clock = FakeClock()
    t0 = clock.monotonic()
    provider = ScriptedProvider([], clock)
    slow = Group("slow", 6, _records(2))  # one per 10 s
    fast = Group(
        "fast",
        600,
        [PromptRecord({"id": 100 + i, "api": "scripted", "prompt": "x"}) for i in range(20)],
    )
    _, stats = await _run(provider, {"slow": slow, "fast": fast}, clock)
    fast_done = max(t for t, i in provider.sent if i >= 100)
    assert fast_done - t0 < 3  # not held back by the slow group
    assert stats["slow"].ok == 2 and stats["fast"].ok == 20


async def test_quota_error_stops_the_group_and_marks_the_rest_not_sent() -> None:
    clock = FakeClock()
    quota = ProviderError("HTTP 429: insufficient_quota", ErrorKind.QUOTA, 429)
    provider = ScriptedProvider([quota], clock)
    outcomes, stats = await _run(provider, {"g": Group("g", 60, _records(4))}, clock)
    assert len(outcomes) == 4 and not any(o.ok for o in outcomes)
    assert stats["g"].not_sent == 3
    assert len(provider.sent) == 1


async def test_unexpected_provider_bug_is_recorded_not_fatal() -> None:
    clock = FakeClock()

    class Broken(ScriptedProvider):
        async def complete(self, record: PromptRecord) -> Completion:
            raise KeyError("oops")

    outcomes, _ = await _run(Broken([], clock), {"g": Group("g", 6000, _records(2))}, clock)
    assert [o.error_kind for o in outcomes] == ["internal", "internal"]


async def test_429_pauses_this_group_only_and_halves_its_concurrency() -> None:
    clock = FakeClock()
    t0 = clock.monotonic()
    limited = ProviderError("HTTP 429", ErrorKind.RETRYABLE, 429, retry_after=10.0)
    # 30 429s in a row: most recent answers are 429s, so the quota looks spent.
    provider = ScriptedProvider([limited] * 30, clock)
    calm = ScriptedProvider([], clock)  # the other group's API answers normally
    other = Group(
        "other",
        6000,
        [PromptRecord({"id": 100 + i, "api": "calm", "prompt": "x"}) for i in range(5)],
    )
    engine_outcomes: list[Outcome] = []
    engine = _engine(
        {"scripted": provider, "calm": calm},
        clock,
        engine_outcomes.append,
        attempts=3,
        concurrency=4,
    )
    task = await _drive(
        engine, {"g": Group("g", 6000, _records(40)), "other": other}, clock, step=0.5, until=500
    )
    assert task.done(), "the engine did not finish"
    await task
    gate = engine.gates["g"]
    assert gate.slowdowns >= 1
    sent_g = sorted(t - t0 for t, i in provider.sent if i < 100)
    # Once the 24th 429 came (at 0.24 s), nothing of group g went out until Retry-After
    # passed (but for at most one per worker that had already taken its slot).
    assert all(t < 0.3 or t >= 10 for t in sent_g), sent_g
    assert 24 <= len([t for t in sent_g if t < 0.3]) <= 24 + 4
    # ...while the other group was not paused.
    assert max(t - t0 for t, _ in calm.sent) < 1
    assert all(o.ok for o in engine_outcomes)


async def test_stop_leaves_queued_prompts_unsent_and_unrecorded() -> None:
    clock = FakeClock()
    provider = ScriptedProvider([], clock)
    outcomes: list[Outcome] = []
    engine = _engine({"scripted": provider}, clock, outcomes.append, attempts=3, concurrency=2)
    task = asyncio.create_task(engine.run({"g": Group("g", 60, _records(10))}))
    await clock.advance(2.5)  # one a second: three sent
    engine.request_stop()
    for _ in range(20):
        await clock.advance(0.1)
    assert task.done()
    stats = await task
    assert len(outcomes) == len(provider.sent) == 3
    assert stats["g"].ok == 3


async def test_random_429s_are_retried_without_slowing_the_group() -> None:
    clock = FakeClock()
    limited = ProviderError("HTTP 429", ErrorKind.RETRYABLE, 429, retry_after=1.0)
    ok = Completion("ok")
    # One answer in five is a 429, as with llmock --error-rate 429=0.2.
    provider = ScriptedProvider([limited if i % 5 == 0 else ok for i in range(200)], clock)
    engine_outcomes: list[Outcome] = []
    engine = _engine(
        {"scripted": provider}, clock, engine_outcomes.append, attempts=5, concurrency=4
    )
    task = await _drive(engine, {"g": Group("g", 6000, _records(150))}, clock, step=0.05, until=20)
    stats = await task
    assert all(o.ok for o in engine_outcomes) and len(engine_outcomes) == 150
    assert engine.gates["g"].slowdowns == 0
    assert stats["g"].retries > 0


async def test_token_limit_paces_by_estimate_and_refunds_by_usage() -> None:
    from runner.limits.limiter import TokenBucket

    clock = FakeClock()
    t0 = clock.monotonic()
    # Each answer reports 10 tokens used; each request is estimated at 100 before sending.
    provider = ScriptedProvider([Completion("ok", 5, 5) for _ in range(20)], clock)
    outcomes: list[Outcome] = []
    engine = _engine(
        {"scripted": provider},
        clock,
        outcomes.append,
        attempts=1,
        concurrency=1,
        limits=Limits(
            tokens=lambda group: [
                Metered(replace(lim, accounting=Accounting.ACTUAL), TokenBucket(lim.amount, clock))
                for lim in group.token_limits
            ],
            estimator=lambda _record: TokenEstimate(50.0, 50.0),
        ),
    )
    group = Group("g", 60000, _records(6), tokens_per_minute=6000)  # 100 tokens a second
    task = await _drive(engine, {"g": group}, clock, step=0.05, until=20)
    await task
    times = [t - t0 for t, _ in provider.sent]
    # Without the refund each request would wait a full second for 100 tokens; with it,
    # 90 come back after each answer and the next waits only for the 10 used (0.1 s).
    assert times == pytest.approx([0, 0.1, 0.2, 0.3, 0.4, 0.5], abs=0.06)
    assert len(outcomes) == 6


async def test_token_limit_without_usage_keeps_the_estimate() -> None:
    from runner.limits.limiter import TokenBucket

    clock = FakeClock()
    t0 = clock.monotonic()
    provider = ScriptedProvider([Completion("ok") for _ in range(5)], clock)  # no usage
    engine = _engine(
        {"scripted": provider},
        clock,
        lambda _o: None,
        attempts=1,
        concurrency=1,
        limits=Limits(
            tokens=lambda group: [
                Metered(replace(lim, accounting=Accounting.ACTUAL), TokenBucket(lim.amount, clock))
                for lim in group.token_limits
            ],
            estimator=lambda _record: TokenEstimate(50.0, 50.0),
        ),
    )
    group = Group("g", 60000, _records(4), tokens_per_minute=6000)
    task = await _drive(engine, {"g": group}, clock, step=0.05, until=10)
    await task
    times = [t - t0 for t, _ in provider.sent]
    assert times == pytest.approx([0, 1, 2, 3], abs=0.06)


async def test_groups_sending_with_one_key_share_its_limit() -> None:
    from runner.limits.group_limits import GroupLimits

    clock = FakeClock()
    t0 = clock.monotonic()
    provider = ScriptedProvider([], clock)
    limits = GroupLimits(
        None, clock, key_limits={"scripted": 60.0}, credential=lambda _record: "same-key"
    )
    engine = _engine(
        {"scripted": provider},
        clock,
        lambda _o: None,
        attempts=1,
        concurrency=4,
        limits=limits.as_limits(),
    )
    a = Group("a", 6000, _records(3))
    b = Group(
        "b",
        6000,
        [PromptRecord({"id": 10 + i, "api": "scripted", "prompt": "x"}) for i in range(3)],
    )
    task = await _drive(engine, {"a": a, "b": b}, clock, step=0.05, until=20)
    await task
    times = sorted(t - t0 for t, _ in provider.sent)
    # Each group alone could send 100 a second; together they keep the key's one a second.
    assert times == pytest.approx([0, 1, 2, 3, 4, 5], abs=0.06)


async def test_a_result_that_cannot_be_written_stops_the_run() -> None:
    from runner.errors import RunnerError

    clock = FakeClock()
    provider = ScriptedProvider([], clock)
    written: list[Outcome] = []

    def sink(outcome: Outcome) -> None:
        if len(written) == 2:
            raise OSError("No space left on device")
        written.append(outcome)

    engine = _engine({"scripted": provider}, clock, sink, attempts=1, concurrency=1)
    task = await _drive(engine, {"g": Group("g", 60, _records(10))}, clock, step=0.1, until=20)
    with pytest.raises(RunnerError, match="No space left"):
        await task
    assert len(written) == 2 and len(provider.sent) == 3  # nothing sent after the failure
