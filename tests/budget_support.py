"""Helpers of the budget tests (test_budget_cases, test_budget_servers)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

# $1 per thousand tokens: a request costs cents, so a cap of a few dollars ends mid-run.
DEAR = "prices={dear-model:{input_per_mtok:1000,output_per_mtok:1000}}"
USD_PER_TOKEN = 0.001


def overrides(tmp_path: Path, *more: str) -> list[str]:
    """A run's settings in ``tmp_path``, fast retries, no index or progress."""
    return [
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        f"limits_dir={tmp_path / 'limits'}",
        "max_queries=60000",
        "progress=off",
        "index=false",
        "backoff_base_s=0.05",
        *more,
    ]


def budget_of(folder: Path) -> dict[str, Any]:
    """``run.json``'s ``cost.budget``."""
    budget: dict[str, Any] = json.loads((folder / "run.json").read_text())["cost"]["budget"]
    return budget


@contextmanager
def serve(app: web.Application) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in its own thread; yields its URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
