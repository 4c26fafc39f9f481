"""Buckets shared by every process on this machine that uses the same API key.

Two runs at once (or the jobs of a parallel sweep) that send with one key must share its
limits instead of each taking the full rate. Each shared bucket is a small file holding the
GCRA state; a process takes the file's lock, reads, reserves its slot, writes, and unlocks.
Time is the wall clock (``time.time``), the one clock every process agrees on.

The file name is a hash of what identifies the limit (the group and the credentials it
sends with), so no key is ever written to disk.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

from runner.engine.limiter import Gcra, default_burst

_STATE = struct.Struct("<d")


def default_limits_dir() -> Path:
    """The machine-wide folder for shared limit state."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runner" / "limits"


def fingerprint(*parts: str) -> str:
    """A short, one-way name for a limit's identity (credentials never reach disk)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


class FileBucket:
    """A token bucket whose state lives in ``path``, shared between processes.

    Args:
        path: the state file (made if missing).
        rate_per_minute: this process's view of the limit.
        burst: the most units back to back; one second's share by default.
        now: the shared clock (wall time in seconds).
        sleep: how to wait.
    """

    def __init__(
        self,
        path: Path,
        rate_per_minute: float,
        burst: float | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.path = path
        self._gcra = Gcra(
            rate_per_minute, burst if burst is not None else default_burst(rate_per_minute)
        )
        self._now = now
        self._sleep = sleep
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def _update(self, cost: float, adjust_only: bool = False) -> float:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(self._fd, _STATE.size, 0)
            now = self._now()
            tat = _STATE.unpack(raw)[0] if len(raw) == _STATE.size else self._gcra.initial_tat(now)
            if adjust_only:
                wait, tat = 0.0, self._gcra.adjust(tat, now, cost)
            else:
                wait, tat = self._gcra.reserve(tat, now, cost)
            os.pwrite(self._fd, _STATE.pack(tat), 0)
            return wait
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def reserve(self, cost: float = 1.0) -> float:
        """Take the next shared slot; returns seconds to wait."""
        return self._update(cost)

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait for this caller's shared slot."""
        wait = self._update(cost)
        if wait > 0:
            if self._sleep is not None:
                await self._sleep(wait)  # type: ignore[misc]
            else:
                await asyncio.sleep(wait)

    async def adjust(self, delta: float) -> None:
        self._update(delta, adjust_only=True)

    def close(self) -> None:
        os.close(self._fd)


class SharedLimits:
    """Makes the shared bucket of a named limit, one object per name in this process."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_limits_dir()
        self._buckets: dict[str, FileBucket] = {}

    def bucket(self, identity: str, rate_per_minute: float, kind: str = "q") -> FileBucket:
        """The shared bucket for ``identity`` (already a fingerprint; never a raw key)."""
        name = f"{identity}.{kind}"
        if name not in self._buckets:
            self._buckets[name] = FileBucket(self.folder / name, rate_per_minute)
        return self._buckets[name]

    def close(self) -> None:
        for bucket in self._buckets.values():
            bucket.close()
        self._buckets.clear()
