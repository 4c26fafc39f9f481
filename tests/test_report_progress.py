"""Live progress shows trouble while the run goes: errors, retries, slowdowns, a pause."""

from __future__ import annotations

from runner.output.progress import GroupProgress, trouble_text
from runner.output.stats import GroupStats


def test_trouble_text_names_errors_retries_and_a_pause() -> None:
    stats = GroupStats("openai", 60.0, total=10, error=1, retries=3, slowdowns=1)
    assert trouble_text(stats, paused=True) == "1 err · 3 retries · 1 slowdowns · PAUSED"
    assert trouble_text(GroupStats("g", 60.0, total=1), paused=False) == ""


def test_bars_read_the_live_counters_and_pause_at_each_redraw() -> None:
    initial = GroupStats("openai", 60.0, total=10)
    live = GroupStats("openai", 60.0, total=10)
    paused = {"openai": False}
    progress = GroupProgress(
        [initial], enabled=True, paused=lambda name: paused[name], current=lambda _name: live
    )
    assert "retries" not in progress.render_line("openai")
    # The engine counts a retry and its gate pauses: no prompt finished, no update() call.
    live.retries = 2
    paused["openai"] = True
    line = progress.render_line("openai")
    assert "2 retries" in line and "PAUSED" in line
    live.error, live.ok = 1, 4
    progress.update(live)
    paused["openai"] = False
    line = progress.render_line("openai")
    assert "1 err" in line and "5/10" in line and "PAUSED" not in line


async def test_a_group_shows_paused_while_its_gate_waits_out_retry_after() -> None:
    from runner.limits.adaptive import AdaptiveGate
    from runner.limits.clock import FakeClock
    from runner.send import _paused

    clock = FakeClock()
    gate = AdaptiveGate(4, 60.0, clock)
    assert not _paused(gate, clock) and not _paused(None, clock)
    gate.on_rate_limited(retry_after=3.0, spent=True)  # the key's quota is used up
    assert _paused(gate, clock)
    await clock.advance(3.5)
    assert not _paused(gate, clock)
