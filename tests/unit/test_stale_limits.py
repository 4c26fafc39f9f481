"""Shared limit state that cannot go stale (issue 13.3): files and the Ray actor's state.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_stale_limits.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.limits.ray_limits import LimitsState
from runner.limits.shared_limits import FileBucket, Holder


def test_a_slot_reserved_at_a_slower_rate_is_rescaled(tmp_path: Path) -> None:
    now = [1000.0]
    slow = FileBucket(tmp_path / "b", 1, now=lambda: now[0])
    assert slow.reserve() == 0
    assert slow.reserve() == pytest.approx(60)  # the next slot at 1/min: a minute away
    fast = FileBucket(tmp_path / "b", 6000, now=lambda: now[0])
    # Two units owed, at 6,000/min: 0.02 s, not the minute the slow run reserved.
    assert fast.reserve() <= 0.02 + 1e-9
    slow.close()
    fast.close()


def test_a_live_holder_at_the_same_rate_is_still_shared(tmp_path: Path) -> None:
    now = [1000.0]
    a = FileBucket(tmp_path / "b", 60, now=lambda: now[0])
    b = FileBucket(tmp_path / "b", 60, now=lambda: now[0])
    b.holder = Holder(os.getppid(), a.holder.host)  # as if another live process wrote it
    assert [a.reserve(), b.reserve(), a.reserve()] == pytest.approx([0, 1, 2])
    a.close()
    b.close()


def test_ray_state_rescales_and_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runner.limits.ray_limits.time.time", lambda: 100.0)
    state = LimitsState()
    assert state.reserve("k.q", 1, 1, 1, holder="a") == 0
    assert state.reserve("k.q", 1, 1, 1, holder="a") == pytest.approx(60)
    assert state.reserve("k.q", 6000, 100, 1, holder="b") <= 0.02 + 1e-9
    assert state.rescaled() == {"k.q": 1}
    # A job that ends gives back what it reserved ahead, unless another reserved since.
    state.reserve("k.q", 1, 1, 5, holder="c")
    assert not state.release("k.q", "a")
    assert state.release("k.q", "c")
    assert state.reserve("k.q", 1, 1, 1, holder="d") == 0
