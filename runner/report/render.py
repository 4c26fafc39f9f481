"""Writes ``report.html``: jinja2 page, Vega-Lite specs, and Vega's code inlined (works offline)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache
from markupsafe import Markup

from runner import __version__
from runner.errors import DiskFullError
from runner.output.disk import atomic_write_text
from runner.output.money import dollars
from runner.output.run_folder import INPUT_DIR
from runner.output.stats import shown_limit
from runner.paths import runner_cache_home
from runner.report import charts
from runner.report.compare import comparison_table
from runner.report.data import EXAMPLES_PER_KIND, RunData
from runner.visible import visible

REPORT_FILE = "report.html"

# Draws every chart of the page from the specs in #chart-specs, then marks the body so a
# reader (or a test) knows the drawing is over: data-charts="drawn N" or "failed ...".
_EMBED = """
const specs = JSON.parse(document.getElementById("chart-specs").textContent);
const jobs = Object.entries(specs).map(([id, spec]) =>
  vegaEmbed("#" + id, spec, {renderer: "svg", actions: false}));
Promise.all(jobs).then(
  () => { document.body.dataset.charts = "drawn " + jobs.length; },
  (err) => { document.body.dataset.charts = "failed " + err; console.error(err); });
"""


@functools.cache
def embed_script() -> str:
    """Vega, Vega-Lite and vega-embed bundled with the drawing code, as one inline module.

    Bundling takes a second or two, so the result is kept in the user's cache, keyed by the
    bundler's version and the drawing code: every later report reuses it.
    """
    import vl_convert

    key = hashlib.sha256(
        f"{getattr(vl_convert, '__version__', '')}\n{_EMBED}".encode()
    ).hexdigest()[:16]
    cached = runner_cache_home() / f"vega-bundle-{key}.js"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    bundle: str = vl_convert.javascript_bundle(_EMBED)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cached, bundle, "the drawing code's cache")
    except (OSError, DiskFullError):
        pass  # no cache: the next report bundles again
    return bundle


@dataclass
class _GroupRow:
    name: str
    limit: float | str | None  # "none": a limit that never binds (max_queries=1e9)
    achieved: float | None
    requests: int
    retries: int
    slowdowns: int


@dataclass
class _RunView:
    data: RunData
    charts: dict[str, str] = field(default_factory=dict)
    health: list[str] = field(default_factory=list)
    groups: list[_GroupRow] = field(default_factory=list)
    config: str = ""
    input_hash: str | None = None


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _input_hash(run_dir: Path) -> str | None:
    copies = sorted((run_dir / INPUT_DIR).glob("*")) if (run_dir / INPUT_DIR).is_dir() else []
    if not copies:
        return None
    digest = hashlib.sha256()
    with copies[0].open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _groups(meta: dict[str, Any]) -> list[_GroupRow]:
    rows = []
    for name, g in (meta.get("groups") or {}).items():
        if not isinstance(g, dict):
            continue
        rows.append(
            _GroupRow(
                name,
                shown_limit(g.get("limit_per_minute")),
                g.get("achieved_per_minute"),
                int(g.get("requests") or 0),
                int(g.get("retries") or 0),
                int(g.get("slowdowns") or 0),
            )
        )
    return rows


def _view(index: int, data: RunData, specs: dict[str, charts.Spec]) -> _RunView:
    view = _RunView(data, groups=_groups(data.meta), input_hash=_input_hash(data.run_dir))
    view.config = json.dumps(data.meta.get("config") or {}, indent=2, default=str)

    def add(name: str, spec: charts.Spec) -> str:
        chart_id = f"chart-{index}-{name}"
        specs[chart_id] = spec
        return chart_id

    for number, group in enumerate(sorted(data.timeline.get("groups") or {})):
        if data.timeline["groups"][group]["buckets"]:
            view.health.append(add(f"health-{number}", charts.health_chart(data.timeline, group)))
    if not data.latency_hist.empty:
        view.charts["latency"] = add("latency", charts.latency_chart(data))
    view.charts["attempts"] = add("attempts", charts.attempts_chart(data))
    if not data.errors.empty:
        view.charts["errors"] = add("errors", charts.errors_chart(data))
    counted = [*data.tokens["input_tokens"], *data.tokens["output_tokens"]]
    if any(counted):  # never an empty chart (every answer cached, or no usage reported)
        view.charts["tokens"] = add("tokens", charts.tokens_chart(data))
    if not data.scores.empty:
        view.charts["scores"] = add("scores", charts.scores_chart(data.scores))
        view.charts["score_hist"] = add("score-hist", charts.score_hist_chart(data.score_hist))
    return view


def _safe(value: Any) -> Any:
    """A chart spec's value as JSON can hold it: no NaN or infinity (JSON.parse refuses them,
    and no chart was drawn), and text with its bidirectional controls made visible."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {key: _safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(item) for item in value]
    return value


# In a <script> element, "<!--<script>" from a model's name would swallow the element's end:
# no character that HTML reads there is left in the JSON (JSON.parse reads the escapes).
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def specs_json(specs: dict[str, charts.Spec]) -> str:
    """The charts' specs as JSON to put inside a ``<script>`` element as it is."""
    text = json.dumps(_safe(specs), separators=(",", ":"), default=str, allow_nan=False)
    return text.translate(_SCRIPT_SAFE)


def _shown(value: Any) -> Any:
    # Every {{ value }} of the page but the inlined code: a name cannot pass for another.
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept in the user's cache (compiling the page took ~40 ms a report).

    Keyed by jinja2 on the template's source, so a changed template is compiled anew. A cache
    that cannot be read or written only costs that time.
    """

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError, ValueError, EOFError):
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            Path(self.directory).mkdir(parents=True, exist_ok=True)
            super().dump_bytecode(bucket)


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("runner.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # The folder names the options the code was compiled with (finalize): code compiled
        # without them, by an earlier version, is never loaded.
        bytecode_cache=_TemplateCache(str(runner_cache_home() / "templates-finalized")),
        finalize=_shown,
    )
    env.filters["dollars"] = dollars  # $0.0123, as the console prints it
    return env


def render_html(runs: list[RunData], title: str) -> str:
    """The whole report page for ``runs`` (one run, or several side by side)."""
    specs: dict[str, charts.Spec] = {}
    comparison = None
    if len(runs) > 1:
        comparison = comparison_table(runs)
        specs["chart-comparison"] = charts.comparison_chart(comparison)
    views = [_view(i, data, specs) for i, data in enumerate(runs)]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            runs=views,
            comparison=comparison,
            fmt=_fmt,
            examples_per_kind=EXAMPLES_PER_KIND,
            version=__version__,
            generated=datetime.now(UTC).isoformat(timespec="seconds"),
            specs_json=Markup(specs_json(specs)),
            script=Markup(embed_script().replace("</script", "<\\/script")),
        )
    )


def write_report(runs: list[RunData], out: Path, title: str) -> Path:
    """Write the report of ``runs`` to ``out`` atomically; returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render_html(runs, title), "the report")
    return out
