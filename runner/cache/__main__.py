"""``python -m runner.cache stats|clear|explain RUN_ID PROMPT_ID [--cache-dir DIR]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from runner import cli
from runner.cache.explain import explain
from runner.cache.settings import cache_folder
from runner.cache.store import FILE_NAME, CacheStore
from runner.commands import python_command
from runner.errors import BadInputError

COMMAND = cli.Command("runner.cache", log_level="WARNING")  # argparse prints its --help


def _parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog=f"{python_command()} -m runner.cache",
        description="The response cache: what it holds, emptying it, why a prompt missed it.",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="the cache folder (default: $RUNNER_CACHE_DIR, else ~/.cache/runner)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("stats", help="entries, size, and entries per api and model")
    commands.add_parser("clear", help="delete every cached answer")
    why = commands.add_parser("explain", help="why a prompt of a run missed the cache")
    why.add_argument("run_id")
    why.add_argument("prompt_id", help="the prompt's prompt_key in completed.jsonl (its id)")
    return parser


def _when(at: float | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _cache(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    folder = args.cache_dir.expanduser() if args.cache_dir else cache_folder(None)
    if args.command != "clear" and not (folder / FILE_NAME).exists():
        if args.command == "explain":
            raise BadInputError(
                f"no response cache at {folder / FILE_NAME}: give the run's --cache-dir"
            )
        print(f"no response cache at {folder / FILE_NAME}")
        return 0
    store = CacheStore(folder)
    try:
        if args.command == "stats":
            stats = store.stats()
            print(f"cache: {stats['path']} ({stats['bytes'] / 1e6:.1f} MB)")
            print(f"entries: {stats['entries']} answers of {stats['requests']} requests")
            print(f"oldest: {_when(stats['oldest'])}  newest: {_when(stats['newest'])}")
            for api, model, n in stats["by_model"]:
                print(f"  {api:<14} {model:<40} {n:>10}")
        elif args.command == "clear":
            print(f"cleared {store.clear()} cached answer(s) from {store.path}")
        else:
            print("\n".join(explain(store, args.run_id, args.prompt_id)))
    finally:
        store.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(COMMAND, _cache, argv)


if __name__ == "__main__":
    raise SystemExit(main())
