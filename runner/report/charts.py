"""The report's charts as Vega-Lite specs, built as plain JSON from the run's aggregates.

Vega-Lite (inlined in the page with Vega and vega-embed) draws them; the specs are written
here as dicts rather than through altair, whose import and validation cost about a second
at the end of every run for a few hundred rows of data.
"""

from __future__ import annotations

from typing import Any

from runner.report.data import RunData
from runner.report.table import Table

Spec = dict[str, Any]
WIDTH = 640
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"
# Kinds of failed attempts drawn per interval, in this order.
TROUBLE = ("429", "5xx", "timeout", "connection", "4xx", "other")
_COLUMNS = ("sent", "ok", "tokens", "in_flight", "slowdowns", "pauses", *TROUBLE)


def _top(spec: Spec) -> Spec:
    return {"$schema": SCHEMA, **spec}


def _field(name: str, kind: str, **more: Any) -> Spec:
    return {"field": name, "type": kind, **more}


def _values(rows: list[dict[str, Any]]) -> Spec:
    return {"values": rows}


def _tooltip(*fields: str) -> list[Spec]:
    kinds = {"Q": "quantitative", "N": "nominal", "O": "ordinal"}
    return [_field(f.split(":")[0], kinds[f.split(":")[1]]) for f in fields]


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
        "data": _values([{"limit": value, "what": label}]),
        "mark": {"type": "rule", "color": LIMIT_COLOR, "strokeDash": [6, 3]},
        "encoding": {"y": _field("limit", "quantitative"), "tooltip": _tooltip("what:N")},
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
            "data": _values(rates),
            "mark": {"type": "line", "point": True, "interpolate": "step-after"},
            "encoding": {
                "x": x,
                "y": _field("per_minute", "quantitative", title="requests per minute"),
                "color": _field(
                    "series",
                    "nominal",
                    title=None,
                    scale={"domain": list(SERIES), "range": list(SERIES.values())},
                ),
                "tooltip": _tooltip("minute:Q", "series:N", "per_minute:Q"),
            },
        }
    ]
    if info.get("rate_per_minute"):
        limit = float(info["rate_per_minute"])
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
                "data": _values(marks),
                "mark": {"type": "rule", "color": MARK_COLOR},
                "encoding": {"x": x, "tooltip": _tooltip("slowdowns:Q", "pauses:Q")},
            }
        )
    return layers


def health_chart(timeline: dict[str, Any], group: str) -> Spec:
    """Run health of one group over time: rate vs limit, tokens, in flight, failures, pauses."""
    info = timeline["groups"][group]
    frame = timeline_frame(timeline, group).records()
    width = bin_width(float(timeline["bucket_s"]))
    x = _field("minute", "quantitative", title="minutes since the first request")
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
        tokens: list[Spec] = [
            {
                "data": {"name": "frame"},
                "mark": {"type": "area", "opacity": 0.6, "interpolate": "step-after"},
                "encoding": {
                    "x": x,
                    "y": _field("tokens_per_min", "quantitative", title="tokens per minute"),
                },
            }
        ]
        if info.get("tokens_per_minute"):
            limit = float(info["tokens_per_minute"])
            tokens.append(_limit_rule(limit, f"token limit {limit:g}/min"))
        panels.append(
            {
                "layer": tokens,
                "width": WIDTH,
                "height": 130,
                "title": "tokens per minute (dashed grey: the token limit)",
            }
        )
    panels.append(
        {
            "data": {"name": "frame"},
            "mark": {"type": "area", "opacity": 0.6, "interpolate": "step-after"},
            "encoding": {
                "x": x,
                "y": _field("in_flight", "quantitative", title="requests in flight (most)"),
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
        panels.append(
            {
                "data": _values(trouble),
                "mark": {"type": "bar"},
                "encoding": {
                    "x": x,
                    "y": _field("n", "quantitative", title="failed attempts"),
                    "color": _field(
                        "kind", "nominal", title="failure", scale={"domain": list(TROUBLE)}
                    ),
                    "tooltip": _tooltip("minute:Q", "kind:N", "n:Q"),
                },
                "width": WIDTH,
                "height": 130,
                "title": "failed attempts per bin: 429s, 5xx, timeouts",
            }
        )
    return _top(
        {
            "datasets": {"frame": frame},
            "vconcat": panels,
            "resolve": {"scale": {"color": "independent"}},
        }
    )


def latency_chart(data: RunData) -> Spec:
    """A latency histogram per model."""
    return _top(
        {
            "data": _values(data.latency_hist.records()),
            "mark": {"type": "bar"},
            "encoding": {
                "x": _field("start", "quantitative", title="latency (s)"),
                "x2": {"field": "end"},
                "y": _field("n", "quantitative", title="prompts"),
                "y2": {"datum": 0},
                "color": _field("model", "nominal"),
                "row": _field("model", "nominal", title=None),
                "tooltip": _tooltip("model:N", "start:Q", "end:Q", "n:Q"),
            },
            "width": WIDTH,
            "height": 110,
        }
    )


def attempts_chart(data: RunData) -> Spec:
    """How many attempts prompts took, per model."""
    return _top(
        {
            "data": _values(data.attempts.records()),
            "mark": {"type": "bar"},
            "encoding": {
                "x": _field("attempts", "ordinal", title="attempts per prompt"),
                "xOffset": _field("model", "nominal"),
                "y": _field("n", "quantitative", title="prompts"),
                "color": _field("model", "nominal"),
                "tooltip": _tooltip("model:N", "attempts:O", "n:Q"),
            },
            "width": WIDTH / 2,
            "height": 160,
        }
    )


def errors_chart(data: RunData) -> Spec:
    """Failed prompts by error kind."""
    return _top(
        {
            "data": _values(data.errors.records()),
            "mark": {"type": "bar", "color": "#c0392b"},
            "encoding": {
                "x": _field("n", "quantitative", title="prompts"),
                "y": _field("error_kind", "nominal", title=None),
                "tooltip": _tooltip("error_kind:N", "n:Q"),
            },
            "width": WIDTH / 2,
            "height": {"step": 22},
        }
    )


def tokens_chart(data: RunData) -> Spec:
    """Input and output tokens per model."""
    long = [
        {"model": r["model"], "kind": kind, "tokens": r[kind]}
        for kind in ("input_tokens", "output_tokens")
        for r in data.tokens.records()
    ]
    return _top(
        {
            "data": _values(long),
            "mark": {"type": "bar"},
            "encoding": {
                "y": _field("model", "nominal", title=None),
                "x": _field("tokens", "quantitative", stack="zero", title="tokens"),
                "color": _field(
                    "kind",
                    "nominal",
                    title=None,
                    scale={"domain": ["input_tokens", "output_tokens"]},
                ),
                "tooltip": _tooltip("model:N", "kind:N", "tokens:Q"),
            },
            "width": WIDTH / 2,
            "height": {"step": 22},
        }
    )


def scores_chart(scores: Table) -> Spec:
    """Each step's mean score per model with its bootstrap 95% interval."""
    y = _field("model", "nominal", title=None)
    points = {
        "mark": {"type": "point", "filled": True, "size": 60},
        "encoding": {
            "y": y,
            "x": _field("mean", "quantitative", title="mean score (95% CI)"),
            "tooltip": _tooltip("model:N", "n:Q", "mean:Q", "lo:Q", "hi:Q"),
        },
    }
    bars = {
        "mark": {"type": "errorbar"},
        "encoding": {
            "y": y,
            "x": _field("lo", "quantitative", title="mean score (95% CI)"),
            "x2": {"field": "hi"},
        },
    }
    return _top(
        {
            "data": _values(scores.records()),
            "facet": {"column": _field("step", "nominal", title=None)},
            "spec": {"layer": [bars, points], "width": WIDTH / 2, "height": {"step": 22}},
        }
    )


def score_hist_chart(hist: Table) -> Spec:
    """The distribution of scores per step and model."""
    return _top(
        {
            "data": _values(hist.records()),
            "mark": {"type": "bar"},
            "encoding": {
                "x": _field("value", "ordinal", title="score"),
                "xOffset": _field("model", "nominal"),
                "y": _field("n", "quantitative", title="prompts"),
                "color": _field("model", "nominal"),
                "column": _field("step", "nominal", title=None),
                "tooltip": _tooltip("step:N", "model:N", "value:Q", "n:Q"),
            },
            "width": WIDTH / 2,
            "height": 150,
        }
    )


# Readable names of the comparison's metrics (the table keeps the short column names).
_METRIC_TITLES = {
    "prompts": "prompts",
    "ok_rate": "share of prompts ok",
    "p50_latency_s": "median latency (s)",
    "p90_latency_s": "90th percentile latency (s)",
    "output_tokens": "output tokens",
    "cost_usd": "cost (USD)",
}


def comparison_chart(table: Table) -> Spec:
    """Each run side by side on each metric of a sweep (one panel per metric, never summed)."""
    metrics = [c for c in table.columns if c not in ("run", "model", "run_id", "settings")]
    long = [
        {
            "run": r["run"],
            "metric": _METRIC_TITLES.get(m, m.replace("score:", "mean score: ")),
            "value": r[m],
        }
        for m in metrics
        for r in table.records()
        if r.get(m) is not None
    ]
    return _top(
        {
            "data": _values(long),
            "mark": {"type": "bar"},
            "encoding": {
                "x": _field("run", "nominal", title=None, axis={"labelLimit": 160}),
                "y": _field("value", "quantitative", title=None),
                "color": _field("run", "nominal", title="run (settings that differ)"),
                "facet": _field("metric", "nominal", title=None, columns=3),
                "tooltip": _tooltip("run:N", "metric:N", "value:Q"),
            },
            "width": 180,
            "height": 140,
            "resolve": {"scale": {"y": "independent"}},
        }
    )
