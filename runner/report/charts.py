"""The report's charts as Vega-Lite specs, built as plain JSON from the run's aggregates.

Vega-Lite (inlined in the page with Vega and vega-embed) draws them; the specs are written
here as dicts rather than through altair, whose import and validation cost about a second
at the end of every run for a few hundred rows of data.
"""

from __future__ import annotations

from runner.report.data import RunData
from runner.report.health import bin_width, health_chart, limit_per_bin, timeline_frame
from runner.report.table import Table
from runner.report.vega import WIDTH, Spec, field, inline, tooltip, top

# The run-health chart is read from here by the report and its tests.
__all__ = [
    "Spec",
    "attempts_chart",
    "bin_width",
    "comparison_chart",
    "errors_chart",
    "health_chart",
    "latency_chart",
    "limit_per_bin",
    "score_hist_chart",
    "scores_chart",
    "timeline_frame",
    "tokens_chart",
]


def latency_chart(data: RunData) -> Spec:
    """A latency histogram per model."""
    return top(
        {
            "data": inline(data.latency_hist.records()),
            "mark": {"type": "bar"},
            "encoding": {
                "x": field("start", "quantitative", title="latency (s)"),
                "x2": {"field": "end"},
                "y": field("n", "quantitative", title="prompts"),
                "y2": {"datum": 0},
                "color": field("model", "nominal"),
                "row": field("model", "nominal", title=None),
                "tooltip": tooltip("model:N", "start:Q", "end:Q", "n:Q"),
            },
            "width": WIDTH,
            "height": 110,
        }
    )


def attempts_chart(data: RunData) -> Spec:
    """How many attempts prompts took, per model."""
    return top(
        {
            "data": inline(data.attempts.records()),
            "mark": {"type": "bar"},
            "encoding": {
                "x": field("attempts", "ordinal", title="attempts per prompt"),
                "xOffset": field("model", "nominal"),
                "y": field("n", "quantitative", title="prompts"),
                "color": field("model", "nominal"),
                "tooltip": tooltip("model:N", "attempts:O", "n:Q"),
            },
            "width": WIDTH / 2,
            "height": 160,
        }
    )


def errors_chart(data: RunData) -> Spec:
    """Failed prompts by error kind."""
    return top(
        {
            "data": inline(data.errors.records()),
            "mark": {"type": "bar", "color": "#c0392b"},
            "encoding": {
                "x": field("n", "quantitative", title="prompts"),
                "y": field("error_kind", "nominal", title=None),
                "tooltip": tooltip("error_kind:N", "n:Q"),
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
    return top(
        {
            "data": inline(long),
            "mark": {"type": "bar"},
            "encoding": {
                "y": field("model", "nominal", title=None),
                "x": field("tokens", "quantitative", stack="zero", title="tokens"),
                "color": field(
                    "kind",
                    "nominal",
                    title=None,
                    scale={"domain": ["input_tokens", "output_tokens"]},
                ),
                "tooltip": tooltip("model:N", "kind:N", "tokens:Q"),
            },
            "width": WIDTH / 2,
            "height": {"step": 22},
        }
    )


def scores_chart(scores: Table) -> Spec:
    """Each step's mean score per model with its bootstrap 95% interval."""
    y = field("model", "nominal", title=None)
    points = {
        "mark": {"type": "point", "filled": True, "size": 60},
        "encoding": {
            "y": y,
            "x": field("mean", "quantitative", title="mean score (95% CI)"),
            "tooltip": tooltip("model:N", "n:Q", "mean:Q", "lo:Q", "hi:Q"),
        },
    }
    bars = {
        "mark": {"type": "errorbar"},
        "encoding": {
            "y": y,
            "x": field("lo", "quantitative", title="mean score (95% CI)"),
            "x2": {"field": "hi"},
        },
    }
    return top(
        {
            "data": inline(scores.records()),
            "facet": {"column": field("step", "nominal", title=None)},
            "spec": {"layer": [bars, points], "width": WIDTH / 2, "height": {"step": 22}},
        }
    )


def score_hist_chart(hist: Table) -> Spec:
    """The distribution of scores per step and model."""
    return top(
        {
            "data": inline(hist.records()),
            "mark": {"type": "bar"},
            "encoding": {
                "x": field("value", "ordinal", title="score"),
                "xOffset": field("model", "nominal"),
                "y": field("n", "quantitative", title="prompts"),
                "color": field("model", "nominal"),
                "column": field("step", "nominal", title=None),
                "tooltip": tooltip("step:N", "model:N", "value:Q", "n:Q"),
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
    return top(
        {
            "data": inline(long),
            "mark": {"type": "bar"},
            "encoding": {
                "x": field("run", "nominal", title=None, axis={"labelLimit": 160}),
                "y": field("value", "quantitative", title=None),
                "color": field("run", "nominal", title="run (settings that differ)"),
                "facet": field("metric", "nominal", title=None, columns=3),
                "tooltip": tooltip("run:N", "metric:N", "value:Q"),
            },
            "width": 180,
            "height": 140,
            "resolve": {"scale": {"y": "independent"}},
        }
    )
