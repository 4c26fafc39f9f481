"""``python -m runner.cache stats|clear|explain RUN_ID PROMPT_ID [--cache-dir DIR]``."""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from runner import cli
from runner.cache.explain import explain
from runner.cache.store import FILE_NAME, CacheStore
from runner.commands import python_command
from runner.config.cache_settings import cache_folder
from runner.errors import BadInputError
from runner.visible import visible

COMMAND = cli.Command("runner.cache", log_level="WARNING")  # argparse prints its --help


def _parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog=f"{python_command()} -m runner.cache",
        description="The response cache: what it holds, emptying it, why a prompt missed it.",
    )
    cache_dir_help = "the cache folder (default: $RUNNER_CACHE_DIR, else ~/.cache/runner)"
    parser.add_argument("--cache-dir", type=Path, default=None, help=cache_dir_help)
    commands = parser.add_subparsers(dest="command", required=True)
    # --cache-dir also after the command (runner.cache clear --cache-dir X), as hints write it.
    for name, text in (
        ("stats", "entries, size, and entries per api and model"),
        ("clear", "delete every cached answer"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS, help=cache_dir_help)
    why = commands.add_parser("explain", help="why a prompt of a run missed the cache")
    why.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS, help=cache_dir_help)
    why.add_argument("run_id")
    why.add_argument("prompt_id", help="the prompt's prompt_key in completed.jsonl (its id)")
    return parser


def _when(at: float | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _cache(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    folder = args.cache_dir.expanduser() if args.cache_dir else cache_folder(None)
    if folder.exists() and not folder.is_dir():
        raise BadInputError(f"--cache-dir {folder}: is a file, not a cache folder")
    if not (folder / FILE_NAME).exists():
        if args.command == "explain":
            raise BadInputError(
                f"no response cache at {folder / FILE_NAME}: give the run's --cache-dir"
            )
        # Nothing is made: clearing a cache that is not there leaves nothing behind.
        nothing = "; nothing to clear" if args.command == "clear" else ""
        print(f"no response cache at {folder / FILE_NAME}{nothing}")
        return 0
    if not (folder / FILE_NAME).is_file():
        raise BadInputError(f"{folder / FILE_NAME}: not a regular file; not a response cache")
    store = CacheStore(folder)
    try:
        return _do(args, store)
    except (sqlite3.Error, OSError) as exc:
        raise BadInputError(
            f"the response cache {store.path} cannot be {_VERBS[args.command]} ({exc}); "
            "check that it and its folder are yours to write, or give another --cache-dir"
        ) from None
    finally:
        with contextlib.suppress(sqlite3.Error, OSError):  # the error above says it
            store.close()


_VERBS = {"stats": "read", "clear": "cleared", "explain": "read"}


def _do(args: argparse.Namespace, store: CacheStore) -> int:
    """Run the subcommand on an open cache."""
    if args.command == "stats":
        stats = store.stats()
        print(f"cache: {stats['path']} ({stats['bytes'] / 1e6:.1f} MB)")
        print(f"entries: {stats['entries']} answers of {stats['requests']} requests")
        print(f"oldest: {_when(stats['oldest'])}  newest: {_when(stats['newest'])}")
        for api, model, n in stats["by_model"]:
            print(visible(f"  {api:<14} {model:<40} {n:>10}"))  # model names are data
    elif args.command == "clear":
        print(f"cleared {store.clear()} cached answer(s) from {store.path}")
    else:
        print(visible("\n".join(explain(store, args.run_id, args.prompt_id))))  # keys are data
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(COMMAND, _cache, argv)


if __name__ == "__main__":
    raise SystemExit(main())
