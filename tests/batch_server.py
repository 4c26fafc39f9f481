"""A small OpenAI-batch server for the cases llmock cannot produce.

llmock's batches always end with every line answered; real batches expire, end with some
lines in an error file, leave ids out, or never end before a deadline. Each batch created
here follows the next script of ``scripts`` (then ``"ok"``):

* ``ok``: every line answered (output file).
* ``expire``: status ``expired``; the first half answered, the next quarter in the error
  file with ``batch_expired``, the rest absent.
* ``errors``: line 1 in the error file as a 400 (fatal), line 2 as a 500 (retryable),
  line 3 absent, the rest answered; status ``completed``.
* ``never``: in progress until cancelled; then ``cancelled`` with the first line answered.
* ``invalid-json``: every line answered with text that is not JSON.

A request with a ``response_format`` is answered with its prompt (the JSON the test wants).

``poll_failures`` polls answer 500 first (a poll error is tolerated). Chat completions
are answered too (``batch_fallback=online``). It runs in its own thread and loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.batch_server_apis import add_routes, made


@dataclass
class BatchServer:
    """Where it listens, what it was asked, and the scripts still to play."""

    scripts: list[str] = field(default_factory=list)
    poll_failures: int = 0
    url: str = ""
    batches: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    chat_requests: int = 0
    azure_calls: list[str] = field(default_factory=list)
    # Called (with "upload" or "create") as each such request arrives, before it is served.
    hooks: list[Callable[[str], None]] = field(default_factory=list)
    lines_per_batch: list[int] = field(default_factory=list)
    # Seconds each create takes before the batch exists (made even if the client has gone).
    create_delay: float = 0.0
    # Result position -> the raw line given instead of that prompt's answer ({cid} filled).
    bad_lines: dict[int, str] = field(default_factory=dict)
    making: set[asyncio.Future[None]] = field(default_factory=set)  # creates under way
    create_after_a_look: bool = False
    list_calls: int = 0


def _completion(body: dict[str, Any], invalid: bool = False) -> dict[str, Any]:
    prompt = body["messages"][-1]["content"]
    answer = prompt if "response_format" in body and not invalid else f"re: {prompt}"
    return {
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer},
             "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 3},
    }  # fmt: skip


def _response(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses API ``response`` object, shaped as the API reference documents it
    (https://platform.openai.com/docs/api-reference/responses/object)."""
    prompt = body["input"][-1]["content"]
    text = f"re: {prompt}"
    if ((body.get("text") or {}).get("format") or {}).get("type") == "json_schema":
        text = json.dumps({"a": text})  # the schema tests/integration/test_batch_responses.py sends
    message = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    usage = {
        "input_tokens": 2,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 5,
    }
    return {"id": "resp_1", "object": "response", "status": "completed",
            "model": body.get("model"), "output": [message], "usage": usage}  # fmt: skip


def _ok(line: dict[str, Any], invalid: bool = False) -> str:
    if line["url"].endswith("/responses"):
        body = _response(line["body"])
    else:
        body = _completion(line["body"], invalid)
    response = {"status_code": 200, "body": body}
    return json.dumps({"custom_id": line["custom_id"], "response": response, "error": None})


def _failed(line: dict[str, Any], status: int) -> str:
    body = {"error": {"message": f"status {status} for this line", "type": "server_error"}}
    response = {"status_code": status, "body": body}
    return json.dumps({"custom_id": line["custom_id"], "response": response, "error": None})


def _expired(line: dict[str, Any]) -> str:
    error = {"code": "batch_expired", "message": "This request could not be executed"}
    return json.dumps({"custom_id": line["custom_id"], "response": None, "error": error})


def _finish(state: BatchServer, batch: dict[str, Any], status: str) -> None:
    lines = [json.loads(x) for x in state.files[batch["input_file_id"]].splitlines() if x]
    script = batch["script"]
    out: list[str] = []
    err: list[str] = []
    if script == "expire":
        half, quarter = len(lines) // 2, len(lines) // 4
        out = [_ok(x) for x in lines[:half]]
        err = [_expired(x) for x in lines[half : half + quarter]]
    elif script == "errors":
        err = [_failed(lines[0], 400), _failed(lines[1], 500)]
        out = [_ok(x) for x in lines[3:]]
    elif script == "never":
        out = [_ok(lines[0])]
    elif script == "invalid-json":
        out = [_ok(x, invalid=True) for x in lines]
    else:
        out = [_ok(x) for x in lines]
    out = [
        state.bad_lines.get(i, x).replace("{cid}", lines[i]["custom_id"]) for i, x in enumerate(out)
    ]
    for key, content in (("output_file_id", out), ("error_file_id", err)):
        if content:
            file_id = f"file-{uuid.uuid4().hex[:12]}"
            state.files[file_id] = "\n".join(content) + "\n"
            batch[key] = file_id
    batch["status"] = status


def _app(state: BatchServer) -> web.Application:
    async def upload(request: web.Request) -> web.Response:
        for hook in state.hooks:
            hook("upload")
        form = await request.post()
        file = form["file"]
        assert form["purpose"] == "batch" and isinstance(file, web.FileField)
        file_id = f"file-{uuid.uuid4().hex[:12]}"
        state.files[file_id] = file.file.read().decode()
        return web.json_response({"id": file_id, "object": "file"})

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        script = state.scripts.pop(0) if state.scripts else "ok"
        lines = [x for x in state.files[body["input_file_id"]].splitlines() if x]
        batch = {
            "api": "openai",
            "id": f"batch_{uuid.uuid4().hex[:12]}",
            "status": "in_progress",
            "input_file_id": body["input_file_id"],
            "metadata": body.get("metadata"),
            "endpoint": body.get("endpoint"),
            "script": script,
            "output_file_id": None,
            "error_file_id": None,
        }
        await made(state, batch, len(lines))
        return web.json_response(_public(batch))

    def find(batch_id: str) -> dict[str, Any]:
        return next(b for b in state.batches if b["id"] == batch_id)

    async def poll(request: web.Request) -> web.Response:
        if state.poll_failures > 0:
            state.poll_failures -= 1
            return web.json_response({"error": {"message": "try later"}}, status=500)
        batch = find(request.match_info["id"])
        if batch["status"] == "in_progress" and batch["script"] != "never":
            _finish(state, batch, "expired" if batch["script"] == "expire" else "completed")
        return web.json_response(_public(batch))

    async def cancel(request: web.Request) -> web.Response:
        batch = find(request.match_info["id"])
        if batch["status"] == "in_progress":
            _finish(state, batch, "cancelled")
        return web.json_response(_public(batch))

    async def listing(request: web.Request) -> web.Response:
        state.list_calls += 1
        data = [_public(b) for b in reversed(state.batches) if b["api"] == "openai"]
        return web.json_response({"data": data, "has_more": False, "last_id": None})

    async def content(request: web.Request) -> web.Response:
        return web.Response(text=state.files[request.match_info["id"]])

    async def chat(request: web.Request) -> web.Response:
        state.chat_requests += 1
        return web.json_response(_completion(await request.json()))

    @web.middleware
    async def azure_key(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Azure's shape: /openai/... with an api-version and the key in api-key.
        if request.path.startswith("/openai/"):
            state.azure_calls.append(f"{request.method} {request.path_qs}")
            if request.headers.get("api-key") != "azure-key" or not request.query.get(
                "api-version"
            ):
                return web.json_response({"error": {"message": "no key"}}, status=401)
        return await handler(request)

    app = web.Application(middlewares=[azure_key])
    for prefix in ("/v1", "/openai"):
        app.router.add_post(f"{prefix}/files", upload)
        app.router.add_post(f"{prefix}/batches", create)
        app.router.add_get(f"{prefix}/batches", listing)
        app.router.add_get(f"{prefix}/batches/{{id}}", poll)
        app.router.add_post(f"{prefix}/batches/{{id}}/cancel", cancel)
        app.router.add_get(f"{prefix}/files/{{id}}/content", content)
    app.router.add_post("/v1/chat/completions", chat)
    add_routes(app, state)
    return app


def _public(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if k not in ("script", "api")} | {"object": "batch"}


@contextmanager
def batch_server(
    scripts: list[str], poll_failures: int = 0, create_delay: float = 0.0
) -> Iterator[BatchServer]:
    """Serve on a free loopback port until the block ends."""
    state = BatchServer(list(scripts), poll_failures)
    state.create_delay = create_delay
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(state), access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
