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


def timeline_frame(timeline: dict[str, Any], group: str) -> Table:
    """One row per interval of ``group``: per-minute rates, in flight, failures by kind."""
    rows = timeline["groups"][group]["buckets"]
    bucket_s = float(timeline["bucket_s"])
    by_t = {round(float(row["t"]), 3): row for row in rows}
    # The file keeps non-empty intervals only; an interval without requests is a zero, not a
    # line drawn across the gap.
    steps = round(max(by_t, default=0.0) / bucket_s) + 1
    out: list[dict[str, Any]] = []
    on_wire = 0.0  # a quiet interval still has the requests on the wire at its start
    for i in range(steps):
        t = round(i * bucket_s, 3)
        row = by_t.get(t)
        values = {c: float((row or {}).get(c) or 0.0) for c in _COLUMNS}
        if row is None:
            values["in_flight"] = on_wire
        elif row.get("in_flight_end") is not None:
            on_wire = float(row["in_flight_end"])
        values["t"], values["minute"] = t, t / 60.0
        for name in ("sent", "ok", "tokens"):
            values[f"{name}_per_min"] = values[name] * 60.0 / bucket_s
        out.append(values)
    return Table.from_records(out)


def _limit_rule(value: float) -> Spec:
    return {
        "data": _values([{"limit": value}]),
        "mark": {"type": "rule", "color": "red", "strokeDash": [6, 3]},
        "encoding": {"y": _field("limit", "quantitative")},
    }


def health_chart(timeline: dict[str, Any], group: str) -> Spec:
    """Run health of one group over time: rate vs limit, tokens, in flight, failures, pauses."""
    info = timeline["groups"][group]
    frame = timeline_frame(timeline, group).records()
    x = _field("minute", "quantitative", title="minutes since the first request")
    rates = [
        {"minute": r["minute"], "series": series, "per_minute": r[series]}
        for series in ("sent_per_min", "ok_per_min")
        for r in frame
    ]
    layers: list[Spec] = [
        {
            "data": _values(rates),
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": x,
                "y": _field("per_minute", "quantitative", title="requests / min"),
                "color": _field("series", "nominal", title=None),
                "tooltip": _tooltip("minute:Q", "series:N", "per_minute:Q"),
            },
        }
    ]
    if info.get("rate_per_minute"):
        layers.append(_limit_rule(float(info["rate_per_minute"])))
    marks = [r for r in frame if r["slowdowns"] > 0 or r["pauses"] > 0]
    if marks:
        layers.append(
            {
                "data": _values(marks),
                "mark": {"type": "rule", "color": "orange"},
                "encoding": {"x": x, "tooltip": _tooltip("slowdowns:Q", "pauses:Q")},
            }
        )
    tokens: list[Spec] = [
        {
            "data": {"name": "frame"},
            "mark": {"type": "area", "opacity": 0.6},
            "encoding": {
                "x": x,
                "y": _field("tokens_per_min", "quantitative", title="tokens / min"),
            },
        }
    ]
    if info.get("tokens_per_minute"):
        tokens.append(_limit_rule(float(info["tokens_per_minute"])))
    trouble = [
        {"minute": r["minute"], "kind": kind, "n": r[kind]}
        for kind in TROUBLE
        for r in frame
        if r[kind] > 0
    ]
    panels: list[Spec] = [
        {
            "layer": layers,
            "width": WIDTH,
            "height": 160,
            "title": f"{group}: requests started per minute "
            "(red: limit; orange: slowdown or pause)",
        },
        {"layer": tokens, "width": WIDTH, "height": 130, "title": "tokens per minute"},
        {
            "data": {"name": "frame"},
            "mark": {"type": "area", "opacity": 0.6, "interpolate": "step-after"},
            "encoding": {"x": x, "y": _field("in_flight", "quantitative", title="in flight (max)")},
            "width": WIDTH,
            "height": 130,
            "title": "requests in flight",
        },
        {
            "data": _values(trouble),
            "mark": {"type": "bar"},
            "encoding": {
                "x": x,
                "y": _field("n", "quantitative", title="failed attempts"),
                "color": _field("kind", "nominal", scale={"domain": list(TROUBLE)}),
                "tooltip": _tooltip("minute:Q", "kind:N", "n:Q"),
            },
            "width": WIDTH,
            "height": 130,
            "title": "429s, 5xx, timeouts per interval",
        },
    ]
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
                "x": _field("tokens", "quantitative", stack="zero"),
                "color": _field("kind", "nominal", title=None),
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
        "encoding": {"y": y, "x": _field("lo", "quantitative"), "x2": {"field": "hi"}},
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


def comparison_chart(table: Table) -> Spec:
    """Models side by side on each metric of a sweep (one panel per metric)."""
    metrics = [c for c in table.columns if c not in ("model", "run_id")]
    long = [
        {"model": r["model"], "metric": m, "value": r[m]}
        for m in metrics
        for r in table.records()
        if r.get(m) is not None
    ]
    return _top(
        {
            "data": _values(long),
            "mark": {"type": "bar"},
            "encoding": {
                "x": _field("model", "nominal", title=None),
                "y": _field("value", "quantitative", title=None),
                "color": _field("model", "nominal"),
                "column": _field("metric", "nominal", title=None),
                "tooltip": _tooltip("model:N", "metric:N", "value:Q"),
            },
            "width": 140,
            "height": 160,
            "resolve": {"scale": {"y": "independent"}},
        }
    )
