"""Which failures the engine retries, and how long it waits (no server: the classifier alone)."""

from __future__ import annotations

import random

import pytest

from runner.engine.retry import Backoff
from runner.errors import ErrorKind
from runner.providers.http import classify_status


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504, 529])
def test_overloads_timeouts_and_server_errors_are_retried(status: int) -> None:
    error = classify_status(status, {"error": {"message": "busy"}}, "", {})
    assert error.kind is ErrorKind.RETRYABLE
    assert error.status == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_fatal(status: int) -> None:
    error = classify_status(status, {"error": {"message": "bad"}}, "", {})
    assert error.kind is ErrorKind.FATAL


@pytest.mark.parametrize("code", ["insufficient_quota", "billing_hard_limit_reached"])
def test_a_spent_quota_is_not_retried_even_on_429(code: int) -> None:
    body = {"error": {"message": "You exceeded your current quota", "code": code}}
    assert classify_status(429, body, "", {}).kind is ErrorKind.QUOTA


def test_retry_after_and_rate_limit_headers_are_carried() -> None:
    headers = {
        "Retry-After": "7",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-limit-requests": "60",
    }
    error = classify_status(429, None, "slow down", headers)
    assert error.kind is ErrorKind.RETRYABLE
    assert error.retry_after == 7.0
    assert error.quota_spent
    assert error.limit_per_minute == 60.0
    assert "slow down" in error.message


def test_a_bare_429_is_not_a_spent_window() -> None:
    error = classify_status(429, None, "", {"x-ratelimit-remaining-requests": "12"})
    assert error.kind is ErrorKind.RETRYABLE
    assert not error.quota_spent
    assert error.retry_after is None


def test_retry_after_ms_wins_over_seconds() -> None:
    error = classify_status(503, None, "", {"retry-after-ms": "250", "Retry-After": "9"})
    assert error.retry_after == 0.25


def test_backoff_grows_until_its_ceiling_then_retry_after_sets_the_floor() -> None:
    backoff = Backoff(base_s=1.0, max_s=8.0, rng=random.Random(1))
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # full jitter reaches up to the ceiling
    # A Retry-After longer than the ceiling is honoured, with at most a little jitter.
    for _ in range(200):
        delay = backoff.delay(1, retry_after=30.0)
        assert 30.0 <= delay <= 31.0
    # Zero or none: the usual backoff.
    assert backoff.delay(1, retry_after=0.0) <= 1.0
