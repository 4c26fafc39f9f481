"""Run the benchmarks side by side and write BENCHMARKS.md: ``python -m bench [--quick]``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bench import (
    batch,
    cache,
    expand_memory,
    faults,
    memory,
    overhead,
    pacing,
    prompto_peer,
    start,
)
from bench.common import (
    PYTHON,
    RESULTS,
    ROOT,
    BenchConfig,
    Check,
    Section,
    load_average,
    machine_facts,
    md_table,
    now_text,
    say,
    verdict,
    versions,
)

INDEX_SCRIPT = ROOT / "bench" / "bench_index.py"
INDEX_TABLE = RESULTS / "index.md"
INDEX_FIGURES = RESULTS / "index.json"
# Quick mode: 100,000 lines in 20 runs, and a 20,000-prompt run with the index on.
INDEX_QUICK = ["--lines", "100000", "--runs", "20", "--run-prompts", "20000", "--many-runs", "2000"]
REPORT_SCRIPT = ROOT / "bench" / "report.py"
REPORT_FIGURES = RESULTS / "report.json"
REPORT_QUICK = ["--prompts", "20000", "--viewer-rows", "100000"]
# Issue 14: the report of a 100,000-prompt run opens (and draws) in under 2 s.
REPORT_OPEN_S = 2.0

SECTIONS: dict[str, Callable[[BenchConfig], Section]] = {
    "overhead": overhead.run,
    "pacing": pacing.run,
    "faults": faults.run,
    "memory": memory.run,
    "cache": cache.run,
    "batch": batch.run,
    # Issue 25 (item 6): a one-prompt run and 20,000 prompts as whole processes.
    "start": start.run,
}


def index_section(cfg: BenchConfig) -> Section:
    """The results index's figures, from ``bench/bench_index.py`` (another helper's script)."""
    title = "Results index (bench/bench_index.py)"
    if not INDEX_SCRIPT.exists():
        return Section(title, "`bench/bench_index.py` is missing: not measured.")
    argv = [PYTHON, str(INDEX_SCRIPT)] + (INDEX_QUICK if cfg.quick else [])
    say("index: " + " ".join(argv[1:]))
    started = time.time()
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return Section(title, "`bench/bench_index.py` timed out after 30 minutes.")
    command = "`python bench/bench_index.py" + (
        " " + " ".join(INDEX_QUICK) + "`" if cfg.quick else "`"
    )
    if done.returncode != 0:
        text = f"{command} failed (exit {done.returncode}):\n\n```\n{done.stderr[-2000:]}\n```"
        return Section(title, text, [Check("bench_index.py ran", "exit 0", "failed", False)])
    fresh = INDEX_TABLE.exists() and INDEX_TABLE.stat().st_mtime >= started
    body = INDEX_TABLE.read_text().strip() if fresh else done.stdout.strip()
    # Its headings sit below this section's.
    body = "\n".join("##" + line if line.startswith("#") else line for line in body.splitlines())
    figures = json.loads(INDEX_FIGURES.read_text()) if fresh and INDEX_FIGURES.exists() else {}
    return Section(
        title,
        f"Output of {command}, headings moved one level down:\n\n{body}",
        index_checks(figures),
        raw={"stdout": done.stdout, "figures": figures},
    )


def index_checks(figures: dict[str, object]) -> list[Check]:
    """Issue 12's bounds on the index: full-index time and RSS, a run's RSS with the index on."""
    checks: list[Check] = []

    def number(key: str) -> float | None:
        value = figures.get(key)
        return float(value) if isinstance(value, int | float) else None

    lines = number("lines") or 0
    full_s, full_mb, run_mb = number("full_index_s"), number("full_index_rss_mb"), None
    run_mb = number("run_rss_mb")
    if full_s is not None:
        checks.append(
            Check(f"full index of {lines:,.0f} lines", "<= 30 s", f"{full_s:.1f} s", full_s <= 30)
        )
    if full_mb is not None:
        checks.append(
            Check(
                f"peak RSS, full index of {lines:,.0f} lines",
                "<= 300 MB",
                f"{full_mb:,.0f} MB",
                full_mb <= 300,
            )
        )
    if run_mb is not None:
        prompts = number("run_prompts") or 0
        checks.append(
            Check(
                f"peak RSS, {prompts:,.0f}-prompt run with the index on",
                "<= 300 MB",
                f"{run_mb:,.0f} MB",
                run_mb <= 300,
            )
        )
    return checks + many_runs_checks(figures)


def many_runs_checks(figures: dict[str, object]) -> list[Check]:
    """Our bounds on an index of many small runs (``bench/index_runs.py``)."""
    many, full_s, update_s = (figures.get(f"many_runs{k}") for k in ("", "_full_s", "_update_s"))
    if not isinstance(many, int) or not isinstance(full_s, float | int):
        return []
    if not isinstance(update_s, float | int):
        return []
    return [
        Check(f"full index of {many:,} small runs", "<= 30 s", f"{full_s:.1f} s", full_s <= 30),
        Check(
            f"a run's end-of-run update among {many:,} runs",
            "<= 0.5 s",
            f"{update_s:.3f} s",
            update_s <= 0.5,
        ),
    ]


def report_section(cfg: BenchConfig) -> Section:
    """The run report and the viewer at scale, from ``bench/report.py``."""
    title = "Report and viewer (bench/report.py)"
    args = (REPORT_QUICK if cfg.quick else []) + ["--json", str(REPORT_FIGURES)]
    say("report: " + " ".join(args))
    REPORT_FIGURES.unlink(missing_ok=True)
    done = subprocess.run(
        [PYTHON, str(REPORT_SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    command = "`python bench/report.py" + (" " + " ".join(REPORT_QUICK) if cfg.quick else "") + "`"
    if done.returncode != 0 or not REPORT_FIGURES.exists():
        text = f"{command} failed (exit {done.returncode}):\n\n```\n{done.stderr[-2000:]}\n```"
        return Section(title, text, [Check("report.py ran", "exit 0", "failed", False)])
    figures = json.loads(REPORT_FIGURES.read_text())
    prompts = f"{figures['prompts']:,}"
    checks = [
        Check(
            f"report.html of {prompts} prompts: open and draw (Chromium)",
            f"< {REPORT_OPEN_S:g} s",
            f"{figures['open_s']:.2f} s",
            figures["open_s"] < REPORT_OPEN_S,
        ),
        Check(
            f"report.html of {prompts} prompts: build",
            "report",
            f"{figures['build_s']:.2f} s",
            None,
        ),
        Check(
            f"report.html of {prompts} prompts: size", "report", f"{figures['size_kb']:,} kB", None
        ),
    ]
    text = (
        f"Output of {command}: a synthetic {prompts}-prompt run folder (two models, errors, "
        "retries, a 429 storm, scores), its `report.html` built with `runner.report.report_run` "
        "and opened from disk offline by headless Chromium until every chart drew; then the "
        "viewer's page queries over an index of that many responses.\n\n" + done.stdout.strip()
    )
    return Section(title, text, checks, raw={"figures": figures})


def run_section(name: str, job: Callable[[BenchConfig], Section], cfg: BenchConfig) -> Section:
    """Run one section; a section that breaks is reported as such, and the others still run."""
    started = time.monotonic()
    try:
        section = job(cfg)
    except Exception as exc:  # report any failure and carry on
        say(f"{name} failed: {exc}")
        detail = traceback.format_exc()[-3000:]
        section = Section(
            name,
            f"This section failed to run:\n\n```\n{detail}\n```",
            [Check(f"{name} ran", "completes", f"failed: {str(exc)[:120]}", False)],
        )
    section.raw["seconds"] = round(time.monotonic() - started, 1)
    return section


# Sections run from scripts of their own, after the others.
EXTRA: dict[str, Callable[[BenchConfig], Section]] = {
    "index": index_section,
    "report": report_section,
    # Issue 24: a template expanded to 1M prompts (10M by hand: python -m bench.expand_memory).
    "expand": expand_memory.section,
}


def render(
    sections: list[Section], cfg: BenchConfig, elapsed_s: float, chosen: list[str], load: str
) -> str:
    """The whole BENCHMARKS.md."""
    command = "python -m bench" + (" --quick" if cfg.quick else "")
    if set(chosen) != {*SECTIONS, *EXTRA}:
        command += " --only " + ",".join(chosen)
    head = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (here: `{command}`) on {now_text()}; the run took "
        f"{elapsed_s / 60:.1f} minutes. Every server is a real third-party program on "
        "127.0.0.1, started and stopped by the bench (`tests/servers.py`). Regenerate with "
        "`make bench`; `--quick` skips the 1M-prompt run and repeats less, `--only "
        f"{','.join([*SECTIONS, *EXTRA])}` picks sections.",
        "",
        "## Machine",
        "",
        md_table(["", ""], list(machine_facts().items()), numeric=False),
        "",
        "Servers and clients share these cores. Load average (1 / 5 / 15 min) when the bench "
        f"started: {load}; when it ended: {load_average()}. Above the core count, other work "
        "was running on the machine and throughput figures are noisier: hence medians.",
        "",
        "## Versions",
        "",
        md_table(["", ""], list(versions(prompto_peer.version()).items()), numeric=False),
        "",
        "## Targets (issues 4, 12, 13, 14, 15)",
        "",
    ]
    rows = [
        [s.title, c.name, c.target, c.measured, verdict(c.passed)]
        for s in sections
        for c in s.checks
    ]
    head.append(md_table(["section", "check", "target", "measured", "verdict"], rows))
    body = [
        f"## {s.title}\n\n{s.markdown}\n\n_Section time: {s.raw.get('seconds', '?')} s._"
        for s in sections
    ]
    return "\n".join(head) + "\n\n" + "\n\n".join(body) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the chosen sections, print and write the report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip 1M prompts, fewer repeats")
    parser.add_argument(
        "--only",
        default=",".join([*SECTIONS, *EXTRA]),
        help="comma-separated sections: " + ",".join([*SECTIONS, *EXTRA]),
    )
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS and s not in EXTRA]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    cfg = BenchConfig(quick=args.quick, work=RESULTS / "work")
    cfg.work.mkdir(parents=True, exist_ok=True)
    started, load = time.monotonic(), load_average()
    sections = []
    for name in chosen:
        job = EXTRA.get(name) or SECTIONS[name]
        sections.append(run_section(name, job, cfg))
    elapsed = time.monotonic() - started
    text = render(sections, cfg, elapsed, chosen, load)
    print(text)
    args.output.write_text(text, encoding="utf-8")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    raw = {s.title: s.raw for s in sections} | {"quick": cfg.quick, "elapsed_s": elapsed}
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(raw, indent=2, default=str))
    say(f"wrote {args.output} and bench/results/bench-{stamp}.json in {elapsed / 60:.1f} min")
    failed = [c for s in sections for c in s.checks if c.passed is False]
    if failed:
        say(f"{len(failed)} target(s) not met: " + "; ".join(c.name for c in failed))
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
