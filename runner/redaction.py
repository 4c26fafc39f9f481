"""Keys never leave the process: every known key value is masked in text that does.

An API may echo the key it rejected ("Incorrect API key provided: sk-..."); that text goes
into results, logs and the index. Every writer that sends text out of the process (the
results and evaluations writer, the log sinks, ``run.json``) passes it through
:func:`redact`, which replaces every key value this process knows by :data:`MASK`.

Keys are learnt from the environment (variables named like ``*_API_KEY*``, ``*_TOKEN``,
``*_SECRET``), from a ``.env`` file in the working folder, and from config values
(``apis.*.api_key``) once resolved.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

MASK = "[REDACTED]"

# Names of variables that hold credentials: OPENAI_API_KEY, OPENAI_API_KEY_gpt_4o,
# HF_TOKEN, AZURE_OPENAI_API_KEY, MY_SECRET, ...
_SECRET_NAME = re.compile(r"(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD)(_|$)", re.IGNORECASE)
# Shorter values ("1", "true", "abc") would mask ordinary words; no real key is this short.
_MIN_LENGTH = 8

_lock = threading.Lock()
_secrets: set[str] = set()
# The values (longest first), their pattern and their UTF-8 forms: set together and read
# once, so no thread sees one without the others (see redact).
_known: tuple[tuple[str, ...], re.Pattern[str], tuple[bytes, ...]] | None = None


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a credential."""
    return bool(_SECRET_NAME.search(name))


def remember(values: Iterable[str | None]) -> None:
    """Mask these values from now on (each also as it appears escaped inside JSON)."""
    global _known
    added = False
    with _lock:
        for value in values:
            if not value or len(value.strip()) < _MIN_LENGTH:
                continue
            for form in (value, value.strip(), *_escaped(value)):
                if form not in _secrets:
                    _secrets.add(form)
                    added = True
        if added:
            # Longest first, so a key that contains another is masked whole.
            ordered = sorted(_secrets, key=len, reverse=True)
            pattern = re.compile("|".join(re.escape(s) for s in ordered))
            utf8 = tuple(s.encode("utf-8", "surrogatepass") for s in ordered)
            _known = (tuple(ordered), pattern, utf8)


def _escaped(value: str) -> list[str]:
    """``value`` as the JSON writers (the standard library's, orjson) escape it in a string."""
    forms = [json.dumps(value)[1:-1]]
    with contextlib.suppress(TypeError):  # a half character: orjson writes no such string
        forms.append(orjson.dumps(value)[1:-1].decode())
    return forms


def remember_env(env: Mapping[str, str]) -> None:
    """Mask the value of every credential-named variable of ``env``."""
    remember(value for name, value in env.items() if is_secret_name(name))


def dotenv_values(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of a ``.env`` file (quotes and ``export`` stripped)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return values
    for line in text.splitlines():
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and name and not name.startswith("#"):
            values[name.strip()] = value.strip().strip("'\"")
    return values


def remember_process_keys(env: Mapping[str, str] | None = None) -> None:
    """Mask the keys of the environment and of ``./.env``."""
    remember_env(os.environ if env is None else env)
    remember_env(dotenv_values(Path.cwd() / ".env"))


def redact(text: str) -> str:
    """``text`` with every known key value replaced by :data:`MASK`."""
    known = _known
    if known is None or not text:
        return text
    forms, pattern, _utf8 = known
    # Almost no text holds a key: a substring search per value finds that out ~7x faster
    # than the pattern does (every result line passes here).
    if not any(form in text for form in forms):
        return text
    return pattern.sub(MASK, text)


def redact_utf8(data: bytes) -> bytes:
    """Like :func:`redact`, for UTF-8 text already encoded (a result line)."""
    known = _known
    if known is None or not any(form in data for form in known[2]):
        return data
    return redact(data.decode("utf-8")).encode("utf-8")


def redact_data(value: Any) -> Any:
    """A copy of plain data (dicts, lists, strings) with every key value masked."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


def forget_all() -> None:
    """Forget every remembered key (for tests)."""
    global _known
    with _lock:
        _secrets.clear()
        _known = None
