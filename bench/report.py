"""Report and viewer at scale: ``python bench/report.py [--prompts N] [--viewer-rows N]``.

Writes a synthetic run folder (two models, 3% errors, retries, a 429 storm, scores) the way a
run does, then measures: writing ``report.html`` (``runner.report.report_run``), the file's
size, and the time headless Chromium takes to open it from disk offline and draw every chart.
Then it fills an index with ``--viewer-rows`` responses and times the viewer's page queries.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from runner.engine.timeline import Timeline  # noqa: E402

MODELS = ("model-a", "model-b")


def make_run(folder: Path, prompts: int, seed: int = 0) -> dict[str, int]:
    """A run folder of ``prompts`` results as a run writes it; returns its status counts."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    timeline = Timeline()
    timeline.limits("openai", 6000.0, 2_000_000.0)
    counts = {"ok": 0, "error": 0}
    now = 0.0
    with (
        (folder / "completed.jsonl").open("w") as out,
        (folder / "evaluations.jsonl").open("w") as scores,
    ):
        for i in range(prompts):
            model = MODELS[i % 2]
            now += 0.01
            attempts = 1 + (rng.random() < 0.05) + (rng.random() < 0.01)
            for _ in range(attempts - 1):
                timeline.sent("openai", now)
                timeline.finished("openai", now + 0.2, "429" if rng.random() < 0.7 else "5xx")
            ok = rng.random() > 0.03
            latency = rng.lognormvariate(-0.5, 0.5)
            timeline.sent("openai", now)
            timeline.finished("openai", now + latency, "ok" if ok else "timeout", 60.0)
            if 0.3 < now / max(prompts * 0.01, 1) < 0.32:
                timeline.gate("openai", now, int(now), now + 2.0)
            counts["ok" if ok else "error"] += 1
            record = {
                "id": f"p{i}",
                "prompt": f"question {i // 2}: what is {i}?",
                "api": "openai",
                "model_name": model,
                "response": f"answer {i}" if ok else None,
                "status": "ok" if ok else "error",
                "error": None if ok else "timed out after 30 s (timeout_s)",
                "error_kind": None if ok else "retryable",
                "attempts": attempts,
                "latency_s": round(latency, 4),
                "usage": {"input_tokens": 40, "output_tokens": 20 if ok else None},
                "rate_group": "openai",
                "prompt_key": f"p{i}",
                "line": i + 1,
                "run_id": folder.name,
                "experiment": "bench",
            }
            out.write(json.dumps(record) + "\n")
            if ok:
                line = {
                    "run_id": folder.name,
                    "prompt_key": f"p{i}",
                    "step": "match",
                    "field": "score",
                    "value": float(rng.random() < 0.6 + 0.1 * (i % 2)),
                }
                scores.write(json.dumps(line) + "\n")
    timeline.write(folder)
    meta = {
        "run_id": folder.name,
        "experiment": "bench",
        "input_file": "experiments/bench.jsonl",
        "models": [{"api": "openai", "model_name": m} for m in MODELS],
        "status": "completed",
        "counts": counts,
        "wall_time_s": now,
        "config": {"max_queries": 6000},
        "overrides": ["max_queries=6000"],
        "groups": {"openai": {"limit_per_minute": 6000, "requests": prompts, "retries": 0}},
    }
    (folder / "run.json").write_text(json.dumps(meta))
    return counts


def open_time(report: Path) -> float:
    """Seconds headless Chromium takes to open ``report`` offline and draw all its charts."""
    from playwright.sync_api import sync_playwright

    from tests.browser import ARGS, CHROMIUM

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
        )
        started = time.perf_counter()
        page.goto(report.as_uri())
        page.wait_for_function("(document.body.dataset.charts || '').startsWith('drawn')")
        elapsed = time.perf_counter() - started
        browser.close()
    return elapsed


def make_index(outputs: Path, rows: int) -> None:
    """An index holding one experiment of ``rows`` responses over two models (a sweep)."""
    from runner.index.db import write_connection
    from runner.index.schema import ensure_schema

    outputs.mkdir(parents=True, exist_ok=True)
    with write_connection(outputs) as con:
        ensure_schema(con)
        con.execute(
            "INSERT INTO responses (run_id, experiment, prompt_key, line, prompt, model_name, "
            "response, status, error_kind, attempts, latency_s) SELECT "
            "'run-' || (i % 2), 'big', 'p' || (i // 2), i // 2, 'question ' || (i // 2), "
            "CASE WHEN i % 2 = 0 THEN 'model-a' ELSE 'model-b' END, 'answer ' || i, "
            "CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END, "
            "CASE WHEN i % 50 = 0 THEN 'retryable' END, 1, 0.5 FROM range(?) t(i)",
            [rows],
        )
        con.execute(
            "INSERT INTO runs (run_id, experiment, model_names) VALUES "
            "('run-0', 'big', ['model-a']), ('run-1', 'big', ['model-b'])"
        )


def viewer_times(rows: int) -> list[tuple[str, float]]:
    """Seconds the viewer's queries take over an index of ``rows`` responses."""
    from runner.view import compare, queries

    with tempfile.TemporaryDirectory() as tmp:
        outputs = Path(tmp)
        make_index(outputs, rows)
        cases: dict[str, Callable[[], object]] = {
            "results, page 1": lambda: queries.results(outputs, {}, "", 1, 50),
            "results, last page": lambda: queries.results(outputs, {}, "", rows // 50, 50),
            "results, text search": lambda: queries.results(outputs, {}, "question 4242", 1, 50),
            "results, status=error": lambda: queries.results(
                outputs, {"status": "error"}, "", 3, 50
            ),
            "compare, page 1": lambda: compare.compare(
                outputs, "big", compare.columns(outputs, "big"), page=1
            ),
            "compare, page 1000": lambda: compare.compare(
                outputs, "big", compare.columns(outputs, "big"), page=1000
            ),
        }
        times = []
        for name, call in cases.items():
            started = time.perf_counter()
            call()
            times.append((name, time.perf_counter() - started))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--viewer-rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    from runner.report import report_run
    from runner.report.render import embed_script

    embed_script()  # bundled once per machine and cached: not part of a report's time
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bench" / "20260101-000000-bench"
        make_run(folder, args.prompts)
        jsonl_mb = (folder / "completed.jsonl").stat().st_size / 1e6
        started = time.perf_counter()
        report = report_run(folder)
        build = time.perf_counter() - started
        size_kb = report.stat().st_size / 1e3
        opened = open_time(report)
    print("| prompts | completed.jsonl | report build | report.html | open + draw (Chromium) |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.prompts:,} | {jsonl_mb:.1f} MB | {build:.2f} s | {size_kb:.0f} kB "
        f"| {opened:.2f} s |"
    )
    print(f"\n| viewer query over {args.viewer_rows:,} responses | seconds |\n|---|---|")
    queries = viewer_times(args.viewer_rows)
    for name, seconds in queries:
        print(f"| {name} | {seconds:.3f} |")
    if args.json is not None:
        figures = {
            "prompts": args.prompts,
            "jsonl_mb": round(jsonl_mb, 1),
            "build_s": round(build, 3),
            "size_kb": round(size_kb),
            "open_s": round(opened, 3),
            "viewer_rows": args.viewer_rows,
            "viewer_max_s": round(max(s for _, s in queries), 3),
        }
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
