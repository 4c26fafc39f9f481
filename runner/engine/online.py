"""Online sending: one request per attempt, ``provider.complete``, timed and observed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from loguru import logger

from runner.engine.structured import check_output
from runner.engine.transport import GroupHandle, WorkItem
from runner.errors import ProviderError
from runner.limits.clock import Clock
from runner.output.observer import Observer, hooks
from runner.output.results import Outcome
from runner.providers.base import Provider


class OnlineTransport:
    """The :class:`~runner.engine.transport.Transport` that sends each attempt on its own.

    Args:
        providers: the provider of each api.
        clock: times each attempt.
        observers: told of each attempt sent and ended.
        in_flight: a slot among the requests in flight of all groups, held while sending.
    """

    metered = True

    def __init__(
        self,
        providers: Mapping[str, Provider],
        clock: Clock,
        observers: Sequence[Observer],
        in_flight: asyncio.Semaphore,
    ) -> None:
        self.providers = providers
        self.clock = clock
        self.observers = observers
        self.in_flight = in_flight
        self._on_send = hooks(observers, "on_send")
        self._on_attempt = hooks(observers, "on_attempt")

    def takes(self, item: WorkItem) -> bool:
        """Every prompt can be sent online."""
        return True

    async def send(self, item: WorkItem, group: GroupHandle) -> Outcome:
        """Send one attempt of ``item`` once a slot among the requests in flight is free."""
        # One coroutine, not a wrapper around a second: a frame less on every prompt's path.
        async with self.in_flight:
            record = item.record
            provider = self.providers[record.api]
            group.sent(item)
            stats = group.stats
            started = self.clock.monotonic()
            if stats.first_sent is None:
                stats.first_sent = started
            stats.last_sent = started
            outcome = Outcome(
                record, group.name, item.attempts, sent_at=self.clock.wall(), tag=item.tag
            )
            for on_send in self._on_send:
                on_send(record, group.name)
            stats.sending += 1
            try:
                outcome.completion = await provider.complete(record)
            except ProviderError as exc:
                outcome.error = exc
                outcome.error_kind = exc.kind.value
            except Exception as exc:  # a bug in a provider must not end the run
                logger.opt(exception=exc).error("{}: unexpected error in provider", record.where)
                outcome.error = ProviderError(f"internal error: {type(exc).__name__}: {exc}")
                outcome.error_kind = "internal"
            finally:
                stats.sending -= 1
            outcome.received_at = self.clock.wall()
            outcome.latency_s = self.clock.monotonic() - started
            check_output(outcome)  # output_schema: an invalid answer is an error (not cached)
            for on_attempt in self._on_attempt:
                on_attempt(outcome)
            return outcome
