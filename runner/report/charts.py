"""The report's charts as Vega-Lite specs, drawn with altair from the run's aggregates."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from runner.report.data import RunData

Spec = dict[str, Any]
WIDTH = 640
# Kinds of failed attempts drawn per interval, in this order.
TROUBLE = ("429", "5xx", "timeout", "connection", "4xx", "other")


def _spec(chart: alt.TopLevelMixin) -> Spec:
    spec: Spec = chart.to_dict()
    return spec


def timeline_frame(timeline: dict[str, Any], group: str) -> pd.DataFrame:
    """One row per interval of ``group``: per-minute rates, in flight, failures by kind."""
    rows = timeline["groups"][group]["buckets"]
    bucket_s = float(timeline["bucket_s"])
    frame = pd.DataFrame(rows)
    # The file keeps non-empty intervals only; an interval without requests is a zero, not a
    # line drawn across the gap.
    steps = round(float(frame["t"].max()) / bucket_s) + 1
    every = pd.DataFrame({"t": [round(i * bucket_s, 3) for i in range(steps)]})
    frame = every.merge(frame, on="t", how="left")
    if "in_flight_end" in frame:
        # A quiet interval still has the requests that were on the wire at its start.
        frame["in_flight"] = frame["in_flight"].fillna(frame["in_flight_end"].ffill())
    frame = frame.fillna(0.0)
    for column in ("sent", "ok", "tokens", "in_flight", "slowdowns", "pauses", *TROUBLE):
        if column not in frame:
            frame[column] = 0.0
    frame["minute"] = frame["t"] / 60.0
    frame["sent_per_min"] = frame["sent"] * 60.0 / bucket_s
    frame["ok_per_min"] = frame["ok"] * 60.0 / bucket_s
    frame["tokens_per_min"] = frame["tokens"] * 60.0 / bucket_s
    return frame


def health_chart(timeline: dict[str, Any], group: str) -> Spec:
    """Run health of one group over time: rate vs limit, tokens, in flight, failures, pauses."""
    info = timeline["groups"][group]
    frame = timeline_frame(timeline, group)
    x = alt.X("minute:Q", title="minutes since the first request")
    base = alt.Chart(frame).properties(width=WIDTH, height=130)
    rates = frame.melt("minute", ["sent_per_min", "ok_per_min"], "series", "per_minute")
    panels: list[Any] = []
    rate = (
        alt.Chart(rates)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y("per_minute:Q", title="requests / min"),
            color=alt.Color("series:N", title=None),
            tooltip=["minute:Q", "series:N", "per_minute:Q"],
        )
    )
    layers: list[Any] = [rate]
    if info.get("rate_per_minute"):
        limit = pd.DataFrame({"limit": [float(info["rate_per_minute"])]})
        layers.append(
            alt.Chart(limit).mark_rule(color="red", strokeDash=[6, 3]).encode(y="limit:Q")
        )
    marks = frame[(frame["slowdowns"] > 0) | (frame["pauses"] > 0)]
    if not marks.empty:
        layers.append(
            alt.Chart(marks)
            .mark_rule(color="orange")
            .encode(x=x, tooltip=["slowdowns:Q", "pauses:Q"])
        )
    panels.append(
        alt.layer(*layers).properties(
            width=WIDTH,
            height=160,
            title=f"{group}: requests started per minute (red: limit; orange: slowdown or pause)",
        )
    )
    tokens: list[Any] = [
        base.mark_area(opacity=0.6).encode(x=x, y=alt.Y("tokens_per_min:Q", title="tokens / min"))
    ]
    if info.get("tokens_per_minute"):
        tlimit = pd.DataFrame({"limit": [float(info["tokens_per_minute"])]})
        tokens.append(
            alt.Chart(tlimit).mark_rule(color="red", strokeDash=[6, 3]).encode(y="limit:Q")
        )
    panels.append(alt.layer(*tokens).properties(title="tokens per minute"))
    panels.append(
        base.mark_area(opacity=0.6, interpolate="step-after")
        .encode(x=x, y=alt.Y("in_flight:Q", title="in flight (max)"))
        .properties(title="requests in flight")
    )
    trouble = frame.melt("minute", list(TROUBLE), "kind", "n")
    panels.append(
        alt.Chart(trouble[trouble["n"] > 0] if (trouble["n"] > 0).any() else trouble.head(0))
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("n:Q", title="failed attempts"),
            color=alt.Color("kind:N", scale=alt.Scale(domain=list(TROUBLE))),
            tooltip=["minute:Q", "kind:N", "n:Q"],
        )
        .properties(width=WIDTH, height=130, title="429s, 5xx, timeouts per interval")
    )
    return _spec(alt.vconcat(*panels).resolve_scale(color="independent"))


def latency_chart(data: RunData) -> Spec:
    """A latency histogram per model."""
    return _spec(
        alt.Chart(data.latency_hist)
        .mark_bar()
        .encode(
            x=alt.X("start:Q", title="latency (s)"),
            x2="end:Q",
            y=alt.Y("n:Q", title="prompts"),
            y2=alt.datum(0),
            color=alt.Color("model:N"),
            row=alt.Row("model:N", title=None),
            tooltip=["model:N", "start:Q", "end:Q", "n:Q"],
        )
        .properties(width=WIDTH, height=110)
    )


def attempts_chart(data: RunData) -> Spec:
    """How many attempts prompts took, per model."""
    return _spec(
        alt.Chart(data.attempts)
        .mark_bar()
        .encode(
            x=alt.X("attempts:O", title="attempts per prompt"),
            xOffset="model:N",
            y=alt.Y("n:Q", title="prompts"),
            color="model:N",
            tooltip=["model:N", "attempts:O", "n:Q"],
        )
        .properties(width=WIDTH / 2, height=160)
    )


def errors_chart(data: RunData) -> Spec:
    """Failed prompts by error kind."""
    return _spec(
        alt.Chart(data.errors)
        .mark_bar(color="#c0392b")
        .encode(
            x=alt.X("n:Q", title="prompts"),
            y=alt.Y("error_kind:N", title=None),
            tooltip=["error_kind:N", "n:Q"],
        )
        .properties(width=WIDTH / 2, height=alt.Step(22))
    )


def tokens_chart(data: RunData) -> Spec:
    """Input and output tokens per model."""
    long = data.tokens.melt("model", ["input_tokens", "output_tokens"], "kind", "tokens")
    return _spec(
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("model:N", title=None),
            x=alt.X("tokens:Q", stack="zero"),
            color=alt.Color("kind:N", title=None),
            tooltip=["model:N", "kind:N", "tokens:Q"],
        )
        .properties(width=WIDTH / 2, height=alt.Step(22))
    )


def scores_chart(scores: pd.DataFrame) -> Spec:
    """Each step's mean score per model with its bootstrap 95% interval."""
    base = alt.Chart().encode(y=alt.Y("model:N", title=None))
    points = base.mark_point(filled=True, size=60).encode(
        x=alt.X("mean:Q", title="mean score (95% CI)"),
        tooltip=["model:N", "n:Q", "mean:Q", "lo:Q", "hi:Q"],
    )
    bars = base.mark_errorbar().encode(x="lo:Q", x2="hi:Q")
    return _spec(
        alt.layer(bars, points, data=scores)
        .properties(width=WIDTH / 2, height=alt.Step(22))
        .facet(column=alt.Column("step:N", title=None))
    )


def score_hist_chart(hist: pd.DataFrame) -> Spec:
    """The distribution of scores per step and model."""
    return _spec(
        alt.Chart(hist)
        .mark_bar()
        .encode(
            x=alt.X("value:O", title="score"),
            xOffset="model:N",
            y=alt.Y("n:Q", title="prompts"),
            color="model:N",
            column=alt.Column("step:N", title=None),
            tooltip=["step:N", "model:N", "value:Q", "n:Q"],
        )
        .properties(width=WIDTH / 2, height=150)
    )


def comparison_chart(table: pd.DataFrame) -> Spec:
    """Models side by side on each metric of a sweep (one panel per metric)."""
    long = table.melt(
        "model", [c for c in table.columns if c not in ("model", "run_id")], "metric", "value"
    ).dropna()
    return _spec(
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("model:N", title=None),
            y=alt.Y("value:Q", title=None),
            color="model:N",
            column=alt.Column("metric:N", title=None),
            tooltip=["model:N", "metric:N", "value:Q"],
        )
        .properties(width=140, height=160)
        .resolve_scale(y="independent")
    )
