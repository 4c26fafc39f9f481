"""Honest rates in the summary (issue 13.4): achieved/min never above a held limit, ``-``
with too few requests to tell, and the same figure in run.json."""

from __future__ import annotations

import pytest

from runner.output.stats import GroupStats


def _stats(rate: float, requests: int, span: float) -> GroupStats:
    stats = GroupStats("g", rate, total=requests, requests=requests)
    stats.first_sent, stats.last_sent = 100.0, 100.0 + span
    return stats


def test_a_burst_within_the_allowance_tells_no_rate() -> None:
    # Three requests 2 ms apart at 6,000/min: all inside one second's burst allowance.
    assert _stats(6000, 3, 0.002).achieved_per_minute() is None


def test_the_figure_is_never_above_the_limit_the_group_held() -> None:
    # 200 requests at 6,000/min, the first 100 of them a burst: 199 in 1.2 s would read
    # 9,950/min, but the pacer held 6,000/min throughout.
    assert _stats(6000, 200, 1.2).achieved_per_minute() == 6000
    # Slower than the limit is shown as measured.
    assert _stats(6000, 200, 4.0).achieved_per_minute() == pytest.approx(2985)
    # A slow limit with a few requests paced at it.
    assert _stats(10, 3, 12.0).achieved_per_minute() == pytest.approx(10)


def test_a_group_with_no_limit_is_measured_however_many_it_sent() -> None:
    # max_queries=1e9: a "burst" of 16.7 million. A 10,000,000-prompt run in 1,668 s printed
    # '-' ("too few requests to measure a rate"); it sent 5,995 a second.
    assert _stats(1e9, 10_000_000, 1668.0).achieved_per_minute() == pytest.approx(359_712, 1e-4)
    # Still '-' for a span under a second: 16 requests started at once tell no rate.
    assert _stats(1e9, 16, 0.004).achieved_per_minute() is None
