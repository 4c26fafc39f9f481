"""The viewer's web app (aiohttp + jinja2): runs, a run's report or live state, find, compare,
a prompt in full, and hand labels.

Queries run in a worker thread, so one slow page never stalls the others. Pages run fixed,
parameterised queries (:mod:`runner.view.queries`, :mod:`runner.view.compare`); the files
served are run reports, found through the index and checked to lie inside the outputs
folder, and the viewer's own static files. The one write is a hand label, appended to
``labels.jsonl`` (:mod:`runner.view.labels`).
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from runner.commands import shell_command
from runner.index.errors import IndexMissingError, ResultsIndexError
from runner.report.render import REPORT_FILE
from runner.view import compare, handlers, live, queries
from runner.view.labels import read_labels
from runner.view.security import (
    CSRF,
    HOSTS,
    LOCAL_NAMES,
    TOKEN,
    guard,
    local_host_only,
    report_csp,
)
from runner.visible import visible

OUTPUTS = handlers.OUTPUTS
STATIC = Path(__file__).with_name("static")
# The highest page number asked for: DuckDB's OFFSET must stay a 64-bit integer.
MAX_PAGE = 1_000_000_000


def _int(request: web.Request, name: str, default: int, choices: tuple[int, ...] = ()) -> int:
    """A numeric parameter; one that is not a number, or out of range, is a 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}={raw[:40]!r}: not a whole number") from None
    in_range = value in choices if choices else 1 <= value <= MAX_PAGE
    if not in_range:
        allowed = f"one of {', '.join(map(str, choices))}" if choices else f"1 to {MAX_PAGE:,}"
        raise web.HTTPBadRequest(text=f"{name}={raw[:40]}: must be {allowed}")
    return value


def _since(request: web.Request) -> str:
    """The ``since`` date (YYYY-MM-DD) or ""; anything else is a 400."""
    since = request.query.get("since", "")
    try:
        return date.fromisoformat(since).isoformat() if since else ""
    except ValueError:
        raise web.HTTPBadRequest(text=f"since={since[:40]!r}: not a date (YYYY-MM-DD)") from None


def _outputs(request: web.Request) -> Path:
    return request.app[OUTPUTS]


@aiohttp_jinja2.template("runs.html.j2")
async def runs_page(request: web.Request) -> dict[str, Any]:
    q = request.query
    experiment, model, since = q.get("experiment", ""), q.get("model", ""), _since(request)
    running = await asyncio.to_thread(live.running_runs, _outputs(request))
    try:
        rows = await asyncio.to_thread(queries.runs, _outputs(request), experiment, model, since)
        await asyncio.to_thread(_statuses_now, _outputs(request), rows)
        experiments = await asyncio.to_thread(queries.experiments, _outputs(request))
    except IndexMissingError:
        if not running:
            raise
        rows, experiments = [], []  # the first run is still going: no index yet
    return {
        "runs": rows,
        "running": running,
        "experiment": experiment,
        "model": model,
        "since": since,
        "experiments": experiments,
    }


def _statuses_now(outputs_dir: Path, rows: list[dict[str, Any]]) -> None:
    """The index's ``running`` rows as their run folders say now (a killed run: stopped)."""
    for row in rows:
        if row["status"] == "running" and row.get("run_dir"):
            row["status"] = live.current_status(outputs_dir / str(row["run_dir"]))


async def report_page(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["run_id"]
    folder = await asyncio.to_thread(queries.run_dir, _outputs(request), run_id)
    if folder is None:
        folder = handlers.live_folder(_outputs(request), run_id)
        if folder is None:
            raise web.HTTPNotFound(text=f"No run {run_id} in the index.")
    report = folder / REPORT_FILE
    if report.is_file() and not report.resolve().is_relative_to(_outputs(request).resolve()):
        # A report.html that is a link out of the outputs folder is served by no one.
        raise web.HTTPNotFound(text=f"Run {run_id}'s report lies outside the outputs folder.")
    if not report.is_file():
        # Still going (or ended without a report): its live page.
        raise web.HTTPFound(f"/live/{run_id}")
    html = await asyncio.to_thread(report.read_text, encoding="utf-8", errors="replace")
    return web.Response(
        text=handlers.with_way_back(html, run_id, folder.parent.name),
        content_type="text/html",
        headers={"Content-Security-Policy": report_csp()},
    )


def _filters(request: web.Request) -> dict[str, str]:
    keys = (*queries.RESULT_FILTERS, "cached", *queries.RANGES)
    return {k: request.query.get(k, "") for k in keys}


@aiohttp_jinja2.template("results.html.j2")
async def results_page(request: web.Request) -> dict[str, Any]:
    q = request.query
    filters = _filters(request)
    text, sort = q.get("q", ""), q.get("sort", "")
    page = await asyncio.to_thread(
        queries.results,
        _outputs(request),
        filters,
        text,
        _int(request, "page", 1),
        _int(request, "size", 50, queries.PAGE_SIZES),
        sort,
    )
    experiments = await asyncio.to_thread(queries.experiments, _outputs(request))
    state = {k: v for k, v in {**filters, "q": text, "sort": sort}.items() if v}
    return {
        "page": page,
        "filters": filters,
        "q": text,
        "sort": sort,
        "state": state,
        "sizes": queries.PAGE_SIZES,
        "sorts": queries.SORTS,
        "experiments": experiments,
    }


@aiohttp_jinja2.template("matrix.html.j2")
async def matrix_page(request: web.Request) -> dict[str, Any]:
    q = request.query
    outputs = _outputs(request)
    experiments = await asyncio.to_thread(queries.experiments, outputs)
    experiment = q.get("experiment") or (experiments[0] if experiments else "")
    every = await asyncio.to_thread(compare.columns, outputs, experiment)
    chosen = compare.chosen_columns(every, q.getall("col", []))
    order = q.get("order", "input") if q.get("order") in compare.ORDERS else "input"
    try:
        min_spread = float(q["min_spread"]) if q.get("min_spread") else None
    except ValueError:
        min_spread = None
    if min_spread is not None and order == "input":
        order = "spread"  # a spread filter orders by it
    a, b = _int(request, "a", 1) - 1, _int(request, "b", 2) - 1
    page = await asyncio.to_thread(
        compare.compare,
        outputs,
        experiment,
        chosen,
        order=order,
        a=a,
        b=b,
        min_spread=min_spread,
        page=_int(request, "page", 1),
        size=_int(request, "size", 25, queries.PAGE_SIZES),
    )
    labels = await asyncio.to_thread(read_labels, outputs)
    return {
        "experiment": experiment,
        "experiments": experiments,
        "columns": chosen,
        "every": every,
        "page": page,
        "order": order,
        "a": a,
        "b": b,
        "min_spread": q.get("min_spread", ""),
        "labels": labels,
        "query": request.query_string,
    }


@aiohttp_jinja2.template("prompt.html.j2")
async def prompt_page(request: web.Request) -> dict[str, Any]:
    experiment, key = request.query.get("experiment", ""), request.query.get("key", "")
    prompt, page = await asyncio.to_thread(
        queries.prompt_detail,
        _outputs(request),
        experiment,
        key,
        _int(request, "page", 1),
        _int(request, "size", 25, queries.PAGE_SIZES),
    )
    if prompt is None:
        raise web.HTTPNotFound(text=f"No prompt {key!r} in experiment {experiment!r}.")
    labels = await asyncio.to_thread(read_labels, _outputs(request))
    pairs = [(str(a["run_id"]), str(a["prompt_key"])) for a in page.rows]
    evaluations = await asyncio.to_thread(queries.evaluations_of, _outputs(request), pairs)
    return handlers.prompt_context(
        experiment, key, prompt, page, evaluations, labels, request.app[CSRF]
    )


@web.middleware
async def _index_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A missing or busy index is a page saying so, not a traceback."""
    try:
        response: web.StreamResponse = await handler(request)
    except ResultsIndexError as exc:
        build = shell_command("runner.index", "--outputs-dir", str(_outputs(request)))
        return web.Response(status=503, text=f"{exc}\nBuild the index with: {build}")
    return response


def allow_port(app: web.Application, port: int) -> None:
    """Answer the local names with ``port`` from now on (and nothing else)."""
    app[HOSTS].update(f"{name}:{port}" for name in LOCAL_NAMES)


def _shown(value: Any) -> Any:
    # Every {{ value }} of a page: a name or an answer cannot reorder what is drawn around it.
    # A macro's output is markup already escaped; the escapes added are plain text.
    if isinstance(value, Markup):
        return Markup(visible(str(value)))
    return visible(value) if isinstance(value, str) else value


def make_app(
    outputs_dir: Path, token: str = "", media_dir: Path = Path("media")
) -> web.Application:
    """The viewer over ``outputs_dir``'s index; with ``token``, every request must carry it.

    Any Host is answered until :func:`allow_port`. Images named by prompts are served from
    ``media_dir`` (and nothing else from there).
    """
    app = web.Application(middlewares=[local_host_only, guard, _index_errors])
    app[OUTPUTS] = outputs_dir
    app[HOSTS] = set()
    app[TOKEN] = token
    app[handlers.MEDIA] = media_dir
    app[CSRF] = secrets.token_urlsafe(24)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("runner.view", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )
    handlers.add_filters(env)
    app.router.add_get("/", runs_page)
    app.router.add_get("/run/{run_id}", report_page)
    app.router.add_get("/live/{run_id}", handlers.live_page)
    app.router.add_get("/api/live/{run_id}", handlers.live_api)
    app.router.add_get("/results", results_page)
    app.router.add_get("/export", handlers.export)
    app.router.add_get("/matrix", matrix_page)
    app.router.add_get("/compare", matrix_page)
    app.router.add_get("/prompt", prompt_page)
    app.router.add_post("/label", handlers.label)
    app.router.add_get("/labels.jsonl", handlers.labels_export)
    app.router.add_get("/favicon.ico", handlers.favicon)
    app.router.add_get("/media/{name:.+}", handlers.media)
    app.router.add_static("/static", STATIC, follow_symlinks=False)
    return app
