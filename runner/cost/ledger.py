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

    def _read(self) -> dict[str, Any]:
        raw = os.pread(self._fd, 1 << 20, 0)
        try:
            state = json.loads(raw) if raw else {}
        except ValueError:
            state = {}
        if not isinstance(state, dict):
            state = {}
        held = state.get("held")
        state["held"] = dict(held) if isinstance(held, dict) else {}
        state["spent_usd"] = float(state.get("spent_usd") or 0.0)
        for key in list(state["held"]):
            host, _, pid = key.partition(":")
            if key != self._key and Holder(int(pid or 0), bytes.fromhex(host)).ended(self.holder):
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
            data = json.dumps(state).encode()
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
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
