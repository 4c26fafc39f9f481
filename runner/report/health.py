"""The report's run-health chart: request and token rates against their limits, over time."""

from __future__ import annotations

from typing import Any

from runner.limits.shared_limits import never_binds
from runner.report.table import Table
from runner.report.vega import WIDTH, Spec, field, inline, tooltip, top

# Kinds of failed attempts drawn per interval, in this order.
TROUBLE = ("429", "5xx", "timeout", "connection", "4xx", "other")
_COLUMNS = ("sent", "ok", "tokens", "in_flight", "slowdowns", "pauses", *TROUBLE)

# Rates are drawn per bin of at least a minute: a pacer at N/min may send one request every
# 60/N s, so a 2 s interval holding one request would read as 30/min against a 10/min limit.
MIN_BIN_S = 60.0
LIMIT_COLOR = "#555"
MARK_COLOR = "#8e44ad"
SERIES = {"started": "#4c78a8", "answered ok": "#54a24b"}


def bin_width(bucket_s: float) -> float:
    """The chart's bin: a whole number of the timeline's intervals, at least a minute."""
    return bucket_s * max(1, -(-MIN_BIN_S // bucket_s))


def limit_per_bin(rate_per_minute: float, width_s: float) -> float:
    """The most a pacer at ``rate_per_minute`` lets start in one bin, as a per-minute rate.

    A token bucket holds a burst of one second's share (at least one request) on top of the
    steady rate, so one bin may hold ``burst + rate * width / 60`` starts.
    """
    burst = max(1.0, rate_per_minute / 60.0)
    return (burst + rate_per_minute * width_s / 60.0) * 60.0 / width_s


def timeline_frame(timeline: dict[str, Any], group: str) -> Table:
    """One row per bin of ``group``: per-minute rates, in flight, failures by kind."""
    rows = timeline["groups"][group]["buckets"]
    bucket_s = float(timeline["bucket_s"])
    width = bin_width(bucket_s)
    per_bin = round(width / bucket_s)
    by_t = {round(float(row["t"]) / bucket_s): row for row in rows}
    # The file keeps non-empty intervals only; an interval without requests is a zero, not a
    # line drawn across the gap.
    steps = max(by_t, default=0) + 1
    out: list[dict[str, Any]] = []
    on_wire = 0.0  # a quiet interval still has the requests on the wire at its start
    for first in range(0, steps, per_bin):
        values = dict.fromkeys(_COLUMNS, 0.0)
        for i in range(first, min(first + per_bin, steps)):
            row = by_t.get(i)
            if row is None:
                values["in_flight"] = max(values["in_flight"], on_wire)
                continue
            for c in _COLUMNS:
                if c != "in_flight":
                    values[c] += float(row.get(c) or 0.0)
            values["in_flight"] = max(values["in_flight"], float(row.get("in_flight") or 0.0))
            if row.get("in_flight_end") is not None:
                on_wire = float(row["in_flight_end"])
        t = round(first * bucket_s, 3)
        values["t"], values["minute"] = t, t / 60.0
        for name in ("sent", "ok", "tokens"):
            values[f"{name}_per_min"] = values[name] * 60.0 / width
        out.append(values)
    return Table.from_records(out)


def _limit_rule(value: float, label: str) -> Spec:
    return {
        "data": inline([{"limit": value, "what": label}]),
        "mark": {"type": "rule", "color": LIMIT_COLOR, "strokeDash": [6, 3]},
        "encoding": {"y": field("limit", "quantitative"), "tooltip": tooltip("what:N")},
    }


def _rate_layers(
    info: dict[str, Any], frame: list[dict[str, Any]], x: Spec, width: float
) -> list[Spec]:
    names = {"sent_per_min": "started", "ok_per_min": "answered ok"}
    rates = [
        {"minute": r["minute"], "series": label, "per_minute": r[series]}
        for series, label in names.items()
        for r in frame
    ]
    layers: list[Spec] = [
        {
            "data": inline(rates),
            "mark": {"type": "line", "point": True, "interpolate": "step-after"},
            "encoding": {
                "x": x,
                "y": field("per_minute", "quantitative", title="requests per minute"),
                "color": field(
                    "series",
                    "nominal",
                    title=None,
                    scale={"domain": list(SERIES), "range": list(SERIES.values())},
                ),
                "tooltip": tooltip("minute:Q", "series:N", "per_minute:Q"),
            },
        }
    ]
    limit = float(info.get("rate_per_minute") or 0.0)
    # No line for a limit that never binds (max_queries=1e9): it would flatten the rates.
    if limit and not never_binds(limit):
        layers.append(
            _limit_rule(
                limit_per_bin(limit, width),
                f"limit {limit:g}/min plus its burst, over a {width:g} s bin",
            )
        )
    marks = [r for r in frame if r["slowdowns"] > 0 or r["pauses"] > 0]
    if marks:
        layers.append(
            {
                "data": inline(marks),
                "mark": {"type": "rule", "color": MARK_COLOR},
                "encoding": {"x": x, "tooltip": tooltip("slowdowns:Q", "pauses:Q")},
            }
        )
    return layers


def _tokens_panel(info: dict[str, Any], x: Spec) -> Spec:
    """Tokens per minute per bin, with the token limit when there is one."""
    tokens: list[Spec] = [
        {
            "data": {"name": "frame"},
            "mark": {"type": "area", "opacity": 0.6, "interpolate": "step-after"},
            "encoding": {
                "x": x,
                "y": field("tokens_per_min", "quantitative", title="tokens per minute"),
            },
        }
    ]
    if info.get("tokens_per_minute"):
        limit = float(info["tokens_per_minute"])
        tokens.append(_limit_rule(limit, f"token limit {limit:g}/min"))
    return {
        "layer": tokens,
        "width": WIDTH,
        "height": 130,
        "title": "tokens per minute (dashed grey: the token limit)",
    }


def _trouble_panel(trouble: list[dict[str, Any]], x: Spec) -> Spec:
    """Failed attempts per bin, by kind."""
    return {
        "data": inline(trouble),
        "mark": {"type": "bar"},
        "encoding": {
            "x": x,
            "y": field("n", "quantitative", title="failed attempts"),
            "color": field("kind", "nominal", title="failure", scale={"domain": list(TROUBLE)}),
            "tooltip": tooltip("minute:Q", "kind:N", "n:Q"),
        },
        "width": WIDTH,
        "height": 130,
        "title": "failed attempts per bin: 429s, 5xx, timeouts",
    }


def health_chart(timeline: dict[str, Any], group: str) -> Spec:
    """Run health of one group over time: rate vs limit, tokens, in flight, failures, pauses."""
    info = timeline["groups"][group]
    frame = timeline_frame(timeline, group).records()
    width = bin_width(float(timeline["bucket_s"]))
    x = field("minute", "quantitative", title="minutes since the first request")
    panels: list[Spec] = [
        {
            "layer": _rate_layers(info, frame, x, width),
            "width": WIDTH,
            "height": 160,
            "title": f"{group}: requests per minute, per {width:g} s bin "
            "(dashed grey: the most the limit allows; purple: slowdown or pause)",
        }
    ]
    if any(r["tokens"] for r in frame) or info.get("tokens_per_minute"):
        panels.append(_tokens_panel(info, x))
    panels.append(
        {
            "data": {"name": "frame"},
            "mark": {"type": "area", "opacity": 0.6, "interpolate": "step-after"},
            "encoding": {
                "x": x,
                "y": field("in_flight", "quantitative", title="requests in flight (most)"),
            },
            "width": WIDTH,
            "height": 130,
            "title": "requests in flight",
        }
    )
    trouble = [
        {"minute": r["minute"], "kind": kind, "n": r[kind]}
        for kind in TROUBLE
        for r in frame
        if r[kind] > 0
    ]
    if trouble:  # no empty chart: a run without failed attempts says so in the table
        panels.append(_trouble_panel(trouble, x))
    return top(
        {
            "datasets": {"frame": frame},
            "vconcat": panels,
            "resolve": {"scale": {"color": "independent"}},
        }
    )
