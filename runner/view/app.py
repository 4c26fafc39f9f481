"""The viewer's web app (aiohttp + jinja2): runs, a run's report, results, matrix, a prompt.

Queries run in a worker thread, so one slow page never stalls the others. Read only: pages
run fixed, parameterised queries (:mod:`runner.view.queries`); the only files served are run
reports, found through the index and checked to lie inside the outputs folder.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from runner.commands import shell_command
from runner.index.errors import ResultsIndexError
from runner.report.render import REPORT_FILE
from runner.view import queries
from runner.visible import visible

OUTPUTS = web.AppKey("outputs_dir", Path)
# The Host headers the viewer answers (filled once its port is bound); any other is refused,
# so a page of another site whose name resolves to 127.0.0.1 (DNS rebinding) reads nothing.
HOSTS = web.AppKey("hosts", set[str])
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
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
    rows = await asyncio.to_thread(queries.runs, _outputs(request), experiment, model, since)
    experiments = await asyncio.to_thread(queries.experiments, _outputs(request))
    return {
        "runs": rows,
        "experiment": experiment,
        "model": model,
        "since": since,
        "experiments": experiments,
    }


async def report_page(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["run_id"]
    folder = await asyncio.to_thread(queries.run_dir, _outputs(request), run_id)
    if folder is None:
        raise web.HTTPNotFound(text=f"No run {run_id} in the index.")
    report = folder / REPORT_FILE
    if report.is_file() and not report.resolve().is_relative_to(_outputs(request).resolve()):
        # A report.html that is a link out of the outputs folder is served by no one.
        raise web.HTTPNotFound(text=f"Run {run_id}'s report lies outside the outputs folder.")
    if not report.is_file():
        raise web.HTTPNotFound(
            text=f"Run {run_id} has no report yet: "
            + shell_command(
                "runner.report",
                f"run={run_id}",
                f"experiment={folder.parent.name}",
                f"outputs_dir={_outputs(request)}",
            )
        )
    return web.FileResponse(report, headers={"content-type": "text/html; charset=utf-8"})


@aiohttp_jinja2.template("results.html.j2")
async def results_page(request: web.Request) -> dict[str, Any]:
    q = request.query
    filters = {k: q.get(k, "") for k in queries.RESULT_FILTERS}
    text = q.get("q", "")
    page = await asyncio.to_thread(
        queries.results,
        _outputs(request),
        filters,
        text,
        _int(request, "page", 1),
        _int(request, "size", 50, queries.PAGE_SIZES),
    )
    return {"page": page, "filters": filters, "q": text, "sizes": queries.PAGE_SIZES}


@aiohttp_jinja2.template("matrix.html.j2")
async def matrix_page(request: web.Request) -> dict[str, Any]:
    experiments = await asyncio.to_thread(queries.experiments, _outputs(request))
    experiment = request.query.get("experiment") or (experiments[0] if experiments else "")
    models, page = await asyncio.to_thread(
        queries.matrix,
        _outputs(request),
        experiment,
        _int(request, "page", 1),
        _int(request, "size", 25, queries.PAGE_SIZES),
    )
    return {"experiment": experiment, "experiments": experiments, "models": models, "page": page}


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
    return {"experiment": experiment, "key": key, "prompt": prompt, "page": page}


@web.middleware
async def _local_host_only(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer only requests addressed to this machine's own names, with the viewer's port."""
    hosts = request.app[HOSTS]
    if hosts and (request.headers.get("Host") or "").lower() not in hosts:
        return web.Response(
            status=403, text="This viewer answers only http://127.0.0.1 or localhost."
        )
    response: web.StreamResponse = await handler(request)
    return response


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


def make_app(outputs_dir: Path) -> web.Application:
    """The viewer over ``outputs_dir``'s index (any Host until :func:`allow_port`)."""
    app = web.Application(middlewares=[_local_host_only, _index_errors])
    app[OUTPUTS] = outputs_dir
    app[HOSTS] = set()
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("runner.view", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )
    app.router.add_get("/", runs_page)
    app.router.add_get("/run/{run_id}", report_page)
    app.router.add_get("/results", results_page)
    app.router.add_get("/matrix", matrix_page)
    app.router.add_get("/prompt", prompt_page)
    return app
