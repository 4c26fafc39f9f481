"""``python -m runner.view [--outputs-dir DIR] [--port N] [--token T]``: a local web viewer.

Binds 127.0.0.1 only (a free port unless ``--port``) and prints its URL as the first line.
Answers only requests whose ``Host`` is 127.0.0.1, localhost or [::1] with that port (403
otherwise: a site the browser opened cannot reach it by DNS rebinding).
Exit status 2 when the outputs folder is missing or the port is taken.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from loguru import logger

from runner import cli
from runner.errors import BadInputError
from runner.paths import DEFAULT_OUTPUTS_DIR
from runner.view.app import allow_port, make_app

HOST = "127.0.0.1"


def _parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m runner.view",
        description="Compare models prompt by prompt, find results, read a prompt in full, "
        "watch a run live and label answers, over <outputs-dir>/index.duckdb.",
    )
    parser.add_argument(
        "--outputs-dir", type=Path, default=DEFAULT_OUTPUTS_DIR, help="default: outputs"
    )
    parser.add_argument("--port", type=_port, default=0, help="default: a free port")
    parser.add_argument(
        "--media-dir",
        type=Path,
        default=Path("media"),
        help="where prompts' images are (shown as thumbnails); default: media",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("RUNNER_VIEW_TOKEN", ""),
        help="require this token (in the printed URL, then a cookie) on a shared machine; "
        "default: $RUNNER_VIEW_TOKEN (keeps it out of the process list)",
    )
    return parser


def _port(text: str) -> int:
    """``--port``: 0 (a free one) to 65535; beyond, the viewer stopped with a bug's line."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 1-65535, or 0 (a free one)")
    return value


async def start(
    outputs_dir: Path, port: int, token: str = "", media_dir: Path = Path("media")
) -> tuple[web.AppRunner, str]:
    """Start the viewer; returns its runner and URL.

    Raises:
        BadInputError: the outputs folder is missing, or the port cannot be bound.
    """
    if not outputs_dir.is_dir():  # noqa: ASYNC240 - once, before serving
        raise BadInputError(f"--outputs-dir {outputs_dir}: no such folder; run an experiment first")
    app = make_app(outputs_dir, token, media_dir)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise BadInputError(
            f"--port {port}: cannot listen on {HOST}:{port} ({exc.strerror or exc}); "
            "pick another port or leave --port out for a free one"
        ) from None
    bound = runner.addresses[0][1] if runner.addresses else port
    allow_port(app, bound)
    query = f"?token={urllib.parse.quote(token)}" if token else ""
    return runner, f"http://{HOST}:{bound}/{query}"


async def _serve(outputs_dir: Path, port: int, token: str, media_dir: Path) -> None:
    runner, url = await start(outputs_dir, port, token, media_dir)
    print(url, flush=True)
    logger.info("Serving {} (writes only labels.jsonl); Ctrl-C stops", outputs_dir)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


COMMAND = cli.Command("runner.view")  # argparse prints its --help


def _view(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_serve(args.outputs_dir, args.port, args.token, args.media_dir))
    except KeyboardInterrupt:  # how a viewer is meant to stop
        return 0
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return cli.main(COMMAND, _view, argv)


if __name__ == "__main__":
    sys.exit(main())
