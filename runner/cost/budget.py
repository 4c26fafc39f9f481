"""The run's budget (``max_cost_usd``): reserve before sending, settle when answered.

A request's estimated cost is reserved before it takes any limit; when its answer arrives
the reservation is replaced by what it actually cost. A reservation that could take the
spending (settled plus reserved) over the budget is refused, and from then on every
reservation is: sending stops, and the prompts left are recorded ``error_kind: budget``
(a resume sends them). Each line of the budget (``generation``, ``judge:<step>``) has its
own total; they share the one cap.

The cap holds as long as estimates bound the actual cost: a prompt's ``max_tokens`` bounds
its answer (without it, ``output_tokens_estimate`` is only a guess), and prompt tokens are
the provider's own estimate (characters / 4, OpenAI: of the request body). An answer that
costs more than reserved is still counted in full, and stops sending sooner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from runner.errors import ErrorKind, ProviderError

GENERATION = "generation"


def budget_line(group: str) -> str:
    """The budget line a group's spending is counted on: its judge step, else generation."""
    return group if group.startswith("judge:") else GENERATION


@dataclass
class Budget:
    """Spending against ``limit_usd`` (None: unlimited, spending is still counted)."""

    limit_usd: float | None = None
    spent: dict[str, float] = field(default_factory=dict)
    reserved_usd: float = 0.0
    # Set by the first refusal: sending stops for every line.
    exhausted: bool = False
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def spent_usd(self) -> float:
        return sum(self.spent.values())

    def reserve(self, usd: float | None, line: str) -> bool:
        """Hold ``usd`` for a request on ``line``; False: it must not be sent.

        Unlimited budgets always accept. A limited one refuses an unknown cost (None):
        nothing can say it fits. The prompt refused is counted by :meth:`refuse`.
        """
        if self.limit_usd is None:
            return True
        if (
            self.exhausted
            or usd is None
            or self.spent_usd + self.reserved_usd + usd > self.limit_usd
        ):
            self.exhausted = True
            return False
        self.reserved_usd += usd
        return True

    def settle(self, reserved: float | None, actual: float | None, line: str) -> None:
        """Replace a reservation by the actual cost (an unknown actual keeps the reservation)."""
        held = reserved if reserved is not None and self.limit_usd is not None else 0.0
        self.reserved_usd = max(0.0, self.reserved_usd - held)
        spent = actual if actual is not None else held
        if spent:
            self.spent[line] = self.spent.get(line, 0.0) + spent

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
        }

    def describe(self) -> str:
        """One line for the console."""
        lines = ", ".join(f"{line} {dollars(usd)}" for line, usd in sorted(self.spent.items()))
        cap = "no cap" if self.limit_usd is None else f"max_cost_usd={dollars(self.limit_usd)}"
        text = f"Spent {dollars(self.spent_usd)} ({lines or 'nothing'}; {cap})"
        if self.exhausted:
            text += f": budget reached, {sum(self.refused.values())} prompt(s) not sent"
        return text


def over_budget(limit: float | None) -> ProviderError:
    """The error of a prompt not sent because it could take the run over ``limit``."""
    return ProviderError(
        f"not sent: it could take the run over max_cost_usd={dollars(limit)}; "
        "resume with a larger max_cost_usd to send it",
        ErrorKind.BUDGET,
    )


def dollars(usd: float | None) -> str:
    """``$0.0123``: four decimals, two significant ones for tiny amounts; ``-``: unknown."""
    if usd is None or not math.isfinite(usd):
        return "-"
    if 0 < abs(usd) < 0.0001:
        places = 1 - math.floor(math.log10(abs(usd)))
        return f"${usd:.{places}f}"
    return f"${usd:,.4f}"
