"""``python -m runner.query [--outputs-dir DIR] [--format F] [--out FILE] [--limit N] "SQL"``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import duckdb

from runner import cli
from runner.commands import python_command
from runner.errors import BadInputError
from runner.index.db import DEFAULT_WAIT_S
from runner.index.errors import QueryError
from runner.paths import DEFAULT_OUTPUTS_DIR
from runner.query.api import run_sql, to_frame
from runner.query.check import first_line
from runner.query.render import FORMATS, export, print_table
from runner.std_streams import reader_left

COMMAND = cli.Command("runner.query", log_level="WARNING")  # argparse prints its --help
# Rows shown in the terminal when no --limit is given; exports take every row.
DEFAULT_SHOWN = 100


def _parser() -> argparse.ArgumentParser:
    """The command line of ``python -m runner.query``."""
    parser = cli.ArgumentParser(
        prog=f"{python_command()} -m runner.query",
        description="Run a read-only SQL query on <outputs-dir>/index.duckdb (tables: runs, "
        "responses, evaluations, indexed_files, skipped_lines). See docs/index.md.",
    )
    parser.add_argument("sql", help='the query, e.g. "SELECT * FROM runs"; - reads it from stdin')
    parser.add_argument(
        "--outputs-dir",
        type=Path,
        default=DEFAULT_OUTPUTS_DIR,
        help="folder holding the runs and index.duckdb (default: outputs)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="table (default on screen), csv, json or parquet; "
        "with --out, guessed from the file's extension",
    )
    parser.add_argument("--out", type=Path, default=None, metavar="FILE", help="write here")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help=f"at most N rows (default: all; the screen table shows {DEFAULT_SHOWN})",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help=f"how long to wait while an update writes the index (default: {DEFAULT_WAIT_S:g})",
    )
    return parser


def _format(parser: argparse.ArgumentParser, fmt: str | None, out: Path | None) -> str:
    """The output format: as given, else from ``--out``'s extension, else a table."""
    if fmt is None and out is not None:
        guessed = out.suffix.lower().lstrip(".")
        if guessed not in FORMATS[1:]:
            parser.error(f"cannot tell the format of {out}; add --format csv|json|parquet")
        fmt = guessed
    fmt = fmt or "table"
    if fmt == "parquet" and out is None:
        parser.error("parquet is binary: give a file with --out FILE")
    if fmt == "table" and out is not None:
        parser.error("--out writes csv, json or parquet; add --format")
    return fmt


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` that is a folder or lies under a file, before the query runs.

    Raises:
        BadInputError: ``out`` cannot be the file the rows are written to.
    """
    if out.is_dir():
        raise BadInputError(f"--out {out}: is a folder; name the file to write the rows to")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise BadInputError(f"--out {out}: {parent} is a file, so nothing can be written there")


def _query(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    fmt = _format(parser, args.format, args.out)
    if args.limit is not None and args.limit < 0:
        parser.error("--limit must be 0 or more")
    if args.out is not None:
        _check_out(args.out)
    sql = sys.stdin.read() if args.sql == "-" else args.sql
    try:
        with run_sql(args.outputs_dir, sql, wait=args.wait) as (con, rel):
            try:
                if fmt == "table":
                    shown = DEFAULT_SHOWN if args.limit is None else args.limit
                    frame = to_frame(rel.limit(shown + 1))
                    print_table(frame.head(shown), more=len(frame) > shown)
                else:
                    rows = export(con, rel, fmt, args.out, args.limit)
                    if args.out is not None:
                        print(f"wrote {rows} row(s) to {args.out}", file=sys.stderr)
            except duckdb.Error as exc:
                # Errors that only show once rows are produced (a bad cast, say).
                raise QueryError(first_line(exc)) from None
    except BrokenPipeError:  # the reader (``| head``) left: not an error
        reader_left()
        return 0
    except OSError as exc:  # writing --out: a full disk, a folder that is not there
        cli.say_error(exc)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    return cli.main(COMMAND, _query, argv)


if __name__ == "__main__":
    sys.exit(main())
