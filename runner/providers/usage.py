"""Token counts as the provider bills them, read from an answer's usage block.

genai-prices reads the usage blocks itself (``extract_usage``; its per-provider extractors,
from the pinned package's bundled data): its extractors are used wherever it has the
provider's shape, compiled once into key paths (see :func:`_compiled`: genai-prices' own
walker costs 15-40 us an answer) and checked against genai-prices by the tests.

* ``openai`` (flavors ``chat`` and ``responses``) and ``azure`` (the same two shapes):
  ``prompt_tokens_details.cached_tokens`` (Responses: ``input_tokens_details``),
  ``completion_tokens_details.reasoning_tokens`` (Responses: ``output_tokens_details``).
  ``prompt_tokens`` already includes the cached tokens and ``completion_tokens`` the
  reasoning tokens. The local model (llama.cpp) and huggingface-tgi answer in OpenAI's chat
  shape and are read with OpenAI's extractor.
* ``anthropic``: ``input_tokens`` there excludes cache writes and reads; genai-prices sums
  the three (the billed input), and keeps ``cache_creation.ephemeral_5m/1h_input_tokens``.
* ``google`` (Gemini and Vertex AI answer the same ``usageMetadata``): input is
  ``promptTokenCount`` (cached content included) plus ``toolUsePromptTokenCount``, output is
  ``candidatesTokenCount`` plus ``thoughtsTokenCount``.

Where it does not fit, the counts are read here by hand: Ollama (genai-prices has no Ollama
provider; ``prompt_eval_count`` / ``eval_count``, see :func:`ollama_usage`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.providers.base import Completion


@dataclass(slots=True)  # not frozen: a frozen init costs a microsecond an answer
class UsageCounts:
    """What an answer used, as billed (None: not reported).

    ``input_tokens`` is the whole billed input (cache reads and writes included),
    ``output_tokens`` the whole billed output (reasoning included).
    ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` kept for an hour
    (Anthropic's 1 h cache, priced apart); the rest is kept 5 minutes.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_1h_tokens: int | None = None

    def fill(self, completion: Completion) -> Completion:
        """Set these counts on ``completion`` (and return it)."""
        for name in _FIELDS:
            setattr(completion, name, getattr(self, name))
        return completion


_FIELDS = tuple(f.name for f in fields(UsageCounts))
NO_USAGE = UsageCounts()
# genai-prices' usage keys -> UsageCounts' fields.
_FROM_GENAI = (
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_tokens", "cached_input_tokens"),
    ("cache_write_tokens", "cache_write_tokens"),
    ("output_reasoning_tokens", "reasoning_tokens"),
    ("cache_write_1h_tokens", "cache_write_1h_tokens"),
)


# runner's apis -> the genai-prices provider whose extractor reads their usage blocks.
USAGE_PROVIDERS = {
    "openai": "openai",
    "azure-openai": "azure",
    "anthropic": "anthropic",
    "gemini": "google",
    "vertexai": "google",
    "local": "openai",  # llama.cpp answers in OpenAI's chat shape
    "huggingface-tgi": "openai",  # TGI's Messages API is OpenAI's chat shape
}


# The flavors each genai-prices provider is read in.
USAGE_FLAVORS = {
    "openai": ("chat", "responses"),
    "azure": ("chat", "responses"),
    "anthropic": ("default",),
    "google": ("default",),
}


def usage_readers(api: str) -> tuple[tuple[str, str], ...]:
    """The (genai-prices provider, flavor) readers an api's answers are read with."""
    provider_id = USAGE_PROVIDERS.get(api)
    if provider_id is None:
        return ()
    return tuple((provider_id, flavor) for flavor in USAGE_FLAVORS[provider_id])


@functools.cache
def _provider(provider_id: str) -> Any:
    """genai-prices' provider (its extractors), looked up once per id."""
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot().find_provider(None, provider_id, None)


def read_usage(body: Any, provider_id: str, api_flavor: str = "default") -> UsageCounts:
    """The counts of a provider's answer ``body`` (its whole JSON, or ``{"usage": ...}``).

    Args:
        provider_id: genai-prices' provider: ``openai``, ``azure``, ``anthropic``, ``google``.
        api_flavor: ``chat`` or ``responses`` for OpenAI and Azure; ``default`` otherwise.

    genai-prices' extractor of that provider and flavor is applied as compiled by
    :func:`_compiled` (its paths, its sums, its rules for missing and bad values), or by
    genai-prices itself where it cannot be compiled. An answer without a usage block (or
    with an unreadable one) gives all None: its cost is then unknown, never a made-up 0.
    """
    if not isinstance(body, dict):
        return NO_USAGE
    try:
        compiled = _COMPILED[(provider_id, api_flavor)]
    except KeyError:
        compiled = compiled_paths(provider_id, api_flavor)
    if compiled is None:
        return read_with_genai_prices(body, provider_id, api_flavor)
    root, mappings = compiled
    usage = _walk(body, root)
    if not isinstance(usage, dict):
        return NO_USAGE
    counts: dict[str, int] = {}
    for path, name, required in mappings:
        value = _walk(usage, path)
        if value is _MISSING or not isinstance(value, int | float):
            if required:
                return NO_USAGE  # genai-prices refuses such a block
            continue
        if isinstance(value, bool) or not value >= 0:
            return NO_USAGE  # likewise: a negative, NaN or boolean count
        counts[name] = counts.get(name, 0) + int(value)
    return _counts(counts)


def read_with_genai_prices(body: Any, provider_id: str, api_flavor: str) -> UsageCounts:
    """The counts as genai-prices' own extractor reads them (~15-40 us an answer)."""
    try:
        # The provider's extractor, not genai_prices.extract_usage: that one also looks the
        # answer's model up (and fails on a name it does not know), which pricing does apart.
        _, usage = _provider(provider_id).extract_usage(body, api_flavor=api_flavor)
    except (ValueError, LookupError, TypeError):
        return NO_USAGE
    reported = vars(usage)  # genai-prices keeps only the reported keys here
    counts = {
        name: int(reported[key]) for key, name in _FROM_GENAI if reported.get(key) is not None
    }
    return _counts(counts)


def _counts(counts: dict[str, int]) -> UsageCounts:
    if not counts:
        return NO_USAGE
    if "cache_write_1h_tokens" in counts and "cache_write_tokens" not in counts:
        counts["cache_write_tokens"] = counts["cache_write_1h_tokens"]
    return UsageCounts(**counts)


_MISSING = object()
Path = tuple[str, ...]
# A compiled extractor: the root path, then (path, UsageCounts field, required) per mapping.
Compiled = tuple[Path, tuple[tuple[Path, str, bool], ...]]


def _walk(data: Any, path: Path) -> Any:
    for step in path:
        if not isinstance(data, dict):
            return _MISSING
        data = data.get(step, _MISSING)
        if data is _MISSING:
            return _MISSING
    return data


# (provider id, flavor) -> its compiled extractor, compiled (or given) once.
_COMPILED: dict[tuple[str, str], Compiled | None] = {}


def compiled_paths(provider_id: str, api_flavor: str) -> Compiled | None:
    """The extractor of ``provider_id`` and ``api_flavor`` as key paths (compiled once)."""
    key = (provider_id, api_flavor)
    if key not in _COMPILED:
        _COMPILED[key] = _compiled(provider_id, api_flavor)
    return _COMPILED[key]


def seed_compiled(provider_id: str, api_flavor: str, value: Any) -> None:
    """Use ``value`` (as :func:`compiled_paths` gave it, through JSON) for this reader.

    The price memo keeps them, so a run that finds them there never loads genai-prices.
    """
    if value is None:
        _COMPILED[(provider_id, api_flavor)] = None
        return
    root, mappings = value
    _COMPILED[(provider_id, api_flavor)] = (
        tuple(root),
        tuple((tuple(path), str(name), bool(required)) for path, name, required in mappings),
    )


def _compiled(provider_id: str, api_flavor: str) -> Compiled | None:
    """genai-prices' extractor as plain key paths, for the counts runner keeps.

    genai-prices' extractors are data (a root, then paths summed into usage keys); its
    walker costs 15-40 us an answer, ten times the rest of runner's work on it, so the
    paths are read once and walked here. None (genai-prices reads it) when a path needs
    more than keys (an array match) or a required mapping is one runner does not keep.
    """
    try:
        extractors = _provider(provider_id).extractors or ()
    except LookupError:
        return None
    extractor = next((e for e in extractors if e.api_flavor == api_flavor), None)
    if extractor is None:
        return None
    root = _as_path(extractor.root)
    mappings: list[tuple[Path, str, bool]] = []
    for mapping in extractor.mappings:
        name = dict(_FROM_GENAI).get(mapping.dest)
        path = _as_path(mapping.path)
        if name is None and not mapping.required:
            continue  # a count runner does not keep (audio, images, web searches, ...)
        if name is None or root is None or path is None:
            return None
        mappings.append((path, name, bool(mapping.required)))
    return None if root is None else (root, tuple(mappings))


def _as_path(path: Any) -> Path | None:
    steps = (path,) if isinstance(path, str) else tuple(path)
    return steps if all(isinstance(step, str) for step in steps) else None


def ollama_usage(body: dict[str, Any]) -> UsageCounts:
    """Ollama's counts, read by hand (genai-prices has no Ollama provider).

    Ollama reports ``prompt_eval_count`` (input) and ``eval_count`` (output, thinking
    included); it has no prompt cache billing and reports no reasoning count apart.
    """
    return UsageCounts(
        input_tokens=_int(body.get("prompt_eval_count")),
        output_tokens=_int(body.get("eval_count")),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def add_counts(total: Completion, reply: Completion) -> None:
    """Add ``reply``'s counts to ``total`` (a multi-turn prompt's requests, summed)."""
    for name in _FIELDS:
        a, b = getattr(total, name), getattr(reply, name)
        setattr(total, name, b if a is None else a if b is None else a + b)
