"""Pacing: runner at a configured limit against llmock's real per-key quotas (``--rpm``,
``--tpm``: see bench/pacing_tokens.py), requests and tokens side by side."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import pacing_tokens
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
from tests import servers


def get_json(url: str) -> Any:
    """GET a JSON document (llmock's control endpoints)."""
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


@dataclass
class PacingResult:
    """One pacing run: the limit, what runner achieved, and every 429 counted two ways."""

    limit: int
    prompts: int
    ok: int
    wall_s: float
    achieved_run_json: float
    achieved_timestamps: float
    server_requests: int
    server_429: int
    client_retries: int
    verdict_passed: bool

    @property
    def ratio(self) -> float:
        return self.achieved_run_json / self.limit


def achieved_from_timestamps(completed: Path) -> tuple[float, int]:
    """Starts per minute from ``timestamp_sent`` (first to last), and the retries seen."""
    sent = []
    retries = 0
    for line in read_jsonl(completed):
        sent.append(datetime.fromisoformat(line["timestamp_sent"]).timestamp())
        retries += int(line.get("attempts") or 1) - 1
    span = max(sent) - min(sent) if len(sent) > 1 else 0.0
    return ((len(sent) - 1) * 60.0 / span if span > 0 else float("nan")), retries


def one(folder: Path, limit: int, prompts: int) -> PacingResult:
    """Run ``prompts`` prompts at ``limit``/min against a fresh ``llmock --rpm limit``."""
    exp = write_experiment(folder / "exp" / f"pacing_{limit}.jsonl", prompts)
    with servers.llmock("--rpm", str(limit)) as server:
        say(f"pacing: {prompts:,} prompts at {limit:,}/min (~{prompts * 60 / limit:.0f} s)")
        run = run_runner(
            exp,
            folder / "out",
            server.url + "/v1",
            f"rpm{limit}",
            [f"max_queries={limit}", "max_concurrency=64"],
        )
        journal = get_json(server.url + "/_llmock/requests")
        graded = get_json(server.url + "/_llmock/verdict")
    statuses = [int(r.get("status", 0)) for r in journal.get("requests", [])]
    from_stamps, retries = achieved_from_timestamps(run.run_dir / "completed.jsonl")
    result = PacingResult(
        limit=limit,
        prompts=prompts,
        ok=run.ok,
        wall_s=run.send_s,
        achieved_run_json=float(run.group().get("achieved_per_minute") or float("nan")),
        achieved_timestamps=from_stamps,
        server_requests=len(statuses),
        server_429=sum(1 for s in statuses if s == 429),
        client_retries=retries,
        verdict_passed=bool(graded.get("passed")),
    )
    say(f"  achieved {result.achieved_run_json:,.1f}/min, {result.server_429} x 429")
    return result


def run(cfg: BenchConfig) -> Section:
    """Two limits: a slow one held for a minute (full run), and a faster one."""
    folder = cfg.folder("pacing")
    points = [(600, 300), (6000, 1000)] if cfg.quick else [(600, 600), (6000, 3000)]
    results = [one(folder, limit, prompts) for limit, prompts in points]
    token_prompts = 150 if cfg.quick else 400
    token_results = [
        pacing_tokens.one(folder, 60000, token_prompts, accounting)
        for accounting in ("reserved", "actual")
    ]
    checks: list[Check] = []
    rows = []
    for r in results:
        rate_ok = r.ratio >= 0.98
        no_429 = r.server_429 == 0 and r.client_retries == 0 and r.ok == r.prompts
        checks.append(
            Check(
                f"achieved rate at {r.limit:,}/min",
                ">= 98% of the limit",
                f"{100 * r.ratio:.2f}%",
                rate_ok,
            )
        )
        checks.append(
            Check(f"429s at {r.limit:,}/min", "0", f"{r.server_429} (server count)", no_429)
        )
        rows.append(
            [
                f"{r.limit:,}",
                f"{r.prompts:,}",
                f"{r.wall_s:.1f}",
                f"{r.achieved_run_json:,.1f}",
                f"{r.achieved_timestamps:,.1f}",
                f"{100 * r.ratio:.2f}%",
                f"{r.server_429} / {r.server_requests:,}",
                r.client_retries,
                f"{r.ok:,}",
                "passed" if r.verdict_passed else "FAILED",
                verdict(rate_ok and no_429),
            ]
        )
    table = md_table(
        [
            "limit/min",
            "prompts",
            "run s",
            "achieved/min (run.json)",
            "achieved/min (timestamps)",
            "of limit",
            "429s / requests (server)",
            "retries (client)",
            "ok",
            "llmock verdict",
            "verdict",
        ],
        rows,
    )
    notes = [
        "Server: `llmock serve --rpm LIMIT` (PyPI), a fresh process per limit: a real "
        "per-key token bucket of LIMIT requests per minute, full at start, that answers 429 "
        "with the true wait once empty. runner runs at `max_queries=LIMIT`, "
        "`max_concurrency=64`.",
        "*Achieved/min*: requests started per minute between the first and the last start, "
        "from `run.json` (`groups.all.achieved_per_minute`) and recomputed from "
        "`timestamp_sent` in `completed.jsonl` (millisecond stamps). 429s are counted by the "
        "server (its request journal, `GET /_llmock/requests`) and by the client "
        "(`attempts - 1` summed over `completed.jsonl`). One run per limit: pacing is "
        "deterministic.",
    ]
    token_rows, token_checks = pacing_tokens.rows_and_checks(token_results)
    checks += token_checks
    notes.append(
        "Tokens: `llmock serve --tpm 60000` charges each request its body's characters / 4 "
        f"plus `max_tokens` ({pacing_tokens.MAX_TOKENS} here) and never refunds; runner runs "
        "at `max_tokens_per_minute=60000` with OpenAI's `reserved` accounting. The `actual` "
        "row forces `token_accounting=actual` against llmock without a quota: estimates are "
        "corrected by the reported usage, so more estimated tokens pass than the limit. "
        "*Of limit*: llmock's charge per minute between the first and last start / the limit."
    )
    token_table = md_table(pacing_tokens.HEADERS, token_rows)
    markdown = "\n".join(f"- {n}" for n in notes) + "\n\n" + table + "\n\n" + token_table
    return Section(
        "Pacing (configured limit against a real quota)",
        markdown,
        checks,
        {
            "runs": [asdict(r) for r in results],
            "token_runs": [asdict(r) for r in token_results],
        },
    )
