"""Backoff: exponential with full jitter, and Retry-After honoured."""

from __future__ import annotations

import random

from runner.engine.retry import Backoff
from runner.providers.http import parse_retry_after


def test_full_jitter_stays_under_an_exponential_ceiling() -> None:
    backoff = Backoff(base_s=1, max_s=8, rng=random.Random(1))
    for failed in range(1, 8):
        ceiling = min(8, 2 ** (failed - 1))
        delays = [backoff.delay(failed) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter covers the range


def test_retry_after_is_a_floor() -> None:
    backoff = Backoff(base_s=0.01, max_s=0.01, rng=random.Random(2))
    for _ in range(100):
        assert 5.0 <= backoff.delay(1, retry_after=5.0) <= 6.0


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
