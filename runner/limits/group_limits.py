"""Which limiters each group gets: its own pace, and buckets shared with other runs.

Every limiter here enforces a :class:`Limit` (built in :mod:`runner.limits.from_settings`):
a group's requests, its API key's requests (``Scope.KEY``), its tokens. A limit with a
shared store and an identity lives in the store, under ``<identity>.<limit.store_kind>``;
otherwise it is a bucket of this process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from runner.config.schema import RunConfig
from runner.limits.clock import Clock
from runner.limits.from_settings import request_limit
from runner.limits.limiter import Limiter, TokenBucket
from runner.limits.quota import Counts, Limit, Metered, Scope, TokenEstimate
from runner.limits.shared_limits import (
    SharedLimits,
    default_limits_dir,
    fingerprint,
    never_binds,
    usable_folder,
)

if TYPE_CHECKING:
    from runner.prompts.records import PromptRecord


class LimitStore(Protocol):
    """Shared buckets by name (``<identity>.<limit.store_kind>``): on files or in a Ray actor."""

    def bucket(self, identity: str, limit: Limit) -> Any: ...

    def close(self) -> None: ...


def open_store(settings: RunConfig) -> LimitStore | None:
    """The store ``shared_limits`` asks for, or None for in-process limits only."""
    if settings.shared_limits == "none":
        return None
    if settings.shared_limits == "ray":
        from runner.limits.ray_limits import RayLimits  # an optional extra: imported late

        return RayLimits(address=settings.ray_address)
    return SharedLimits(_limits_folder(settings))


def check_store(settings: RunConfig) -> None:
    """Refuse, before a run starts, a ``limits_dir`` the shared limits cannot be kept in.

    Raises:
        ConfigError: the folder (``~/.cache/runner/limits`` by default) cannot be written.
    """
    if settings.shared_limits == "file":
        usable_folder(_limits_folder(settings) or default_limits_dir())


def _limits_folder(settings: RunConfig) -> Path | None:
    return Path(settings.limits_dir).expanduser() if settings.limits_dir else None


class LimitedGroup(Protocol):
    """What the limits need of a group (``runner.prompts.grouping.Group`` is one)."""

    @property
    def identity(self) -> str:
        """The group between processes (a fingerprint; empty: this process's alone)."""
        ...

    @property
    def rate_per_minute(self) -> float: ...

    @property
    def token_limits(self) -> tuple[Limit, ...]: ...


class KeyedRecord(Protocol):
    """What the key limits need of a record: which api and model it is sent to."""

    @property
    def api(self) -> str: ...

    @property
    def model_name(self) -> str | None: ...


def group_identity(name: str, credentials: set[str]) -> str:
    """A group's identity between processes: its name and the credentials it sends with."""
    return fingerprint(name, *sorted(credentials))


# Extra limiters of a group beyond its own pace (shared buckets).
LimiterFactory = Callable[[LimitedGroup], list[Limiter]]
# A group's token limits, each with the limiter enforcing it.
MeteredFactory = Callable[[LimitedGroup], list[Metered]]
Estimator = Callable[["PromptRecord"], TokenEstimate]


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
    token bucket per group (shared the same way) when the group has one. Key limits: one
    bucket per API key (``key_limits``: requests a minute by api), for every group.
    """

    def __init__(
        self,
        store: LimitStore | None,
        clock: Clock,
        key_limits: Mapping[str, float] | None = None,
        credential: Any = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._key_limits = {
            api: request_limit(rate, Scope.KEY) for api, rate in (key_limits or {}).items()
        }
        self._credential = credential  # record -> fingerprint of the key it is sent with
        self._key_buckets: dict[str, Limiter] = {}
        self._credentials: dict[tuple[str, str | None], str] = {}

    def as_limits(self) -> Limits:
        """These limits as the engine takes them."""
        return Limits(requests=self.requests, tokens=self.tokens, per_record=self.per_record)

    def per_record(self, record: KeyedRecord) -> list[Limiter]:
        """The limit of the API key ``record`` is sent with, if its api has one."""
        limit = self._key_limits.get(record.api)
        if limit is None or self._credential is None:
            return []
        cache_key = (record.api, record.model_name)
        if cache_key not in self._credentials:
            self._credentials[cache_key] = fingerprint("key", self._credential(record))
        identity = self._credentials[cache_key]
        if identity not in self._key_buckets:
            self._key_buckets[identity] = self._bucket(identity, limit)
        return [self._key_buckets[identity]]

    def requests(self, group: LimitedGroup) -> list[Limiter]:
        """The group's shared request bucket (none when it has no store, or can never bind)."""
        limit = request_limit(group.rate_per_minute)
        if self._shared(group.identity, limit) is None:
            return []  # the group's own pace (the engine's) is all there is
        return [self._bucket(group.identity, limit)]

    def tokens(self, group: LimitedGroup) -> list[Metered]:
        """A metered bucket for each token limit of ``group`` (shared when it has a store)."""
        return [Metered(limit, self._bucket(group.identity, limit)) for limit in group.token_limits]

    def _shared(self, identity: str, limit: Limit) -> LimitStore | None:
        """The store ``limit`` is shared through (None: it is this process's alone)."""
        if not identity:
            return None
        if limit.counts is Counts.REQUESTS and never_binds(limit.rate_per_minute):
            return None
        return self._store

    def _bucket(self, identity: str, limit: Limit) -> Limiter:
        store = self._shared(identity, limit)
        if store is None:
            return TokenBucket(limit.rate_per_minute, self._clock)
        bucket: Limiter = store.bucket(identity, limit)
        return bucket
