"""What a finished run prints on the terminal: its summary, where its results are, what next."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from runner.commands import shell_command
from runner.config.schema import RunConfig
from runner.paths import DEFAULT_OUTPUTS_DIR
from runner.run.result import RunResult
from runner.std_streams import reader_may_leave
from runner.visible import visible


def print_result(result: RunResult, settings: RunConfig) -> None:
    """The summary, the digest of errors, the scores, then the commands that look further.

    A reader that leaves early (``| head``) gets no more; the run's status stands.
    """
    with reader_may_leave():
        _print_result(result, settings)


def _print_result(result: RunResult, settings: RunConfig) -> None:
    print(visible(result.summary.format()))  # group names are data: no bidi control acts
    from runner.report.digest import digest_lines

    for line in digest_lines(result.folder.path, result.summary.not_sent):
        print(visible(line))  # error messages are data too
    for step, (mean, count) in result.extra.get("scores", {}).items():
        print(f"  evaluation {step}: mean score {mean:.2f} over {count} result(s)")
    print(visible(f"Results: {result.folder.completed}"))  # a folder name holding ESC
    outputs = _outputs_flag(settings)
    if settings.index:
        run_id = result.folder.run_id.replace("'", "''")  # an SQL string literal
        sql = f"SELECT id, status, response FROM responses WHERE run_id = '{run_id}'"
        print(visible(f"Query:   {shell_command('runner.query', *outputs, sql)}"))
    # Last, so a run (and `make demo`) ends by saying where to look.
    if result.extra.get("report"):
        print(visible(f"Report:  {result.extra['report']}"))
        if settings.index:
            print(visible(f"View:    {shell_command('runner.view', *outputs)}"))


def _outputs_flag(settings: RunConfig) -> list[str]:
    """``--outputs-dir DIR`` for a command that reads the index, unless DIR is its default."""
    if Path(settings.outputs_dir) == DEFAULT_OUTPUTS_DIR:
        return []
    return ["--outputs-dir", settings.outputs_dir]


def print_sweep(jobs: list[tuple[int, Path]]) -> None:
    """The end of a sweep: how its jobs ended, their run folders, the command comparing them.

    A job a stopped sweep never started has no folder: it is counted, not listed.
    """
    with reader_may_leave():
        ended = Counter(code for code, _ in jobs)
        said = ", ".join(f"{n} exited {code}" for code, n in sorted(ended.items()))
        made = [run_dir for _, run_dir in sorted(jobs) if run_dir.exists()]
        if len(made) < len(jobs):
            said += f"; {len(jobs) - len(made)} not started"
        print(visible(f"Sweep:   {len(jobs)} runs ({said}): {', '.join(map(str, made))}"))
        experiments = {run_dir.parent for _, run_dir in jobs}
        if len(experiments) == 1:
            (folder,) = experiments
            outputs = f"outputs_dir={folder.parent}"
            compare = shell_command("runner.report", f"experiment={folder.name}", outputs)
            print(visible(f"Compare: {compare}"))
