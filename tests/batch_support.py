"""Helpers for the batch adapter tests: an adapter over a real HTTP session, a tiny server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from runner.batch.adapter import BatchAdapter, BatchState, BatchStatus, ItemResult
from runner.config.schema import RunConfig
from runner.prompts.records import PromptRecord
from runner.providers.base import HttpProvider, ProviderContext


@asynccontextmanager
async def adapter_over(
    adapter_class: type[BatchAdapter],
    provider_class: type[HttpProvider],
    env: dict[str, str],
) -> AsyncIterator[BatchAdapter]:
    """An adapter over its online provider, with one HTTP session (closed after)."""
    async with aiohttp.ClientSession() as session:
        context = ProviderContext(RunConfig(timeout_s=20), session=session, env=env)
        yield adapter_class(provider_class(context))


async def until_over(adapter: BatchAdapter, model: str, batch_id: str) -> BatchState:
    """Poll until the batch leaves IN_PROGRESS (within 20 s); its last state."""
    deadline = asyncio.get_running_loop().time() + 20.0
    while True:
        state = await adapter.poll(model, batch_id)
        if state.status is not BatchStatus.IN_PROGRESS:
            return state
        assert asyncio.get_running_loop().time() < deadline, f"{batch_id} still {state}"
        await asyncio.sleep(0.5)


async def all_results(adapter: BatchAdapter, model: str, batch_id: str) -> dict[str, ItemResult]:
    return {item.custom_id: item async for item in adapter.results(model, batch_id)}


def record(api: str, model: str, i: int, prompt: Any, **extra: Any) -> PromptRecord:
    data = {"id": f"p{i}", "api": api, "model_name": model, "prompt": prompt, **extra}
    return PromptRecord(data, source="test.jsonl", line=i + 1)


Handler = Callable[[web.Request], Any]


@asynccontextmanager
async def tiny_server(routes: Sequence[tuple[str, str, Handler]]) -> AsyncIterator[str]:
    """An in-test aiohttp server for what llmock cannot produce; its root URL."""
    app = web.Application()
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


# A model per batch API, and its base URL under tests/batch_server.py's server.
BATCH_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
    "gemini": "gemini-test",
}
BATCH_BASES = {"openai": "/v1", "anthropic": "/anthropic", "gemini": "/gemini/v1beta"}


def batch_env(api: str, server_url: str) -> dict[str, str]:
    """The environment of a run of ``api`` against the batch server: no stray keys."""
    import os

    from tests.providers_support import PROVIDER_ENV_PREFIXES

    env = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_ENV_PREFIXES)}
    prefix = api.upper()
    env.update(
        {f"{prefix}_API_KEY": "test-key", f"{prefix}_BASE_URL": server_url + BATCH_BASES[api]}
    )
    return env
