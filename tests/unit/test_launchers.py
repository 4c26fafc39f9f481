"""Ray's shared limits state, in-process (the launcher sweeps are integration tests).

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_launchers.py.
"""

from __future__ import annotations

import pytest

from runner.limits.ray_limits import LimitsState


def test_limits_state_spaces_reservations_of_all_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("runner.limits.ray_limits.time.time", lambda: now[0])
    state = LimitsState()
    # 60/min, burst 1: one a second, whoever asks.
    waits = [state.reserve("k.q", 60.0, 1.0, 1.0) for _ in range(4)]
    assert waits == [0.0, 1.0, 2.0, 3.0]
    assert state.reservations() == {"k.q": 4}
    # Another name is another limit.
    assert state.reserve("other.q", 60.0, 1.0, 1.0) == 0.0
    # A refund gives slots back; time passing frees them too.
    state.adjust("k.q", 60.0, 1.0, -2.0)
    assert state.reserve("k.q", 60.0, 1.0, 1.0) == 2.0
    now[0] += 10.0
    assert state.reserve("k.q", 60.0, 1.0, 1.0) == 0.0


def test_limits_state_takes_the_latest_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runner.limits.ray_limits.time.time", lambda: 50.0)
    state = LimitsState()
    assert state.reserve("k.q", 60.0, 1.0, 1.0) == 0.0
    # Now 30/min: the next slot comes two seconds after the last one's.
    assert state.reserve("k.q", 30.0, 1.0, 1.0) == 1.0
    assert state.reserve("k.q", 30.0, 1.0, 1.0) == 3.0
