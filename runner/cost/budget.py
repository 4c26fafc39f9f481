"""The run's budget (``max_cost_usd``): reserve before sending, settle when answered.

A request's cost at its upper bound is reserved before it takes any limit
(``runner.cost.reserve``); when its answer arrives the reservation is replaced by what it
actually cost (an attempt that may have been billed without an answer, such as a timeout,
keeps its reservation). A request that does not fit beside what is spent and reserved waits
for the answers in flight, which release what they did not use; the budget is reached only
when it could not fit even if every request in flight cost nothing. From then on every
reservation is refused: sending stops, and the prompts left are recorded ``error_kind:
budget`` (a resume sends them). Each line of the budget (``generation``, ``judge:<step>``)
has its own total; they share the one cap, and the jobs of a sweep share it through a
:class:`runner.cost.ledger.Ledger` (docs/cost.md says what is an upper bound).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from runner.errors import ErrorKind, ProviderError
from runner.output.money import dollars

if TYPE_CHECKING:
    from runner.cost.ledger import Ledger

GENERATION = "generation"
# How often a request waiting for room polls a sweep's shared ledger (other jobs' answers
# free room without waking this process).
_LEDGER_POLL_S = 0.2


def budget_line(group: str) -> str:
    """The budget line a group's spending is counted on: its judge step, else generation."""
    return group if group.startswith("judge:") else GENERATION


@dataclass
class Budget:
    """Spending against ``limit_usd`` (None: unlimited, spending is still counted).

    ``ledger``: the totals shared with the other jobs of a sweep (None: this process only).
    ``learnt``: per model and prompt shape, the worst ratio of billed to estimated input
    tokens seen so far (``runner.cost.reserve`` reserves with it).
    """

    limit_usd: float | None = None
    spent: dict[str, float] = field(default_factory=dict)
    reserved_usd: float = 0.0
    # Set by the first refusal: sending stops for every line.
    exhausted: bool = False
    refused: dict[str, int] = field(default_factory=dict)
    ledger: Ledger | None = None
    learnt: dict[Any, float] = field(default_factory=dict)
    # Per shape, the longest answer (output tokens a turn) seen: unbounded answers reserve it.
    learnt_output: dict[Any, float] = field(default_factory=dict)
    # Shapes whose first request is in flight: the others of the shape wait for its usage.
    probing: set[Any] = field(default_factory=set)
    # Requests whose reservation may have been billed without an answer (timeouts, ...).
    charged_unanswered: int = 0
    _changed: asyncio.Event | None = field(default=None, repr=False)
    _waiting: deque[object] = field(default_factory=deque, repr=False)

    @property
    def spent_usd(self) -> float:
        return sum(self.spent.values())

    def _fits(self, usd: float) -> bool:
        assert self.limit_usd is not None
        if self.ledger is not None:
            return self.ledger.hold(usd, self.limit_usd)
        return self.spent_usd + self.reserved_usd + usd <= self.limit_usd

    def _never_fits(self, usd: float) -> bool:
        """Whether ``usd`` could not fit even if every request in flight cost nothing."""
        assert self.limit_usd is not None
        spent = self.ledger.spent() if self.ledger is not None else self.spent_usd
        return spent + usd > self.limit_usd

    def reserve(self, usd: float | None, line: str) -> bool:
        """Hold ``usd`` for a request on ``line`` now, or refuse it and stop sending.

        Unlimited budgets always accept. A limited one refuses an unknown cost (None, or
        NaN and inf from an infinite price): nothing can say it fits. For requests that
        may wait, see :meth:`acquire`.
        """
        if self.limit_usd is None:
            return True
        if self.exhausted or not _finite(usd) or not self._fits(usd):
            self.exhausted = True
            return False
        self.reserved_usd += usd
        return True

    async def acquire(self, usd: float | None, stopped: Callable[[], bool]) -> bool:
        """Hold ``usd``, waiting for answers in flight to free room; False: refused.

        Requests wait in turn (a large one is not starved by smaller ones behind it).
        Refused once it could not fit even if every request in flight cost nothing (then
        sending stops), or when ``stopped()`` (then it is not sent, and the budget not
        reached). A request that alone costs more than the whole cap is refused by itself:
        the budget is not reached, and the prompts after it are sent.
        """
        if self.limit_usd is None:
            return True
        if _finite(usd) and usd > self.limit_usd:
            return False  # over the whole cap alone (max_tokens 1e30): refused, others go on
        turn = object()
        self._waiting.append(turn)
        try:
            while not self.exhausted and _finite(usd) and not stopped():
                if self._waiting[0] is turn:
                    if self._fits(usd):
                        self.reserved_usd += usd
                        return True
                    if self._never_fits(usd):
                        break
                await self.changed()
            if not stopped():
                self.exhausted = True
            return False
        finally:
            self._waiting.remove(turn)
            self.wake()

    async def changed(self) -> None:
        """Wait until a settle may have freed room (or a stop was asked for)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        event = self._changed
        if self.ledger is None:
            await event.wait()
            return
        with contextlib.suppress(TimeoutError):  # other jobs free room without waking us
            await asyncio.wait_for(event.wait(), _LEDGER_POLL_S)

    def wake(self) -> None:
        """Wake every request waiting for room (a settle, a stop)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def settle(self, reserved: float | None, actual: float | None, line: str) -> None:
        """Replace a reservation by the actual cost (an unknown actual keeps the reservation)."""
        held = reserved if reserved is not None and self.limit_usd is not None else 0.0
        self.reserved_usd = max(0.0, self.reserved_usd - held)
        spent = actual if actual is not None else held
        if spent:
            self.spent[line] = self.spent.get(line, 0.0) + spent
        if self.ledger is not None and self.limit_usd is not None:
            self.ledger.settle(held, spent or 0.0)
        self.wake()

    def refuse(self, line: str) -> None:
        """Count a prompt on ``line`` not sent because of the budget."""
        self.refused[line] = self.refused.get(line, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        """For ``run.json``: the cap, what each line spent, what was refused."""
        return {
            "max_cost_usd": self.limit_usd,
            "spent_usd": round(self.spent_usd, 6),
            "lines": {line: round(usd, 6) for line, usd in sorted(self.spent.items())},
            "exhausted": self.exhausted,
            "not_sent": dict(sorted(self.refused.items())),
            "charged_unanswered": self.charged_unanswered,
            **({"sweep": self.ledger.as_dict()} if self.ledger is not None else {}),
        }

    def describe(self) -> str:
        """One line for the console."""
        lines = ", ".join(f"{line} {dollars(usd)}" for line, usd in sorted(self.spent.items()))
        cap = "no cap" if self.limit_usd is None else f"max_cost_usd={dollars(self.limit_usd)}"
        text = f"Spent {dollars(self.spent_usd)} ({lines or 'nothing'}; {cap})"
        if self.exhausted:
            text += f": budget reached, {sum(self.refused.values())} prompt(s) not sent"
        return text


def _finite(usd: float | None) -> TypeGuard[float]:
    """Whether a reservation is a real amount (None, NaN, inf: nothing can say it fits)."""
    return usd is not None and math.isfinite(usd)


def over_budget(limit: float | None) -> ProviderError:
    """The error of a prompt not sent because it could take the run over ``limit``."""
    return ProviderError(
        f"not sent: it could take the run over max_cost_usd={dollars(limit)}; "
        "resume with a larger max_cost_usd to send it",
        ErrorKind.BUDGET,
    )
