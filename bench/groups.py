"""Many groups, many models: ``python -m bench.groups [--groups N] [--models N]``.

One experiment of N prompts, each its own rate-limit group (its ``group`` key, with
``parallel=true``) or each its own model, sent to aimock (npm) by ``python -m runner``.
Prints the run's peak RSS, wall time, the most file descriptors it held (sampled from
``/proc`` every 0.2 s), how many prompts ended ok, how many failed with "Too many open
files", how many warnings name prices, and the lines of output. Issue 23 item 11; BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from bench.common import aimock_fixtures, prompt_record, read_jsonl, run_runner
from tests import servers


def _fd_peak(marker: str, stop: threading.Event, peak: list[int]) -> None:
    """The most fds a process whose command line holds ``marker`` had open."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if marker.encode() in cmdline and b"-m\x00runner" in cmdline:
                    peak[0] = max(peak[0], len(os.listdir(f"/proc/{pid}/fd")))
            except OSError:
                continue
        stop.wait(0.2)


def _write(path: Path, n: int, by: str) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            record = prompt_record(i, model=f"bench-model-{i}" if by == "models" else "gpt-4o")
            if by == "groups":
                record["group"] = f"g{i}"
            out.write(json.dumps(record) + "\n")
    return path


def measure(
    n: int, by: str, folder: Path, extra: list[str], timeout: float = 900
) -> dict[str, object]:
    """One run of ``n`` prompts in ``n`` groups (or models); its figures."""
    experiment = _write(folder / f"{by}{n}.jsonl", n, by)
    run_id = f"bench-{by}-{n}-{os.getpid()}"
    stop = threading.Event()
    peak = [0]
    sampler = threading.Thread(target=_fd_peak, args=(run_id, stop, peak), daemon=True)
    with servers.aimock(aimock_fixtures(folder / "fixtures")) as server:
        sampler.start()
        try:
            run = run_runner(
                experiment,
                folder / "outputs",
                f"{server.url}/v1",
                run_id,
                ["parallel=true", "max_queries=1e9", "cache=off", *extra],
                timeout=timeout,
            )
        finally:
            stop.set()
            sampler.join()
    emfile = sum(
        "Too many open files" in str(r.get("error", ""))
        for r in read_jsonl(run.run_dir / "completed.jsonl")
    )
    log = run.log.read_text(errors="replace")
    return {
        "prompts": n,
        "by": by,
        "ok": run.ok,
        "emfile": emfile,
        "price_warnings": sum(
            "WARNING" in line and "price" in line.lower() for line in log.splitlines()
        ),
        "log_lines": len(log.splitlines()),
        "wall_s": round(run.measured.wall_s, 1),
        "send_s": round(run.send_s, 1),
        "maxrss_mb": round(run.measured.maxrss_mb),
        "max_fds": peak[0],
        "exit": run.measured.returncode,
        "timed_out": run.measured.timed_out,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.groups")
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--by", choices=["groups", "models"], default="groups")
    parser.add_argument("--timeout", type=float, default=900, help="then SIGTERM (seconds)")
    parser.add_argument("extra", nargs="*", help="more overrides for the run")
    args = parser.parse_args(argv)
    keep = os.environ.get("BENCH_KEEP")
    with tempfile.TemporaryDirectory(prefix="bench-groups-", dir=keep) as tmp:
        # A first run on this machine: no price memo from earlier runs.
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "xdg-cache")
        started = time.perf_counter()
        figures = measure(args.prompts, args.by, Path(tmp), args.extra, args.timeout)
        figures["bench_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
