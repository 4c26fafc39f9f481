"""``python -m runner.upload_media upload|list|delete``: the Gemini File API, as prompto's.

``upload --file EXP.jsonl --media-folder DIR [--output-file OUT] [--overwrite-output]``
uploads every media file the experiment's parts name (once each; files already in the
File API, matched by SHA-256, are reused) and writes a copy of the experiment with
``uploaded_filename`` on each part (``EXP_uploaded.jsonl`` by default; the input is never
changed). ``list`` shows the account's files; ``delete`` deletes them all, as prompto's
``prompto_upload_media delete`` does. The key is ``GEMINI_API_KEY`` (``--env-file``, .env
by default); ``GEMINI_BASE_URL`` points elsewhere.

Exit status: 0 done, 1 an API call failed, 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from loguru import logger

from runner import cli
from runner.commands import python_command
from runner.errors import BadInputError
from runner.prompts.parts import PartFormError, canonical_prompt

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"


def _parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(prog=f"{python_command()} -m runner.upload_media")
    commands = parser.add_subparsers(dest="command", required=True)
    upload = commands.add_parser("upload", help="upload an experiment's media files")
    upload.add_argument("--file", "-f", required=True, help="the experiment file (.jsonl)")
    upload.add_argument("--media-folder", "-m", required=True, help="where its media are")
    upload.add_argument("--output-file", "-o", help="default: <file>_uploaded.jsonl")
    upload.add_argument("--overwrite-output", "-w", action="store_true")
    for name in ("list", "delete"):
        commands.add_parser(name, help=f"{name} the files in the Gemini File API")
    for sub in commands.choices.values():
        sub.add_argument("--env-file", "-e", default=".env", help="read at start (.env)")
    return parser


def _media_parts(records: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """Every media part (as written) that names a local file, across the experiment."""
    found: list[dict[str, Any]] = []
    for number, data in enumerate(records, start=1):
        prompt = data.get("prompt")
        try:
            canonical_prompt(prompt)
        except PartFormError as exc:
            raise BadInputError(f"{path}:{number}: {exc}") from None
        if not isinstance(prompt, list):
            continue
        for message in prompt:
            parts = (
                message.get("parts", message.get("content")) if isinstance(message, dict) else None
            )
            for part in parts if isinstance(parts, list) else [parts]:
                if isinstance(part, dict) and part.get("type") != "text" and part.get("media"):
                    found.append(part)
    return found


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{path}: cannot read the experiment ({exc})") from None


def _plan_upload(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[Path], Path]:
    """The experiment's records, the local media files to upload, and the output path."""
    from runner.providers import media

    source = Path(args.file)
    if source.exists() and not source.is_file():  # a pipe would be waited on for ever
        raise BadInputError(f"--file {source}: not a regular file (a folder, a device or a pipe)")
    target = Path(args.output_file or source.with_name(f"{source.stem}_uploaded.jsonl"))
    if target.exists() and not args.overwrite_output:
        raise BadInputError(f"{target} exists; pass --overwrite-output or --output-file")
    records = _read(source)
    folder = Path(args.media_folder)
    paths: list[Path] = []
    for part in _media_parts(records, source):
        path = media.media_path(folder, str(part["media"]))
        if not path.is_file():
            raise BadInputError(f"{source}: media file {part['media']!r} not found at {path}")
        part["_path"] = path  # removed again before writing
        paths.append(path)
    return records, list(dict.fromkeys(paths)), target


async def _upload(paths: list[Path], files: Any) -> dict[Path, str]:
    """Each file's File API name (uploaded now, or found there already)."""
    from runner.providers import media

    names: dict[Path, str] = {}
    for path in paths:
        mime = media.mime_type_of(path.name) or "application/octet-stream"
        names[path] = str((await files.ensure_uploaded(path, mime))["name"])
        logger.info("{} is {}", path, names[path])
    return names


def _write(records: list[dict[str, Any]], names: dict[Path, str], target: Path) -> None:
    for data in records:
        prompt = data.get("prompt")
        for message in prompt if isinstance(prompt, list) else []:
            parts = (
                message.get("parts", message.get("content")) if isinstance(message, dict) else None
            )
            for part in parts if isinstance(parts, list) else [parts]:
                if isinstance(part, dict) and "_path" in part:
                    part["uploaded_filename"] = names[part.pop("_path")]
    target.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    print(f"Uploaded {len(names)} file(s); wrote {target}")


async def _main(args: argparse.Namespace, paths: list[Path]) -> dict[Path, str]:
    from runner.providers.gemini import classify_gemini
    from runner.providers.gemini_files import GeminiFiles

    key = os.environ.get("GEMINI_API_KEY")
    base_url = os.environ.get("GEMINI_BASE_URL") or DEFAULT_BASE_URL
    if not key and base_url == DEFAULT_BASE_URL:
        raise BadInputError("no Gemini API key: set GEMINI_API_KEY (or put it in .env)")
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession() as session:
        files = GeminiFiles(session, base_url, key, timeout, classify_gemini)
        if args.command == "upload":
            return await _upload(paths, files)
        listed = await files.list_files()
        for file in listed:
            print(f"{file.get('name')}\t{file.get('mimeType')}\t{file.get('displayName', '')}")
            if args.command == "delete":
                await files.delete(str(file["name"]))
        verb = "Deleted" if args.command == "delete" else "Found"
        print(f"{verb} {len(listed)} file(s)")
    return {}


COMMAND = cli.Command("runner.upload_media")  # argparse prints its --help


def _upload_media(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from runner.config.env_file import load_env_file

    load_env_file([f"env_file={args.env_file}"] if args.env_file != ".env" else [])
    if args.command == "upload":
        records, paths, target = _plan_upload(args)
        _write(records, asyncio.run(_main(args, paths)), target)
    else:
        asyncio.run(_main(args, []))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return cli.main(COMMAND, _upload_media, argv)


if __name__ == "__main__":
    sys.exit(main())
