"""Faults: every prompt must end ok against llmock answering 20% 429s and 10% 503s at random."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import (
    BenchConfig,
    Check,
    Section,
    md_table,
    read_jsonl,
    run_runner,
    say,
    verdict,
    write_experiment,
)
from bench.pacing import get_json
from tests import servers

FAULTS = ("--error-rate", "429=0.2", "--error-rate", "503=0.1")
OVERRIDES = [
    "max_queries=1e9",
    "max_concurrency=64",
    "max_attempts=10",
    "backoff_base_s=0.05",
    "backoff_max_s=2",
]


@dataclass
class FaultResult:
    """One run under random faults: outcomes, retries, and what the server answered."""

    prompts: int
    ok: int
    error: int
    retries: int
    max_attempts_used: int
    run_s: float
    achieved_per_minute: float
    server_requests: int
    server_429: int
    server_503: int
    verdict_passed: bool
    verdict_errors: int
    timed_out: bool
    cap_s: float


def one(folder: Path, prompts: int, repeat: int, cap_s: float) -> FaultResult:
    """One run of ``prompts`` prompts against a fresh faulty llmock, stopped after ``cap_s``."""
    exp = write_experiment(folder / "exp" / "faults.jsonl", prompts)
    with servers.llmock(*FAULTS) as server:
        say(f"faults: repeat {repeat + 1}, {prompts:,} prompts")
        run = run_runner(
            exp, folder / "out", server.url + "/v1", f"f{repeat}", OVERRIDES, timeout=cap_s
        )
        journal = get_json(server.url + "/_llmock/requests")
        graded = get_json(server.url + "/_llmock/verdict")
    statuses = Counter(int(r.get("status", 0)) for r in journal.get("requests", []))
    # Counted from the results, which a stopped run keeps even when its summary does not.
    lines = list(read_jsonl(run.run_dir / "completed.jsonl"))
    attempts = [int(line.get("attempts") or 1) for line in lines]
    outcome = Counter(str(line.get("status")) for line in lines)
    group = run.group()
    result = FaultResult(
        prompts=prompts,
        ok=outcome["ok"],
        error=prompts - outcome["ok"],
        retries=sum(a - 1 for a in attempts),
        max_attempts_used=max(attempts, default=0),
        run_s=run.send_s,
        achieved_per_minute=float(group.get("achieved_per_minute") or float("nan")),
        server_requests=sum(statuses.values()),
        server_429=statuses[429],
        server_503=statuses[503],
        verdict_passed=bool(graded.get("passed")),
        verdict_errors=int(graded.get("errors", 0)),
        timed_out=run.measured.timed_out,
        cap_s=cap_s,
    )
    stopped = f" (stopped at the {cap_s:.0f} s cap)" if result.timed_out else ""
    say(f"  {result.ok}/{prompts} ok, {result.retries} retries{stopped}")
    return result


def run(cfg: BenchConfig) -> Section:
    """Run the fault scenario a few times; every prompt of every run must end ok."""
    folder = cfg.folder("faults")
    prompts, repeats = (200, 1) if cfg.quick else (500, 3)
    cap_s = 120.0 if cfg.quick else 180.0
    results: list[FaultResult] = []
    for i in range(repeats):
        results.append(one(folder, prompts, i, cap_s))
        if results[-1].timed_out:
            break  # another would hit the cap too
    repeats = len(results)
    all_ok = all(r.ok == r.prompts and r.error == 0 for r in results)
    total_ok = sum(r.ok for r in results)
    checks = [
        Check(
            "prompts ending ok under 429=0.2, 503=0.1",
            "all",
            f"{total_ok:,} of {prompts * repeats:,}",
            all_ok,
        )
    ]
    rows = [
        [
            i + 1,
            f"{r.ok:,} / {r.prompts:,}",
            r.error,
            f"{r.server_requests:,}",
            r.server_429,
            r.server_503,
            r.retries,
            r.max_attempts_used,
            "-"
            if r.achieved_per_minute != r.achieved_per_minute
            else f"{r.achieved_per_minute:,.0f}",
            f"{r.run_s:.1f}" + (f" (stopped at the {r.cap_s:.0f} s cap)" if r.timed_out else ""),
            "passed" if r.verdict_passed else f"FAILED ({r.verdict_errors} errors)",
            verdict(r.ok == r.prompts and r.error == 0),
        ]
        for i, r in enumerate(results)
    ]
    table = md_table(
        [
            "repeat",
            "ok",
            "error",
            "requests (server)",
            "429s",
            "503s",
            "retries (client)",
            "most attempts",
            "requests/min",
            "run s",
            "llmock verdict",
            "verdict",
        ],
        rows,
    )
    notes = [
        "Server: `llmock serve --error-rate 429=0.2 --error-rate 503=0.1` (PyPI), a fresh "
        "process per repeat. runner: `" + " ".join(OVERRIDES) + "`.",
        "Retries honour `Retry-After` (llmock sends `retry-after: 1` with its random 429s "
        "and 503s), so the run time is mostly waiting. The llmock verdict grades every retry "
        "(too early, retried a non-retryable error, gave up, storms).",
        f"Each repeat is capped at {cap_s:.0f} s: then runner gets SIGTERM (it stops "
        "cleanly and writes `run.json`) and the prompts not yet ok count as failures; no "
        "further repeat is run.",
    ]
    markdown = "\n".join(f"- {n}" for n in notes) + "\n\n" + table
    return Section(
        "Faults (random 429s and 503s)", markdown, checks, {"runs": [asdict(r) for r in results]}
    )
