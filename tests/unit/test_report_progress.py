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


def test_many_groups_share_one_bar() -> None:
    """Issue 23 item 11: 10,000 groups are one bar of their sums, not 10,000 rows redrawn."""
    groups = [GroupStats(f"g{i}", 10.0, total=1) for i in range(10_000)]
    progress = GroupProgress(groups, enabled=True)
    name = "all 10,000 groups"
    assert "0/10000" in progress.render_line(name)
    for i in range(3):
        progress.update(GroupStats(f"g{i}", 10.0, total=1, ok=1))
    progress.update(GroupStats("g3", 10.0, total=1, error=1, retries=2))
    progress.update(GroupStats("g3", 10.0, total=1, error=1, retries=2))  # told twice
    line = progress.render_line(name)
    assert "4/10000" in line and "1 err" in line and "2 retries" in line


def test_many_groups_keep_a_bounded_timeline_and_summary() -> None:
    """40,000 groups wrote a 200 MB report (a chart per group) and 40,000 summary lines."""
    from runner.engine.timeline import MAX_LINES, OTHER_GROUPS, Timeline
    from runner.output.summary import MAX_GROUP_ROWS, Summary

    timeline = Timeline()
    for i in range(1000):
        timeline.limits(f"g{i}", 10.0)
        timeline.sent(f"g{i}", 1.0)
        timeline.finished(f"g{i}", 1.5, "ok")
    groups = timeline.as_dict()["groups"]
    assert len(groups) == MAX_LINES + 1
    other = groups[OTHER_GROUPS]
    assert other["rate_per_minute"] == 10.0 * (1000 - MAX_LINES)
    assert other["buckets"][0]["ok"] == 1000 - MAX_LINES
    stats = {f"g{i}": GroupStats(f"g{i}", 10.0, total=1, ok=1) for i in range(1000)}
    text = Summary("r", "e", 1000, 1000, 0, 0, 1.0, stats).format()
    assert len(text.splitlines()) < MAX_GROUP_ROWS + 10
    assert f"and {1000 - MAX_GROUP_ROWS:,} more groups" in text
