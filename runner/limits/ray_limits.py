"""Buckets shared by every job on a Ray cluster that uses the same API key.

Jobs of a sweep on several machines cannot share files, so the GCRA state of each limit
lives in one named, detached Ray actor (``runner-limits`` in namespace ``runner``). A bucket
asks the actor for a reservation and sleeps the wait it is given locally; the actor only does
arithmetic, so it answers in microseconds and never blocks on a caller.

All times are the actor's wall clock: callers on different machines need not agree on the
time, since they only receive durations. What they cannot avoid is the reply's travel time,
which delays a send (never advances it) by the network's latency; its jitter can bring two
sends closer than the interval by that jitter, well inside any provider's tolerance.

The state cannot go stale: a limit reserved at another rate than the caller's is rescaled
(the units still owed, at the new pace), and a job that ends (or is interrupted) releases
what it reserved ahead, unless another job has reserved since. Both are logged by the job.

``ray`` is an optional extra (``pip install 'runner[ray]'``) and is imported only here.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

from loguru import logger

from runner.limits.limiter import Gcra, default_burst
from runner.limits.quota import Limit

ACTOR_NAME = "runner-limits"
NAMESPACE = "runner"


class LimitsState:
    """The state of every shared limit: one ``tat`` per name (the body of the Ray actor)."""

    def __init__(self) -> None:
        self._gcra: dict[str, Gcra] = {}
        self._tat: dict[str, float] = {}
        self._reservations: dict[str, int] = {}
        self._holder: dict[str, str] = {}  # who reserved last, per limit
        self._rescaled: dict[str, int] = {}

    def _limit(self, name: str, rate_per_minute: float, burst: float) -> Gcra:
        gcra = self._gcra.get(name)
        # The latest caller's view of the limit wins: jobs of one sweep agree, and a changed
        # limit (a new run with another max_queries) takes effect at once, its schedule
        # rescaled so a slot reserved at a slow pace does not hold back a faster one.
        if gcra is None or gcra.rate_per_minute != rate_per_minute or gcra.burst != burst:
            new = self._gcra[name] = Gcra(rate_per_minute, burst)
            tat = self._tat.get(name)
            if gcra is not None and tat is not None:
                self._tat[name] = new.rescale(tat, time.time(), gcra.rate_per_minute)
                self._rescaled[name] = self._rescaled.get(name, 0) + 1
            gcra = new
        return gcra

    def reserve(
        self, name: str, rate_per_minute: float, burst: float, cost: float, holder: str = ""
    ) -> float:
        """Take ``cost`` units of ``name``; returns the seconds the caller must wait."""
        gcra = self._limit(name, rate_per_minute, burst)
        self._holder[name] = holder
        now = time.time()
        tat = self._tat.get(name)
        wait, self._tat[name] = gcra.reserve(
            gcra.initial_tat(now) if tat is None else tat, now, cost
        )
        self._reservations[name] = self._reservations.get(name, 0) + 1
        return wait

    def adjust(self, name: str, rate_per_minute: float, burst: float, delta: float) -> None:
        """Charge (or refund, if negative) ``delta`` units of ``name`` already used."""
        gcra = self._limit(name, rate_per_minute, burst)
        now = time.time()
        tat = self._tat.get(name)
        self._tat[name] = gcra.adjust(gcra.initial_tat(now) if tat is None else tat, now, delta)

    def release(self, name: str, holder: str) -> bool:
        """Give back what ``holder`` reserved ahead, if nobody reserved since; True if done."""
        gcra, tat = self._gcra.get(name), self._tat.get(name)
        if gcra is None or tat is None or self._holder.get(name) != holder:
            return False
        self._tat[name] = min(tat, gcra.initial_tat(time.time()))
        return True

    def reservations(self) -> dict[str, int]:
        """How many reservations each limit has served (for tests and diagnostics)."""
        return dict(self._reservations)

    def rate_of(self, name: str) -> float | None:
        """The rate ``name`` was last reserved at (None: never)."""
        gcra = self._gcra.get(name)
        return None if gcra is None else gcra.rate_per_minute

    def rescaled(self) -> dict[str, int]:
        """How many times each limit's schedule was rescaled to a new rate."""
        return dict(self._rescaled)


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError("shared_limits=ray needs Ray: pip install 'runner[ray]'") from exc
    return ray


def limits_actor(ray: Any) -> Any:
    """The cluster's limits actor, made by whichever job asks first."""
    actor_class = ray.remote(LimitsState)
    return actor_class.options(
        name=ACTOR_NAME,
        namespace=NAMESPACE,
        get_if_exists=True,
        # Outlives the job that made it, so later jobs (and later sweeps) keep the schedule.
        lifetime="detached",
        # It does arithmetic only: needing a CPU could leave it unscheduled on a cluster whose
        # CPUs are all taken by the jobs waiting for it.
        num_cpus=0,
        # One call at a time, so every reservation sees the previous one's result.
        max_concurrency=1,
        # A lost actor comes back empty, which only makes its first reservations cautious.
        max_restarts=-1,
        max_task_retries=-1,
    ).remote()


class RayBucket:
    """A token bucket whose state lives in the limits actor; see the module docstring.

    Args:
        actor: the limits actor's handle.
        name: the limit's name in the actor (a fingerprint, never a raw key).
        rate_per_minute: this job's view of the limit.
        burst: the most units back to back; one second's share by default.
    """

    def __init__(
        self, actor: Any, name: str, rate_per_minute: float, burst: float | None = None
    ) -> None:
        self._actor = actor
        self.name = name
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._checked = False
        # Checked here, so a bad limit fails in the job rather than inside the actor.
        gcra = Gcra(rate_per_minute, burst if burst is not None else default_burst(rate_per_minute))
        self.rate_per_minute = gcra.rate_per_minute
        self.burst = gcra.burst

    async def reserve(self, cost: float = 1.0) -> float:
        """Take the next shared slot; returns seconds to wait."""
        if not self._checked:
            self._checked = True
            previous = await self._actor.rate_of.remote(self.name)
            if previous is not None and previous != self.rate_per_minute:
                logger.info(
                    "Shared limit {}: reserved at {:g}/min, this job's limit is {:g}/min: rescaled",
                    self.name,
                    previous,
                    self.rate_per_minute,
                )
        wait: float = await self._actor.reserve.remote(
            self.name, self.rate_per_minute, self.burst, cost, self.holder
        )
        return wait

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait for this caller's shared slot."""
        wait = await self.reserve(cost)
        if wait > 0:
            await asyncio.sleep(wait)

    async def adjust(self, delta: float) -> None:
        """Correct an earlier charge by ``delta`` units (negative refunds)."""
        await self._actor.adjust.remote(self.name, self.rate_per_minute, self.burst, delta)


class RayLimits:
    """Makes the Ray-shared bucket of a named limit, one object per name in this process.

    Args:
        address: the Ray cluster to use when this process is not connected to one yet
            (``ray.init(address=...)``: ``HOST:PORT``, ``ray://HOST:10001`` or ``auto``).
            None: the cluster this process runs in (a job that is a Ray task is connected
            already), else ``RAY_ADDRESS`` or the cluster that ``ray start`` made on this
            machine.

    Raises:
        ConnectionError: there is no cluster to connect to. A Ray instance of its own would
            share the limits with nobody, so none is started.
    """

    def __init__(self, address: str | None = None) -> None:
        ray = _ray()
        self._ray = ray
        # Only a connection made here is ours to close; a Ray task's belongs to its worker.
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            try:
                ray.init(address=address or "auto", log_to_driver=False)
            except ConnectionError as exc:
                raise ConnectionError(
                    "shared_limits=ray found no Ray cluster"
                    + (f" at {address}" if address else "")
                    + ": start one (`ray start --head`), pass ray_address=HOST:PORT, or use "
                    "shared_limits=file for jobs on one machine"
                ) from exc
        self._actor = limits_actor(ray)
        self._buckets: dict[str, RayBucket] = {}

    def bucket(self, identity: str, limit: Limit) -> RayBucket:
        """The shared bucket of ``limit`` for ``identity`` (a fingerprint; never a raw key)."""
        name = f"{identity}.{limit.store_kind}"
        if name not in self._buckets:
            self._buckets[name] = RayBucket(self._actor, name, limit.rate_per_minute)
        return self._buckets[name]

    def reservations(self) -> dict[str, int]:
        """How many reservations the actor has served per limit, over all jobs."""
        counts: dict[str, int] = self._ray.get(self._actor.reservations.remote())
        return counts

    def close(self) -> None:
        """Release what this job reserved ahead, forget the buckets; disconnect if ours."""
        for bucket in self._buckets.values():
            try:
                if self._ray.get(self._actor.release.remote(bucket.name, bucket.holder)):
                    logger.debug("Shared limit {}: released this job's reservations", bucket.name)
            except Exception as exc:  # the cluster went away: nothing left to release
                logger.debug("Shared limit {}: could not release: {}", bucket.name, exc)
        self._buckets.clear()
        # The actor stays: it is detached and other jobs may be using it.
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_connection = False
