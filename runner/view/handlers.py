"""The viewer's smaller handlers: live runs, export, hand labels; and how a prompt is read."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
import markupsafe
from aiohttp import web

from runner.output.results import USAGE_FIELDS
from runner.view import live
from runner.view.conversation import as_text, conversation, is_image, pretty_json
from runner.view.export import export as export_rows
from runner.view.labels import append_label, labels_path
from runner.view.queries import Page
from runner.view.security import CSRF, check_csrf

OUTPUTS = web.AppKey("outputs_dir", Path)
DASH = "\u2013"  # an en dash: no value
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def with_way_back(html: str, run_id: str, experiment: str) -> str:
    """The report with a bar linking back to the viewer (the file itself opens offline)."""
    run, exp = urllib.parse.quote(run_id, safe=""), urllib.parse.quote(experiment, safe="")
    bar = (
        '<nav id="viewer-nav" style="font: 14px system-ui; padding: .4em 0">'
        '<a href="/">&larr; Runs</a> &middot; '
        f'<a href="/results?run={run}">results of this run</a> &middot; '
        f'<a href="/compare?experiment={exp}">compare {markupsafe.escape(experiment)}</a></nav>'
    )
    at = html.find("<body>")
    return html if at < 0 else html[: at + 6] + bar + html[at + 6 :]


def live_folder(outputs_dir: Path, run_id: str) -> Path | None:
    """The folder of a run not (yet) in the index, found by name inside ``outputs_dir``."""
    if not _RUN_ID.match(run_id):
        return None
    root = outputs_dir.resolve()
    for folder in root.glob(f"*/{run_id}"):
        resolved = folder.resolve()
        if resolved.is_relative_to(root) and (resolved / "run.json").is_file():
            return resolved
    return None


async def live_page(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["run_id"]
    folder = await asyncio.to_thread(live_folder, request.app[OUTPUTS], run_id)
    if folder is None:
        raise web.HTTPNotFound(text=f"No run {run_id} in the outputs folder.")
    state = await asyncio.to_thread(live.live_state, folder)
    return aiohttp_jinja2.render_template("live.html.j2", request, {"state": state})


async def live_api(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["run_id"]
    folder = await asyncio.to_thread(live_folder, request.app[OUTPUTS], run_id)
    if folder is None:
        raise web.HTTPNotFound(text=f"No run {run_id} in the outputs folder.")
    state = await asyncio.to_thread(live.live_state, folder)
    state["report"] = (folder / "report.html").is_file()
    return web.json_response(state, headers={"Cache-Control": "no-store"})


async def export(request: web.Request) -> web.StreamResponse:
    """The filtered rows of the find page as CSV or JSONL (every row, not one page)."""
    return await export_rows(request, request.app[OUTPUTS])


async def label(request: web.Request) -> web.StreamResponse:
    """Append a good/bad label with a note; back to the page it came from."""
    form = await request.post()
    check_csrf(request, form)
    try:
        await asyncio.to_thread(
            append_label,
            request.app[OUTPUTS],
            str(form.get("run") or ""),
            str(form.get("key") or ""),
            str(form.get("label") or ""),
            str(form.get("note") or ""),
        )
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    raise web.HTTPSeeOther(same_site_path(str(form.get("back") or "/")))


def same_site_path(back: str) -> str:
    """``back`` if it is a path on this viewer, else ``/``: never a redirect off it.

    A browser reads ``/\\evil.example`` as ``//evil.example`` (another site); a control
    character would end the Location header.
    """
    if not back.startswith("/") or back.startswith("//") or "\\" in back:
        return "/"
    return "/" if any(ord(c) < 32 or ord(c) == 127 for c in back) else back


MEDIA = web.AppKey("media_dir", Path)


async def media(request: web.Request) -> web.StreamResponse:
    """An image of a prompt, from the media folder only (a thumbnail on the prompt page)."""
    root = request.app[MEDIA].resolve()
    name = request.match_info["name"]
    path = (root / name).resolve()
    if not is_image(path.name) or not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound(text="No such image in the media folder.")
    return web.FileResponse(path, headers={"Content-Security-Policy": "default-src 'none'"})


async def favicon(request: web.Request) -> web.StreamResponse:
    del request
    return web.Response(status=204)


async def labels_export(request: web.Request) -> web.StreamResponse:
    path = labels_path(request.app[OUTPUTS])
    if not path.is_file():
        return web.Response(text="", content_type="application/x-ndjson")
    return web.FileResponse(path, headers={"Content-Type": "application/x-ndjson"})


def _record(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(str(text or "{}"))
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def prompt_context(
    experiment: str,
    key: str,
    prompt: str,
    page: Page,
    evaluations: list[dict[str, Any]],
    labels: dict[tuple[str, str], dict[str, Any]],
    csrf: str,
) -> dict[str, Any]:
    """What the prompt page draws: the conversation, then each answer of the page in full."""
    answers = page.rows
    for a in answers:
        record = _record(a.pop("record", None))
        # A result line leaves out the counts an answer did not report (and an error's usage).
        a["usage"] = dict.fromkeys(USAGE_FIELDS) | (record.get("usage") or {})
        a["parameters"] = pretty_json(record.get("parameters"))
        a["thinking"] = record.get("thinking")
        a["tool_calls"] = [
            {"name": str(c.get("name")), "arguments": pretty_json(c.get("arguments"))}
            for c in record.get("tool_calls") or []
            if isinstance(c, dict)
        ]
        a["parsed"] = pretty_json(record.get("parsed")) if record.get("parsed") is not None else ""
        a["turns"] = conversation(record.get("prompt", prompt), record.get("response"))
        a["evaluations"] = [
            e
            for e in evaluations
            if e["run_id"] == a["run_id"] and e["prompt_key"] == a["prompt_key"]
        ]
        a["label"] = labels.get((str(a["run_id"]), str(a["prompt_key"])))
    return {
        "experiment": experiment,
        "key": key,
        "prompt": prompt,
        "page": page,
        "answers": answers,
        "csrf": csrf,
    }


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return DASH
    if isinstance(value, int):
        return f"{value:,}"
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _usd(value: Any) -> str:
    if value is None:
        return DASH
    amount = float(value)
    if amount == 0:
        return "$0"
    if amount < 0.01:
        return f"${amount:.6f}".rstrip("0")
    return f"${amount:,.4f}" if amount < 1 else f"${amount:,.2f}"


def add_filters(env: jinja2.Environment) -> None:
    """Number formats the templates share."""
    env.filters["num"] = _num
    env.filters["usd"] = _usd
    env.filters["text"] = as_text
    env.tests["image"] = is_image
    env.filters["pct"] = lambda v: DASH if v is None else f"{100 * float(v):.1f}%"


__all__ = ["CSRF", "OUTPUTS", "add_filters", "export", "label", "live_api", "live_page"]
