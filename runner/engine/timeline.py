"""How a run went over time, per rate-limit group: a bounded per-interval timeline.

The engine tells a :class:`Timeline` when each attempt starts and ends and when a group slows
down or pauses; the timeline counts them in fixed-width buckets (2 s to start with, so a short
run shows its shape too). When a group would pass ``max_buckets`` the width doubles and
neighbouring buckets merge, so the file stays a few hundred rows whatever the run's length or
number of prompts. The report
draws requests per minute against the limit, 429s, 5xx, timeouts and in-flight counts from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import ProviderError
from runner.limits.adaptive import AdaptiveGate
from runner.limits.clock import Clock
from runner.limits.quota import Counts
from runner.output.disk import atomic_write_text
from runner.output.observer import Observer
from runner.output.results import Outcome
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord

TIMELINE_FILE = "timeline.json"

# How a finished attempt is counted; each kind is a counter of its own in a bucket, beside
# sent, error (every kind but ok), tokens, slowdowns, pauses, paused_s and in_flight (max).
ATTEMPT_KINDS = ("ok", "429", "5xx", "timeout", "connection", "4xx", "other")


def attempt_kind(error: ProviderError | None) -> str:
    """The timeline's name for how an attempt ended: ok, 429, 5xx, timeout, connection, ..."""
    if error is None:
        return "ok"
    status = error.status
    if status in (429, 529):
        return "429"
    if status is not None and status >= 500:
        return "5xx"
    if status is not None and status >= 400:
        return "4xx"
    text = error.message.lower()
    if text.startswith("timed out") or "stalled" in text:
        return "timeout"
    if text.startswith("connection") or "disconnect" in text:
        return "connection"
    return "other"


@dataclass
class _Bucket:
    counts: dict[str, float] = field(default_factory=dict)
    max_in_flight: int = 0
    end_in_flight: int = 0  # in flight after the interval's last event (until the next one)

    def add(self, key: str, amount: float = 1.0) -> None:
        self.counts[key] = self.counts.get(key, 0.0) + amount

    def merge(self, other: _Bucket) -> None:
        for key, value in other.counts.items():
            self.add(key, value)
        self.max_in_flight = max(self.max_in_flight, other.max_in_flight)
        self.end_in_flight = other.end_in_flight  # merged in time order: the later one


@dataclass
class _GroupLine:
    rate_per_minute: float | None = None
    tokens_per_minute: float | None = None
    in_flight: int = 0
    slowdowns: int = 0
    paused_until: float = 0.0
    buckets: dict[int, _Bucket] = field(default_factory=dict)
    # The interval events land in now, and its [start, end) in monotonic time: most events
    # fall in the same one as the last (every request asks twice).
    current: _Bucket | None = None
    current_span: tuple[float, float] = (0.0, 0.0)


# Groups with a line of their own; the later ones share one line, OTHER_GROUPS.
MAX_LINES = 50
OTHER_GROUPS = "(other groups)"


class Timeline:
    """Per-group, per-interval counters of a run, bounded in size.

    Args:
        bucket_s: the starting width of an interval, in seconds.
        max_buckets: the most intervals a group keeps; past it the width doubles.
    """

    def __init__(self, bucket_s: float = 2.0, max_buckets: int = 500) -> None:
        self.bucket_s = bucket_s
        self.max_buckets = max_buckets
        self.start: float | None = None  # monotonic time of the first event
        self._groups: dict[str, _GroupLine] = {}

    # --- what the engine calls -------------------------------------------------------------

    def limits(
        self, group: str, rate_per_minute: float, tokens_per_minute: float | None = None
    ) -> None:
        """Record a group's configured limits (drawn as lines against the achieved rates)."""
        line = self._line(group)
        if line is self._groups.get(OTHER_GROUPS):  # the sum of the limits it stands for
            line.rate_per_minute = (line.rate_per_minute or 0.0) + rate_per_minute
            if tokens_per_minute is not None:
                line.tokens_per_minute = (line.tokens_per_minute or 0.0) + tokens_per_minute
            return
        line.rate_per_minute = rate_per_minute
        line.tokens_per_minute = tokens_per_minute

    def sent(self, group: str, now: float) -> None:
        """An attempt of ``group`` went on the wire."""
        line = self._line(group)
        line.in_flight += 1
        bucket = self._bucket(line, now)
        bucket.add("sent")
        bucket.max_in_flight = max(bucket.max_in_flight, line.in_flight)
        bucket.end_in_flight = line.in_flight

    def finished(self, group: str, now: float, kind: str, tokens: float | None = None) -> None:
        """An attempt of ``group`` ended (``kind`` from :func:`attempt_kind`)."""
        line = self._line(group)
        bucket = self._bucket(line, now)  # first: it opens with this request still on the wire
        line.in_flight = max(0, line.in_flight - 1)
        bucket.add(kind)
        if kind != "ok":
            bucket.add("error")
        if tokens:
            bucket.add("tokens", tokens)
        bucket.end_in_flight = line.in_flight

    def gate(self, group: str, now: float, slowdowns: int, paused_until: float) -> None:
        """After a 429: marks a new slowdown and a new or longer pause of ``group``."""
        line = self._line(group)
        bucket = self._bucket(line, now)
        if slowdowns > line.slowdowns:
            bucket.add("slowdowns", slowdowns - line.slowdowns)
            line.slowdowns = slowdowns
        if paused_until > max(line.paused_until, now):
            if line.paused_until <= now:
                bucket.add("pauses")
            bucket.add("paused_s", paused_until - max(line.paused_until, now))
            line.paused_until = paused_until

    # --- reading it back -------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """The timeline as JSON-ready data: per group, one row per non-empty interval."""
        groups: dict[str, Any] = {}
        for name, line in self._groups.items():
            rows = []
            for index in sorted(line.buckets):
                bucket = line.buckets[index]
                row: dict[str, Any] = {"t": round(index * self.bucket_s, 3)}
                row.update({k: round(v, 3) for k, v in bucket.counts.items()})
                row["in_flight"] = bucket.max_in_flight
                row["in_flight_end"] = bucket.end_in_flight
                rows.append(row)
            groups[name] = {
                "rate_per_minute": line.rate_per_minute,
                "tokens_per_minute": line.tokens_per_minute,
                "buckets": rows,
            }
        return {"bucket_s": self.bucket_s, "groups": groups}

    def write(self, folder: Path) -> Path:
        """Write ``timeline.json`` into ``folder`` atomically; returns its path."""
        path = folder / TIMELINE_FILE
        # Its temporary file goes too when the disk refuses it (never a stray .tmp).
        atomic_write_text(path, json.dumps(self.as_dict(), separators=(",", ":")), "the timeline")
        return path

    # --- inside ----------------------------------------------------------------------------

    def _line(self, group: str) -> _GroupLine:
        line = self._groups.get(group)
        if line is None:
            if len(self._groups) >= MAX_LINES:  # 40,000 groups drawn one by one: 200 MB
                group = OTHER_GROUPS
                line = self._groups.get(group)
            if line is None:
                line = self._groups[group] = _GroupLine()
        return line

    def _bucket(self, line: _GroupLine, now: float) -> _Bucket:
        current = line.current
        if current is not None:
            begin, end = line.current_span
            if begin <= now < end:
                return current
        bucket, index = self._find_bucket(line, now)
        assert self.start is not None
        begin = self.start + index * self.bucket_s
        line.current, line.current_span = bucket, (begin, begin + self.bucket_s)
        return bucket

    def _find_bucket(self, line: _GroupLine, now: float) -> tuple[_Bucket, int]:
        if self.start is None:
            self.start = now
        index = int(max(0.0, now - self.start) // self.bucket_s)
        while index >= self.max_buckets:
            self._coarsen()
            index //= 2
        bucket = line.buckets.get(index)
        if bucket is None:
            # Requests still on the wire from before count in this interval too.
            bucket = line.buckets[index] = _Bucket(
                max_in_flight=line.in_flight, end_in_flight=line.in_flight
            )
        return bucket, index

    def _coarsen(self) -> None:
        """Double the interval width: buckets 2k and 2k+1 become bucket k, in every group."""
        self.bucket_s *= 2
        for line in self._groups.values():
            line.current = None  # its interval is merged into a wider one
            merged: dict[int, _Bucket] = {}
            for index, bucket in sorted(line.buckets.items()):
                target = merged.get(index // 2)
                if target is None:
                    merged[index // 2] = bucket
                else:
                    target.merge(bucket)
            line.buckets = merged


__all__ = ["ATTEMPT_KINDS", "TIMELINE_FILE", "Timeline", "attempt_kind"]


class TimelineObserver(Observer):
    """Feeds a :class:`Timeline` from the engine's observer hooks."""

    def __init__(self, timeline: Timeline, clock: Clock) -> None:
        self.timeline = timeline
        self._clock = clock

    def on_start(self, group: Group) -> None:
        totals = [
            lim.rate_per_minute for lim in group.token_limits if lim.counts is Counts.TOTAL_TOKENS
        ]
        self.timeline.limits(group.name, group.rate_per_minute, totals[0] if totals else None)

    def on_send(self, record: PromptRecord, group: str) -> None:
        self.timeline.sent(group, self._clock.monotonic())

    def on_attempt(self, outcome: Outcome) -> None:
        completion = outcome.completion
        used = None
        if completion is not None and (
            completion.input_tokens is not None or completion.output_tokens is not None
        ):
            used = float((completion.input_tokens or 0) + (completion.output_tokens or 0))
        now = self._clock.monotonic()
        self.timeline.finished(outcome.group, now, attempt_kind(outcome.error), used)

    def on_slowdown(self, group: str, gate: AdaptiveGate) -> None:
        self.timeline.gate(group, self._clock.monotonic(), gate.slowdowns, gate.paused_until)
