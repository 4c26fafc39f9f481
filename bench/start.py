"""Start-up and whole process: a one-prompt run and a 20,000-prompt run against a bare loop.

``python -m bench --only start``. Each figure is the wall time of the whole command, from
the interpreter's start to its exit (imports, composing the config, sending, writing, the
index and the report included: runner at its default settings, but no rate limit), in 5
interleaved pairs with the bare aiohttp loop of ``bench/bare.py`` on the same file.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path

from bench.bare import __file__ as _bare_file
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
    say,
    tail,
    verdict,
    write_experiment,
)
from tests import servers

CONCURRENCY = 64
PAIRS = 5
# Issue 25 (item 6): a one-prompt run in under 0.4 s; 20,000 prompts at 0.8x the bare loop.
TARGET_ONE_S = 0.4
TARGET_RATIO = 0.8
_BARE = Path(_bare_file)
# BENCH_START_BEFORE=DIR: a checkout (an export of an older commit) measured interleaved
# with this one. Each runs from its own folder: ``-m`` puts the working folder before
# PYTHONPATH on sys.path, so a PYTHONPATH alone would run this checkout's code twice.
_BEFORE = os.environ.get("BENCH_START_BEFORE")


def _runner(exp: Path, out: Path, url: str, run_id: str, code: Path = ROOT) -> Measured:
    argv = [
        PYTHON,
        "-m",
        "runner",
        f"experiment={exp.stem}",
        f"experiments_dir={exp.parent}",
        f"outputs_dir={out}",
        f"run_id={run_id}",
        "max_queries=1e9",
        f"max_concurrency={CONCURRENCY}",
    ]
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"{exp.stem}-{run_id}.log"
    env = openai_env(url)
    env["RUNNER_CACHE_DIR"] = str(out / f"cache-{run_id}")
    # The bench's own ~/.cache/runner, warmed by the first run (genai-prices' rates, the
    # report's compiled templates) as a user's is after a first run; one shared with other
    # checkouts is rewritten by each (its genai-prices memo names the package's path).
    env["XDG_CACHE_HOME"] = str(out.parent / ("xdg-cache" if code == ROOT else "xdg-before"))
    if code != ROOT:
        env["PYTHONPATH"] = str(code)
    # An installed runner has its bytecode (pip compiles it; a checkout writes it on the first
    # run): without it every run compiles ~140 modules from source, a tenth of a second.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    measured = run_measured(argv, log=log, env=env, cwd=code)
    if measured.returncode != 0:
        raise RuntimeError(f"runner exited {measured.returncode}: {tail(log)}")
    return measured


def _bare(exp: Path, out: Path, url: str, run_id: str) -> Measured:
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"bare-{exp.stem}-{run_id}.log"
    argv = [PYTHON, str(_BARE), str(exp), str(out / f"bare-{run_id}.jsonl"), url]
    measured = run_measured([*argv, str(CONCURRENCY)], log=log, env=openai_env(url), cwd=ROOT)
    if measured.returncode != 0:
        raise RuntimeError(f"bare loop failed: {tail(log)}")
    return measured


def measure(folder: Path, n: int, pairs: int = PAIRS) -> dict[str, dict[str, list[float]]]:
    """Wall and CPU seconds of ``pairs`` interleaved runner / bare pairs, one- and n-prompt."""
    files = {
        "one": write_experiment(folder / "exp" / "start_one.jsonl", 1),
        "many": write_experiment(folder / "exp" / "start_many.jsonl", n),
    }
    warm = write_experiment(folder / "exp" / "warmup.jsonl", 2_000)
    clients: dict[str, Callable[[Path, Path, str, str], Measured]] = {
        "runner": _runner,
        "bare": _bare,
    }
    if _BEFORE:
        clients["before"] = functools.partial(_runner, code=Path(_BEFORE))
    got: dict[str, dict[str, list[float]]] = {
        f"{who} {size}": {"wall": [], "cpu": []} for size in files for who in clients
    }
    with servers.aimock(aimock_fixtures(folder / "fixtures")) as server:
        url = server.url + "/v1"
        _bare(warm, folder / "warm", url, "warm")  # warm the server's JIT; not counted
        for who, client in clients.items():  # bytecode, caches
            if who != "bare":
                client(files["one"], folder / f"warm-{who}", url, "warm")
        for i in range(pairs):
            for size, exp in files.items():
                for who, client in clients.items():
                    m = client(exp, folder / f"{who}-{size}", url, f"r{i}")
                    got[f"{who} {size}"]["wall"].append(m.wall_s)
                    got[f"{who} {size}"]["cpu"].append(m.cpu_s)
                    say(f"start: {who} {size} pair {i + 1}/{pairs}: {m.wall_s:.2f} s")
    return got


def run(cfg: BenchConfig) -> Section:
    """Measure, then the section: medians, ratios, verdicts, and the raw pairs."""
    n = 5_000 if cfg.quick else 20_000
    pairs = 2 if cfg.quick else PAIRS
    got = measure(cfg.folder("start"), n, pairs)
    return _report(got, n, pairs)


def _report(got: dict[str, dict[str, list[float]]], n: int, pairs: int) -> Section:
    med = {k: (median(v["wall"]), median(v["cpu"])) for k, v in got.items()}
    rows = [
        [f"{who}, {'1 prompt' if size == 'one' else f'{n:,} prompts'}", f"{w:.3f}", f"{c:.3f}"]
        for size in ("one", "many")
        for who in ("runner", "bare")
        for w, c in [med[f"{who} {size}"]]
    ]
    table = md_table(["whole process", "wall s (median)", "CPU s (median)"], rows)
    one = med["runner one"][0]
    ratio = med["bare many"][0] / med["runner many"][0]
    paired = median(
        [b / r for b, r in zip(got["bare many"]["wall"], got["runner many"]["wall"], strict=True)]
    )
    checks = [
        Check("one-prompt run, whole process", f"< {TARGET_ONE_S:g} s", f"{one:.3f} s", one < 0.4),
        Check(
            f"{n:,} prompts, bare loop / runner wall time",
            f">= {TARGET_RATIO:g}",
            f"{ratio:.2f} (paired {paired:.2f})",
            ratio >= TARGET_RATIO,
        ),
    ]
    verdicts = md_table(
        ["check", "target", "measured", "verdict"],
        [[c.name, c.target, c.measured, verdict(c.passed)] for c in checks],
    )
    raw = md_table(
        ["client", *[f"pair {i + 1}" for i in range(pairs)]],
        [[k, *(f"{w:.3f}" for w in v["wall"])] for k, v in got.items()],
    )
    notes = (
        f"- aimock on loopback (one catch-all fixture). runner at its default settings "
        f"(index and report on) except no rate limit: `max_queries=1e9 max_concurrency="
        f"{CONCURRENCY}`; the bare loop (`bench/bare.py`) at {CONCURRENCY} in flight. "
        f"Wall time of the whole process, from exec to exit; medians of {pairs} interleaved "
        "pairs after one warm-up of each."
    )
    markdown = "\n\n".join(
        [notes, table, verdicts, "<details><summary>Raw pairs (wall s)</summary>\n\n" + raw]
    )
    return Section(
        "Start-up and whole process (bench/start.py)",
        markdown + "\n\n</details>",
        checks,
        {"figures": got},
    )


if __name__ == "__main__":
    # python -m bench.start [FOLDER [PROMPTS [PAIRS]]]: the section's markdown, then its figures.
    import sys

    folder, n, pairs = (
        sys.argv[1:] + ["/tmp/start-bench", "20000", str(PAIRS)][len(sys.argv) - 1 :]
    )[:3]
    figures = measure(Path(folder), int(n), int(pairs))
    print(_report(figures, int(n), int(pairs)).markdown)
    print(json.dumps(figures))
