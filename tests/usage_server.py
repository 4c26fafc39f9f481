"""An in-test server answering with the usage blocks the providers' API references document.

llmock's usage blocks carry no cached or reasoning counts (TEST-SERVERS.md), so this small
aiohttp server answers OpenAI chat (plain and streamed), Azure OpenAI, Anthropic Messages
(plain and streamed), Gemini and Vertex AI ``generateContent`` with the documented bodies
given to it, over real HTTP. It runs in its own thread and event loop (as plain_server).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class UsageServer:
    """Where the server listens, and the request bodies it got (by path)."""

    url: str = ""
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Answers:
    """The bodies to answer: a whole body per dialect, and the streamed events."""

    chat: dict[str, Any] | None = None  # OpenAI / Azure chat.completion
    chat_chunks: list[dict[str, Any]] = field(default_factory=list)
    message: dict[str, Any] | None = None  # Anthropic message
    message_events: list[dict[str, Any]] = field(default_factory=list)
    generate: dict[str, Any] | None = None  # Gemini GenerateContentResponse
    vertex: dict[str, Any] | None = None  # Vertex AI's (its paths start with /projects/)


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        text = data if isinstance(data, str) else json.dumps(data)
        out.append(f"{head}data: {text}\n\n")
    return "".join(out).encode()


def _app(state: UsageServer, answers: Answers) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        state.requests.append((request.path, body))
        path = request.path
        if path.endswith(":generateContent"):
            vertex = path.startswith("/projects/") and answers.vertex is not None
            return web.json_response(answers.vertex if vertex else answers.generate)
        if path.endswith("/messages"):
            if body.get("stream"):
                events = [(e["type"], e) for e in answers.message_events]
                return _stream(_sse(events))
            return web.json_response(answers.message)
        if body.get("stream"):
            chunks: list[tuple[str | None, Any]] = [(None, c) for c in answers.chat_chunks]
            return _stream(_sse([*chunks, (None, "[DONE]")]))
        return web.json_response(answers.chat)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    return app


def _stream(payload: bytes) -> web.Response:
    return web.Response(body=payload, content_type="text/event-stream")


@contextmanager
def usage_server(answers: Answers) -> Iterator[UsageServer]:
    """Serve ``answers`` on a free loopback port until the block ends."""
    state = UsageServer()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(state, answers), access_log=None)
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
