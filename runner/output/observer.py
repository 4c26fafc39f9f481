"""What watches the engine: told of every send and every outcome (progress, timelines, costs)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.limits.adaptive import AdaptiveGate
    from runner.output.results import Outcome
    from runner.prompts.grouping import Group
    from runner.prompts.records import PromptRecord


class Observer:
    """Told what the engine does (a timeline, a progress view); every hook is optional.

    Hooks run on the event loop: they must be quick and must not raise.
    """

    def on_start(self, group: Group) -> None:
        """A group begins (its limits are known)."""

    def on_send(self, record: PromptRecord, group: str) -> None:
        """An attempt is about to be sent."""

    def on_attempt(self, outcome: Outcome) -> None:
        """An attempt ended (answered or failed; it may still be retried)."""

    def on_slowdown(self, group: str, gate: AdaptiveGate) -> None:
        """A group's adaptive gate slowed down or paused after a rate-limit answer."""

    def on_outcome(self, outcome: Outcome) -> None:
        """A prompt's final outcome was delivered."""


def hooks(observers: Iterable[Observer], name: str) -> list[Callable[..., None]]:
    """Each observer's ``name`` hook that does something (:class:`Observer`'s no-op left out).

    The engine calls these per prompt: a no-op call per observer per prompt is saved.
    """
    default = getattr(Observer, name)
    return [getattr(o, name) for o in observers if getattr(type(o), name) is not default]
