"""``python -m runner.index [--outputs-dir DIR] [--rebuild]``: bring the index up to date."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from runner import cli
from runner.commands import python_command
from runner.index.db import DEFAULT_WAIT_S
from runner.index.update import update_index
from runner.paths import DEFAULT_OUTPUTS_DIR
from runner.visible import visible

COMMAND = cli.Command("runner.index", log_level="WARNING")  # argparse prints its --help
# Bad lines printed one by one before the rest are only counted.
_SHOW_SKIPPED = 20


def _parser() -> argparse.ArgumentParser:
    """The command line of ``python -m runner.index``."""
    parser = cli.ArgumentParser(
        prog=f"{python_command()} -m runner.index",
        description="Index every run's completed.jsonl and run.json into "
        "<outputs-dir>/index.duckdb, reading only what is new since last time.",
    )
    parser.add_argument(
        "--outputs-dir",
        type=Path,
        default=DEFAULT_OUTPUTS_DIR,
        help="folder holding <experiment>/<run_id>/ run folders (default: outputs)",
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="drop what is indexed and read every file again (evaluations are kept)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help=f"how long to wait for another process using the index (default: {DEFAULT_WAIT_S:g})",
    )
    return parser


def _index(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    report = update_index(args.outputs_dir, rebuild=args.rebuild, wait=args.wait)
    for item in report.skipped[:_SHOW_SKIPPED]:
        print(visible(f"skipped {item}"), file=sys.stderr)
    if len(report.skipped) > _SHOW_SKIPPED:
        more = len(report.skipped) - _SHOW_SKIPPED
        print(f"... and {more} more skipped line(s): see the skipped_lines table", file=sys.stderr)
    print(report.summary())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    return cli.main(COMMAND, _index, argv)


if __name__ == "__main__":
    sys.exit(main())
