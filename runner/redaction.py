"""Keys never leave the process: every known key value is masked in text that does.

An API may echo the key it rejected ("Incorrect API key provided: sk-..."); that text goes
into results, logs and the index. Every writer that sends text out of the process (the
results and evaluations writer, the log sinks, ``run.json``) passes it through
:func:`redact`, which replaces every key value this process knows by :data:`MASK`.

Keys are learnt from the environment (variables named like ``*_API_KEY*``, ``*_TOKEN``,
``*_SECRET``), from a ``.env`` file in the working folder, and from config values
(``apis.*.api_key``) once resolved. Only values that look like keys are masked
(:func:`looks_like_secret`: a known key prefix, or 16+ characters mixing letters and digits
with no space), and only where one stands as a whole token and not as a JSON object's key:
``PRIMARY_KEY=response`` must not turn every ``"response"`` into the mask.

A URL may carry a credential of its own (``http://user:password@host/v1``, ``?key=...``):
:func:`public_url` strips it wherever a URL is recorded or shown; the URL sent keeps it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson

MASK = "[REDACTED]"

# Names of variables that hold credentials: OPENAI_API_KEY, OPENAI_API_KEY_gpt_4o,
# HF_TOKEN, AZURE_OPENAI_API_KEY, MY_SECRET, ...
_SECRET_NAME = re.compile(r"(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD)(_|$)", re.IGNORECASE)
# Of those, names whose value is a key for certain (OPENAI_API_KEY_gpt_4o, ..._ACCESS_TOKEN).
_KEY_NAME = re.compile(r"(^|_)(API_?KEY|ACCESS_TOKEN)(_|$)", re.IGNORECASE)
# Shorter values ("1", "true", "abc") would mask ordinary words; no real key is this short.
_MIN_LENGTH = 8
# Keys that services issue begin so: OpenAI and Stripe (sk-, sk-ant- for Anthropic), Google
# (AIza, ya29.), Hugging Face (hf_), GitHub, GitLab, Slack, AWS, Groq, Replicate, ...
_KEY_PREFIXES = (
    "sk-", "sk_", "rk_", "AIza", "ya29.", "hf_", "ghp_", "gho_", "ghu_", "ghs_", "github_pat_",
    "glpat-", "xoxb-", "xoxp-", "xoxa-", "AKIA", "ASIA", "gsk_", "r8_", "pplx-", "nvapi-",
)  # fmt: skip
# A prefixed key is longer than a word that begins the same way ("sk-learn").
_MIN_PREFIXED_LENGTH = 12
# Without a known prefix, a key is a long random token: letters and digits, no space.
_MIN_UNPREFIXED_LENGTH = 16
_MIN_BITS_PER_CHAR = 3.0
# A key stands as a whole token: no letter, digit or _ glued to either end of it. A JSON
# escape before it ("...:\\nsk-...", "\\u00a0sk-...") ends the word before, as the character
# it stands for would.
_TOKEN_START = r"(?:(?<![A-Za-z0-9_])|(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{4}))"
_TOKEN_END = r"(?![A-Za-z0-9_])"
# A match followed by this is an object's key in JSON text (its opening quote before it).
_JSON_KEY_END = re.compile(r'"\s*:')
# The user:password@ of a URL, and query parameters that carry a credential.
# Hydra writes an override's ":" as "\:" (and JSON that as "\\:"): http\://u\:pw@host.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*\\*://)[^\s/?#@'\"<>]+@")
_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:api[_-]?key|key|token|access[_-]?token|auth|password|secret)=)[^&#\s'\"<>]+"
)

_lock = threading.Lock()
_secrets: set[str] = set()
# The values (longest first), their pattern and their UTF-8 forms: set together and read
# once, so no thread sees one without the others (see redact).
_known: tuple[tuple[str, ...], re.Pattern[str], tuple[bytes, ...]] | None = None


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a credential."""
    return bool(_SECRET_NAME.search(name))


def looks_like_secret(value: str) -> bool:
    """Whether ``value`` looks like a key, not a word: the README's rule.

    A known key prefix (``sk-``, ``AIza``, ``hf_`` ...) and 12+ characters, or 16+ characters
    holding letters and digits at 3+ bits of entropy per character; never with a space.
    """
    value = value.strip()
    if len(value) < _MIN_LENGTH or any(c.isspace() for c in value):
        return False
    if value.startswith(_KEY_PREFIXES):
        return len(value) >= _MIN_PREFIXED_LENGTH
    if len(value) < _MIN_UNPREFIXED_LENGTH:
        return False
    if not (any(c.isalpha() for c in value) and any(c.isdigit() for c in value)):
        return False
    counts = [value.count(c) for c in set(value)]
    bits = -sum(n / len(value) * math.log2(n / len(value)) for n in counts)
    return bits >= _MIN_BITS_PER_CHAR


def remember(values: Iterable[str | None], *, known: bool = False) -> None:
    """Mask these values from now on, if they look like keys (also as escaped in JSON).

    ``known``: they are keys for certain (an ``*_API_KEY`` variable, ``apis.*.api_key``, a
    URL's password), masked from 8 characters on however they look: a server that echoed
    ``Bearer abcdef123456`` put that key into the results, the index and the terminal.
    """
    global _known
    added = False
    with _lock:
        for value in values:
            if not value or not (_long_token(value) if known else looks_like_secret(value)):
                continue
            for form in (value, value.strip(), *_escaped(value)):
                if form not in _secrets:
                    _secrets.add(form)
                    added = True
        if added:
            # Longest first, so a key that contains another is masked whole.
            ordered = sorted(_secrets, key=len, reverse=True)
            alternatives = "|".join(re.escape(s) for s in ordered)
            pattern = re.compile(f"{_TOKEN_START}(?:{alternatives}){_TOKEN_END}")
            utf8 = tuple(s.encode("utf-8", "surrogatepass") for s in ordered)
            _known = (tuple(ordered), pattern, utf8)


def _long_token(value: str) -> bool:
    """8+ characters and no space: a known key this short or spaced would mask words."""
    value = value.strip()
    return len(value) >= _MIN_LENGTH and not any(c.isspace() for c in value)


def _escaped(value: str) -> list[str]:
    """``value`` as the JSON writers (the standard library's, orjson) escape it in a string."""
    forms = [json.dumps(value)[1:-1]]
    with contextlib.suppress(TypeError):  # a half character: orjson writes no such string
        forms.append(orjson.dumps(value)[1:-1].decode())
    return forms


def remember_env(env: Mapping[str, str]) -> None:
    """Mask the value of every credential-named variable of ``env`` (and of URLs' secrets)."""
    remember(value for name, value in env.items() if is_secret_name(name))
    remember((value for name, value in env.items() if _KEY_NAME.search(name)), known=True)
    remember(url_secrets(value for value in env.values() if "://" in value), known=True)


def public_url(text: str) -> str:
    """``text`` with every URL's ``user:password@`` and credential parameters taken out.

    ``http://u:pw@host/v1?key=K&x=1`` -> ``http://host/v1?key=[REDACTED]&x=1``: what a
    record or a message may show of a URL (the request itself is sent with the original).
    """
    if "//" not in text:
        return text
    if "@" in text:
        text = _URL_USERINFO.sub(r"\1", text)
    if "=" in text:
        text = _SECRET_PARAM.sub(lambda m: m.group(1) + MASK, text)
    return text


def url_secrets(values: Iterable[str]) -> list[str]:
    """The passwords and credential parameters that URLs in ``values`` carry."""
    found: list[str] = []
    for value in values:
        for match in _URL_USERINFO.finditer(value):
            userinfo = match.group(0)[len(match.group(1)) : -1]
            found.append(userinfo.partition(":")[2])
            found += _basic_auth_forms(userinfo.replace("\\:", ":"))
        found += [m.group(0)[len(m.group(1)) :] for m in _SECRET_PARAM.finditer(value)]
    return found


def _basic_auth_forms(userinfo: str) -> list[str]:
    """The password as sent, and the ``Authorization: Basic`` token a URL's login becomes.

    aiohttp sends ``user:password@`` as base64 of the percent-decoded pair; a server that
    echoes the header in its error ("Incorrect API key provided: Basic YWxp...") put the
    login, readable by anyone with base64, into the results, the index and the report.
    """
    user, colon, password = userinfo.partition(":")
    if not colon:
        return []
    pair = f"{unquote(user)}:{unquote(password)}"
    try:
        raw = pair.encode("latin-1")  # aiohttp's BasicAuth encoding
    except UnicodeEncodeError:
        raw = pair.encode("utf-8")
    return [unquote(password), base64.b64encode(raw).decode("ascii")]


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
    return pattern.sub(lambda match: _masked(match, text), text)


def _masked(match: re.Match[str], text: str) -> str:
    """The mask, unless the match is a JSON object's key (``"<it>":``): a key is structure."""
    start, end = match.span()
    if start > 0 and text[start - 1] == '"' and _JSON_KEY_END.match(text, end):
        return match.group()
    return MASK


def scrub(text: str) -> str:
    """:func:`redact` and :func:`public_url`: for what runner writes itself (logs, records).

    Not for a model's answer: an answer that quotes a URL is data, kept as it came.
    """
    return public_url(redact(text))


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
        return {k: redact_data(v) for k, v in value.items()}  # keys are structure
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


def forget_all() -> None:
    """Forget every remembered key (for tests)."""
    global _known
    with _lock:
        _secrets.clear()
        _known = None
