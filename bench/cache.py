"""The response cache: lookup cost per prompt at 1M entries, and a rerun served from it.

1. A store of N entries (1,000,000; 200,000 with ``--quick``) written through the store's
   own batched writes; then lookups of random present and absent prompts, each the whole
   per-prompt path: the request key (canonical JSON + SHA-256) and the SQLite read.
2. The same 10,000-prompt experiment run twice against aimock: the first sends every
   prompt, the second answers every one from the cache (side by side).
"""

from __future__ import annotations

import random
import shutil
import statistics
import time

from bench.common import (
    MODEL,
    BenchConfig,
    Check,
    Section,
    aimock_fixtures,
    md_table,
    prompt_record,
    read_jsonl,
    run_runner,
    say,
    write_experiment,
)
from runner.cache.key import request_key
from runner.cache.store import CacheStore
from runner.config.schema import RunConfig
from runner.prompts.records import PromptRecord
from runner.providers.base import ProviderContext
from runner.providers.openai import OpenAIProvider
from tests import servers

# Issue 15: a cache lookup costs at most 0.1 ms per prompt at 1M entries.
LOOKUP_LIMIT_US = 100.0
SAMPLES = 20_000
RERUN_PROMPTS = 10_000


def _provider() -> OpenAIProvider:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    return OpenAIProvider(ProviderContext(RunConfig(), env=env))


def _fill(store: CacheStore, provider: OpenAIProvider, n: int) -> float:
    started = time.perf_counter()
    answer = {"text": "ok", "input_tokens": 12, "output_tokens": 1, "latency_s": 0.01}
    for i in range(n):
        key = request_key(PromptRecord(prompt_record(i)), provider)
        store.put(key, answer, "bench", float(i))
    store.flush(wait=True)
    return time.perf_counter() - started


def _lookups(store: CacheStore, provider: OpenAIProvider, ids: list[int]) -> list[float]:
    """Microseconds per lookup (key + read), in batches of 100 (timer overhead averaged)."""
    records = [PromptRecord(prompt_record(i)) for i in ids]
    per: list[float] = []
    for start in range(0, len(records), 100):
        batch = records[start : start + 100]
        began = time.perf_counter()
        for record in batch:
            key = request_key(record, provider)
            store.get(key.digest, 0)
        per.append((time.perf_counter() - began) / len(batch) * 1e6)
    return per


_Figures = dict[str, float]


def _store_section(cfg: BenchConfig, n: int) -> tuple[list[list[str]], list[Check], _Figures]:
    folder = cfg.folder("cache-store")
    store = CacheStore(folder)
    provider = _provider()
    say(f"cache: writing {n:,} entries")
    fill_s = _fill(store, provider, n)
    store.close()
    store = CacheStore(folder)  # looked up as a later run sees it
    rng = random.Random(15)
    hits = _lookups(store, provider, [rng.randrange(n) for _ in range(SAMPLES)])
    misses = _lookups(store, provider, [n + rng.randrange(n) for _ in range(SAMPLES)])
    key_only = []
    for start in range(0, 2000, 100):
        records = [PromptRecord(prompt_record(i)) for i in range(start, start + 100)]
        began = time.perf_counter()
        for record in records:
            request_key(record, provider)
        key_only.append((time.perf_counter() - began) / 100 * 1e6)
    size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
    store.close()
    shutil.rmtree(folder, ignore_errors=True)
    hit_us, miss_us = statistics.median(hits), statistics.median(misses)
    p99 = sorted(hits)[int(len(hits) * 0.99) - 1]
    figures = {"entries": n, "fill_s": fill_s, "hit_us": hit_us, "miss_us": miss_us,
               "hit_p99_us": p99, "key_us": statistics.median(key_only), "mb": size_mb}  # fmt: skip
    rows = [
        [f"{n:,}", f"{fill_s:,.1f}", f"{n / fill_s:,.0f}", f"{size_mb:,.0f}",
         f"{figures['key_us']:.1f}", f"{hit_us:.1f}", f"{p99:.1f}", f"{miss_us:.1f}"],
    ]  # fmt: skip
    checks = [
        Check(
            f"cache lookup per prompt at {n:,} entries (key + read, median)",
            f"<= {LOOKUP_LIMIT_US:g} us",
            f"{hit_us:.1f} us (miss {miss_us:.1f} us)",
            hit_us <= LOOKUP_LIMIT_US and miss_us <= LOOKUP_LIMIT_US,
        )
    ]
    return rows, checks, figures


def _rerun(cfg: BenchConfig) -> tuple[list[list[str]], dict[str, float]]:
    folder = cfg.folder("cache-rerun")
    exp = write_experiment(folder / "exp" / "cache_rerun.jsonl", RERUN_PROMPTS, MODEL)
    rows: list[list[str]] = []
    figures: dict[str, float] = {}
    overrides = ["max_queries=1e9", "max_concurrency=64", "cache=on", f"cache_dir={folder / 'c'}"]
    with servers.aimock(aimock_fixtures(folder / "fixtures")) as server:
        for label in ("first run (sent)", "second run (cached)"):
            say(f"cache: {label}, {RERUN_PROMPTS:,} prompts")
            run_id = "first" if label.startswith("first") else "second"
            run = run_runner(exp, folder / "out", server.url + "/v1", run_id, overrides)
            lines = list(read_jsonl(run.run_dir / "completed.jsonl"))
            cached = sum(1 for line in lines if line.get("cached"))
            requests = int(run.group().get("requests", 0))
            rows.append([label, f"{run.ok:,}", f"{cached:,}", f"{requests:,}",
                         f"{run.measured.wall_s:,.1f}", f"{run.send_s:,.2f}"])  # fmt: skip
            figures[f"{run_id}_wall_s"] = run.measured.wall_s
            figures[f"{run_id}_send_s"] = run.send_s
            figures[f"{run_id}_cached"] = cached
    shutil.rmtree(folder, ignore_errors=True)
    return rows, figures


def run(cfg: BenchConfig) -> Section:
    n = 200_000 if cfg.quick else 1_000_000
    store_rows, checks, store_figures = _store_section(cfg, n)
    rerun_rows, rerun_figures = _rerun(cfg)
    checks.append(
        Check(
            f"second run of {RERUN_PROMPTS:,} prompts from the cache",
            "every prompt cached",
            f"{rerun_figures['second_cached']:,.0f} cached",
            rerun_figures["second_cached"] == RERUN_PROMPTS,
        )
    )
    store_table = md_table(
        ["entries", "write s", "entries/s", "file MB", "key us", "hit us", "hit p99 us",
         "miss us"],
        store_rows,
    )  # fmt: skip
    rerun_table = md_table(["run", "ok", "cached", "requests sent", "wall s", "run s"], rerun_rows)
    notes = [
        "Store: SQLite in WAL mode (`runner/cache/store.py`), written through its own batched "
        "writes (a commit per 500 entries, in the writer thread), then reopened as a later "
        "run opens it. A lookup is the whole per-prompt path: the "
        "request key (canonical JSON of api, URL, model, prompt, parameters; SHA-256) plus "
        f"one primary-key read; medians over {SAMPLES:,} random prompts present (hit) and "
        "absent (miss), timed in batches of 100.",
        f"Rerun: one {RERUN_PROMPTS:,}-prompt experiment against aimock at "
        "`max_queries=1e9 max_concurrency=64`, run twice with one cache folder.",
    ]
    markdown = (
        "\n".join(f"- {note}" for note in notes) + "\n\n" + store_table + "\n\n" + rerun_table
    )
    return Section("Response cache", markdown, checks, {**store_figures, **rerun_figures})
