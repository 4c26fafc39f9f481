"""The viewer's web app (aiohttp + jinja2): runs, a run's report, results, matrix, a prompt.

Queries run in a worker thread, so one slow page never stalls the others. Read only: pages
run fixed, parameterised queries (:mod:`runner.view.queries`); the only files served are run
reports, found through the index and checked to lie inside the outputs folder.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from runner.commands import shell_command
from runner.index.errors import ResultsIndexError
from runner.report.render import REPORT_FILE
from runner.view import queries

OUTPUTS = web.AppKey("outputs_dir", Path)


def _int(request: web.Request, name: str, default: int, choices: tuple[int, ...] = ()) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        return default
    if choices:
        return value if value in choices else default
    return max(1, value)


def _outputs(request: web.Request) -> Path:
    return request.app[OUTPUTS]


@aiohttp_jinja2.template("runs.html.j2")
async def runs_page(request: web.Request) -> dict[str, Any]:
    q = request.query
    experiment, model, since = q.get("experiment", ""), q.get("model", ""), q.get("since", "")
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
    answers = await asyncio.to_thread(queries.prompt_detail, _outputs(request), experiment, key)
    if not answers:
        raise web.HTTPNotFound(text=f"No prompt {key!r} in experiment {experiment!r}.")
    return {"experiment": experiment, "key": key, "answers": answers}


@web.middleware
async def _index_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A missing or busy index is a page saying so, not a traceback."""
    try:
        response: web.StreamResponse = await handler(request)
    except ResultsIndexError as exc:
        build = shell_command("runner.index", "--outputs-dir", str(_outputs(request)))
        return web.Response(status=503, text=f"{exc}\nBuild the index with: {build}")
    return response


def make_app(outputs_dir: Path) -> web.Application:
    """The viewer over ``outputs_dir``'s index."""
    app = web.Application(middlewares=[_index_errors])
    app[OUTPUTS] = outputs_dir
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("runner.view", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app.router.add_get("/", runs_page)
    app.router.add_get("/run/{run_id}", report_page)
    app.router.add_get("/results", results_page)
    app.router.add_get("/matrix", matrix_page)
    app.router.add_get("/prompt", prompt_page)
    return app
