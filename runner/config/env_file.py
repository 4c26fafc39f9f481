"""A ``.env`` file read at start-up, as prompto does (python-dotenv).

``.env`` in the current folder, or the file ``env_file=PATH`` names, sets variables that are
not already in the environment: a variable set in the environment always wins. The log
names the file and how many variables it set, never their values.
"""

from __future__ import annotations

import io
import os
from collections.abc import MutableMapping, Sequence
from pathlib import Path

from loguru import logger

from runner.errors import BadInputError

DEFAULT_ENV_FILE = ".env"


def _chosen(overrides: Sequence[str]) -> tuple[Path, bool]:
    """The env file named by ``env_file=`` (the last one), or ``.env``; and if it was named."""
    named = [o.partition("=")[2] for o in overrides if o.lstrip("+~").startswith("env_file=")]
    if named:
        return Path(named[-1]).expanduser(), True
    return Path(DEFAULT_ENV_FILE), False


def _check_lines(path: Path) -> None:
    """Fail on a line python-dotenv cannot read (it would skip it with only a warning)."""
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: cannot read the env file ({exc})") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise BadInputError(
                f"{path}:{binding.original.line}: cannot read this line of the env file; "
                "write NAME=value (quote values with spaces)"
            )


def load_env_file(
    overrides: Sequence[str], environ: MutableMapping[str, str] | None = None
) -> Path | None:
    """Read the env file into ``environ`` (``os.environ``), keeping variables already set.

    Returns:
        The file read, or None when there is none (``.env`` absent is no error).

    Raises:
        BadInputError: ``env_file=`` names a missing file, or a line cannot be read.
    """
    environ = os.environ if environ is None else environ
    path, named = _chosen(overrides)
    if not path.is_file():
        if named:
            raise BadInputError(f"env_file={path}: no such file; check the path")
        return None
    from dotenv import dotenv_values  # only for a file to read

    path = path.resolve()
    _check_lines(path)
    values = dotenv_values(path, interpolate=True)
    added = [k for k, v in values.items() if v is not None and k not in environ]
    for key in added:
        environ[key] = str(values[key])
    kept = sum(1 for k in values if k in environ and k not in added)
    logger.info(
        "Read {}: set {} variable(s); {} already in the environment kept",
        path,
        len(added),
        kept,
    )
    return path
