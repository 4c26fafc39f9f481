"""The engine's seam: what a transport is given (a work item and its group's handle) and does.

A group takes each prompt cache -> budget -> limits -> transport (``GroupRun.send``). A
:class:`Transport` sends it: online (``runner.engine.online``, one request at a time) or in
a provider batch (``runner.batch.run``). It tells the group through a :class:`GroupHandle`:
an attempt went out (``sent``), its outcome (``answer``), or that it was not sent
(``refuse``). A transport sees nothing else of the group or the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runner.cache.cache import Claim
    from runner.errors import ProviderError
    from runner.output.results import Outcome
    from runner.output.stats import GroupStats
    from runner.prompts.records import PromptRecord


@dataclass(slots=True)
class WorkItem:
    """One prompt on its way through a group, across its attempts."""

    record: PromptRecord
    tag: Any = None  # the caller's own tag (runner.prompts.grouping.Tagged)
    attempts: int = 0
    cache_claim: Claim | None = None  # set at its first send when the cache is on
    online: bool = False  # batch mode: send this one online (batch_fallback=online)
    # output_schema: earlier attempts whose answers were refused (see engine.structured).
    refused: list[dict[str, Any]] | None = None
    # What earlier attempts that failed were billed (a conversation's answered turns).
    billed_usd: float = 0.0


class GroupHandle:
    """A group as a transport sees it: its name, counters and budget line, and what to tell.

    Args:
        name: the group's name (each outcome carries it).
        stats: the group's live counters (``sending``, ``first_sent``, ... for online).
        budget_line: the group's line on the run's budget (a batch holds cost on it).
        answer: takes an attempt's outcome; the group records it or sends it again.
        refuse: records an item as not sent, with the reason.
    """

    __slots__ = ("answer", "budget_line", "name", "refuse", "stats")

    def __init__(
        self,
        name: str,
        stats: GroupStats,
        budget_line: str,
        answer: Callable[[WorkItem, Outcome], None],
        refuse: Callable[[WorkItem, ProviderError], None],
    ) -> None:
        self.name = name
        self.stats = stats
        self.budget_line = budget_line
        self.answer = answer
        self.refuse = refuse

    def sent(self, item: WorkItem) -> None:
        """An attempt of ``item`` goes out now: counted on the item and the group."""
        item.attempts += 1
        self.stats.requests += 1


class Transport(Protocol):
    """Sends a group's prompts (after the cache, the budget and the limits where metered)."""

    @property
    def metered(self) -> bool:
        """Whether each send takes the group's budget hold and its request and token limits.

        Online: yes. A batch: no (it holds budget per chunk, at batch price, and a
        provider's batch quota is its own).
        """
        ...

    def takes(self, item: WorkItem) -> bool:
        """Whether this transport sends ``item`` (a batch leaves conversations to online)."""
        ...

    async def send(self, item: WorkItem, group: GroupHandle) -> Outcome | None:
        """Send ``item`` (calling ``group.sent``): its outcome now, or None when it comes
        later through ``group.answer`` or ``group.refuse`` (a batch)."""
        ...
