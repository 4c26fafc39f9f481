"""Counters of one rate-limit group, for the progress display and the summary."""

from __future__ import annotations

from dataclasses import dataclass

from runner.limits.limiter import default_burst
from runner.limits.shared_limits import never_binds


@dataclass
class GroupStats:
    """What one group did."""

    name: str
    rate_per_minute: float
    total: int
    ok: int = 0
    error: int = 0
    not_sent: int = 0
    requests: int = 0  # attempts sent, retries included
    retries: int = 0
    slowdowns: int = 0  # times the group backed off after a 429
    sending: int = 0  # requests on the wire now
    first_sent: float | None = None  # monotonic seconds
    last_sent: float | None = None
    finished: float | None = None

    @property
    def done(self) -> int:
        return self.ok + self.error

    def achieved_per_minute(self) -> float | None:
        """Requests started per minute, measured between the first and the last start.

        ``n`` requests paced at ``r`` per minute span ``(n - 1) / r`` minutes, so this
        equals the limit when the group kept pace with it. None (shown ``-``) when there
        are too few requests to tell a rate: no more than the burst the limiter allows
        (one second's share of the limit), which may all start at once. Never above the
        limit: the group's pacer holds it, so a higher figure would only be the burst
        measured over too short a span. A group with no limit (``max_queries=1e9``: its
        "burst" would be millions) is measured over a span of a second or more.
        """
        if self.requests < 2 or self.first_sent is None or self.last_sent is None:
            return None
        span = self.last_sent - self.first_sent
        if never_binds(self.rate_per_minute):
            return (self.requests - 1) * 60.0 / span if span >= 1.0 else None
        if self.requests <= default_burst(self.rate_per_minute) or span <= 0:
            return None
        return min((self.requests - 1) * 60.0 / span, self.rate_per_minute)


def shown_limit(rate_per_minute: float | None) -> float | str | None:
    """A request limit as runner shows it: "none" when it never binds (max_queries=1e9)."""
    return (
        "none"
        if isinstance(rate_per_minute, int | float) and never_binds(rate_per_minute)
        else rate_per_minute
    )
