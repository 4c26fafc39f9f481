"""Millions of prompts on one box: the run, the index, the report and a viewer page.

``python -m bench.scale --prompts 10000000`` writes an experiment of that many prompts,
runs it against aimock (loopback) with default settings but the rate limit
(``max_queries=1e9``), then indexes the outputs, builds the run's report and asks the
viewer for its first results page; each step is its own process, measured for wall time
and peak RSS. A bare aiohttp loop (streaming the same file, same concurrency) sends the
same prompts for the throughput baseline. Prints a markdown table, and JSON with --json.

``python -m bench.scale bare INPUT OUTPUT BASE_URL CONCURRENCY`` is that bare loop: unlike
``bench.bare`` it streams the input through a fixed pool of workers, so it fits in memory
at any size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    MODEL,
    PYTHON,
    ROOT,
    Measured,
    aimock_fixtures,
    openai_env,
    prompt_record,
    run_measured,
    run_runner,
    say,
    tail,
    write_experiment,
)

# runner's default max_concurrency; the bare loop gets the same.
CONCURRENCY = 16


async def _bare(input_file: Path, output: Path, base_url: str, concurrency: int) -> int:
    import aiohttp

    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', 'dummy')}"}
    ok = 0
    with input_file.open(encoding="utf-8") as lines, output.open("w", encoding="utf-8") as sink:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                nonlocal ok
                for line in lines:  # one shared iterator: each line goes to one worker
                    record = json.loads(line)
                    payload = {
                        **record.get("parameters", {}),
                        "messages": [{"role": "user", "content": record["prompt"]}],
                        "model": record["model_name"],
                    }
                    async with session.post(url, json=payload, headers=headers) as resp:
                        body = json.loads(await resp.read())
                        status = resp.status
                    text = body["choices"][0]["message"]["content"] if status == 200 else None
                    ok += status == 200
                    sink.write(json.dumps({**record, "response": text, "status": status}) + "\n")

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


def _step(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> Measured:
    say(f"scale: {name}")
    measured = run_measured(argv, log=log, env=env, cwd=ROOT, timeout=6 * 3600)
    if measured.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {measured.returncode}): {tail(log)}")
    say(f"  {measured.wall_s:,.1f} s, peak RSS {measured.maxrss_mb:,.0f} MB")
    return measured


def _figures(name: str, m: Measured) -> dict[str, float]:
    return {f"{name}_s": round(m.wall_s, 2), f"{name}_rss_mb": round(m.maxrss_mb, 1)}


def measure(prompts: int, work: Path, run_only: bool = False) -> dict[str, Any]:
    """Every step at ``prompts`` prompts (``run_only``: the run alone); the figures."""
    from tests import servers

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    exp = write_experiment(work / "exp" / "scale.jsonl", prompts)
    outputs = work / "out"
    found: dict[str, Any] = {"prompts": prompts, "input_mb": round(exp.stat().st_size / 1e6, 1)}
    with servers.aimock(aimock_fixtures(work / "fixtures")) as server:
        say(f"scale: run of {prompts:,} prompts")
        run = run_runner(exp, outputs, server.url + "/v1", "r1", ["max_queries=1e9"], 6 * 3600)
        if run.ok != prompts:
            raise RuntimeError(f"runner: {run.ok} of {prompts} ok: {tail(run.log)}")
        found.update(_figures("run", run.measured))
        found["run_pps"] = round(prompts / run.measured.wall_s, 1)
        found["run_cpu_s"] = round(run.measured.cpu_s, 1)
        if run_only:
            return found
        bare_out = work / "bare.jsonl"
        argv = [PYTHON, "-m", "bench.scale", "bare", str(exp), str(bare_out)]
        bare = _step(
            "bare loop",
            [*argv, server.url + "/v1", str(CONCURRENCY)],
            work / "bare.log",
            openai_env(server.url + "/v1"),
        )
        found.update(_figures("bare", bare))
        found["bare_pps"] = round(prompts / bare.wall_s, 1)
        found["run_vs_bare"] = round(bare.wall_s / run.measured.wall_s, 3)
        # On shared cores the wall-clock ratio swings with other work; CPU time does not.
        found["bare_cpu_s"] = round(bare.cpu_s, 1)
        found["run_vs_bare_cpu"] = round(bare.cpu_s / run.measured.cpu_s, 3)
        bare_out.unlink()
    found.update(measure_after_run(run.run_dir, work, prompts))
    return found


def measure_after_run(run_dir: Path, work: Path, prompts: int) -> dict[str, Any]:
    """The index, the report and a viewer page over the run in ``run_dir``; the figures."""
    outputs = run_dir.parents[1]
    completed = run_dir / "completed.jsonl"
    found: dict[str, Any] = {"completed_mb": round(completed.stat().st_size / 1e6, 1)}
    index = _step(
        "index", [PYTHON, "-m", "runner.index", "--outputs-dir", str(outputs)], work / "index.log"
    )
    found.update(_figures("index", index))
    index_file = outputs / "index.duckdb"
    found["index_mb"] = round(index_file.stat().st_size / 1e6, 1)
    code = "import sys; from pathlib import Path; from runner.report import report_run; "
    report = _step(
        "report",
        [PYTHON, "-c", code + "report_run(Path(sys.argv[1]))", str(run_dir)],
        work / "report.log",
    )
    found.update(_figures("report", report))
    page = "from runner.view import queries; queries.results(Path(sys.argv[1]), {}, '', 1, 50)"
    viewer = _step("viewer page", [PYTHON, "-c", code + page, str(outputs)], work / "viewer.log")
    found.update(_figures("viewer_page", viewer))
    run_bytes = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
    found["bytes_per_prompt_results"] = round(completed.stat().st_size / prompts, 1)
    found["bytes_per_prompt_run_folder"] = round(run_bytes / prompts, 1)
    found["bytes_per_prompt_index"] = round(index_file.stat().st_size / prompts, 1)
    return found


def write_run(prompts: int, work: Path) -> Path:
    """A run folder of ``prompts`` ok lines as runner writes them (nothing sent); its path.

    For the steps after the run at sizes whose run would take hours on shared cores: the
    lines are the bench's prompts answered ``ok``, through result_line and the writer.
    """
    from datetime import UTC, datetime, timedelta

    from runner.output.results import Outcome, result_line
    from runner.output.writer import ResultWriter
    from runner.prompts.records import PromptRecord
    from runner.providers.base import Completion

    run_dir = work / "out" / "scale" / "r1"
    shutil.rmtree(work / "out", ignore_errors=True)
    run_dir.mkdir(parents=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with ResultWriter(run_dir / "completed.jsonl") as writer:
        for i in range(prompts):
            sent = start + timedelta(milliseconds=i)
            completion = Completion("ok", 7, 1, finish_reason="stop", model=MODEL)
            record = PromptRecord(prompt_record(i), "scale.jsonl", i + 1)
            outcome = Outcome(record, "all", 1, completion=completion, sent_at=sent)
            outcome.received_at, outcome.latency_s = sent + timedelta(milliseconds=14), 0.0136
            writer.write(result_line(outcome, run_id="r1", experiment="scale"))
    meta = {"run_id": "r1", "experiment": "scale", "status": "completed", "total": prompts}
    (run_dir / "run.json").write_text(json.dumps(meta))
    return run_dir


def table(f: dict[str, Any]) -> str:
    """The figures as BENCHMARKS.md rows."""
    rows = [
        (
            "run (python -m runner)",
            f"{f['run_s']:,.1f} s",
            f"{f['run_rss_mb']:,.0f} MB",
            f"{f['run_pps']:,.0f} prompts/s",
        ),
        (
            "bare aiohttp loop, streaming",
            f"{f['bare_s']:,.1f} s",
            f"{f['bare_rss_mb']:,.0f} MB",
            f"{f['bare_pps']:,.0f} prompts/s; runner / bare = {f['run_vs_bare']:.2f} "
            f"(by CPU time: {f['run_vs_bare_cpu']:.2f})",
        ),
        (
            "index (python -m runner.index)",
            f"{f['index_s']:,.1f} s",
            f"{f['index_rss_mb']:,.0f} MB",
            f"index.duckdb {f['index_mb']:,.1f} MB",
        ),
        ("report (report_run)", f"{f['report_s']:,.1f} s", f"{f['report_rss_mb']:,.0f} MB", ""),
        (
            "viewer, results page 1",
            f"{f['viewer_page_s']:,.1f} s",
            f"{f['viewer_page_rss_mb']:,.0f} MB",
            "a fresh process: start-up included",
        ),
    ]
    lines = ["| step | wall | peak RSS | notes |", "|---|---:|---:|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += [
        "",
        f"Bytes on disk per prompt: completed.jsonl {f['bytes_per_prompt_results']:,.0f}, "
        f"whole run folder {f['bytes_per_prompt_run_folder']:,.0f}, index "
        f"{f['bytes_per_prompt_index']:,.0f} (input {f['input_mb']:,.1f} MB, completed.jsonl "
        f"{f['completed_mb']:,.1f} MB).",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``bare ...`` runs the bare loop; otherwise the whole measurement."""
    if argv[:1] == ["bare"]:
        input_file, output, base_url, concurrency = argv[1:]
        started = time.perf_counter()
        ok = asyncio.run(_bare(Path(input_file), Path(output), base_url, int(concurrency)))
        print(json.dumps({"ok": ok, "send_s": time.perf_counter() - started}))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=10_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/runner-bench-scale"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--run-only",
        action="store_true",
        help="only the run (no bare loop, no index, report or viewer): a second run to set "
        "beside an earlier one's bare loop",
    )
    parser.add_argument(
        "--after-run",
        action="store_true",
        help="only the index, report and viewer, over written result lines (no run, no bare)",
    )
    args = parser.parse_args(argv)
    if args.after_run:
        run_dir = write_run(args.prompts, args.work)
        found = {"prompts": args.prompts, **measure_after_run(run_dir, args.work, args.prompts)}
        print(json.dumps(found, indent=2))
    elif args.run_only:
        found = measure(args.prompts, args.work, run_only=True)
        print(json.dumps(found, indent=2))
    else:
        found = measure(args.prompts, args.work)
        print(table(found))
    if args.json is not None:
        args.json.write_text(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
