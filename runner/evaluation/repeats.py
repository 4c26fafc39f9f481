"""Scores over repeats: each prompt sent N times reduces to one value per prompt.

Three reductions, as in HumanEval and Inspect: the mean of the repeats' scores, the majority
vote (the most common score; a tie goes to the lower one, so a tie never passes), and
pass@k, the chance that at least one of k repeats drawn from the n made passes, by the
unbiased estimator of Chen et al. (2021): ``1 - C(n-c, k) / C(n, k)`` for c passing repeats.
A repeat passes when its score is 1 (a pass/fail step's true).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass@k from ``n`` repeats of which ``c`` passed.

    Raises:
        ValueError: not ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0  # every draw of k holds a passing repeat
    return 1.0 - comb(n - c, k) / comb(n, k)


def majority(values: Sequence[float]) -> float:
    """The most common value; among equally common ones, the lowest."""
    counts = Counter(values)
    top = max(counts.values())
    return min(v for v, n in counts.items() if n == top)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def passes(value: float) -> bool:
    """Whether one repeat passed: a score of 1."""
    return value >= 1.0


def is_pass_fail(values: Sequence[float]) -> bool:
    """Whether scores are pass/fail (0 or 1 only): pass@k means something for them only."""
    return all(v in (0.0, 1.0) for v in values)


def reductions(values: Sequence[float], ks: Sequence[int]) -> dict[str, float]:
    """A prompt's repeats reduced: mean, majority and, for pass/fail scores, pass@k per k."""
    found = {"mean": mean(values), "majority": majority(values)}
    if is_pass_fail(values):
        n, c = len(values), sum(map(passes, values))
        for k in ks:
            if k <= n:
                found[f"pass@{k}"] = pass_at_k(n, c, k)
    return found
