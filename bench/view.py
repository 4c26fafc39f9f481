"""The viewer at a million: ``python bench/view.py [--rows N] [--models M]``.

Fills an index with ``--rows`` responses (default 1,000,000) of one experiment across
``--models`` runs of one model each (default 5), every response scored, then serves it with
``python -m runner.view``'s app and times every page over HTTP (server-side: the client is
on the same machine and reads the whole body), and the browser's JS heap on each page in
headless Chromium. Issue 21: every page < 300 ms, search < 1 s, browser memory < 300 MB.
Prints a markdown table, also written to ``bench/results/view.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPEATS = 3


def make_index(outputs: Path, rows: int, models: int) -> None:
    """One experiment ``big``: ``rows // models`` prompts answered by each of ``models`` runs."""
    from runner.index.db import write_connection
    from runner.index.schema import ensure_schema
    from runner.index.scores import refresh_scores

    outputs.mkdir(parents=True, exist_ok=True)
    with write_connection(outputs) as con:
        ensure_schema(con)
        con.execute(
            "INSERT INTO responses (run_id, experiment, prompt_key, id, line, prompt, "
            "model_name, response, status, error_kind, attempts, latency_s, cost_usd, cached, "
            "record) SELECT 'run-' || (i % $m), 'big', 'p' || (i // $m), 'p' || (i // $m), "
            "i // $m, 'question ' || (i // $m) || ' about topic ' || (i % 997), "
            "'model-' || (i % $m), 'answer ' || i || ' with some words in it', "
            "CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END, "
            "CASE WHEN i % 50 = 0 THEN 'retryable' END, 1 + (i % 7 = 0)::INT, "
            "0.2 + (i % 100) / 50.0, 0.00001 * (i % 13), i % 11 = 0, "
            '\'{"usage": {"input_tokens": 10, "output_tokens": 20}}\' '
            "FROM range($n) t(i)",
            {"n": rows, "m": models},
        )
        con.execute(
            "INSERT INTO evaluations SELECT 'run-' || (i % $m), 'p' || (i // $m), 'length', "
            "'score', CAST((hash(i) % 3 = 0)::INT AS VARCHAR), (hash(i) % 3 = 0)::INT, now() "
            "FROM range($n) t(i)",
            {"n": rows, "m": models},
        )
        refresh_scores(con)  # as runner.evaluation.index does for the runs it writes
        con.execute(
            "INSERT INTO runs (run_id, experiment, status, total, n_ok, n_error, model_names) "
            "SELECT 'run-' || i, 'big', 'completed', $n // $m, 0, 0, ['model-' || i] "
            "FROM range($m) t(i)",
            {"n": rows, "m": models},
        )


def pages(rows: int, models: int) -> dict[str, str]:
    """The pages timed, by name."""
    last = rows // 50
    cols = "&".join(f"col=run-{i}%7Cmodel-{i}" for i in range(models))
    return {
        "runs": "/",
        "find, page 1": "/results",
        "find, last page": f"/results?page={last}",
        "find, status=error, sorted by latency": "/results?status=error&sort=latency:desc",
        "find, score <= 0, sorted by score": "/results?score_max=0&sort=score",
        "find, sorted by score, best first": "/results?sort=score:desc",
        "find, search (1 s target)": "/results?q=topic%20996",
        "compare, input order": f"/compare?experiment=big&{cols}",
        "compare, where they disagree": f"/compare?experiment=big&{cols}&order=spread",
        "compare, A beats B, page 100": f"/compare?experiment=big&{cols}&order=a_minus_b&page=100",
        "prompt": f"/prompt?experiment=big&key=p{rows // models // 2}",
    }


def _get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as resp:
        resp.read()
    return time.perf_counter() - started


async def _serve(outputs: Path) -> tuple[object, str]:
    from runner.view.__main__ import start

    return await start(outputs, 0)


def browser_heap(base: str, urls: dict[str, str]) -> dict[str, float]:
    """The JS heap (MB) Chromium uses on each page, through the DevTools protocol."""
    from tests.browser import chromium_page

    heap = {}
    with chromium_page() as page:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        for name, path in urls.items():
            page.goto(base + path)
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            heap[name] = metrics.get("JSHeapTotalSize", 0.0) / 1e6
    return heap


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outputs = Path(tmp)
        started = time.perf_counter()
        make_index(outputs, args.rows, args.models)
        built = time.perf_counter() - started
        loop = asyncio.new_event_loop()
        runner, url = loop.run_until_complete(_serve(outputs))
        import threading

        threading.Thread(target=loop.run_forever, daemon=True).start()
        base = url.rstrip("/")
        urls = pages(args.rows, args.models)
        times = {}
        for name, path in urls.items():
            _get(base + path)  # warm: DuckDB's first read of the file
            times[name] = statistics.median(_get(base + path) for _ in range(REPEATS))
        heap = browser_heap(base, urls)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()  # type: ignore[attr-defined]
    lines = [
        f"Index of {args.rows:,} responses, {args.models} runs of one model each, every "
        f"response scored (built in {built:.1f} s). Median of {REPEATS} requests after one "
        "warm-up; JS heap of the page in headless Chromium.",
        "",
        "| page | target | server time | browser JS heap |",
        "|---|---|---|---|",
    ]
    for name, seconds in times.items():
        target = "< 1 s" if "search" in name else "< 300 ms"
        lines.append(f"| {name} | {target} | {seconds * 1000:.0f} ms | {heap[name]:.1f} MB |")
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "view.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
