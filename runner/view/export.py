"""The find page's rows as CSV or JSONL: every row the filters match, streamed.

A worker thread reads the rows in chunks and hands each chunk, encoded, to the response
through a small queue: a million-row export never sits in memory at once, and a client that
goes away stops the reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from runner.index.db import read_connection
from runner.view import queries
from runner.visible import spreadsheet_cell

# Rows fetched from DuckDB per chunk while an export streams.
EXPORT_CHUNK = 5000
EXPORT_COLUMNS = (
    "run_id, experiment, prompt_key, model_name, status, error_kind, attempts, latency_s, "
    "cost_usd, cached, input_tokens, output_tokens, score, prompt, response, error"
)


def _encode(kind: str, names: list[str], rows: list[tuple[Any, ...]], header: bool) -> bytes:
    buffer = io.StringIO()
    if kind == "csv":
        writer = csv.writer(buffer)
        if header:
            writer.writerow(names)
        # A prompt or answer "=HYPERLINK(...)" is text in the spreadsheet, not a formula.
        writer.writerows(
            [spreadsheet_cell(v) if isinstance(v, str) else v for v in r] for r in rows
        )
    else:
        for row in rows:
            buffer.write(json.dumps(dict(zip(names, row, strict=True)), default=str) + "\n")
    return buffer.getvalue().encode("utf-8")


def _produce(
    outputs_dir: Path,
    query: dict[str, str],
    kind: str,
    put: Callable[[bytes | None], None],
    stop: threading.Event,
) -> None:
    keys = (*queries.RESULT_FILTERS, "cached", *queries.RANGES)
    filters = {k: query.get(k, "") for k in keys}
    clause, params, _ = queries.result_filter(filters, query.get("q", ""))
    try:
        with read_connection(outputs_dir) as con:
            source = queries.scored_responses(con)
            cursor = con.execute(
                f"SELECT {EXPORT_COLUMNS} FROM {source} WHERE {clause} ORDER BY run_id DESC, line",
                params,
            )
            names = [d[0] for d in cursor.description or []]
            header = True
            while not stop.is_set():
                chunk = cursor.fetchmany(EXPORT_CHUNK)
                if not chunk and not header:
                    break
                put(_encode(kind, names, chunk, header))
                header = False
                if not chunk:
                    break
    finally:
        put(None)


async def export(request: web.Request, outputs_dir: Path) -> web.StreamResponse:
    """Stream the filtered rows; ``format=csv`` (default) or ``jsonl``."""
    kind = request.query.get("format", "csv")
    if kind not in ("csv", "jsonl"):
        raise web.HTTPBadRequest(text="format must be csv or jsonl")
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)
    stop = threading.Event()

    def put(data: bytes | None) -> None:
        asyncio.run_coroutine_threadsafe(chunks.put(data), loop).result()

    worker = asyncio.ensure_future(
        asyncio.to_thread(_produce, outputs_dir, dict(request.query), kind, put, stop)
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8" if kind == "csv" else "application/x-ndjson",
            "Content-Disposition": f'attachment; filename="results.{kind}"',
        }
    )
    await response.prepare(request)
    try:
        while (data := await chunks.get()) is not None:
            await response.write(data)
    finally:
        stop.set()
        while not worker.done():  # let a blocked worker put its last chunk and end
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(chunks.get(), timeout=0.1)
        await worker
    await response.write_eof()
    return response
