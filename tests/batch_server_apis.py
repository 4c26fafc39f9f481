"""Anthropic's Message Batches and Gemini's batchGenerateContent beside tests/batch_server.py.

The same :class:`BatchServer` state: every batch made goes in ``batches`` (with its
``api``), ``create_delay`` makes each create take that long before the batch exists (as a
large create does at the provider; the batch is made even when the client has gone; with
``create_after_a_look`` only after a list call came meanwhile, as a quick resume's), and
``bad_lines`` replaces the result of the prompt at that position (``{cid}`` filled in) to
play a result line of another shape. A batch ends at its first poll.

Shapes from the API references: https://docs.anthropic.com/en/api/creating-message-batches,
https://docs.anthropic.com/en/api/retrieving-message-batch-results and
https://ai.google.dev/api/batch-mode (GenerateContentBatch, InlinedResponses).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.batch_server import BatchServer

ANTHROPIC = "/anthropic/v1/messages/batches"
TYPES = "type.googleapis.com/google.ai.generativelanguage.v1main."
GEMINI = "/gemini/v1beta"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))


def _replaced(state: BatchServer, index: int, cid: str, good: str) -> str:
    bad = state.bad_lines.get(index)
    return good if bad is None else bad.replace("{cid}", cid)


async def made(state: BatchServer, batch: dict[str, Any], size: int) -> None:
    """The batch exists ``create_delay`` after its create came, whether or not the client
    waits for the answer (aiohttp cancels a handler whose client left; this task goes on)."""
    for hook in state.hooks:
        hook("create")

    async def make() -> None:
        if state.create_after_a_look:  # a look (a list call) comes before it is made
            seen = state.list_calls
            for _ in range(1200):
                if state.list_calls > seen:
                    break
                await asyncio.sleep(0.05)
        await asyncio.sleep(state.create_delay)
        state.batches.append(batch)
        state.lines_per_batch.append(size)

    task = asyncio.ensure_future(make())
    state.making.add(task)
    task.add_done_callback(state.making.discard)
    await asyncio.shield(task)


def add_routes(app: web.Application, state: BatchServer) -> None:
    """Anthropic's and Gemini's batch routes, on ``app``."""
    _anthropic(app, state)
    _gemini(app, state)


def _anthropic(app: web.Application, state: BatchServer) -> None:
    def public(batch: dict[str, Any]) -> dict[str, Any]:
        ended = batch["status"] == "ended"
        n = len(batch["requests"])
        counts = {"processing": 0 if ended else n, "succeeded": n if ended else 0}
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": batch["status"],
            "request_counts": counts | {"errored": 0, "canceled": 0, "expired": 0},
            "created_at": batch["created_at"],
        }

    def find(batch_id: str) -> dict[str, Any]:
        return next(b for b in state.batches if b["id"] == batch_id)

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        batch = {
            "api": "anthropic",
            "id": f"msgbatch_{uuid.uuid4().hex[:12]}",
            "status": "in_progress",
            "requests": body["requests"],
            "created_at": datetime.now(UTC).isoformat(),
        }
        await made(state, batch, len(batch["requests"]))
        return web.json_response(public(batch))

    async def listing(request: web.Request) -> web.Response:
        state.list_calls += 1
        data = [public(b) for b in reversed(state.batches) if b["api"] == "anthropic"]
        return web.json_response({"data": data, "has_more": False, "last_id": None})

    async def poll(request: web.Request) -> web.Response:
        batch = find(request.match_info["id"])
        batch["status"] = "ended"
        return web.json_response(public(batch))

    async def results(request: web.Request) -> web.Response:
        lines = []
        for i, line in enumerate(find(request.match_info["id"])["requests"]):
            text = _text(line["params"]["messages"][-1]["content"])
            message = {
                "id": f"msg_{i}",
                "type": "message",
                "role": "assistant",
                "model": line["params"]["model"],
                "content": [{"type": "text", "text": f"re: {text}"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 2, "output_tokens": 3},
            }
            good = {
                "custom_id": line["custom_id"],
                "result": {"type": "succeeded", "message": message},
            }
            lines.append(_replaced(state, i, line["custom_id"], json.dumps(good)))
        return web.Response(text="\n".join(lines) + "\n", content_type="application/binary")

    app.router.add_post(ANTHROPIC, create)
    app.router.add_get(ANTHROPIC, listing)
    app.router.add_get(f"{ANTHROPIC}/{{id}}", poll)
    app.router.add_get(f"{ANTHROPIC}/{{id}}/results", results)


def _gemini(app: web.Application, state: BatchServer) -> None:
    def operation(batch: dict[str, Any]) -> dict[str, Any]:
        ended = batch["status"] == "ended"
        meta = {
            "@type": TYPES + "GenerateContentBatch",
            "model": f"models/{batch['model']}",
            "displayName": batch["tag"],
            "state": "BATCH_STATE_SUCCEEDED" if ended else "BATCH_STATE_PENDING",
        }
        found: dict[str, Any] = {"name": batch["id"], "metadata": meta}
        if ended:
            responses = [_gemini_response(state, i, r) for i, r in enumerate(batch["requests"])]
            found["done"] = True
            found["response"] = {
                "@type": TYPES + "GenerateContentBatchOutput",
                "inlinedResponses": {"inlinedResponses": responses},
            }
        return found

    def find(batch_id: str) -> dict[str, Any]:
        return next(b for b in state.batches if b["id"] == batch_id)

    async def create(request: web.Request) -> web.Response:
        body = (await request.json())["batch"]
        batch = {
            "api": "gemini",
            "id": f"batches/{uuid.uuid4().hex[:12]}",
            "status": "in_progress",
            "model": request.match_info["model"],
            "tag": body["displayName"],
            "requests": body["inputConfig"]["requests"]["requests"],
        }
        await made(state, batch, len(batch["requests"]))
        return web.json_response(operation(batch))

    async def listing(request: web.Request) -> web.Response:
        state.list_calls += 1
        found = [operation(b) for b in reversed(state.batches) if b["api"] == "gemini"]
        return web.json_response({"operations": found})

    async def poll(request: web.Request) -> web.Response:
        batch = find(f"batches/{request.match_info['id']}")
        batch["status"] = "ended"
        return web.json_response(operation(batch))

    app.router.add_post(f"{GEMINI}/models/{{model}}:batchGenerateContent", create)
    app.router.add_get(f"{GEMINI}/batches", listing)
    app.router.add_get(f"{GEMINI}/batches/{{id}}", poll)


def _gemini_response(state: BatchServer, index: int, line: dict[str, Any]) -> Any:
    text = _text(line["request"]["contents"][-1]["parts"])
    good = {
        "response": {
            "candidates": [
                {"content": {"parts": [{"text": f"re: {text}"}], "role": "model"},
                 "finishReason": "STOP"}
            ],
            "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 3},
        },
        "metadata": {"key": line["metadata"]["key"]},
    }  # fmt: skip
    bad = state.bad_lines.get(index)
    return good if bad is None else json.loads(bad.replace("{cid}", line["metadata"]["key"]))
