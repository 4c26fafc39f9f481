"""Overhead: prompts per second with no rate limit, for runner, a bare aiohttp loop, and prompto."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import prompto_peer
from bench.common import (
    PYTHON,
    ROOT,
    BenchConfig,
    Check,
    Measured,
    Section,
    aimock_fixtures,
    md_table,
    median,
    openai_env,
    run_measured,
    run_runner,
    say,
    tail,
    verdict,
    write_experiment,
)
from tests import servers

CONCURRENCY = 64
# Issue 13 (item 9) raised issue 4's targets (0.5x the bare loop, 50x prompto).
TARGET_BARE = 0.75
TARGET_PROMPTO = 100.0


@dataclass
class Sample:
    """One repeat of one client: prompts, end-to-end and send-phase seconds, CPU, RSS."""

    prompts: int
    wall_s: float
    send_s: float | None
    cpu_s: float
    maxrss_mb: float

    @property
    def e2e_pps(self) -> float:
        return self.prompts / self.wall_s

    @property
    def send_pps(self) -> float:
        return self.prompts / self.send_s if self.send_s else float("nan")

    @property
    def cpu_ms(self) -> float:
        """Client CPU milliseconds per prompt."""
        return 1000.0 * self.cpu_s / self.prompts

    @classmethod
    def of(cls, prompts: int, measured: Measured, send_s: float | None) -> Sample:
        return cls(prompts, measured.wall_s, send_s, measured.cpu_s, measured.maxrss_mb)


def _runner(exp: Path, folder: Path, url: str, i: int, n: int) -> Sample:
    overrides = ["max_queries=1e9", f"max_concurrency={CONCURRENCY}"]
    run = run_runner(exp, folder / "runner-out", url, f"r{i}", overrides)
    if run.ok != n:
        raise RuntimeError(f"runner: {run.ok} of {n} ok: {tail(run.log)}")
    return Sample.of(n, run.measured, run.send_s)


def _bare(exp: Path, folder: Path, url: str, i: int, n: int) -> Sample:
    log = folder / f"bare-{i}.log"
    argv = [PYTHON, "-m", "bench.bare", str(exp), str(folder / f"bare-{i}.jsonl"), url]
    measured = run_measured([*argv, str(CONCURRENCY)], log=log, env=openai_env(url), cwd=ROOT)
    lines = log.read_text().strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if measured.returncode != 0 or result.get("ok") != n:
        raise RuntimeError(f"bare loop failed: {tail(log)}")
    return Sample.of(n, measured, float(result["send_s"]))


def _prompto(exp: Path, folder: Path, url: str, i: int, n: int) -> Sample:
    done = prompto_peer.run(exp, folder / f"prompto-{i}", url)
    if done.answered != n:
        raise RuntimeError(f"prompto answered {done.answered} of {n}")
    return Sample.of(n, done.measured, done.processing_s)


def run(cfg: BenchConfig) -> Section:
    """Measure the three clients against aimock, interleaved, and compare their medians."""
    n = 5_000 if cfg.quick else 20_000
    n_prompto = 100 if cfg.quick else 300
    repeats = 2 if cfg.quick else 5
    folder = cfg.folder("overhead")
    exp = write_experiment(folder / "exp" / "overhead.jsonl", n)
    exp_prompto = write_experiment(folder / "exp" / "overhead_prompto.jsonl", n_prompto)
    warm = write_experiment(folder / "exp" / "warmup.jsonl", 2_000)
    prompto_problem = prompto_peer.ensure()
    samples: dict[str, list[Sample]] = {"runner": [], "bare": [], "prompto": []}
    clients: list[tuple[str, Callable[[Path, Path, str, int, int], Sample], Path, int]] = [
        ("runner", _runner, exp, n),
        ("bare", _bare, exp, n),
    ]
    if prompto_problem is None:
        clients.append(("prompto", _prompto, exp_prompto, n_prompto))
    with servers.aimock(aimock_fixtures(folder / "fixtures")) as server:
        url = server.url + "/v1"
        _bare(warm, folder, url, -1, 2_000)  # warm the server's JIT; not counted
        for i in range(repeats):
            for name, client, file, count in clients:
                say(f"overhead: {name} repeat {i + 1}/{repeats} ({count:,} prompts)")
                sample = client(file, folder, url, i, count)
                samples[name].append(sample)
                say(f"  {sample.e2e_pps:,.0f} prompts/s end to end, {sample.send_pps:,.0f} sending")
    return _report(samples, n, n_prompto, repeats, prompto_problem)


def _med(samples: list[Sample], key: Callable[[Sample], float]) -> float:
    return median([key(s) for s in samples])


def _report(
    samples: dict[str, list[Sample]],
    n: int,
    n_prompto: int,
    repeats: int,
    prompto_problem: str | None,
) -> Section:
    labels = {
        "runner": f"runner ({n:,} prompts)",
        "bare": f"bare aiohttp loop ({n:,} prompts)",
        "prompto": f"prompto 0.2.1 ({n_prompto:,} prompts)",
    }
    rows = []
    for name, got in samples.items():
        if not got:
            continue
        rows.append(
            [
                labels[name],
                f"{_med(got, lambda s: s.e2e_pps):,.0f}",
                f"{_med(got, lambda s: s.send_pps):,.0f}",
                f"{_med(got, lambda s: s.cpu_ms):.3f}",
                f"{_med(got, lambda s: s.maxrss_mb):,.0f}",
            ]
        )
    table = md_table(
        [
            "client",
            "prompts/s end to end",
            "prompts/s sending",
            "client CPU ms/prompt",
            "peak RSS MB",
        ],
        rows,
    )
    checks: list[Check] = []
    ratio_rows: list[list[str]] = []
    runner = samples["runner"]
    phases: list[tuple[str, Callable[[Sample], float]]] = [
        ("end to end", lambda s: s.e2e_pps),
        ("sending", lambda s: s.send_pps),
    ]
    for phase, key in phases:
        for other, label, target in (
            ("bare", "bare loop", TARGET_BARE),
            ("prompto", "prompto", TARGET_PROMPTO),
        ):
            peer = samples[other]
            if not runner or not peer:
                continue
            r = _med(runner, key) / _med(peer, key)
            paired = median([key(a) / key(b) for a, b in zip(runner, peer, strict=False)])
            name = f"runner / {label}, {phase}"
            shown = f"{r:.2f}" if target < 10 else f"{r:.1f}"
            checks.append(Check(name, f">= {target:g}", shown, r >= target))
            ratio_rows.append(
                [name, f">= {target:g}", shown, f"{paired:.2f}", verdict(r >= target)]
            )
    ratios = md_table(
        ["ratio", "target", "of medians", "median of per-round ratios", "verdict"],
        ratio_rows,
    )
    raw_rows = [
        [
            labels[name],
            i + 1,
            f"{s.wall_s:.2f}",
            "-" if s.send_s is None else f"{s.send_s:.2f}",
            f"{s.e2e_pps:,.0f}",
            f"{s.send_pps:,.0f}",
            f"{s.cpu_s:.2f}",
            f"{s.maxrss_mb:,.0f}",
        ]
        for name, got in samples.items()
        for i, s in enumerate(got)
    ]
    raw_table = md_table(
        ["client", "repeat", "wall s", "send s", "p/s e2e", "p/s send", "CPU s", "RSS MB"],
        raw_rows,
    )
    notes = [
        f"Server: aimock (`/v1/chat/completions`, one catch-all fixture answering `ok`) on "
        f"loopback. No rate limit (runner `max_queries=1e9`, prompto `--max-queries "
        f"1000000000`); runner and the bare loop both at {CONCURRENCY} requests in flight, "
        f"over the same {n:,}-prompt file. Medians of {repeats} interleaved repeats, after a "
        "2,000-prompt warm-up of the server.",
        "*End to end*: prompts / wall time of the whole command (interpreter start, imports, "
        "reading the file, sending, writing). *Sending*: prompts / the client's own timing of "
        "its send phase (runner: `wall_time_s` in `run.json`; prompto: its logged "
        "'Experiment processing time'; bare loop: from first send to last answer written).",
        "The bare loop (`bench/bare.py`): one `aiohttp.ClientSession`, a semaphore of "
        f"{CONCURRENCY}, the same JSON bodies as runner, each answer parsed and written as a "
        "JSON line to a file (record + reply), as runner does; no pacing, retries or checks.",
        "runner as a user has it after a first run on the machine: its bytecode compiled "
        "(`make install` does it), genai-prices' rates and the report's compiled templates in "
        "`~/.cache/runner`; the response cache off (its default), with an empty folder of its "
        "own per run.",
        "The server and the client share the machine's cores, so *client CPU ms/prompt* "
        "(user + system time of the client process) is the cleanest measure of overhead.",
        "prompto gets fewer prompts (it is two orders of magnitude slower); rates are per "
        "second, so they compare. The verdicts use the ratio of the medians; the median of "
        "the per-round ratios (each round runs the clients back to back) is shown as a "
        "cross-check that is less sensitive to load from other work on the machine.",
    ]
    if prompto_problem:
        notes.append(f"prompto was not measured: {prompto_problem}")
    markdown = "\n\n".join(
        [
            "\n".join(f"- {note}" for note in notes),
            table,
            ratios,
            "<details><summary>Raw repeats</summary>\n\n" + raw_table + "\n\n</details>",
        ]
    )
    raw = {name: [vars(s) for s in got] for name, got in samples.items()}
    return Section("Overhead (no rate limit)", markdown, checks, raw)
