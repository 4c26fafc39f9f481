"""``python -m runner.report [run=ID[,ID]|latest] [experiment=NAME]``: write report.html.

Also ``outputs_dir=DIR`` and ``out=FILE``. Writes a self-contained ``report.html`` and
prints its path. One run: into its folder (unless ``out=``). Several runs (``run=A,B`` or
``experiment=NAME`` alone, e.g. a sweep over models): side by side, into
``<outputs_dir>/<experiment>/report.html``. Exit status 2 on bad input.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from runner import cli
from runner.errors import BadInputError
from runner.report import REPORT_FILE, report_run, report_runs
from runner.report.runs import find_runs
from runner.visible import visible

_KEYS = ("run", "experiment", "outputs_dir", "out")


def parse_args(argv: Sequence[str]) -> dict[str, str]:
    """``key=value`` arguments, checked against the keys this command knows.

    Raises:
        BadInputError: an argument is not ``key=value`` or its key is unknown.
    """
    args: dict[str, str] = {}
    for arg in _joined_flags(argv):
        key, sep, value = arg.removeprefix("--").partition("=")
        key = key.replace("-", "_")  # --outputs-dir=X, as the flag commands spell it
        if not sep or key not in _KEYS:
            close = difflib.get_close_matches(key, _KEYS, n=1) if sep else []
            hint = f"did you mean {close[0]}={value}? " if close else ""
            raise BadInputError(
                f"unknown argument {arg!r}: {hint}use {' '.join(k + '=...' for k in _KEYS)}"
            )
        args[key] = value
    return args


def check_out(out: Path) -> None:
    """Refuse an ``out=`` the report cannot be written to, before any work.

    Raises:
        BadInputError: ``out`` is a folder, lies under a file, or is a file that is no
            report of runner's.
    """
    if out.is_dir():
        raise BadInputError(
            f"out={out}: is a folder; name the report's file, e.g. out={out / REPORT_FILE}"
        )
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise BadInputError(f"out={out}: {parent} is a file, so no report can be written there")
    if out.exists() and not out.is_file():
        raise BadInputError(f"out={out}: not a regular file; name a file to write the report to")
    if out.is_file() and not _is_report(out):
        raise BadInputError(
            f"out={out}: the file exists and is no report of runner's; it is never "
            "overwritten: name another file (or a report written before)"
        )


# What every report says near its top ("Generated <when> by runner <version>").
_REPORT_MARK = re.compile(rb"Generated \S+ by runner ")


def _is_report(path: Path) -> bool:
    """Whether ``path`` is a report runner wrote (out=notes.txt replaced the user's notes)."""
    try:
        with path.open("rb") as handle:
            return _REPORT_MARK.search(handle.read(1 << 20)) is not None  # titles come first
    except OSError:
        return False


def _joined_flags(argv: Sequence[str]) -> list[str]:
    """``--out FILE`` as ``--out=FILE``: the flag commands' spelling is taken here too."""
    words = list(argv)
    joined = []
    while words:
        word = words.pop(0)
        if word.startswith("--") and "=" not in word and words:
            word = f"{word}={words.pop(0)}"
        joined.append(word)
    return joined


def make_report(argv: Sequence[str]) -> Path:
    """Write the report the arguments ask for; returns its path."""
    args = parse_args(argv)
    outputs_dir = Path(args.get("outputs_dir", "outputs"))
    experiment = args.get("experiment") or None
    runs = find_runs(outputs_dir, args.get("run") or None, experiment)
    out = Path(args["out"]) if args.get("out") else None
    if out is not None:
        check_out(out)
    if len(runs) == 1:
        if out is None:
            return report_run(runs[0])
        return report_runs(runs, out, f"run {runs[0].name}")
    experiments = sorted({p.parent.name for p in runs})
    if out is None:
        out = (outputs_dir / experiments[0] if len(experiments) == 1 else outputs_dir) / REPORT_FILE
    title = f"{', '.join(experiments)} · {len(runs)} runs side by side"
    return report_runs(runs, out, title)


COMMAND = cli.Command(
    "runner.report", "[run=ID[,ID]|latest] [experiment=NAME] [outputs_dir=DIR] [out=FILE]", __doc__
)


def _report(argv: list[str]) -> int:
    print(visible(str(make_report(argv))))  # a folder name holding ESC
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return cli.main(COMMAND, _report, argv)


if __name__ == "__main__":
    sys.exit(main())
