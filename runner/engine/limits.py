"""Which limiters each group gets: its own pace, and buckets shared with other runs.

The one place limits (runner.limits.quota) become limiters: settings are read into typed
limits here, each provider's token accounting is resolved here, and :class:`GroupLimits`
builds every group's and every key's limiters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.config.schema import RunConfig
from runner.config.settings import token_settings
from runner.limits.clock import Clock
from runner.limits.limiter import Limiter, TokenBucket
from runner.limits.quota import Accounting, Counts, Limit, Metered, TokenEstimate
from runner.limits.shared_limits import SharedLimits, fingerprint, never_binds
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord


class LimitStore(Protocol):
    """Shared buckets by name: on files (one machine) or in a Ray actor (a cluster)."""

    def bucket(self, identity: str, rate_per_minute: float, kind: str = "q") -> Any: ...

    def close(self) -> None: ...


def open_store(settings: RunConfig) -> LimitStore | None:
    """The store ``shared_limits`` asks for, or None for in-process limits only."""
    if settings.shared_limits == "none":
        return None
    if settings.shared_limits == "ray":
        from runner.limits.ray_limits import RayLimits  # an optional extra: imported late

        return RayLimits(address=settings.ray_address)
    from pathlib import Path

    folder = Path(settings.limits_dir).expanduser() if settings.limits_dir else None
    return SharedLimits(folder)


# Each token-limit setting (and its _dict form) and what it counts.
TOKEN_SETTINGS = {
    "max_tokens_per_minute": Counts.TOTAL_TOKENS,
    "max_input_tokens_per_minute": Counts.INPUT_TOKENS,
    "max_output_tokens_per_minute": Counts.OUTPUT_TOKENS,
}


def token_limit_settings(
    settings: RunConfig,
) -> dict[Counts, tuple[float | None, Mapping[str, Any]]]:
    """The token limits the settings ask for: (default per minute, the ``_dict`` form)."""
    return {TOKEN_SETTINGS[name]: value for name, value in token_settings(settings).items()}


def accounting_of(
    settings: RunConfig, declared: Mapping[str, Accounting]
) -> Callable[[set[str]], Accounting]:
    """How a group's token limits are charged, given the apis it sends to.

    The ``token_accounting`` setting wins; else what the providers declare, ``reserved``
    when a group mixes apis that disagree (the side that never overruns a quota).
    """
    if settings.token_accounting != "provider":
        fixed = Accounting(settings.token_accounting)
        return lambda _apis: fixed

    def resolve(apis: set[str]) -> Accounting:
        kinds = {declared.get(api, Accounting.RESERVED) for api in apis}
        return Accounting.ACTUAL if kinds == {Accounting.ACTUAL} else Accounting.RESERVED

    return resolve


def group_identity(name: str, credentials: set[str]) -> str:
    """A group's identity between processes: its name and the credentials it sends with."""
    return fingerprint(name, *sorted(credentials))


# Extra limiters of a group beyond its own pace (shared buckets).
LimiterFactory = Callable[[Group], list[Limiter]]
# A group's token limits, each with the limiter enforcing it.
MeteredFactory = Callable[[Group], list[Metered]]
Estimator = Callable[[PromptRecord], TokenEstimate]


def _none(_key: Any) -> list[Any]:
    return []


@dataclass
class Limits:
    """Every limit a request waits for beyond its group's own pace, as one object.

    Args:
        requests: extra request limiters of a group (shared with other processes).
        tokens: token limits of a group; requests then cost their estimate, charged as
            each limit's accounting says (reserved: never refunded; actual: corrected).
        per_record: limiters a record's request also waits for (its API key's own limit,
            shared by every group sending with that key).
        estimator: a record's estimated tokens; None: its provider's rule.
    """

    requests: LimiterFactory = field(default=_none)
    tokens: MeteredFactory = field(default=_none)
    per_record: Callable[[PromptRecord], list[Limiter]] = field(default=_none)
    estimator: Estimator | None = None


class GroupLimits:
    """Builds the limiters of each group for the engine.

    Request limits: the engine paces every group itself; with a shared store the group also
    takes a slot from the bucket every run with the same identity shares. Token limits: a
    token bucket per group (shared the same way) when the group has one.
    """

    def __init__(
        self,
        store: LimitStore | None,
        clock: Clock,
        key_limits: dict[str, float] | None = None,
        credential: Any = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._key_limits = key_limits or {}
        self._credential = credential  # record -> fingerprint of the key it is sent with
        self._key_buckets: dict[str, Limiter] = {}
        self._credentials: dict[tuple[str, str | None], str] = {}

    def as_limits(self) -> Limits:
        """These limits as the engine takes them."""
        return Limits(requests=self.requests, tokens=self.tokens, per_record=self.per_record)

    def per_record(self, record: PromptRecord) -> list[Limiter]:
        """The limit of the API key ``record`` is sent with, if its api has one."""
        rate = self._key_limits.get(record.api)
        if rate is None or self._credential is None:
            return []
        cache_key = (record.api, record.model_name)
        if cache_key not in self._credentials:
            self._credentials[cache_key] = fingerprint("key", self._credential(record))
        identity = self._credentials[cache_key]
        if identity not in self._key_buckets:
            if self._store is None or never_binds(rate):
                self._key_buckets[identity] = TokenBucket(rate, self._clock)
            else:
                self._key_buckets[identity] = self._store.bucket(identity, rate, "k")
        return [self._key_buckets[identity]]

    def requests(self, group: Group) -> list[Limiter]:
        """The group's shared request bucket (none when its limit can never bind)."""
        if self._store is None or not group.identity or never_binds(group.rate_per_minute):
            return []
        bucket: Limiter = self._store.bucket(group.identity, group.rate_per_minute, "q")
        return [bucket]

    def tokens(self, group: Group) -> list[Metered]:
        """A metered bucket for each token limit of ``group`` (shared when it has a store)."""
        return [Metered(limit, self._token_bucket(group, limit)) for limit in group.token_limits]

    def _token_bucket(self, group: Group, limit: Limit) -> Limiter:
        rate = limit.rate_per_minute
        if self._store is None or not group.identity:
            return TokenBucket(rate, self._clock)
        bucket: Limiter = self._store.bucket(group.identity, rate, limit.store_kind)
        return bucket
