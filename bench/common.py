"""Shared pieces of the benchmarks: machine facts, experiment files, measured runs, markdown."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
MODEL = "gpt-bench"
API_KEY = "bench-dummy-key"

_STARTED = time.monotonic()

# Runs ARGV in a fresh, small Python process and records the child's wall time, peak RSS and
# CPU time. The wrapper is ~10 MB, far below what it measures, so it cannot raise ru_maxrss.
# It outlives a SIGTERM sent to the group (the child gets the default disposition on exec),
# so a child stopped after a timeout is still measured.
_WRAPPER = """
import json, resource, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, lambda *_: None)
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    json.dump({"returncode": code, "wall_s": wall, "maxrss_kb": usage.ru_maxrss,
               "cpu_s": usage.ru_utime + usage.ru_stime}, out)
"""


def say(message: str) -> None:
    """Print a progress line to stderr, with the time since the bench started."""
    print(f"[bench {time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class BenchConfig:
    """What every section needs: quick mode, and a scratch folder of its own."""

    quick: bool
    work: Path

    def folder(self, name: str) -> Path:
        """A fresh scratch folder ``work/name`` (emptied if it exists)."""
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


@dataclass
class Check:
    """One target from issue 4 and whether the measurement meets it."""

    name: str
    target: str
    measured: str
    passed: bool | None  # None: informational, no target


@dataclass
class Section:
    """A section of BENCHMARKS.md: its markdown, its checks, and the raw numbers."""

    title: str
    markdown: str
    checks: list[Check] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Measured:
    """A finished child process: exit status, wall time, peak RSS and CPU time."""

    returncode: int
    wall_s: float
    maxrss_kb: int
    cpu_s: float
    timed_out: bool = False

    @property
    def maxrss_mb(self) -> float:
        return self.maxrss_kb / 1024.0


def run_measured(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600.0,
) -> Measured:
    """Run ``argv`` to completion (output to ``log``) and measure it from a fresh wrapper.

    After ``timeout`` seconds the whole process group gets SIGTERM (runner then stops
    cleanly and writes its ``run.json``), and SIGKILL 45 s later; the result says
    ``timed_out`` (and has no peak RSS or CPU time if it had to be killed).
    """
    stats = log.with_suffix(".rusage.json")
    stats.unlink(missing_ok=True)
    started = time.perf_counter()
    timed_out = False
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [PYTHON, "-c", _WRAPPER, str(stats), *argv],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    if not stats.exists():
        return Measured(process.returncode, time.perf_counter() - started, 0, 0.0, timed_out)
    data = json.loads(stats.read_text())
    return Measured(
        int(data["returncode"]),
        float(data["wall_s"]),
        int(data["maxrss_kb"]),
        float(data["cpu_s"]),
        timed_out,
    )


def tail(path: Path, chars: int = 1500) -> str:
    """The end of a log file, for error messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def median(values: Sequence[float]) -> float:
    """The median of some repeats (NaN when there are none)."""
    return statistics.median(values) if values else float("nan")


def prompt_record(i: int, model: str = MODEL) -> dict[str, Any]:
    """The i-th benchmark prompt: a short single-turn OpenAI chat prompt."""
    return {
        "id": f"p{i}",
        "api": "openai",
        "model_name": model,
        "prompt": f"Say ok to prompt number {i}.",
        "parameters": {"max_tokens": 8},
    }


def write_experiment(path: Path, n: int, model: str = MODEL) -> Path:
    """Write an experiment of ``n`` prompts (streamed: 1M lines need no memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps(prompt_record(i, model)) + "\n")
    return path


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of a JSONL file, one at a time."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def aimock_fixtures(folder: Path) -> Path:
    """A fixture folder for aimock with one catch-all answer, ``ok``."""
    folder.mkdir(parents=True, exist_ok=True)
    catch_all = {"fixtures": [{"match": {}, "response": {"content": "ok"}}]}
    (folder / "zz-catch-all.json").write_text(json.dumps(catch_all))
    return folder


def openai_env(base_url: str) -> dict[str, str]:
    """This environment, pointed at a local OpenAI-style server with a dummy key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY=API_KEY, PYTHONUNBUFFERED="1")
    return env


@dataclass
class RunnerRun:
    """One runner run as a subprocess: its measurement, its run.json and its folder."""

    measured: Measured
    run_json: dict[str, Any]
    run_dir: Path
    log: Path

    @property
    def ok(self) -> int:
        return int(self.run_json.get("counts", {}).get("ok", 0))

    @property
    def send_s(self) -> float:
        """The run's own wall time (sending and writing; start-up and reading excluded)."""
        return float(self.run_json.get("wall_time_s", float("nan")))

    def group(self) -> dict[str, Any]:
        """The single group's summary (runs here have one group, ``all``)."""
        groups: dict[str, Any] = self.run_json.get("groups", {})
        return next(iter(groups.values()), {})


def run_runner(
    experiment_file: Path,
    outputs_dir: Path,
    base_url: str,
    run_id: str,
    overrides: Sequence[str],
    timeout: float = 3600.0,
) -> RunnerRun:
    """Run ``python -m runner`` on an experiment file, as a user would, and measure it."""
    argv = [
        PYTHON,
        "-m",
        "runner",
        f"experiment={experiment_file.stem}",
        f"experiments_dir={experiment_file.parent}",
        f"outputs_dir={outputs_dir}",
        f"run_id={run_id}",
        "index=false",
        "progress=off",
        *overrides,
    ]
    run_dir = outputs_dir / experiment_file.stem / run_id
    log = outputs_dir / f"{experiment_file.stem}-{run_id}.log"
    outputs_dir.mkdir(parents=True, exist_ok=True)
    env = openai_env(base_url)
    # Default settings (the cache on), but an empty cache of its own: a first run, which
    # sends every prompt, not a rerun answered from an earlier round's cache. A section
    # that measures the cache itself passes its own cache_dir.
    env["RUNNER_CACHE_DIR"] = str(outputs_dir / f"cache-{run_id}")
    measured = run_measured(argv, log=log, env=env, cwd=ROOT, timeout=timeout)
    meta = run_dir / "run.json"
    if not meta.exists():
        raise RuntimeError(f"runner left no run.json (exit {measured.returncode}): {tail(log)}")
    return RunnerRun(measured, json.loads(meta.read_text()), run_dir, log)


def machine_facts() -> dict[str, str]:
    """CPU model, cores, RAM, OS and Python of this machine."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": cpu,
        "cores (nproc)": str(usable),
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Python": platform.python_version(),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on a shared machine shows here)."""
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions(prompto_version: str) -> dict[str, str]:
    """Versions of everything measured or measuring."""
    aimock = "not installed"
    package = ROOT / ".tools" / "node_modules" / "@copilotkit" / "aimock" / "package.json"
    if package.exists():
        aimock = str(json.loads(package.read_text()).get("version", "?"))
    node = shutil.which("node")
    node_version = (
        subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        if node
        else "not installed"
    )
    return {
        "runner": _version("runner"),
        "prompto": prompto_version,
        "aiohttp (runner and bare loop)": _version("aiohttp"),
        "llmock (PyPI)": _version("llmock"),
        "@copilotkit/aimock (npm)": f"{aimock} on Node.js {node_version}",
    }


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: bool = True) -> str:
    """A markdown table; right-aligns every column but the first unless ``numeric`` is off."""
    align = ["---"] + ["---:" if numeric else "---"] * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(passed: bool | None) -> str:
    """PASS, FAIL, or a dash for an informational figure."""
    return "-" if passed is None else ("PASS" if passed else "FAIL")


def now_text() -> str:
    """The local date and time, with its zone."""
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
