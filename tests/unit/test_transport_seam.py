"""The engine's transport seam (issue 25, item 2), on a fake clock with fake transports.

A group sends each prompt cache -> budget -> limits -> transport, in one method; a
transport that is not metered (a batch) takes it right after the cache and answers later
through the group's handle. Batch code sees only that handle, never ``GroupRun`` or the
engine's private parts (read from the code with ``ast``).
"""

from __future__ import annotations

import ast
import asyncio
import random
from pathlib import Path
from typing import Any, cast

import pytest

import runner
from runner.config.schema import RunConfig
from runner.cost.budget import Budget
from runner.cost.prices import Price, PriceBook
from runner.engine.engine import Engine, EngineSettings
from runner.engine.retry import Backoff
from runner.engine.transport import GroupHandle, WorkItem
from runner.errors import ErrorKind, ProviderError
from runner.limits.clock import FakeClock
from runner.limits.group_limits import Limits
from runner.output.results import Outcome
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord
from runner.providers.base import Completion, Provider, ProviderContext

RUNNER = Path(runner.__file__).parent


class EchoProvider(Provider):
    """Answers every prompt online at once, and notes which ones it was sent."""

    api = "echo"

    def __init__(self) -> None:
        super().__init__(ProviderContext(RunConfig()))
        self.sent: list[int] = []

    async def complete(self, record: PromptRecord) -> Completion:
        self.sent.append(record.data["id"])
        return Completion("online", input_tokens=3, output_tokens=2)


class HeldTransport:
    """Like a batch: takes the prompts of even id, holds them, answers when told."""

    metered = False

    def __init__(self) -> None:
        self.held: list[tuple[WorkItem, GroupHandle]] = []

    def takes(self, item: WorkItem) -> bool:
        return bool(item.record.data["id"] % 2 == 0)

    async def send(self, item: WorkItem, group: GroupHandle) -> None:
        self.held.append((item, group))


def _records(n: int) -> list[PromptRecord]:
    return [
        PromptRecord({"id": i, "api": "echo", "model_name": "m", "prompt": f"p{i}"})
        for i in range(n)
    ]


def _engine(provider: Provider, outcomes: list[Outcome], **options: Any) -> Engine:
    return Engine(
        {"echo": provider},
        EngineSettings(max_attempts=3, max_concurrency=4),
        options.pop("clock"),
        Backoff(1.0, 8.0, random.Random(0)),
        outcomes.append,
        **options,
    )


async def _until(clock: FakeClock, done: Any, limit: float = 120.0) -> None:
    waited = 0.0
    while not done() and waited < limit:
        await clock.advance(0.05)
        waited += 0.05
    assert done(), f"not done within {limit} s of fake time"


async def test_a_held_transport_answers_later_through_the_handle() -> None:
    clock = FakeClock()
    provider = EchoProvider()
    outcomes: list[Outcome] = []
    engine = _engine(provider, outcomes, clock=clock)
    held = HeldTransport()
    engine.mount(held, read_ahead=5000)
    assert engine.settings.read_ahead == 5000
    task = asyncio.create_task(engine.run({"g": Group("g", 6000, _records(6))}))
    await _until(clock, lambda: len(held.held) == 3 and len(outcomes) == 3)
    assert sorted(provider.sent) == [1, 3, 5]  # the odd ones went online
    (zero, g0), (two, g2), (four, g4) = sorted(held.held, key=lambda h: h[0].record.data["id"])
    assert g0.name == "g" and g0.budget_line == g2.budget_line
    held.held.clear()
    for item, group in ((zero, g0), (two, g2)):
        group.sent(item)
    g0.answer(zero, Outcome(zero.record, g0.name, zero.attempts, completion=Completion("held")))
    busy = ProviderError("busy", ErrorKind.RETRYABLE)
    g2.answer(two, Outcome(two.record, g2.name, two.attempts, error=busy))
    g4.refuse(four, ProviderError("not sent: no room", ErrorKind.FATAL))
    await _until(clock, lambda: len(held.held) == 1)  # the retry came back to the transport
    again, group = held.held[0]
    assert again is two
    group.sent(again)
    group.answer(
        again, Outcome(again.record, group.name, again.attempts, completion=Completion("2"))
    )
    await _until(clock, task.done)
    stats = task.result()["g"]
    by_id = {o.record.data["id"]: o for o in outcomes}
    assert by_id[0].completion is not None and by_id[0].completion.text == "held"
    assert by_id[2].ok and by_id[2].attempts == 2
    assert by_id[4].error_kind == "not_sent" and by_id[4].attempts == 0
    assert all(by_id[i].completion.text == "online" for i in (1, 3, 5))  # type: ignore[union-attr]
    assert (stats.ok, stats.not_sent, stats.retries) == (5, 1, 1)
    assert stats.requests == 3 + 3  # online, then the held sends (0, 2 twice)
    assert all(o.priced for o in outcomes)


class Steps:
    """Notes each step a prompt takes, in order."""

    def __init__(self) -> None:
        self.taken: list[str] = []


class NotingCache:
    """A response cache that never has the answer, noting when it is asked and told."""

    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    def claim(self, record: PromptRecord, provider: Provider) -> object:
        return object()

    async def answer(self, claim: object, record: PromptRecord, group: str, tag: Any) -> None:
        self.steps.taken.append("cache")

    def remember(self, claim: object, outcome: Outcome) -> None:
        self.steps.taken.append("cache told")

    def release(self, claim: object) -> None:
        pass


class NotingBudget(Budget):
    steps: Steps | None = None

    async def acquire(self, usd: float | None, stopped: Any) -> bool:
        assert self.steps is not None
        self.steps.taken.append("budget")
        return await super().acquire(usd, stopped)


class NotingLimiter:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    async def acquire(self, cost: float = 1.0) -> None:
        self.steps.taken.append("limits")

    async def adjust(self, delta: float) -> None:
        pass


class NotingTransport:
    """Takes every prompt and answers at once (metered) or later (not metered)."""

    def __init__(self, steps: Steps, metered: bool) -> None:
        self.steps = steps
        self.metered = metered
        self.later: list[tuple[WorkItem, GroupHandle]] = []

    def takes(self, item: WorkItem) -> bool:
        return True

    async def send(self, item: WorkItem, group: GroupHandle) -> Outcome | None:
        self.steps.taken.append("transport")
        group.sent(item)
        outcome = Outcome(
            item.record,
            group.name,
            item.attempts,
            completion=Completion("ok", input_tokens=10, output_tokens=10),
        )
        if not self.metered:
            self.later.append((item, group))
            return None
        return outcome


async def _one_prompt(metered: bool) -> tuple[list[str], list[Outcome], NotingBudget]:
    clock = FakeClock()
    steps = Steps()
    budget = NotingBudget(5.0)
    budget.steps = steps
    outcomes: list[Outcome] = []
    engine = _engine(
        EchoProvider(),
        outcomes,
        clock=clock,
        cache=cast(Any, NotingCache(steps)),
        budget=budget,
        prices=PriceBook({"echo/m": Price(1000.0, 1000.0)}),
        limits=Limits(requests=lambda _group: [NotingLimiter(steps)]),
    )
    transport = NotingTransport(steps, metered)
    engine.mount(transport)
    task = asyncio.create_task(engine.run({"g": Group("g", 6000, _records(1))}))
    await _until(clock, lambda: bool(outcomes) or bool(transport.later))
    for item, group in transport.later:
        later = Completion("later", input_tokens=10, output_tokens=10)
        group.answer(item, Outcome(item.record, group.name, item.attempts, completion=later))
    await _until(clock, task.done)
    task.result()
    return steps.taken, outcomes, budget


async def test_a_metered_transport_comes_after_the_cache_the_budget_and_the_limits() -> None:
    taken, outcomes, budget = await _one_prompt(metered=True)
    assert taken == ["cache", "budget", "limits", "transport", "cache told"]
    (outcome,) = outcomes
    assert outcome.ok and outcome.priced and outcome.cost_usd == pytest.approx(0.02)
    assert budget.reserved_usd == 0 and budget.spent_usd == pytest.approx(0.02)  # settled


async def test_a_transport_not_metered_takes_no_budget_and_no_limit() -> None:
    taken, outcomes, budget = await _one_prompt(metered=False)
    assert taken == ["cache", "transport", "cache told"]
    (outcome,) = outcomes
    assert outcome.ok and budget.reserved_usd == 0 and budget.spent_usd == 0  # none held


# -- the shape, read from the code ---------------------------------------------------------


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in ``path``, under ``if TYPE_CHECKING:`` too."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
    return found


def test_batch_code_sees_no_group_run_and_no_private_engine_name() -> None:
    bad = []
    for path in sorted((RUNNER / "batch").glob("*.py")):
        where = path.relative_to(RUNNER.parent)
        for module, names in _imports(path):
            if module in ("runner.engine.group_run", "runner.engine.shared"):
                bad.append(f"{where}: imports {module}")
            if module.startswith("runner.engine"):
                bad.extend(f"{where}: imports {module}.{n}" for n in names if n.startswith("_"))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("group_run", "stats", "shared"):
                bad.append(f"{where}:{node.lineno}: reads .{node.attr}")
    assert not bad, "batch code reaches into the engine:\n" + "\n".join(bad)


def test_a_group_never_reaches_up_into_the_engine() -> None:
    engine_dir = RUNNER / "engine"
    for name in ("group_run.py", "meter.py", "online.py", "cache_step.py", "shared.py"):
        modules = [module for module, _ in _imports(engine_dir / name)]
        assert "runner.engine.engine" not in modules, name
