"""A sweep's spending, shared by its jobs: one small locked file beside the sweep's record.

``max_cost_usd`` caps what one invocation spends; a sweep (``-m``) is one invocation of
many jobs, possibly in parallel processes (joblib, submitit), so they keep one total. The
file ``<sweep dir>/budget.json`` holds what the jobs spent and what each job holds
reserved; a job takes the file's lock, reads, decides, writes, and unlocks (as the
shared limits do: runner.limits.shared_limits). A job that ended without settling (killed)
is recognised by its pid on this host and its reservations dropped. Jobs on machines that
do not share the sweep's folder cannot share it (docs/cost.md).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from pathlib import Path
from typing import Any

from runner.limits.shared_limits import Holder

LEDGER_FILE = "budget.json"


class Ledger:
    """Spent and reserved totals of every job of a sweep, in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.holder = Holder.this_process()
        self._key = f"{self.holder.host.hex()}:{self.holder.pid}"
        self._size = 0  # the file's length at the last read

    def _read(self) -> dict[str, Any]:
        raw = os.pread(self._fd, 1 << 20, 0)
        self._size = len(raw)
        try:
            state = json.loads(raw) if raw.strip() else {}
        except ValueError:
            state = {}
        if not isinstance(state, dict):
            state = {}
        held = state.get("held")
        state["held"] = {
            str(k): v
            for k, v in (held.items() if isinstance(held, dict) else ())
            if _amount(v) is not None
        }
        state["spent_usd"] = _amount(state.get("spent_usd")) or 0.0
        for key in list(state["held"]):
            if key != self._key and _ended(key, self.holder):
                del state["held"][key]  # a job that ended without settling
        return state

    def _change(self, hold: float, spend: float, limit: float | None) -> bool:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            state = self._read()
            held: dict[str, float] = state["held"]
            if limit is not None:
                total = state["spent_usd"] + sum(held.values())
                if total + hold > limit:
                    return False
            mine = max(0.0, held.get(self._key, 0.0) + hold)
            if mine:
                held[self._key] = mine
            else:
                held.pop(self._key, None)
            state["spent_usd"] += spend
            # One write over the old state, padded to its length (JSON allows the trailing
            # blanks): a job killed between a truncate and its write left the file empty,
            # and the sweep's total spent fell back to $0.
            data = json.dumps(state).encode()
            os.pwrite(self._fd, data.ljust(self._size), 0)
            return True
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def hold(self, usd: float, limit: float) -> bool:
        """Reserve ``usd`` if the sweep's spent and reserved leave room under ``limit``."""
        return self._change(usd, 0.0, limit)

    def settle(self, held: float, spent: float) -> None:
        """Release ``held`` of this job's reservations and add ``spent``."""
        self._change(-held, spent, None)

    def spent(self) -> float:
        """What every job of the sweep has spent so far."""
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        try:
            return float(self._read()["spent_usd"])
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def as_dict(self) -> dict[str, Any]:
        """For ``run.json``: where the sweep's total is kept, and the total so far."""
        return {"ledger": str(self.path), "spent_usd": round(self.spent(), 6)}

    def close(self) -> None:
        os.close(self._fd)


def _amount(value: Any) -> float | None:
    """A sum of dollars the file holds (None: not one, as a hand-edited file may have)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _ended(key: str, here: Holder) -> bool:
    """Whether the job of a ``host:pid`` key ended (a key that is neither is no job's)."""
    host, _, pid = key.partition(":")
    try:
        return Holder(int(pid), bytes.fromhex(host)).ended(here)
    except ValueError:
        return True
