"""``limit=N`` and ``sample=N seed=S``: a cheap first try on a few prompts of any experiment.

Both work on the stream of records before the check, so they hold at most N records: the
first N, or N drawn uniformly at random (reservoir sampling, reproducible by its seed) and
given back in their order in the experiment.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator

from runner.prompts.records import PromptRecord

Select = Callable[[Iterator[PromptRecord]], Iterator[PromptRecord]]


def first(n: int) -> Select:
    """Keep the first ``n`` records."""

    def select(records: Iterator[PromptRecord]) -> Iterator[PromptRecord]:
        return itertools.islice(records, n)

    return select


def sample(n: int, seed: int) -> Select:
    """Keep ``n`` records drawn at random (each equally likely), in the experiment's order."""

    def select(records: Iterator[PromptRecord]) -> Iterator[PromptRecord]:
        rng = random.Random(seed)
        kept: list[PromptRecord] = []
        for seen, record in enumerate(records):
            if seen < n:
                kept.append(record)
            else:
                at = rng.randrange(seen + 1)
                if at < n:
                    kept[at] = record
        kept.sort(key=lambda r: r.line)
        return iter(kept)

    return select


def selection(limit: int | None, sample_n: int | None, seed: int) -> Select | None:
    """The selection the settings ask for, or None for every record."""
    if limit is not None:
        return first(limit)
    if sample_n is not None:
        return sample(sample_n, seed)
    return None
