"""Batch mode end to end: 10,000 prompts against llmock, batch vs online, side by side.

One llmock process (PyPI) serves both runs; its journal counts the HTTP requests each
made. Online sends one request per prompt (unthrottled, 64 in flight); batch mode uploads
one file, creates one batch (llmock ends it after ~3 s), polls and downloads the results.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from bench.common import (
    BenchConfig,
    Check,
    Section,
    md_table,
    read_jsonl,
    run_runner,
    say,
    write_experiment,
)
from bench.pacing import get_json
from tests import servers

ONLINE = ["mode=online", "max_queries=1e9", "max_concurrency=64"]
BATCH = ["mode=batch", "batch_poll_s=0.5"]


@dataclass
class BatchBench:
    """One run's figures."""

    mode: str
    prompts: int
    ok: int
    with_batch_id: int
    batches: int
    server_requests: int
    run_s: float
    process_s: float

    @property
    def per_s(self) -> float:
        return self.ok / self.run_s if self.run_s else float("nan")


def one(cfg: BenchConfig, mode: str, prompts: int) -> BatchBench:
    folder = cfg.folder(f"batch-{mode}")
    exp = write_experiment(folder / "exp" / f"batch_{mode}.jsonl", prompts)
    with servers.llmock() as server:
        say(f"batch: {mode}, {prompts:,} prompts")
        overrides = BATCH if mode == "batch" else ONLINE
        run = run_runner(exp, folder / "out", server.url + "/v1", mode, overrides, timeout=300)
        journal = get_json(server.url + "/_llmock/requests")
    lines = list(read_jsonl(run.run_dir / "completed.jsonl"))
    status = Counter(str(line.get("status")) for line in lines)
    batch_ids = {line.get("batch_id") for line in lines} - {None}
    result = BatchBench(
        mode=mode,
        prompts=prompts,
        ok=status["ok"],
        with_batch_id=sum(1 for line in lines if line.get("batch_id")),
        batches=len(batch_ids),
        server_requests=int(journal.get("count", 0)),
        run_s=run.send_s,
        process_s=run.measured.wall_s,
    )
    say(f"  {result.ok:,} ok in {result.run_s:.1f} s, {result.server_requests:,} requests")
    return result


def run(cfg: BenchConfig) -> Section:
    """Both modes on the same prompts; every prompt must end ok in each."""
    prompts = 2_000 if cfg.quick else 10_000
    results = [one(cfg, "online", prompts), one(cfg, "batch", prompts)]
    online, batch = results
    checks = [
        Check(
            f"batch mode: {prompts:,} prompts ok, each from a batch",
            "all",
            f"{batch.with_batch_id:,} of {prompts:,}",
            batch.ok == batch.with_batch_id == prompts,
        ),
        Check("online: prompts ok", "all", f"{online.ok:,} of {prompts:,}", online.ok == prompts),
    ]
    rows = [
        [
            r.mode,
            f"{r.ok:,} / {r.prompts:,}",
            r.batches,
            f"{r.server_requests:,}",
            f"{r.run_s:.1f}",
            f"{r.process_s:.1f}",
            f"{r.per_s:,.0f}",
        ]
        for r in results
    ]
    table = md_table(
        ["mode", "ok", "batches", "HTTP requests (server)", "run s", "process s", "prompts/s"],
        rows,
    )
    notes = [
        "Server: one `llmock serve` (PyPI) per run; its batches end about 3 s after they are "
        "created, every line answered.",
        f"online: `{' '.join(ONLINE)}`; batch: `{' '.join(BATCH)}` (one chunk: OpenAI allows "
        "50,000 requests or 200 MB per batch).",
        "run s is runner's own wall time (`run.json`); process s adds start-up and the report.",
        "Against a real API a batch takes minutes to hours (within 24 h) at half price; the "
        "figure here is the client's own cost: building, uploading and reading back the file.",
    ]
    markdown = "\n".join(f"- {n}" for n in notes) + "\n\n" + table
    return Section("Batch mode (10,000 prompts, llmock)", markdown, checks, {
        "runs": [asdict(r) | {"per_s": r.per_s} for r in results]
    })  # fmt: skip
