"""Token pacing: runner at ``max_tokens_per_minute`` against llmock's real ``--tpm`` quota.

llmock charges each request ``len(body) // 4 + max_tokens`` up front and never refunds, as
OpenAI documents its TPM limit; runner's OpenAI accounting is ``reserved`` to match. A
second run forces ``token_accounting=actual`` (against llmock without a quota) to show the
refund still happens where a provider accounts that way.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import MODEL, prompt_record, read_jsonl, run_runner, say
from runner.config.schema import RunConfig
from runner.prompts.records import PromptRecord
from runner.providers.base import ProviderContext
from runner.providers.openai import OpenAIProvider
from tests import servers

MAX_TOKENS = 200


@dataclass
class TokenPacingResult:
    """One token-limited run: the limit, the tokens charged per minute, every 429."""

    accounting: str
    limit: int
    prompts: int
    ok: int
    wall_s: float
    charged_per_minute: float  # llmock's rule: body chars // 4 + max_tokens
    used_per_minute: float  # the usage the API reported
    server_429: int
    client_retries: int

    @property
    def quota_used(self) -> float:
        return self.charged_per_minute / self.limit


def write_token_experiment(path: Path, n: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            record = prompt_record(i, MODEL)
            record["parameters"] = {"max_tokens": MAX_TOKENS}
            out.write(json.dumps(record) + "\n")
    return path


def _per_minute(lines: list[dict[str, Any]], cost: list[float]) -> float:
    """Tokens per minute between the first and the last start (the last one's left out)."""
    order = sorted(range(len(lines)), key=lambda i: lines[i]["timestamp_sent"])
    stamps = [datetime.fromisoformat(lines[i]["timestamp_sent"]).timestamp() for i in order]
    span = stamps[-1] - stamps[0]
    spent = sum(cost[i] for i in order[:-1])
    return spent * 60.0 / span if span > 0 else float("nan")


def one(folder: Path, limit: int, prompts: int, accounting: str) -> TokenPacingResult:
    """Run ``prompts`` prompts at ``limit`` tokens/min; a ``--tpm`` server for reserved."""
    exp = write_token_experiment(folder / "exp" / f"tpm_{accounting}_{limit}.jsonl", prompts)
    extra = ["--tpm", str(limit)] if accounting == "reserved" else []
    with servers.llmock(*extra) as server:
        say(f"token pacing ({accounting}): {prompts:,} prompts of max_tokens {MAX_TOKENS}")
        run = run_runner(
            exp,
            folder / "out",
            server.url + "/v1",
            f"tpm-{accounting}-{limit}",
            [
                f"max_tokens_per_minute={limit}",
                f"token_accounting={accounting}",
                "max_queries=1000000",
                "max_concurrency=64",
            ],
        )
        with urllib.request.urlopen(server.url + "/_llmock/requests", timeout=30) as resp:
            journal = json.loads(resp.read() or b"null")
    statuses = [int(r.get("status", 0)) for r in journal.get("requests", [])]
    lines = list(read_jsonl(run.run_dir / "completed.jsonl"))
    provider = OpenAIProvider(ProviderContext(RunConfig()))
    charged = [
        float(int(provider.estimate_tokens(PromptRecord(line)).input) + MAX_TOKENS)
        for line in lines
    ]
    used = [
        float((line["usage"]["input_tokens"] or 0) + (line["usage"]["output_tokens"] or 0))
        for line in lines
    ]
    result = TokenPacingResult(
        accounting=accounting,
        limit=limit,
        prompts=prompts,
        ok=run.ok,
        wall_s=run.send_s,
        charged_per_minute=_per_minute(lines, charged),
        used_per_minute=_per_minute(lines, used),
        server_429=sum(1 for s in statuses if s == 429),
        client_retries=sum(int(line.get("attempts") or 1) - 1 for line in lines),
    )
    say(f"  {result.charged_per_minute:,.0f} tokens/min charged, {result.server_429} x 429")
    return result


def rows_and_checks(results: list[TokenPacingResult]) -> tuple[list[list[Any]], list[Any]]:
    """Table rows and checks: reserved gets no 429 and uses >= 90% of the quota."""
    from bench.common import Check, verdict

    rows: list[list[Any]] = []
    checks: list[Any] = []
    for r in results:
        if r.accounting == "reserved":
            held = r.server_429 == 0 and r.client_retries == 0 and r.ok == r.prompts
            used = r.quota_used >= 0.9
            checks.append(Check(f"429s at {r.limit:,} tokens/min", "0", str(r.server_429), held))
            checks.append(
                Check(
                    f"quota used at {r.limit:,} tokens/min",
                    ">= 90%",
                    f"{100 * r.quota_used:.1f}%",
                    used,
                )
            )
            ok = held and used
        else:
            # Refunded: more estimated tokens pass than the limit, reported usage stays under.
            ok = r.charged_per_minute > r.limit and r.used_per_minute <= r.limit * 1.02
            checks.append(
                Check(
                    "actual accounting refunds unused max_tokens",
                    "estimates/min > limit >= usage/min",
                    f"{r.charged_per_minute:,.0f} > {r.limit:,} >= {r.used_per_minute:,.0f}",
                    ok,
                )
            )
        rows.append(
            [
                r.accounting,
                f"{r.limit:,}",
                f"{r.prompts:,}",
                f"{r.wall_s:.1f}",
                f"{r.charged_per_minute:,.0f}",
                f"{r.used_per_minute:,.0f}",
                f"{100 * r.quota_used:.1f}%",
                r.server_429,
                r.client_retries,
                f"{r.ok:,}",
                verdict(ok),
            ]
        )
    return rows, checks


HEADERS = [
    "accounting",
    "tokens/min limit",
    "prompts",
    "run s",
    "estimate/min (llmock's charge)",
    "reported usage/min",
    "of limit",
    "429s (server)",
    "retries (client)",
    "ok",
    "verdict",
]
