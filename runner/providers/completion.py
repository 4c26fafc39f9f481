"""What a model answered: :class:`Completion`, its token counts checked on the way in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loguru import logger

# A trillion tokens: no request is billed that many. A larger count (1e20, 1e300 as a float)
# is a broken usage block, not a bill: it priced answers at $1e293 and overflowed the
# index's and the report's 64-bit sums.
MAX_TOKEN_COUNT = 10**12


@dataclass
class Completion:
    """What a model answered.

    ``text`` is a list for a multi-turn prompt (one reply per user turn). Token counts are
    as billed (see runner.providers.usage): ``input_tokens`` counts cache reads and writes,
    ``output_tokens`` counts reasoning; None: not reported.
    """

    text: str | list[str]
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    model: str | None = None
    # The model's reasoning text where the API returns it (Anthropic thinking blocks, Gemini
    # thought parts, Responses reasoning summaries): never part of ``text``.
    thinking: str | list[str] | None = None
    # The tools the answer called: ``{"name": ..., "arguments": {...}}`` each (no agent loop).
    tool_calls: list[dict[str, Any]] | None = None
    cached_input_tokens: int | None = None  # read from the provider's prompt cache
    cache_write_tokens: int | None = None  # written to it (Anthropic: 5 min and 1 h)
    reasoning_tokens: int | None = None  # thinking, part of output_tokens
    cache_write_1h_tokens: int | None = None  # the 1 h part of cache_write_tokens
    # Any other count reported above 0, by genai-prices' name (audio, image, tool-use
    # tokens, web searches): parts of the totals above, priced at their own rates.
    other_tokens: dict[str, int] | None = None
    # A multi-turn prompt's replies, one request each: each is billed on its own (a
    # long-context tier is reached by a request, not by the conversation's sum).
    turns: list[Completion] | None = None
    # The processing tier that served the answer, as it says (OpenAI ``service_tier``): a
    # priority request served at the default tier is billed at the default rates.
    service_tier: str | None = None

    def __post_init__(self) -> None:
        # Token counts are priced and summed: a count an answer gave that is not a whole
        # number >= 0 (-5000, "abc") is dropped, never priced. Streams set theirs through
        # token_count.
        tokens_in, tokens_out, top = self.input_tokens, self.output_tokens, MAX_TOKEN_COUNT
        if not (tokens_in is None or (type(tokens_in) is int and 0 <= tokens_in <= top)):
            self.input_tokens = token_count(tokens_in, "input_tokens")
        if not (tokens_out is None or (type(tokens_out) is int and 0 <= tokens_out <= top)):
            self.output_tokens = token_count(tokens_out, "output_tokens")


def token_count(value: Any, name: str = "token count") -> int | None:
    """``value`` as a token count, or None (with a warning) when it cannot be one."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value <= MAX_TOKEN_COUNT:
        return int(value)
    logger.warning("an answer reported {}={!r}, not a token count: usage dropped", name, value)
    return None
