"""Benchmark the results index: full index of 1,000,000 lines, one new run, a group-by.

Run ``.venv/bin/python bench/bench_index.py [--lines N] [--runs R] [--run-prompts P]
[--keep DIR]``. It writes synthetic run folders to a temp dir (five experiments with different
prompt keys, ~870 bytes a line), then measures

1. a full index of every line: ``python -m runner.index`` in its own process, for its wall
   time and peak RSS (issue 12: ≤ 30 s and ≤ 300 MB at 1,000,000 lines),
2. an update when nothing changed,
3. indexing one new 1,000-line run into the full index,
4. a group-by over every response (through ``query_df``, connection included),
5. a real ``python -m runner`` run of P prompts (default 200,000) against aimock with default
   settings (the index on): peak RSS of the whole command, end-of-run index update included
   (issue 12: ≤ 300 MB),
6. ``bench/index_runs.py``: a full index of 10,000 one-prompt run folders (``--many-runs``),
   and the update a run's end makes among them,

and prints a markdown table that is also written to ``bench/results/index.md`` (figures in
``bench/results/index.json`` for ``python -m bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import index_runs
from bench.common import (
    PYTHON,
    ROOT,
    Measured,
    aimock_fixtures,
    openai_env,
    run_measured,
    write_experiment,
)
from runner.index import update_index
from runner.query import query_df
from tests import servers

T = TypeVar("T")

_WORDS = [
    "the",
    "model",
    "answers",
    "a",
    "question",
    "about",
    "cats",
    "dogs",
    "weather",
    "tokens",
    "latency",
    "numbers",
    "paris",
    "france",
    "capital",
    "river",
    "mountain",
    "seven",
    "eleven",
    "yes",
    "no",
    "maybe",
    "because",
    "therefore",
]

# Experiments differ in their prompt keys, as real ones do (schema drift).
_EXTRA_KEYS: list[tuple[str, Callable[[int], str]]] = [
    ("difficulty", lambda i: json.dumps(["easy", "medium", "hard"][i % 3])),
    ("score_hint", lambda i: str(i % 7)),
    ("tags", lambda i: json.dumps([f"t{i % 5}", "bench"])),
    ("temperature_bucket", lambda i: f"{(i % 10) / 10:.1f}"),
    ("source", lambda i: json.dumps({"dataset": "synthetic", "row": i})),
]

GROUP_BY = (
    "SELECT experiment, model_name, status, count(*) AS n, avg(latency_s) AS mean_latency, "
    "sum(output_tokens) AS output_tokens FROM responses GROUP BY ALL ORDER BY ALL"
)


def _text(rng: random.Random, n: int) -> str:
    """A JSON-encoded string of ``n`` random words."""
    return json.dumps(" ".join(rng.choices(_WORDS, k=n)))


def write_run(outputs: Path, experiment: int, run_no: int, lines: int, seed: int) -> None:
    """Write one finished run folder (``completed.jsonl`` and ``run.json``) of ``lines`` lines."""
    rng = random.Random(seed)
    exp = f"exp{experiment}"
    run_id = f"2026-11-23_20-{run_no:05d}"
    folder = outputs / exp / run_id
    folder.mkdir(parents=True, exist_ok=True)
    key, value = _EXTRA_KEYS[experiment % len(_EXTRA_KEYS)]
    model = ["gpt-4o-mini", "gemma-3-270m", "claude-haiku"][run_no % 3]
    api = "local" if model.startswith("gemma") else "openai"
    prompts = [_text(rng, 12) for _ in range(50)]
    answers = [_text(rng, 25) for _ in range(50)]
    chat = json.dumps(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    )
    out: list[str] = []
    ok = 0
    for i in range(lines):
        failed = i % 20 == 19
        ok += not failed
        prompt = chat if i % 10 == 3 else prompts[i % 50]
        response = "null" if failed else answers[(i * 7) % 50]
        error = '"HTTP 429: rate limited"' if failed else "null"
        kind = '"retryable"' if failed else "null"
        status = "error" if failed else "ok"
        out.append(
            f'{{"id": "q{i}", "prompt": {prompt}, "api": "{api}", "model_name": "{model}", '
            f'"parameters": {{"temperature": 0.{i % 10}, "max_tokens": 128}}, '
            f'"group": "g{i % 4}", "expected_response": "yes", "{key}": {value(i)}, '
            f'"response": {response}, "status": "{status}", '
            f'"error": {error}, "error_kind": {kind}, '
            f'"attempts": {1 + failed}, '
            f'"timestamp_sent": "2026-11-23T20:11:{i % 60:02d}.123+00:00", '
            f'"timestamp_received": "2026-11-23T20:11:{i % 60:02d}.987+00:00", '
            f'"latency_s": {0.2 + (i % 97) / 100:.3f}, '
            f'"usage": {{"input_tokens": {20 + i % 13}, "output_tokens": {30 + i % 51}}}, '
            f'"finish_reason": "stop", "response_model": "{model}-2026", "run_id": "{run_id}", '
            f'"experiment": "{exp}", "rate_group": "{api}", "prompt_key": "q{i}", "line": {i + 1}}}'
        )
    (folder / "completed.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
    meta = {
        "run_id": run_id,
        "experiment": exp,
        "input_file": f"experiments/{exp}.jsonl",
        "models": [{"api": api, "model_name": model}],
        "started_at": "2026-11-23T20:11:00+00:00",
        "finished_at": "2026-11-23T20:21:00+00:00",
        "status": "completed",
        "counts": {"ok": ok, "error": lines - ok},
        "total": lines,
        "wall_time_s": 600.0,
        "groups": {api: {"max_queries": 600}},
        "config": {"experiment": {"file": f"{exp}.jsonl"}, "model": {"model_name": model}},
        "overrides": [f"experiment.file={exp}.jsonl"],
        "version": "0.1.0",
    }
    (folder / "run.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and the seconds it took."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


# Issue 12's bounds for the index.
MAX_RSS_MB = 300.0
MAX_FULL_S = 30.0


def index_in_child(outputs: Path) -> Measured:
    """``python -m runner.index`` on ``outputs`` in its own process: wall time and peak RSS."""
    log = outputs.parent / "index.log"
    argv = [PYTHON, "-m", "runner.index", "--outputs-dir", str(outputs)]
    measured = run_measured(argv, log=log, cwd=ROOT)
    if measured.returncode != 0:
        raise RuntimeError(f"runner.index failed: {log.read_text()[-2000:]}")
    return measured


def run_with_index(root: Path, prompts: int) -> Measured:
    """A real run of ``prompts`` prompts against aimock, default settings (index on)."""
    exp = write_experiment(root / "exp" / "index_run.jsonl", prompts)
    outputs = root / "run-outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    log = root / "run.log"
    with servers.aimock(aimock_fixtures(root / "fixtures")) as server:
        argv = [
            PYTHON, "-m", "runner", f"experiment={exp.stem}", f"experiments_dir={exp.parent}",
            f"outputs_dir={outputs}", "run_id=bench-index", "progress=off", "cache=off",
            "max_queries=1e9", "max_concurrency=64",
        ]  # fmt: skip
        measured = run_measured(argv, log=log, env=openai_env(server.url + "/v1"), cwd=ROOT)
    if measured.returncode != 0:
        raise RuntimeError(f"runner failed: {log.read_text()[-2000:]}")
    frame = query_df("SELECT count(*) AS n FROM responses", outputs)
    if int(frame["n"][0]) != prompts:
        raise RuntimeError(f"the run's index holds {frame['n'][0]} rows, not {prompts}")
    return measured


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    """Generate the data, time the index, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines in the full index")
    parser.add_argument("--runs", type=int, default=100, help="runs the lines are spread over")
    parser.add_argument(
        "--run-prompts",
        type=int,
        default=200_000,
        help="prompts in the real run with the index on (0: skip it)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="generate here and keep it")
    parser.add_argument(
        "--many-runs", type=int, default=index_runs.RUNS, help="small runs indexed (0: skip)"
    )
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="runner-bench-"))
    outputs = root / "outputs"
    if outputs.exists():
        shutil.rmtree(outputs)
    per_run = args.lines // args.runs

    def generate() -> None:
        for r in range(args.runs):
            write_run(outputs, r % 5, r, per_run, seed=r)

    _, gen_s = timed(generate)
    # Flush the fresh files to disk first: the kernel writing back 0.9 GB of dirty pages
    # while we index would time the disk, not the index (real runs were written long ago).
    os.sync()
    size_mb = sum(p.stat().st_size for p in outputs.rglob("completed.jsonl")) / 1e6
    print(f"generated {per_run * args.runs:,} lines ({size_mb:,.0f} MB) in {gen_s:.1f} s")

    load_before = os.getloadavg()[0]
    full = index_in_child(outputs)
    full_s, full_mb = full.wall_s, full.maxrss_mb
    rows = query_df("SELECT count(*) AS n FROM responses", outputs)["n"][0]
    assert rows == per_run * args.runs, rows
    noop, noop_s = timed(lambda: update_index(outputs))
    assert noop.rows_added == 0
    write_run(outputs, 2, args.runs, 1_000, seed=-1)
    inc, inc_s = timed(lambda: update_index(outputs))
    assert inc.rows_added == 1_000, inc.summary()
    frame, query_s = timed(lambda: query_df(GROUP_BY, outputs))
    assert int(frame["n"].sum()) == per_run * args.runs + 1_000
    db_mb = (outputs / "index.duckdb").stat().st_size / 1e6
    run = run_with_index(root, args.run_prompts) if args.run_prompts else None
    many = index_runs.measure(root, args.many_runs) if args.many_runs else None
    # Other work on the machine slows every figure; the load average tells the reader.
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"

    table = "\n".join(
        [
            "# Results index benchmark",
            "",
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {os.cpu_count()} CPU(s) (nproc {len(os.sched_getaffinity(0))}), "
            f"{cpu_model()}; Python {platform.python_version()}, DuckDB {duckdb.__version__}; "
            f"{load}",
            f"- data: {per_run * args.runs:,} lines in {args.runs} runs of 5 experiments, "
            f"{size_mb:,.0f} MB of JSONL; index file {db_mb:,.0f} MB",
            "",
            "| step | target | measured |",
            "| --- | --- | --- |",
            f"| full index of {per_run * args.runs:,} lines (`python -m runner.index`) | "
            f"≤ {MAX_FULL_S:g} s | {full_s:.2f} s ({full.cpu_s:.1f} s CPU) |",
            f"| peak RSS of that full index | ≤ {MAX_RSS_MB:g} MB | {full_mb:,.0f} MB |",
            f"| update with nothing new | fast | {noop_s:.3f} s |",
            f"| one new 1,000-line run into the full index | ≤ 1 s | {inc_s:.3f} s |",
            f"| group-by over all responses (query_df) | < 1 s | {query_s:.3f} s |",
        ]
    )
    if run is not None:
        table += (
            f"\n| {args.run_prompts:,}-prompt run, index on: peak RSS of the whole command | "
            f"≤ {MAX_RSS_MB:g} MB | {run.maxrss_mb:,.0f} MB ({run.wall_s:.1f} s) |"
        )
    if many is not None:
        table += "\n" + "\n".join(many.rows())
    table += (
        "\n\nThe index writer runs DuckDB with `memory_limit=160MB`, `threads=1`, "
        "`preserve_insertion_order=false` and spills to `index.duckdb.tmp` "
        "(runner/index/db.py). Wall times include waiting for the CPU: see the load average.\n"
    )
    figures = {
        "lines": per_run * args.runs,
        "full_index_s": full_s,
        "full_index_cpu_s": full.cpu_s,
        "full_index_rss_mb": full_mb,
        "run_prompts": args.run_prompts,
        "run_rss_mb": run.maxrss_mb if run else None,
        "run_wall_s": run.wall_s if run else None,
        "load": load,
        "many_runs": many.runs if many else None,
        "many_runs_full_s": many.full_s if many else None,
        "many_runs_update_s": many.update_s if many else None,
    }
    print(table)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "index.md").write_text(table, encoding="utf-8")
    (results / "index.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    if args.keep is None:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
