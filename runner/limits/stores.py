"""Where shared limits live: no store (this process only), files (one machine), or Ray."""

from __future__ import annotations

from typing import Any, Protocol

from runner.config.schema import RunConfig
from runner.limits.quota import Limit
from runner.limits.shared_limits import SharedLimits


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
    from pathlib import Path

    folder = Path(settings.limits_dir).expanduser() if settings.limits_dir else None
    return SharedLimits(folder)
