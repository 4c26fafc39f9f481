"""Calls to a batch API, tried again after retryable failures (backoff; Retry-After honoured)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from loguru import logger

from runner.batch.adapter import BatchAdapter, BatchState
from runner.batch.requests import SHAPE_ERRORS
from runner.config.schema import RunConfig
from runner.errors import ErrorKind, ProviderError
from runner.limits.clock import Clock

T = TypeVar("T")
# Tries of one upload / submit / cancel / results download before giving up on it.
CALL_TRIES = 8


class Calls:
    """Batch API calls on ``clock``, waiting between tries as ``settings`` say (backoff_*)."""

    def __init__(self, clock: Clock, settings: RunConfig) -> None:
        self.clock = clock
        self.settings = settings

    async def call(self, job: Callable[[], Awaitable[T]], what: str) -> T:
        """``job()``, tried again after retryable failures (backoff; Retry-After honoured)."""
        for attempt in range(1, CALL_TRIES + 1):
            try:
                return await shaped(job, what)
            except ProviderError as exc:
                if exc.kind is not ErrorKind.RETRYABLE or attempt == CALL_TRIES:
                    raise
                logger.debug("batch mode: {} failed (try {}): {}", what, attempt, exc)
                await self.clock.sleep(self.pause(attempt, exc))
        raise AssertionError("unreachable")

    async def quietly(self, job: Callable[[], Awaitable[None]]) -> None:
        """A cancel: tried like any call, and only logged if it fails for good."""
        try:
            await self.call(job, "cancel")
        except ProviderError as exc:
            logger.warning("batch mode: cancelling failed: {}", exc)

    def pause(self, attempt: int, exc: ProviderError, base: float | None = None) -> float:
        """The wait before another try: the API's Retry-After, else doubling from ``base``."""
        settings = self.settings
        start = settings.backoff_base_s if base is None else base
        doubled = min(start * 2 ** (attempt - 1), max(settings.backoff_max_s, start))
        return float(max(exc.retry_after or 0.0, doubled))


async def poll(adapter: BatchAdapter, model_name: str, batch_id: str) -> BatchState:
    """``adapter.poll``; an answer of a shape it cannot read is a failed poll, not a crash."""
    return await shaped(lambda: adapter.poll(model_name, batch_id), f"the poll of {batch_id}")


async def shaped(job: Callable[[], Awaitable[T]], what: str) -> T:
    """``job()``; an API answer of a shape the adapter cannot read is a retryable failure
    of that call (a ProviderError the engine waits out), never a crash of the run."""
    try:
        return await job()
    except SHAPE_ERRORS as exc:
        raise ProviderError(
            f"the answer to {what} is not of the documented shape: {type(exc).__name__}: {exc}",
            ErrorKind.RETRYABLE,
        ) from None
