"""Backoff between attempts: exponential with full jitter, never shorter than Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """How long to wait before attempt ``n + 1`` after ``n`` failed attempts.

    Args:
        base_s: the ceiling of the first wait.
        max_s: the ceiling of any wait (Retry-After may ask for longer and is honoured).
        rng: the source of jitter; inject a seeded one for repeatable tests.
    """

    base_s: float = 1.0
    max_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, failed_attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failed_attempts`` failures (1 after the first)."""
        ceiling = min(self.max_s, self.base_s * 2.0 ** max(0, failed_attempts - 1))
        # Full jitter spreads retries of many prompts that failed together.
        jittered = self.rng.uniform(0.0, ceiling)
        if retry_after is not None and retry_after > 0:
            # The server said when: wait that long, plus a little jitter so a crowd
            # of retries does not land at the same instant.
            return retry_after + self.rng.uniform(0.0, min(1.0, 0.1 * retry_after + 0.05))
        return jittered
