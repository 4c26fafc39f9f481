"""The batch contract: what one provider's batch API must do for the batch engine.

The batch engine (chunking, the durable manifest, polling, resume, fallback) is the same
for every API; an adapter only speaks its API's endpoints. A batch is always for one
``(api, model_name)``: keys, base URLs and (for Gemini) the endpoint depend on the model.

A resume must never submit a batch twice: before each submit the engine records a unique
``tag`` for the chunk in the manifest; an adapter stores it with the batch where its API
allows (OpenAI ``metadata``, Gemini ``displayName``) and :meth:`BatchAdapter.find` looks it
up when a kill came between the submit and the manifest line that records the batch id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers.base import Completion, HttpProvider


class BatchStatus(StrEnum):
    """Where a submitted batch is, in the provider-neutral terms the engine acts on."""

    IN_PROGRESS = "in_progress"  # validating, queued, running, finalizing
    ENDED = "ended"  # results (and error files) can be read
    EXPIRED = "expired"  # deadline passed: finished items readable, the rest requeued
    CANCELLED = "cancelled"  # likewise
    FAILED = "failed"  # rejected as a whole (bad input file): every item requeued or failed


@dataclass(frozen=True)
class BatchLimits:
    """How large one batch may be, as the provider documents it."""

    max_requests: int
    max_bytes: int


@dataclass
class BatchState:
    """A poll's answer."""

    status: BatchStatus
    done: int = 0  # items finished (ok or failed) so far, when the API says
    total: int = 0
    detail: str = ""  # the API's own status word, for the log


@dataclass
class ItemResult:
    """One line of a batch's results: the prompt's ``custom_id`` and how it ended.

    Exactly one of ``completion`` and ``error`` is set. ``error.kind`` classifies the item
    like an online failure (retryable: sent again; fatal: recorded as an error line).
    """

    custom_id: str
    completion: Completion | None = None
    error: ProviderError | None = None


class BatchAdapter(ABC):
    """One API's batch endpoints, over the online provider's keys, URLs and session."""

    api: ClassVar[str]
    limits: ClassVar[BatchLimits]

    def __init__(self, provider: HttpProvider) -> None:
        self.provider = provider

    @abstractmethod
    def request_line(self, record: PromptRecord, custom_id: str) -> dict[str, Any]:
        """The batch input entry for ``record`` (what ``complete`` would send, plus its id).

        Raises:
            ProviderError: (fatal) the prompt cannot go in a batch (a multi-turn chat).
        """

    @abstractmethod
    async def upload(self, model_name: str, lines: list[dict[str, Any]]) -> str | None:
        """Upload the chunk's input where the API wants a file; its id (None: sent inline)."""

    @abstractmethod
    async def submit(
        self, model_name: str, lines: list[dict[str, Any]], input_ref: str | None, tag: str
    ) -> str:
        """Create the batch (from ``input_ref`` or inline ``lines``); its id."""

    @abstractmethod
    async def find(self, model_name: str, tag: str) -> str | None:
        """The id of a batch submitted earlier with ``tag``, if the API can tell."""

    @abstractmethod
    async def poll(self, model_name: str, batch_id: str) -> BatchState:
        """Where the batch is. Raises ProviderError (retryable) when the poll itself failed."""

    @abstractmethod
    def results(self, model_name: str, batch_id: str) -> AsyncIterator[ItemResult]:
        """Every item of an ended (expired, cancelled) batch: output and error files both."""

    @abstractmethod
    async def cancel(self, model_name: str, batch_id: str) -> None:
        """Ask the API to cancel the batch (finished items stay readable)."""

    async def cancel_unless_ended(
        self, model_name: str, batch_id: str, send: Callable[[], Awaitable[object]]
    ) -> None:
        """``send()`` the cancel; a refusal because the batch has just ended is no error."""
        try:
            await send()
        except ProviderError as exc:
            if exc.kind is ErrorKind.RETRYABLE:
                raise
            if (await self.poll(model_name, batch_id)).status is BatchStatus.IN_PROGRESS:
                raise
