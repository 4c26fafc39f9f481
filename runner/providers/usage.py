"""Token counts as the provider bills them, read from an answer's usage block.

genai-prices reads the usage blocks itself (``extract_usage``; its per-provider extractors,
from the pinned package's bundled data): its extractors are used wherever it has the
provider's shape, compiled once into key paths (runner.providers.usage_paths: genai-prices'
own walker costs 15-40 us an answer) and checked against genai-prices by the tests. Other
counts it reads above 0 (audio, image and tool-use tokens, web searches) are kept by their
genai-prices names in ``other_tokens`` and priced by genai-prices itself.

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

A provider whose shape genai-prices does not know (``usage_provider`` None) reads its own
counts into a :class:`UsageCounts` in its module.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from runner.providers.completion import MAX_TOKEN_COUNT
from runner.providers.registry import usage_provider
from runner.providers.usage_paths import MISSING, READERS, compiled_paths, provider, walk

if TYPE_CHECKING:
    from runner.providers.base import Completion


@dataclass(slots=True)  # not frozen: a frozen init costs a microsecond an answer
class UsageCounts:
    """What an answer used, as billed (None: not reported).

    ``input_tokens`` is the whole billed input (cache reads and writes included),
    ``output_tokens`` the whole billed output (reasoning included).
    ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` kept for an hour
    (Anthropic's 1 h cache, priced apart); the rest is kept 5 minutes. ``other_tokens``:
    any other count the block reports above 0, by genai-prices' name (audio, image and
    tool-use tokens, web searches, ...), each part of the totals above and priced apart.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    other_tokens: dict[str, int] | None = None

    def fill(self, completion: Completion) -> Completion:
        """Set these counts on ``completion``, whose counts are unset (and return it)."""
        completion.input_tokens = self.input_tokens
        completion.output_tokens = self.output_tokens
        if self.cached_input_tokens is not None or self.cache_write_tokens is not None:
            completion.cached_input_tokens = self.cached_input_tokens
            completion.cache_write_tokens = self.cache_write_tokens
            completion.cache_write_1h_tokens = self.cache_write_1h_tokens
        completion.reasoning_tokens = self.reasoning_tokens
        completion.other_tokens = self.other_tokens
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
_KEPT = dict(_FROM_GENAI)
_PLAIN = frozenset({"input_tokens", "output_tokens"})
_MAX = MAX_TOKEN_COUNT


def _implied(key: str) -> bool:
    """Counts the kept ones already price: text parts (the base rates), 5 min writes."""
    return "_text_" in key or key == "cache_write_5m_tokens"


# The flavors each genai-prices provider is read in.
USAGE_FLAVORS = {
    "openai": ("chat", "responses"),
    "azure": ("chat", "responses"),
    "anthropic": ("default",),
    "google": ("default",),
}


def usage_readers(api: str) -> tuple[tuple[str, str], ...]:
    """The (genai-prices provider, flavor) readers an api's answers are read with."""
    provider_id = usage_provider(api)
    if provider_id is None:
        return ()
    return tuple((provider_id, flavor) for flavor in USAGE_FLAVORS[provider_id])


def read_usage(body: Any, provider_id: str, api_flavor: str = "default") -> UsageCounts:
    """The counts of a provider's answer ``body`` (its whole JSON, or ``{"usage": ...}``).

    Args:
        provider_id: genai-prices' provider: ``openai``, ``azure``, ``anthropic``, ``google``.
        api_flavor: ``chat`` or ``responses`` for OpenAI and Azure; ``default`` otherwise.

    genai-prices' extractor of that provider and flavor is applied as compiled by
    :mod:`runner.providers.usage_paths` (its paths, its sums, its rules for missing and bad
    values), or by genai-prices itself where it cannot be compiled. An answer without a
    usage block (or with an unreadable one) gives all None: its cost is then unknown, never
    a made-up 0.
    """
    if not isinstance(body, dict):
        return NO_USAGE
    try:
        reader = READERS[(provider_id, api_flavor)]
    except KeyError:
        compiled_paths(provider_id, api_flavor)
        reader = READERS[(provider_id, api_flavor)]
    if reader is None:
        return read_with_genai_prices(body, provider_id, api_flavor)
    root, required_keys, by_key = reader
    usage = body.get(root[0]) if len(root) == 1 else walk(body, root)
    if not isinstance(usage, dict) or not required_keys <= usage.keys():
        return NO_USAGE  # genai-prices refuses a block without a required count
    totals: dict[str, int] = {}
    for name, data in usage.items():  # only the mappings of the keys the block has
        for rest, key, required in by_key.get(name, ()):
            value = walk(data, rest) if rest else data
            if type(value) is not int:  # the usual case first: a plain count
                if value is MISSING or not isinstance(value, int | float):
                    if required:
                        return NO_USAGE
                    continue
                if isinstance(value, bool) or not 0 <= value <= _MAX:
                    return NO_USAGE  # likewise: a boolean, NaN, infinite or absurd count
                value = int(value)
            elif not 0 <= value <= _MAX:
                return NO_USAGE  # likewise: a negative count; an absurd one is no bill
            totals[key] = totals[key] + value if key in totals else value
    return _counts(totals)


def read_with_genai_prices(body: Any, provider_id: str, api_flavor: str) -> UsageCounts:
    """The counts as genai-prices' own extractor reads them (~15-40 us an answer)."""
    try:
        # The provider's extractor, not genai_prices.extract_usage: that one also looks the
        # answer's model up (and fails on a name it does not know), which pricing does apart.
        _, usage = provider(provider_id).extract_usage(body, api_flavor=api_flavor)
    except (ValueError, LookupError, TypeError):
        return NO_USAGE
    reported = {k: int(v) for k, v in vars(usage).items() if v is not None}  # reported keys
    if any(value > _MAX for value in reported.values()):
        return NO_USAGE  # an absurd count is no bill (as read_usage)
    return _counts(reported)


def _counts(totals: dict[str, int]) -> UsageCounts:
    """UsageCounts from genai-prices' usage keys and their summed values."""
    if not totals:
        return NO_USAGE
    if totals.keys() <= _PLAIN:  # the usual case: input and output only
        return UsageCounts(totals.get("input_tokens"), totals.get("output_tokens"))
    counts: dict[str, Any] = {}
    other: dict[str, int] = {}
    for key, value in totals.items():
        name = _KEPT.get(key)
        if name is not None:
            counts[name] = value
        elif value and not _implied(key):
            other[key] = value
    if "cache_write_1h_tokens" in counts and "cache_write_tokens" not in counts:
        counts["cache_write_tokens"] = counts["cache_write_1h_tokens"]
    if other:
        counts["other_tokens"] = other
    return UsageCounts(**counts)


def add_counts(total: Completion, reply: Completion) -> None:
    """Add ``reply``'s counts to ``total`` (a multi-turn prompt's requests, summed)."""
    for name in _FIELDS:
        a, b = getattr(total, name), getattr(reply, name)
        if name == "other_tokens":
            if b:
                merged = dict(a or {})
                for key, value in b.items():
                    merged[key] = merged.get(key, 0) + value
                setattr(total, name, merged)
            continue
        setattr(total, name, b if a is None else a if b is None else a + b)
