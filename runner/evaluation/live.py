"""Judging alongside generation: judge prompts are sent as results arrive.

Each judge step is its own rate-limit group (``judge:<step>``) in an engine of its own, fed
from a queue that the run's results fill; generation's groups and limits are untouched, so
judging never starves generation. When generation ends, the queues close and the judges
finish what is queued (or, after a stop, stop too).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

from runner.cost.spending import Spending
from runner.engine.session import engine_session
from runner.evaluation import judge as judging
from runner.evaluation.pipeline import EvaluationRun
from runner.limits.clock import Clock
from runner.output.results import Outcome
from runner.prompts.grouping import Group, Tagged
from runner.providers import Provider, ProviderContext

T = TypeVar("T")
_CLOSED = None


class _Queues:
    """A queue of judge prompts per judge step, filled as generation's results arrive."""

    def __init__(self, evaluation: EvaluationRun) -> None:
        self.evaluation = evaluation
        self.steps = {s.name: s for s in evaluation.steps if s.model is not None}
        self.queues: dict[str, asyncio.Queue[judging.JudgeRequest | None]] = {
            name: asyncio.Queue() for name in self.steps
        }

    def enqueue(self, request: judging.JudgeRequest) -> None:
        self.queues[request.step].put_nowait(request)

    async def stream(self, name: str) -> AsyncIterator[Tagged]:
        while (request := await self.queues[name].get()) is not _CLOSED:
            yield Tagged(request.record, request)  # the outcome carries its request back

    def sink(self, outcome: Outcome) -> None:
        request: judging.JudgeRequest = outcome.tag
        self.evaluation.write_verdict(self.steps[request.step], request, outcome)

    def groups(self) -> dict[str, Group]:
        """One endless rate-limit group ``judge:<step>`` per judge step."""
        return {
            f"judge:{name}": Group(
                f"judge:{name}", self.evaluation.rate_of(step), self.stream(name), total=-1
            )
            for name, step in self.steps.items()
        }

    def close(self) -> None:
        for queue in self.queues.values():
            queue.put_nowait(_CLOSED)


async def judge_alongside(
    evaluation: EvaluationRun,
    generation: Awaitable[T],
    context: ProviderContext,
    providers: Mapping[str, Provider],
    clock: Clock,
    stopped: Callable[[], bool] = lambda: False,
    spending: Spending | None = None,
) -> T:
    """Await ``generation`` while judging its results as they arrive; returns its result.

    Args:
        evaluation: the run's evaluation, with at least one judge step.
        generation: the run's sending (its results reach ``evaluation.on_result``).
        context: the run's provider context (its session is shared).
        providers: the run's providers, reused (a loaded local model); others are made.
        clock: time source.
        stopped: whether the run was asked to stop (then queued judge prompts are dropped).
        spending: the run's prices, budget and cost totals (judges have their own line).
    """
    queues = _Queues(evaluation)
    apis = [step.model.api for step in queues.steps.values() if step.model is not None]
    groups = queues.groups()
    spent = spending or Spending.for_run(context.settings)
    async with engine_session(
        context,
        queues.sink,
        providers=providers,
        apis=apis,
        clock=clock,
        observers=[spent.tally],
        budget=spent.budget,
        prices=spent.prices,
    ) as engine:
        evaluation.live_sink = queues.enqueue
        for request in evaluation.pending:  # a resume's lines its judges never saw
            queues.enqueue(request)
        evaluation.pending = []
        judges = asyncio.create_task(engine.run(groups))
        try:
            result = await generation
        except BaseException:
            judges.cancel()
            raise
        finally:
            evaluation.live_sink = None
            if stopped():
                engine.request_stop()
            queues.close()
        await judges
    return result
