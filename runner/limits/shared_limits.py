"""Buckets shared by every process on this machine that uses the same API key.

Two runs at once (or the jobs of a parallel sweep) that send with one key must share its
limits instead of each taking the full rate. Each shared bucket is a small file holding the
GCRA state; a process takes the file's lock, reads, reserves its slot, writes, and unlocks.
Time is the wall clock (``time.time``), the one clock every process agrees on.

The file name is a hash of what identifies the limit (the group and the credentials it
sends with), so no key is ever written to disk.

The state cannot go stale: beside the schedule it records the rate it was reserved at and
which process (pid, and a hash of the host name) wrote it last. A process that finds it
reserved at another rate rescales it (the units still owed, at its own pace); one that
finds it written by a process of this host that has ended starts afresh. Both are logged
(the second at DEBUG: it follows every earlier run that ended before its schedule did).
Two live runs at the same rate share the schedule as before.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import os
import shutil
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from runner.errors import ConfigError, DiskFullError
from runner.limits.limiter import Gcra, default_burst
from runner.limits.quota import Limit
from runner.paths import runner_cache_home
from runner.processes import process_alive

# tat, the rate it was reserved at, the pid and host (hashed) of the process that wrote it.
_STATE = struct.Struct("<ddq8s")
_OLD_STATE = struct.Struct("<d")  # before the rate and holder were recorded


@dataclass(frozen=True)
class Holder:
    """The process that last reserved from a shared limit."""

    pid: int
    host: bytes

    @staticmethod
    def this_process() -> Holder:
        return Holder(os.getpid(), hashlib.sha256(socket.gethostname().encode()).digest()[:8])

    def ended(self, here: Holder) -> bool:
        """Whether this holder is a process of ``here``'s host that no longer runs."""
        if self.host != here.host or self.pid == here.pid or self.pid <= 0:
            return False  # another machine's process cannot be checked: assume it runs
        return not process_alive(self.pid)


# A request limit at this rate or above cannot bind through a shared store: its bucket lets
# a second's share (a million requests) go back to back, and no store takes a million
# reservations a second (a file's lock is four system calls a take; a Ray actor, a round
# trip), so no process ever waits for it. Such a limit stays in-process: sharing it would
# cost a locked read and write of the file per request (about a tenth of runner's own time
# per prompt at max_queries=1e9, the usual way to say "no limit").
NEVER_BINDS_PER_MINUTE = 60.0 * 1_000_000


def never_binds(rate_per_minute: float) -> bool:
    """Whether a request limit is too high for any run sharing it to ever wait for it."""
    return rate_per_minute >= NEVER_BINDS_PER_MINUTE


def default_limits_dir() -> Path:
    """The machine-wide folder for shared limit state."""
    return runner_cache_home() / "limits"


def usable_folder(folder: Path) -> Path:
    """``folder``, made if missing, once shared limits can be kept in it.

    A read-only home or ``XDG_CACHE_HOME`` under a file once stopped a run with "please
    report it" as its first prompt was paced; a run checks this before it starts.

    Raises:
        ConfigError: the folder cannot be made or written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "permission denied")
    except OSError as exc:
        raise ConfigError(_cannot_keep(folder, exc)) from None
    return folder


def _cannot_keep(folder: Path, exc: OSError) -> str:
    return (
        f"limits_dir: cannot keep the shared limits in {folder} ({exc.strerror or exc}); "
        "set limits_dir=<a writable folder>, or shared_limits=none to pace each run alone"
    )


def _cannot_write(path: Path, exc: OSError) -> str:
    try:
        free = f"{shutil.disk_usage(path.parent).free:,} bytes free there"
    except OSError:
        free = "free space unknown"
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    reason = "the disk is full" if full else (exc.strerror or str(exc))
    return (
        f"could not write the shared limit state {path}: {reason} ({free}). "
        "What was written before is intact; free some space, or set limits_dir=<a folder "
        "with room> (or shared_limits=none), and resume the run"
    )


def fingerprint(*parts: str) -> str:
    """A short, one-way name for a limit's identity (credentials never reach disk)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


# Bucket files kept open at once by one SharedLimits: 100,000 groups each holding its
# bucket's descriptor ran out of them ("Too many open files"). Others are reopened as used.
MAX_OPEN_FILES = 64


class _Descriptors:
    """Open descriptors of bucket files, the least recently used closed beyond ``cap``."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: OrderedDict[Path, int] = OrderedDict()

    def fd(self, path: Path) -> int:
        found = self._open.get(path)
        if found is not None:
            self._open.move_to_end(path)
            return found
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._open[path] = fd
        while len(self._open) > self.cap:  # never locked now: each take unlocks before returning
            os.close(self._open.popitem(last=False)[1])
        return fd

    def forget(self, path: Path) -> None:
        fd = self._open.pop(path, None)
        if fd is not None:
            os.close(fd)


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
        files: _Descriptors | None = None,
    ) -> None:
        self.path = path
        self._gcra = Gcra(
            rate_per_minute, burst if burst is not None else default_burst(rate_per_minute)
        )
        self._now = now
        self._sleep = sleep
        self.holder = Holder.this_process()
        self._warned = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._files = files or _Descriptors(1)
        self._files.fd(path)  # made now: a folder that cannot hold it fails at the start

    def _note(self, message: str, *args: object, level: str = "INFO") -> None:
        """Say once per bucket why the shared state was rescaled or reset."""
        if not self._warned:
            self._warned = True
            logger.log(level, "Shared limit {}: " + message, self.path.name, *args)

    def _current_tat(self, raw: bytes, now: float) -> float:
        """The schedule in the file, made fit for this process's rate (see the docstring)."""
        gcra = self._gcra
        if len(raw) == _OLD_STATE.size:
            self._note("state of an older runner (no rate recorded): starting afresh")
            return gcra.initial_tat(now)
        if len(raw) != _STATE.size:
            return gcra.initial_tat(now)
        tat, rate, pid, host = _STATE.unpack(raw)
        if Holder(pid, host).ended(self.holder) and tat > gcra.initial_tat(now):
            # After every earlier run that did not wait out its schedule: routine, not news.
            self._note("reserved by process {} that has ended: starting afresh", pid, level="DEBUG")
            return gcra.initial_tat(now)
        if rate != gcra.rate_per_minute:
            if tat > now:
                self._note(
                    "reserved at {:g}/min, this run's limit is {:g}/min: rescaled",
                    rate,
                    gcra.rate_per_minute,
                )
            return gcra.rescale(tat, now, rate)
        return float(tat)

    def _update(self, cost: float, adjust_only: bool = False) -> float:
        fd = self._files.fd(self.path)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(fd, _STATE.size, 0)
            now = self._now()
            tat = self._current_tat(raw, now)
            if adjust_only:
                wait, tat = 0.0, self._gcra.adjust(tat, now, cost)
            else:
                wait, tat = self._gcra.reserve(tat, now, cost)
            state = _STATE.pack(tat, self._gcra.rate_per_minute, self.holder.pid, self.holder.host)
            try:
                os.pwrite(fd, state, 0)
            except OSError as exc:  # a full disk: one line naming the file, not a traceback
                raise DiskFullError(_cannot_write(self.path, exc)) from None
            return wait
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

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
        self._files.forget(self.path)


class SharedLimits:
    """Makes the shared bucket of a named limit, one object per name in this process."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = usable_folder(folder or default_limits_dir())
        self._buckets: dict[str, FileBucket] = {}
        self._files = _Descriptors(MAX_OPEN_FILES)

    def bucket(self, identity: str, limit: Limit) -> FileBucket:
        """The shared bucket of ``limit`` for ``identity`` (a fingerprint; never a raw key)."""
        name = f"{identity}.{limit.store_kind}"
        if name not in self._buckets:
            try:
                bucket = FileBucket(self.folder / name, limit.rate_per_minute, files=self._files)
            except OSError as exc:  # the disk filled, the folder went, since the run's check
                raise ConfigError(_cannot_keep(self.folder, exc)) from None
            self._buckets[name] = bucket
        return self._buckets[name]

    def close(self) -> None:
        for bucket in self._buckets.values():
            bucket.close()
        self._buckets.clear()
