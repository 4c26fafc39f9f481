"""The limits model: what a limit counts, over what time, for whom, and how it is charged.

A :class:`Limit` is one typed thing. *What* it counts: requests, input tokens, output
tokens, total tokens (each per minute), or requests in flight at once (the engine's cap).
Its *scope*: one rate-limit group, or one API key (every group sending with it). Its
*accounting*, which must match how the provider charges:

* ``reserved``: the estimate is charged when the request starts and never refunded. This is
  how OpenAI documents its TPM limit (characters / 4 plus ``max_tokens``) and what
  ``llmock --tpm`` does. Refunding the unused part of ``max_tokens`` would overrun it.
* ``actual``: the estimate is charged, then corrected by the usage the API reports
  (Anthropic's output-token limit works this way).

Providers declare their accounting (``Provider.token_accounting``); the
``token_accounting`` setting overrides it. :class:`Metered` pairs a token limit with the
limiter that enforces it and knows what a request costs under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from runner.limits.limiter import Limiter


class Counts(StrEnum):
    """What a limit counts."""

    REQUESTS = "requests"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    TOTAL_TOKENS = "total_tokens"
    IN_FLIGHT = "in_flight"


class Scope(StrEnum):
    """Who shares a limit."""

    GROUP = "group"
    KEY = "key"


class Accounting(StrEnum):
    """How the provider charges a request against a token limit (see the module docstring)."""

    RESERVED = "reserved"
    ACTUAL = "actual"


# The short kind each limit is stored under in shared state (bucket file names, Ray actor
# keys): `<identity>.<kind>`. Buckets of a running sweep are found by these names, so they
# never change. Requests in flight are never shared (each process caps its own).
STORE_KIND = {
    (Counts.REQUESTS, Scope.GROUP): "q",
    (Counts.REQUESTS, Scope.KEY): "k",
    (Counts.TOTAL_TOKENS, Scope.GROUP): "t",
    (Counts.INPUT_TOKENS, Scope.GROUP): "ti",
    (Counts.OUTPUT_TOKENS, Scope.GROUP): "to",
}


@dataclass(frozen=True)
class Limit:
    """One limit: ``amount`` of ``counts`` per minute (in flight: at once), shared by ``scope``.

    Built in one place, :mod:`runner.limits.from_settings`.
    """

    counts: Counts
    amount: float
    scope: Scope = Scope.GROUP
    accounting: Accounting = Accounting.RESERVED

    @property
    def rate_per_minute(self) -> float:
        """The pace a bucket enforcing this limit keeps."""
        return self.amount

    @property
    def store_kind(self) -> str:
        """What this limit's shared bucket is named by, beside its identity."""
        return STORE_KIND[self.counts, self.scope]


@dataclass(frozen=True)
class TokenEstimate:
    """A request's tokens before it is sent, by the provider's own rule."""

    input: float
    output: float

    def of(self, counts: Counts) -> float:
        if counts is Counts.INPUT_TOKENS:
            return self.input
        if counts is Counts.OUTPUT_TOKENS:
            return self.output
        return self.input + self.output


@dataclass(frozen=True)
class Usage:
    """Tokens the API reported for a request (None: not reported)."""

    input: int | None
    output: int | None

    def of(self, counts: Counts) -> float | None:
        if counts is Counts.INPUT_TOKENS:
            return None if self.input is None else float(self.input)
        if counts is Counts.OUTPUT_TOKENS:
            return None if self.output is None else float(self.output)
        if self.input is None and self.output is None:
            return None
        return float((self.input or 0) + (self.output or 0))


class Metered:
    """A token limit and the limiter enforcing it: charges requests as the provider does."""

    def __init__(self, limit: Limit, limiter: Limiter) -> None:
        self.limit = limit
        self.limiter = limiter

    async def charge(self, estimate: TokenEstimate) -> None:
        """Wait until the request's estimated tokens may be used, and take them."""
        await self.limiter.acquire(estimate.of(self.limit.counts))

    async def settle(self, estimate: TokenEstimate, usage: Usage | None) -> None:
        """Correct the charge by the reported usage, if this limit is accounted that way."""
        if self.limit.accounting is not Accounting.ACTUAL or usage is None:
            return  # reserved: what was charged stays charged
        used = usage.of(self.limit.counts)
        if used is not None:
            await self.limiter.adjust(used - estimate.of(self.limit.counts))
