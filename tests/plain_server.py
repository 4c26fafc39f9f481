"""A tiny aiohttp server for a case no third-party test server produces.

It answers every chat request with one whole JSON body, as servers that ignore ``stream``
do (llmock, aimock and llama.cpp all honour it). It runs in its own thread and event loop,
so a synchronous run (``asyncio.run`` inside) can call it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class PlainServer:
    """Where the server listens, and the bodies of the requests it got."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _chat_completion(model: str, answer: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
    }


def _message(model: str, answer: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": answer}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 3},
    }


def _app(state: PlainServer, answer: str, script: Sequence[tuple[str, str]]) -> web.Application:
    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        state.requests.append(body)
        state.headers.append(dict(request.headers))
        if request.path.endswith("/messages"):
            return web.json_response(_message(body.get("model", ""), answer))
        if script:  # the n-th request gets the n-th (answer, finish_reason); the last repeats
            text, finish = script[min(len(state.requests), len(script)) - 1]
            return web.json_response(_chat_completion(body.get("model", ""), text, finish))
        return web.json_response(_chat_completion(body.get("model", ""), answer))

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/anthropic/v1/messages", chat)
    return app


@contextmanager
def plain_server(
    *, answer: str = "a whole answer", script: Sequence[tuple[str, str]] = ()
) -> Iterator[PlainServer]:
    """Serve on a free loopback port until the block ends; every answer is ``answer``.

    ``script``: chat answers in order instead, as (text, finish_reason); the last repeats.
    """
    state = PlainServer()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(state, answer, script), access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
