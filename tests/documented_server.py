"""An aiohttp server answering each route with one fixed body, as an API reference documents it.

For answers no third-party test server produces (thinking blocks, thought parts, reasoning
summaries, Ollama's tool calls): each test passes the body its provider's docs show, and
cites the page. A body that is a string is sent as a server-sent event stream. The server
runs in its own thread and event loop, so a synchronous run can call it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class DocumentedServer:
    """Where the server listens, and each request it got as ``(path, body)``."""

    url: str = ""
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def sse(*events: dict[str, Any]) -> str:
    """Server-sent events, each named by its ``type`` (Anthropic's and Responses' form)."""
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


def _app(state: DocumentedServer, routes: Mapping[str, Any]) -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        state.requests.append((request.path, body))
        reply = routes[request.path]
        if isinstance(reply, str):
            return web.Response(text=reply, content_type="text/event-stream")
        return web.json_response(reply)

    app = web.Application()
    for path in routes:
        app.router.add_post(path, answer)
    return app


@contextmanager
def documented_server(routes: Mapping[str, Any]) -> Iterator[DocumentedServer]:
    """Serve ``routes`` (path -> body) on a free loopback port until the block ends."""
    state = DocumentedServer()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(state, routes), access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
