"""How to spell a runner command so that it works when typed in the user's shell."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def python_command() -> str:
    """``python`` when that is this interpreter (an activated venv), else this one's path.

    A run started by ``make demo`` uses ``.venv/bin/python`` without activating the venv:
    the commands it prints must name that interpreter to work in a fresh shell.
    """
    found = shutil.which("python")
    here = Path(sys.prefix).resolve()
    if found and _prefix_of(Path(found)) == here:
        return "python"
    executable = Path(sys.executable)
    try:
        relative = executable.absolute().relative_to(Path.cwd())
    except ValueError:
        return str(executable)
    return os.path.join(".", str(relative)) if relative.parent == Path() else str(relative)


def shell_command(module: str, *args: str) -> str:
    """``python -m MODULE ARGS`` as the user pastes it: each word quoted for the shell.

    A run id or a folder is data: ``q$(touch x)`` must reach runner as typed, not run.
    """
    return " ".join(_quoted(word) for word in [python_command(), "-m", module, *args])


def _quoted(word: str) -> str:
    """``word`` quoted for a POSIX shell (as :func:`shlex.quote` does).

    A word holding ``'`` and nothing a shell expands inside double quotes gets those: an SQL
    literal (``run_id = 'x'``) reads as typed.
    """
    quoted = shlex.quote(word)
    if "'" in word and quoted != word and not any(c in word for c in '"$`\\!'):
        return f'"{word}"'
    return quoted


def _prefix_of(python: Path) -> Path:
    """The environment a ``python`` on PATH belongs to (bin/python -> its prefix)."""
    return python.absolute().parent.parent.resolve()
