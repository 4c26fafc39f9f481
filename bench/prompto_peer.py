"""prompto 0.2.1, the peer, in its own environment (``.tools/venv-prompto``), made on first use."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, Measured, openai_env, run_measured, say, tail

# Under .tools/ (ignored by git, outside the folders ruff and mypy check).
VENV = ROOT / ".tools" / "venv-prompto"
REQUIREMENT = "prompto[openai]==0.2.1"
_RUN = VENV / "bin" / "prompto_run_experiment"
_TIME = re.compile(r"Experiment processing time: ([0-9.]+) seconds")


def ensure() -> str | None:
    """Make the environment if missing; None when ready, else why it is not."""
    if _RUN.exists():
        return None
    say(f"creating {VENV.relative_to(ROOT)} with {REQUIREMENT} (first use)")
    python = shutil.which("python3") or sys.executable
    try:
        subprocess.run([python, "-m", "venv", str(VENV)], check=True, capture_output=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "--quiet", REQUIREMENT],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"could not install {REQUIREMENT}: {exc} {detail.decode(errors='replace')[-500:]}"
    return None if _RUN.exists() else f"{_RUN} missing after installing {REQUIREMENT}"


def version() -> str:
    """prompto's installed version, or why there is none."""
    python = VENV / "bin" / "python"
    if not python.exists():
        return "not installed"
    found = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('prompto'))"],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip() or "unknown"


@dataclass
class PromptoRun:
    """One prompto run: its measurement, answers found, and its own processing time."""

    measured: Measured
    answered: int
    processing_s: float | None


def run(experiment: Path, folder: Path, base_url: str) -> PromptoRun:
    """Run prompto on a copy of ``experiment`` in ``folder/data`` against ``base_url``.

    prompto moves its input into ``data/output/<name>/``, so each call takes a fresh copy.
    """
    data = folder / "data"
    (data / "input").mkdir(parents=True, exist_ok=True)
    target = data / "input" / experiment.name
    shutil.copyfile(experiment, target)
    argv = [
        # Through the venv's own interpreter: a venv made in another checkout keeps that
        # checkout's path in its scripts' #! lines, and the script alone would not start.
        str(VENV / "bin" / "python"),
        str(_RUN),
        "--file",
        f"data/input/{experiment.name}",
        "--data-folder",
        "data",
        "--env-file",
        "/dev/null",
        "--max-queries",
        "1000000000",
    ]
    log = folder / f"{experiment.stem}.log"
    measured = run_measured(argv, log=log, env=openai_env(base_url), cwd=folder, timeout=1800)
    if measured.returncode != 0:
        raise RuntimeError(f"prompto exited with {measured.returncode}: {tail(log)}")
    answered = 0
    for completed in (data / "output" / experiment.stem).glob("*completed*.jsonl"):
        with completed.open(encoding="utf-8") as lines:
            answered += sum(1 for line in lines if '"response": "ok"' in line)
    found = _TIME.search(log.read_text(errors="replace"))
    return PromptoRun(measured, answered, float(found.group(1)) if found else None)
